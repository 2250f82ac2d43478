use linuxkit_dsl::{Container, Image, Kernel, Mount, Volume};
use linuxkit_macros::{bind, image};

#[image]
fn undefined() -> Image {
    Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
        .volume(Volume::new("data"))
        .service(
            Container::new("web", "nginx:1.27")
                .bind("data:/srv")
                .bind("dta:/srv/data")
                .binds([bind!("/var/run:/var/run"), bind!("logs:/var/log")])
                .mount(Mount::bind("cache", "/cache")),
        )
}

fn main() {}
