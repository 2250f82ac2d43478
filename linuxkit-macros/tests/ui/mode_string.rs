use linuxkit_macros::mode;

fn main() {
    let _: u32 = mode!("0689");
    let _: u32 = mode!("017777");
}
