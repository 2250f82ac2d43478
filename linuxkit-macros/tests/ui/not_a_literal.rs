use linuxkit_macros::{image_ref, mode};

const INIT: &str = "linuxkit/init:v1";

fn main() {
    let _ = image_ref!(INIT);
    let _ = image_ref!();
    let _: u32 = mode!(true);
}
