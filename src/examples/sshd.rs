use linuxkit_dsl::{Container, File, Image};

use crate::base::*;

/// An SSH server (`sshd.yml`) that accepts the builder's `~/.ssh/id_rsa.pub`.
#[linuxkit_dsl::image]
pub fn sshd() -> Image {
    linuxkit_base(CMDLINE_S390)
        .onboot(sysctl())
        .onboot(Container::new("rngd1", RNGD).command(["/sbin/rngd", "-1"]))
        .service(getty_insecure())
        .service(rngd())
        .service(dhcpcd())
        .service(Container::new("sshd", SSHD).add_bind("/root/.ssh:/root/.ssh"))
        .file(
            File::new("root/.ssh/authorized_keys")
                .source("~/.ssh/id_rsa.pub")
                .mode(0o600)
                .optional(),
        )
}
