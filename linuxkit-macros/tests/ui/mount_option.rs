use linuxkit_macros::{mount_options, tmpfs};

fn main() {
    let _ = mount_options!("nosuid,readonly");
    let _ = mount_options!("nosuid,,nodev");
    let _ = tmpfs!("/tmp:size=1m:mode=1777");
    let _ = tmpfs!("/run:nodev,noexek");
}
