use linuxkit_dsl::{Image, Kernel, Update};
use linuxkit_macros::image;

// Where updates come from is an image reference, checked like every other one.
#[image]
fn os() -> Image {
    Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
        .update(Update::from("registry.example.com/Fleet/os:stable"))
}

fn main() {}
