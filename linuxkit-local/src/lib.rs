//! Images built from local files, so a whole LinuxKit system builds offline from one
//! workspace:
//!
//! - [`layer`]: a reproducible single-layer tar+gzip writer (sorted entries, fixed mtimes,
//!   fixed gzip header) that streams file contents from disk.
//! - [`image`]: writes such a layer plus config and manifest into an OCI image layout
//!   (through `linuxkit_oci::write::LayoutWriter`), named so `LayoutSet` finds it; optionally
//!   with an attestation (an SBOM) under an index, as BuildKit stores them.
//! - [`init`]: the `linuxkit-init` image — the static PID 1 at `/init` and `/sbin/init`
//!   (optionally with busybox for debugging). The binary is embedded: `build.rs` builds it
//!   from the `linuxkit-init` source of the same release, so it is there wherever the tool is.
//! - [`kernel`]: a LinuxKit kernel image (`kernel` + `kernel.tar`) from a bzImage and a
//!   subset of `/lib/modules/<version>` with regenerated module indexes.
//! - [`debian_kernel`]: the same from a Debian `linux-image-*` package file of any architecture
//!   (`kernel:debian?arch=arm64`), module dependencies read from each module's `.modinfo`.
//! - [`busybox`]: a small image around the host's `busybox-static`, for tests and examples.
//! - [`verity_binary`]: the static `linuxkit-verity` (the root loader's dm-verity step), built
//!   and embedded by `build.rs` like the init.
//! - [`update`]: the `linuxkit-update` image — the A/B update agent, built and embedded by
//!   `build.rs` like the init, with the label that grants its privileges.
//! - [`error`]: the error type, [`LocalError`].

#![forbid(unsafe_code)]

pub mod busybox;
pub mod debian_kernel;
pub mod error;
pub mod image;
pub mod init;
pub mod kernel;
pub mod layer;
pub mod update;

pub use error::LocalError;
pub use image::{write_image, write_image_attested, Attest, ImageConfig, WrittenImage};
pub use layer::{Layer, DEFAULT_MTIME};

/// The static `linuxkit-verity` this crate was built with (see `build.rs`).
static VERITY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/linuxkit-verity"));

/// The static `linuxkit-verity` binary the root loader runs to open a dm-verity root, or an
/// error when this build carries none (a documentation build).
pub fn verity_binary() -> Result<&'static [u8], LocalError> {
    if VERITY.is_empty() {
        return Err(LocalError::Tool {
            command: "--verity".into(),
            message: "this build of cargo-linuxkit carries no linuxkit-verity: reinstall it \
                      with `cargo install cargo-linuxkit`"
                .into(),
        });
    }
    Ok(VERITY)
}
