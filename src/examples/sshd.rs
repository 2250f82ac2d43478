use linuxkit_dsl::{pkgs, File, Image};

use crate::base::*;

/// An SSH server (`sshd.yml`) that accepts the builder's `~/.ssh/id_rsa.pub`.
#[linuxkit_dsl::image]
pub fn sshd() -> Image {
    linuxkit_base(CMDLINE_S390)
        .onboot(pkgs::sysctl())
        .onboot(pkgs::rngd().once().name("rngd1"))
        .service(pkgs::getty().insecure())
        .service(pkgs::rngd())
        .service(pkgs::dhcpcd())
        .service(pkgs::sshd().root_ssh_from_host())
        .file(
            File::new("root/.ssh/authorized_keys")
                .source("~/.ssh/id_rsa.pub")
                .mode(0o600)
                .optional(),
        )
}
