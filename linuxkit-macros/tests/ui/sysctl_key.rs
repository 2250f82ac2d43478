use linuxkit_macros::sysctl;

fn main() {
    let _ = sysctl!("net..ipv4.ip_forward");
    let _ = sysctl!("Net.ipv4.ip_forward");
    let _ = sysctl!("nett.ipv4.ip_forward");
}
