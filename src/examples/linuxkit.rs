use linuxkit_dsl::{pkgs, File, Image};

use crate::base::*;

/// LinuxKit's canonical sample (`linuxkit.yml`): DHCP, a console, entropy and nginx.
#[linuxkit_dsl::image]
pub fn linuxkit() -> Image {
    linuxkit_base(CMDLINE)
        .onboot(pkgs::sysctl())
        .onboot(pkgs::dhcpcd().once())
        .onshutdown(shutdown_message())
        .service(pkgs::getty().insecure())
        .service(pkgs::rngd())
        .service(nginx("1.19.5-alpine").bind("/etc/resolv.conf:/etc/resolv.conf"))
        .file(File::new("etc/linuxkit-config").metadata_yaml())
}
