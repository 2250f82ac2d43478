use linuxkit_dsl::{pkgs, File, Image};

use crate::base::*;

/// A static address instead of DHCP (`static-ip.yml`).
///
/// Upstream's file has a `# domain test.local` comment line inside the `resolv.conf` block
/// scalar, which YAML parsers based on libyaml reject; this is the file without that line.
#[linuxkit_dsl::image]
pub fn static_ip() -> Image {
    minimal_base(CMDLINE)
        .onboot(pkgs::ip().batch_file("/etc/ip/eth0.conf"))
        .service(pkgs::getty().insecure())
        .file(File::new("etc/ip/eth0.conf").contents(lines(&[
            "address add 10.10.1.225/24 dev eth0",
            "link set eth0 up",
            "route add default via 10.10.1.100 dev eth0",
        ])))
        .file(File::new("etc/resolv.conf").contents(lines(&[
            "nameserver 10.10.1.101",
            "nameserver 10.10.1.100     ",
        ])))
}
