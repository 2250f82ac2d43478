//! The `hello` system: Debian's kernel with the modules QEMU user networking needs, the
//! workspace's static init, an onboot that configures eth0, and the `hello` HTTP service —
//! all built from this workspace, offline.
//!
//! `cargo linuxkit build --example hello-image` (package `hello`), then
//! `cargo linuxkit run hello -p 8080:8080` and `curl http://127.0.0.1:8080/`.

use linuxkit_dsl::{Container, Image, Kernel};

/// Kernel modules for booting in QEMU with a virtio NIC (their dependencies are added).
pub const MODULES: &str = "virtio_pci,virtio_net,overlay";

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

linuxkit_dsl::main!(hello);
