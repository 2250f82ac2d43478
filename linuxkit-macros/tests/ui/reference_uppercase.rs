use linuxkit_macros::image_ref;

fn main() {
    let _ = image_ref!("Redis");
    let _ = image_ref!("linuxkit/Init:v1");
}
