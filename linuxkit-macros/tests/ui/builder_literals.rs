use linuxkit_dsl::{Container, File, Image, Kernel, Mount};
use linuxkit_macros::image;

// Every literal passed straight to a builder method is checked, and all problems are
// reported at once.
#[image]
fn literals() -> Image {
    Image::new(Kernel::new("linuxkit/Kernel:6.12.59"))
        .init(["linuxkit/init:v1", "linuxkit/runc@sha256:123"])
        .service(
            Container::new("web", "nginx:1.27:latest")
                .cwd("srv")
                .env("DEBUG")
                .sysctl("net.ipv4..ip_forward", "1")
                .tmpfs("/tmp:size=1m:x")
                .add_bind("/etc/app")
                .masked_paths(["/proc/kcore", "proc/keys"])
                .capability_names(["CAP_NET_ADMIN", "NET_RAW"])
                .ambient_names(["CAP_NET_ADMIN", "all"])
                .rlimits(["nofile,10,1"])
                .mount(Mount::tmpfs("run").option("nosiud")),
        )
        .file(File::new("/etc/../passwd").contents("x").mode(0644))
        .file(File::new("/etc/motd").contents("hi").mode_str("0o644"))
        .file(File::new("/etc/issue").contents("hi").mode(755))
}

fn main() {}
