use linuxkit_dsl::{pkgs, Image};

use crate::base::*;

/// An encrypted swap file on a formatted disk (`swap.yml`).
#[linuxkit_dsl::image]
pub fn swap() -> Image {
    linuxkit_base(CMDLINE_S390)
        .onboot(pkgs::sysctl())
        .onboot(pkgs::dhcpcd().once())
        .onboot(pkgs::format())
        .onboot(pkgs::mount("/var/external"))
        // Without `.encrypt()` the swap file is unencrypted.
        .onboot(pkgs::swap("/var/external/swap", pkgs::Size::gib(1)).encrypt())
        .service(pkgs::getty().insecure())
        .service(pkgs::rngd())
}
