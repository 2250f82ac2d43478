use linuxkit_dsl::{Container, File, Image, Kernel};
use linuxkit_macros::image;

#[image]
fn ids() -> Image {
    Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
        .service(Container::new("sshd", "linuxkit/sshd:v1").uid("sshd").gid("root"))
        .service(Container::new("web", "nginx:1.27").uid("nginx"))
        .file(File::new("/etc/web.conf").contents("x").uid("web").gid("www"))
}

fn main() {}
