use linuxkit_macros::{capability, rlimit};

fn main() {
    let _ = capability!("net_admin");
    let _ = capability!("CAP_NET_ADMN");
    let _ = rlimit!("nofile,1024");
    let _ = rlimit!("nofiles,1024,4096");
    let _ = rlimit!("nofile,4096,1024");
}
