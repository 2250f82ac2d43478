use linuxkit_dsl::{pkgs, Image};

use crate::base::*;

/// The smallest useful image (`minimal.yml`): DHCP and a console.
#[linuxkit_dsl::image]
pub fn minimal() -> Image {
    minimal_base(CMDLINE)
        .onboot(pkgs::dhcpcd().once())
        .service(pkgs::getty().insecure())
}
