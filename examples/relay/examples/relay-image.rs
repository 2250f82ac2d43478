//! The `relay` system: an onboot writes a message into the volume `relay`, a service reads
//! it and prints it on the console. Built from this workspace, offline:
//! `cargo linuxkit build --example relay-image` (package `relay`), `cargo linuxkit run relay`.

use linuxkit_dsl::{Container, Image, Kernel, Volume};

/// The images (constants, not literals in the calls: `#[image]` checks literal references
/// against the registry grammar, which does not know local sources yet).
const KERNEL: &str = "kernel:host?modules=overlay";
const WRITER: &str = "cargo:relay?bin=relay-writer";
const READER: &str = "cargo:relay?bin=relay-reader";

/// The relay system.
#[linuxkit_dsl::image]
pub fn relay() -> Image {
    Image::new(Kernel::new(KERNEL).cmdline("console=ttyS0 panic=-1"))
        .init(["init:linuxkit-init"])
        .volume(Volume::new("relay"))
        .onboot(Container::new("writer", WRITER))
        .service(Container::new("reader", READER))
}

linuxkit_dsl::main!(relay);
