//! A definition that uses every macro and builder literal correctly: it compiles without
//! errors, and the macros expand to exactly their input.

use linuxkit_dsl::{Capability, Container, File, Image, Kernel, Mount, Volume};
use linuxkit_macros::{
    bind, capability, envvar, image, image_ref, mode, mount_options, path, rlimit, sysctl, tmpfs,
};

const DIGEST: &str = "linuxkit/init@sha256:b5506cc74a6812dc40982cacfd2d4328f8a4b12c7f8b5e0ae2d3f2a1e6a5b4c3";

#[image]
fn sshd() -> Image {
    let volume = Volume::new("keys").readonly();
    let getty = Container::new("getty", image_ref!("linuxkit/getty:a86d74c8"))
        .env(envvar!("INSECURE=true"))
        .binds(vec![bind!("/etc/resolv.conf:/etc/resolv.conf"), "/var/log:/var/log"]);
    Image::new(Kernel::new(image_ref!("linuxkit/kernel:6.12.59")).cmdline("console=ttyS0"))
        .init([image_ref!("linuxkit/init:b5506cc7"), "linuxkit/runc:9442aa23"])
        .volume(volume)
        .volume(Volume::new("data"))
        .onboot(Container::new("sysctl", "linuxkit/sysctl:43ac1d39").sysctl(sysctl!("net.ipv4.ip_forward"), "1"))
        .onboot(Container::new("dhcpcd", "localhost:5000/linuxkit/dhcpcd:v1"))
        .service(getty)
        .service(
            Container::new("sshd", "docker.io/linuxkit/sshd:08e5d4a4")
                .capability(Capability::NetBindService)
                .capability_names([capability!("CAP_SYS_ADMIN"), "CAP_NET_ADMIN"])
                .cwd(path!("/root"))
                .bind(bind!("/root/.ssh:/root/.ssh"))
                .bind("keys:/etc/ssh/keys:ro")
                .add_bind("data:/data:rw,rbind")
                .tmpfs(tmpfs!("/tmp:size=1m,mode=1777"))
                .mount(Mount::bind("data", "/srv").option(mount_options!("nosuid,nodev")))
                .rlimits([rlimit!("nofile,1024,unlimited")])
                .uid("sshd")
                .gid("dhcpcd")
                .env_var("HOME", "/root"),
        )
        .service(Container::new("init-digest", DIGEST))
        .file(File::new(path!("/etc/motd")).contents("hi\n").mode(mode!("0644")))
        .file(File::new("root/.ssh").directory().mode(mode!(0o700)))
        .file(File::new("/etc/issue").contents("x").mode(0o600))
}

fn main() {
    assert_eq!(image_ref!("linuxkit/init:v1"), "linuxkit/init:v1");
    assert_eq!(bind!("data:/data"), "data:/data");
    assert_eq!(mode!("0644"), 0o644);
    assert_eq!(mode!("4755"), 0o4755);
    assert_eq!(mode!(0o600), 0o600_u32);
    let image = sshd();
    let names: Vec<&str> = image.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["getty", "sshd", "init-digest"]);
    assert_eq!(image.volumes.len(), 2);
}
