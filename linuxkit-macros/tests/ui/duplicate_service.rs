use linuxkit_dsl::{Container, Image, Kernel};
use linuxkit_macros::image;

#[image]
fn twice() -> Image {
    let getty = Container::new("getty", "linuxkit/getty:v1");
    Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
        .onboot(Container::new("dhcpcd", "linuxkit/dhcpcd:v1"))
        .service(Container::new("dhcpcd", "linuxkit/dhcpcd:v1"))
        .service(getty)
        .service(Container::new("sshd", "linuxkit/sshd:v1"))
        .service(Container::new("getty", "linuxkit/getty:v2").cwd("/"))
}

fn main() {}
