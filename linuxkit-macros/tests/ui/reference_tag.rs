use linuxkit_macros::image_ref;

fn main() {
    let _ = image_ref!("alpine:3.20+1");
    let _ = image_ref!("alpine:-rc");
    let _ = image_ref!("alpine:");
}
