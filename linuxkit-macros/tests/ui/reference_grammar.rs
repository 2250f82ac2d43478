use linuxkit_macros::image_ref;

fn main() {
    let _ = image_ref!("linuxkit/in..it:v1");
    let _ = image_ref!("linuxkit//init:v1");
    let _ = image_ref!("registry-.example.com/x/y:v1");
}
