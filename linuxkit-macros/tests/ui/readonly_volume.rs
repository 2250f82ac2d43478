use linuxkit_dsl::{Container, Image, Kernel, Volume};
use linuxkit_macros::image;

#[image]
fn readonly() -> Image {
    Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
        .volume(Volume::new("config").readonly())
        .onboot(Container::new("reader", "alpine:3.20").bind("config:/etc/app:ro"))
        .service(Container::new("writer", "alpine:3.20").bind("config:/etc/app"))
}

fn main() {}
