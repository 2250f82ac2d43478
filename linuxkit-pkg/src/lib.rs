//! Local image sources, so a whole system builds offline from one Cargo workspace.
//!
//! A definition names a local source with an image reference that has a scheme; the model and
//! LinuxKit YAML stay unchanged (`export` flags these references as extensions):
//!
//! | reference | image |
//! |---|---|
//! | `cargo:<package>[.<bin>]` | a workspace package built as a static release binary, `/usr/bin/<bin>`, label from `[package.metadata.linuxkit.config]` |
//! | `kernel:host?modules=a,b` / `kernel:<bzImage>?modules=..&version=..` | a LinuxKit kernel image from local files |
//! | `kernel:debian?arch=arm64&modules=a,b&dtbs=broadcom` | the same from a Debian `linux-image-*` package file (`LINUXKIT_DEBIAN_PACKAGES`), for any architecture |
//! | `init:linuxkit-init` | the workspace's static `linuxkit-init` as an init image |
//! | `dir:<path>` | a directory (relative to the workspace root) as one layer |
//!
//! Map of the crate:
//! - [`reference`]: [`is_local`] and the parse of such references into [`LocalSource`].
//! - [`package`]: a package's `[package.metadata.linuxkit]`, its content hash (the image tag),
//!   the static `cargo build`, the image layer and its `org.mobyproject.config` label.
//! - [`crates`]: the crates of the binary (Cargo's resolve, `Cargo.lock` checksums), which a
//!   `cargo:` image carries as its SPDX SBOM attestation (`linuxkit-sbom`), next to the image
//!   under an index, as BuildKit stores the scans `linuxkit pkg build` attaches.
//! - [`prepare`]: [`prepare()`] builds what changed (stamps under `target/linuxkit-pkg`) and
//!   names each image in the cache layout by exactly the reference as written
//!   ([`prepare_with`] also gives each image a machine-independent build-cache key and takes
//!   images from an [`ImageSource`], a registry build cache, instead of building them);
//!   [`LocalProvider`] resolves local references from that layout and everything else
//!   through another provider.
//! - [`fetch`]: [`ImageSet::fetch`], the images of a build made available (local sources
//!   prepared, registry images pulled, locked ones by their pinned digest) and the provider the
//!   build resolves through; `cargo linuxkit build`/`audit` and `linuxkit-testing` use it.
//! - [`target`]: the Rust target of each architecture; `cargo:` and `init:` sources for another
//!   architecture build only where its standard library is installed, else fail saying so.
//! - [`pkg`]: `pkg build` / `pkg push` (prints the content-hash tag).
//! - [`error`]: the error type, [`PkgError`].
//!
//! Invariants: building never touches the network (cargo runs `--offline` when asked);
//! the same sources give byte-identical images (linuxkit-local's reproducible layer writer);
//! a package's tag changes when any of its source files, its path dependencies, `Cargo.lock`
//! or its linuxkit metadata change.

#![forbid(unsafe_code)]

pub mod crates;
pub mod error;
pub mod fetch;
pub mod package;
pub mod pkg;
pub mod prepare;
pub mod reference;
pub mod target;

pub use error::PkgError;
pub use fetch::{FetchError, FetchEvent, FetchOptions, ImageSet};
pub use pkg::{pkg_build, pkg_push, PkgBuilt};
pub use prepare::{
    kernel_config_file, prepare, prepare_with, split_local, ImageSource, LocalProvider, NoSource,
    PrepareOptions, Prepared,
};
pub use reference::{is_local, LocalSource};
