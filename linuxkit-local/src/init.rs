//! The `linuxkit-init` image: the static PID 1 embedded in this crate (built by `build.rs`
//! from the `linuxkit-init` source of the same release) as an OCI image that a definition names
//! in `init:`.

use std::path::Path;

use linuxkit_oci::store::Platform;

use crate::busybox::add_busybox;
use crate::error::LocalError;
use crate::image::{write_image, ImageConfig, WrittenImage};
use crate::layer::Layer;

/// The package of the init.
pub const PACKAGE: &str = "linuxkit-init";

/// Facts about the embedded init, written by the build script.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/init_meta.rs"));
}

/// The static `linuxkit-init` this crate was built with (see `build.rs`): built from the
/// source of the `linuxkit-init` crate of the same release, so every copy of cargo-linuxkit
/// carries its init and `init:linuxkit-init` resolves anywhere, offline.
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/linuxkit-init"));

/// The embedded init binary, or an error when this build carries none (a documentation build).
pub fn embedded_init() -> Result<&'static [u8], LocalError> {
    if EMBEDDED.is_empty() {
        return Err(LocalError::Tool {
            command: "init:linuxkit-init".into(),
            message: format!(
                "this build of cargo-linuxkit carries no init ({}): reinstall it with \
                 `cargo install cargo-linuxkit`",
                embedded::ORIGIN
            ),
        });
    }
    Ok(EMBEDDED)
}

/// The name of the embedded init in the cache: `linuxkit-local/linuxkit-init:<tag>`.
pub fn embedded_name() -> String {
    format!("linuxkit-local/{PACKAGE}:{}", embedded::TAG)
}

/// The init layer: `init` (the binary), `sbin/init -> /init`, and with `busybox` a debugging
/// userland (`bin/busybox`, `bin/sh`, ...).
pub fn init_layer(init: &[u8], busybox: Option<&Path>) -> Result<Layer, LocalError> {
    let mut l = Layer::new();
    l.bytes("init", 0o755, init)?;
    l.symlink("sbin/init", "/init")?;
    if let Some(bb) = busybox {
        add_busybox(&mut l, bb)?;
    }
    Ok(l)
}

/// Writes the init image named `reference` into the layout at `dir` (`init` is the binary,
/// usually [`embedded_init`]).
pub fn write_init_image(
    dir: &Path,
    reference: &str,
    init: &[u8],
    busybox: Option<&Path>,
) -> Result<WrittenImage, LocalError> {
    write_init_image_for(dir, reference, init, busybox, embedded::ARCH)
}

/// [`write_init_image`] for an init binary of OCI architecture `arch`.
pub fn write_init_image_for(
    dir: &Path,
    reference: &str,
    init: &[u8],
    busybox: Option<&Path>,
    arch: &str,
) -> Result<WrittenImage, LocalError> {
    let layer = init_layer(init, busybox)?;
    write_image(
        dir,
        reference,
        &Platform::linux(arch),
        &ImageConfig::default(),
        &layer,
    )
}
