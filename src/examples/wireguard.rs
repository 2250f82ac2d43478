use linuxkit_dsl::{pkgs, File, Image};

use crate::base::*;

/// Two wireguard peers on one machine (`wireguard.yml`): nginx is reachable through wg0 from
/// the getty in wg1's namespace.
#[linuxkit_dsl::image]
pub fn wireguard() -> Image {
    linuxkit_base(CMDLINE)
        .onboot(pkgs::sysctl())
        .onboot(pkgs::dhcpcd().once())
        .onboot(pkgs::ip().wireguard("wg0"))
        .onboot(pkgs::ip().wireguard("wg1"))
        .service(pkgs::getty().insecure().net("/run/netns/wg1"))
        .service(pkgs::rngd())
        .service(nginx("1.13.8-alpine").net("/run/netns/wg0"))
        .file(File::new("etc/wireguard/wg0.conf").contents(lines(&[
            "[Interface]",
            "Address = 192.168.2.1/24",
            "DNS = 192.168.2.2",
            "PrivateKey = KG7EKkHDkp7THfW5mOXcZzo3RbGAjq+ARMfJGFm5G1s=",
            "ListenPort = 51820",
            "[Peer] ",
            "PublicKey = ZP7h1OjA1oIAmsAvMKujp2RAAC/f0kY814b3Xq6j/0Y=",
            "AllowedIPs = 0.0.0.0/0",
            "Endpoint = 127.0.0.1:51821",
        ])))
        .file(File::new("etc/wireguard/wg1.conf").contents(lines(&[
            "[Interface]",
            "Address = 192.168.2.2/24",
            "PrivateKey = SCGCKDuTm4PMOw+LXdK/2s8mxnv145QHOohKRq3vc2A=",
            "ListenPort = 51821",
            "[Peer]",
            "PublicKey = AcS5t3PC5nL/oj0sYhc3yFpDlRaXoJ0mfEq6iq0rFF4=",
            "AllowedIPs = 0.0.0.0/0",
            "Endpoint = 127.0.0.1:51820",
        ])))
}
