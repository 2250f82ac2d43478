//! Reproducible SPDX 2.3 SBOMs of LinuxKit images.
//!
//! `linuxkit build` writes `sbom.spdx.json` into the root filesystem: the SPDX documents that
//! the images carry as attestations, merged, under a document with a random UUID. This crate
//! writes the same file, with more in it and the same bytes for the same inputs:
//!
//! - one package per image (reference as written, manifest digest as checksum, `pkg:oci`
//!   package URL), contained in one package for the whole system;
//! - the OS packages of each image, read from its apk (`lib/apk/db/installed`) and dpkg
//!   (`var/lib/dpkg/status`, `var/lib/dpkg/status.d/*`) databases while its layers are streamed
//!   (the caller hands the database contents over: [`ospkg`]);
//! - the kernel's version ([`kernel`]);
//! - the SPDX documents that images carry as attestations, merged as upstream merges them, but
//!   with their identifiers renamed so that documents from several images never collide
//!   ([`merge`]); the images built from Cargo packages carry one listing their crates with
//!   checksums from `Cargo.lock` ([`cargo`]).
//!
//! Every `SPDXID` is derived from what it names, the document namespace from the document's
//! content, and the creation time is fixed (LinuxKit's `2017-04-18T16:30:00Z`): see [`spdx`].
//!
//! [`SbomBuilder`] collects a build's images and writes the document.

#![forbid(unsafe_code)]

mod builder;
pub mod cargo;
mod error;
pub mod kernel;
pub mod merge;
pub mod ospkg;
pub mod spdx;

pub use builder::{ImageInfo, SbomBuilder};
pub use error::SbomError;
