// The package sets `locked = true`: references missing from its linuxkit.lock are errors.
use linuxkit_dsl::{image_ref, Container, Image, Kernel};

#[linuxkit_dsl::image]
fn sshd() -> Image {
    Image::new(Kernel::new(image_ref!("linuxkit/kernel:6.12.59")))
        .init(["linuxkit/init:b5506cc7", "linuxkit/runc:9442aa23"])
        .service(Container::new("sshd", "linuxkit/sshd:08e5d4a4"))
}

fn main() {
    let _ = sshd();
    let _ = image_ref!("linuxkit/getty:v1");
}
