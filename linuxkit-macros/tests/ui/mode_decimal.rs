use linuxkit_macros::mode;

fn main() {
    let _: u32 = mode!(0644);
    let _: u32 = mode!(644);
    let _: u32 = mode!(0o17777);
}
