//! The `hello` system: Debian's kernel with the modules QEMU user networking needs, the
//! workspace's static init, an onboot that configures eth0, and the `hello` HTTP service —
//! all built from this workspace, offline.
//!
//! `cargo linuxkit build --example hello-image` (package `hello`), then
//! `cargo linuxkit run hello -p 8080:8080` and `curl http://127.0.0.1:8080/`.

use linuxkit_dsl::{Container, Image, Kernel};

/// Kernel modules for booting in QEMU with a virtio NIC (their dependencies are added).
pub const MODULES: &str = "virtio_pci,virtio_net,overlay";

/// The onboot that configures eth0: the `net-up` binary of this package. (A constant, not a
/// literal in the call: `#[image]` checks literal references against the registry grammar,
/// which does not know local sources yet.)
pub const NET_UP: &str = "cargo:hello?bin=net-up";

/// The hello system.
#[linuxkit_dsl::image]
pub fn hello() -> Image {
    Image::new(
        Kernel::new(format!("kernel:host?modules={MODULES}")).cmdline("console=ttyS0 panic=-1"),
    )
    .init(["init:linuxkit-init"])
    .onboot(Container::new("net-up", NET_UP))
    .service(Container::new("hello", "cargo:hello"))
}

linuxkit_dsl::main!(hello);
