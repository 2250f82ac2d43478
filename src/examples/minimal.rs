use linuxkit_dsl::Image;

use crate::base::*;

/// The smallest useful image (`minimal.yml`): DHCP and a console.
#[linuxkit_dsl::image]
pub fn minimal() -> Image {
    minimal_base(CMDLINE)
        .onboot(dhcpcd_once())
        .service(getty_insecure())
}
