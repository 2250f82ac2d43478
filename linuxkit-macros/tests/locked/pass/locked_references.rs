// Locked references, local sources and references with a digest compile in a locked package.
use linuxkit_dsl::{image_ref, Container, Image, Kernel};

#[linuxkit_dsl::image]
fn pinned() -> Image {
    Image::new(Kernel::new(image_ref!("linuxkit/kernel:6.12.59")))
        .init(["linuxkit/init:b5506cc7", "init:linuxkit-init"])
        .onboot(Container::new("hello", "cargo:hello"))
        .service(Container::new(
            "redis",
            "redis:7@sha256:6666666666666666666666666666666666666666666666666666666666666666",
        ))
}

const KERNEL: &str = image_ref!("linuxkit/kernel:6.12.59");

fn main() {
    let image = pinned();
    assert_eq!(image.kernel.map(|k| k.image).as_deref(), Some(KERNEL));
    assert_eq!(image.init.len(), 2);
}
