//! The `hello` system: Debian's kernel with the modules QEMU user networking needs, the
//! workspace's static init, an onboot that configures eth0, and the `hello` HTTP service —
//! all built from this workspace, offline.
//!
//! `cargo linuxkit build --example hello-image` (package `hello`), then
//! `cargo linuxkit run hello -p 8080:8080` and `curl http://127.0.0.1:8080/`.

use linuxkit_dsl::{Capability, Container, Image, Kernel, Namespace};

/// Kernel modules for booting in QEMU with a virtio NIC, plus the disk and CD-ROM drivers the
/// squashfs and ISO root formats need (their dependencies are added).
pub const MODULES: &str = "virtio_pci,virtio_net,overlay,ahci,sd_mod,sr_mod,isofs,squashfs";

/// The hello system.
#[linuxkit_dsl::image]
pub fn hello() -> Image {
    Image::new(
        Kernel::new(format!("kernel:host?modules={MODULES}")).cmdline("console=ttyS0 panic=-1"),
    )
    .init(["init:linuxkit-init"])
    // `cargo:<package>.<binary>`: the `net-up` binary of this package.
    .onboot(Container::new("net-up", "cargo:hello.net-up"))
    .service(Container::new("hello", "cargo:hello"))
}

/// The quick-start variant of [`hello`]: the service asks PID 1 to power the machine off (SIGUSR2,
/// LinuxKit's convention) after answering one request, so a demo ends by itself.
#[linuxkit_dsl::image]
pub fn hello_demo() -> Image {
    let mut image = hello();
    image.services = vec![Container::new("hello", "cargo:hello")
        .capability(Capability::NetBindService)
        .capability(Capability::Kill)
        .pid(Namespace::Host)
        .env("PATH=/usr/bin:/bin")
        .env("HELLO_POWEROFF_AFTER=1")];
    image
}

linuxkit_dsl::main!(hello, hello_demo);
