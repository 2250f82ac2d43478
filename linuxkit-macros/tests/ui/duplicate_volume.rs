use linuxkit_dsl::{Image, Kernel, Volume};
use linuxkit_macros::image;

#[image]
fn twice() -> Image {
    Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
        .volume(Volume::new("data"))
        .volume(Volume::new("cache"))
        .volume(Volume::new("data").image("alpine:3.20"))
}

fn main() {}
