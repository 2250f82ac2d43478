use linuxkit_dsl::{pkgs, File, Image, Volume};

use crate::base::*;

/// Volumes, blank and populated from an image (`volumes.yml`), bound into nginx.
#[linuxkit_dsl::image]
pub fn volumes() -> Image {
    linuxkit_base(CMDLINE)
        .onboot(pkgs::sysctl())
        .onboot(pkgs::dhcpcd().once())
        .onshutdown(shutdown_message())
        .service(pkgs::getty().insecure())
        .service(pkgs::rngd())
        .service(
            nginx("1.19.5-alpine")
                .bind("/etc/resolv.conf:/etc/resolv.conf")
                .bind("blank:/blank")
                .bind("alpine:/alpine"),
        )
        .volume(Volume::new("blank"))
        .volume(Volume::new("alpine").image("alpine:3.21"))
        .file(File::new("etc/linuxkit-config").metadata_yaml())
}
