use linuxkit_dsl::{Container, Image};

use crate::base::*;

/// An encrypted swap file on a formatted disk (`swap.yml`).
#[linuxkit_dsl::image]
pub fn swap() -> Image {
    linuxkit_base(CMDLINE_S390)
        .onboot(sysctl())
        .onboot(dhcpcd_once())
        .onboot(format())
        .onboot(mount_disk("/var/external"))
        // Without "--encrypt" the swap file is unencrypted.
        .onboot(Container::new("swap", SWAP).command([
            "/swap.sh",
            "--path",
            "/var/external/swap",
            "--size",
            "1G",
            "--encrypt",
        ]))
        .service(getty_insecure())
        .service(rngd())
}
