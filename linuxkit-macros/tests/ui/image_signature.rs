use linuxkit_dsl::{Image, Kernel};
use linuxkit_macros::image;

#[image]
fn with_argument(version: &str) -> Image {
    Image::new(Kernel::new(version))
}

#[image]
fn no_return() {}

#[image(name = "x")]
fn with_attribute_argument() -> Image {
    Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
}

#[image]
struct NotAFunction;

fn main() {}
