//! Assembly of the root-filesystem tar stream, byte-compatible with LinuxKit.
//!
//! Entry point: [`build_tar`] writes one uncompressed tar holding the kernel (`boot/`), the
//! flattened init images, volumes, container bundles with their `config.json`/`runtime.json`,
//! and the `files` section, in upstream's order and encoding (build spec §3).
//!
//! - [`build`]: the build driver ([`build_tar`], [`BuildOptions`], [`BuildReport`]); with
//!   [`BuildOptions::sbom`] it reads each image's package databases and attestations as it
//!   streams them and ends the tar with `sbom.spdx.json` (`linuxkit-sbom`).
//! - [`audit`]: what each container may do, read off the `config.json` the build writes.
//! - [`error`]: [`BuildError`], in upstream's wording.
//! - [`gotar`]: a tar reader/writer with Go `archive/tar` semantics (byte identity).
//! - `flatten`: layer flattening like go-containerregistry `mutate.Extract`.
//! - `image_tar`: one image under a prefix, with exclusions, replacements and touch entries.
//! - `kernel`: the kernel filter (`boot/kernel`, `boot/cmdline`, kernel tar, ucode).
//! - `oci_volume`: `format: oci` volumes; `files`: the `files` section; `sink`: the output.
//! - [`oci_config`], [`label`], [`metadata`], [`reference`](mod@reference), [`gojson`]: the
//!   per-container OCI configuration, image labels, metadata files, reference normalisation,
//!   Go-style JSON.

#![forbid(unsafe_code)]

pub mod audit;
pub mod build;
pub mod error;
mod files;
mod flatten;
pub mod gojson;
pub mod gotar;
mod image_tar;
mod kernel;
pub mod label;
pub mod metadata;
pub mod oci_config;
mod oci_volume;
pub mod reference;
mod sink;

pub use build::{
    build_tar, build_tar_to_path, BuildOptions, BuildReport, SbomOptions, UsedImage,
    DEFAULT_MAX_IMAGE_ENTRIES, DEFAULT_SBOM_PATH,
};
pub use error::BuildError;
pub use image_tar::{DEFAULT_MTIME, PAX_LOCATION, PAX_SOURCE};
