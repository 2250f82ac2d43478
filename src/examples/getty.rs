use linuxkit_dsl::{pkgs, File, Image};

use crate::base::*;

/// A console login with a root password (`getty.yml`): the password is `abcdefgh`.
#[linuxkit_dsl::image]
pub fn getty() -> Image {
    linuxkit_base(CMDLINE_S390)
        .onboot(pkgs::sysctl())
        .onboot(pkgs::dhcpcd().once())
        // `pkgs::getty().insecure()` would allow a passwordless root login.
        .service(pkgs::getty())
        .service(pkgs::rngd())
        .file(File::new("etc/getty.shadow").contents(
            "root:$6$6tPd2uhHrecCEKug$8mKfcgfwguP7f.BLdZsT1Wz7WIIJOBY1oUFHzIv9/O71M2J0EPdtFqFGTxB1UK5ejqQxRFQ.ZSG9YXR0SNsc11:17322:0:::::",
        ))
}
