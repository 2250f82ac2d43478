//! The `relay` system: an onboot writes a message into the volume `relay`, a service reads
//! it and prints it on the console. Built from this workspace, offline:
//! `cargo linuxkit build --example relay-image` (package `relay`), `cargo linuxkit run relay`.

use linuxkit_dsl::{Container, Image, Kernel, Volume};

/// The kernel (a constant, not a literal in the call: `#[image]` checks literal references
/// against the registry grammar, which does not know `kernel:` sources yet).
const KERNEL: &str = "kernel:host?modules=overlay";

/// The relay system.
#[linuxkit_dsl::image]
pub fn relay() -> Image {
    Image::new(Kernel::new(KERNEL).cmdline("console=ttyS0 panic=-1"))
        .init(["init:linuxkit-init"])
        .volume(Volume::new("relay"))
        .onboot(Container::new("writer", "cargo:relay.relay-writer"))
        .service(Container::new("reader", "cargo:relay.relay-reader"))
}

linuxkit_dsl::main!(relay);
