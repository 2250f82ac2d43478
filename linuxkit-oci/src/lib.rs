//! OCI image types and local image storage, shared by resolution and assembly.
//!
//! - [`store`]: OCI descriptors, manifests, image configs, and [`store::ResolvedImage`], the
//!   one type assembly consumes; [`store::ImageProvider`] is what every image source implements.
//! - [`layout`]: reading OCI image layout directories (a user's layout or LinuxKit's cache).
//! - [`digest`]: content digests.
//! - [`write`]: writing OCI image layouts (verified blobs, atomic `index.json` under a lock).
//! - [`attestation`]: in-toto attestation manifests next to images (SBOMs), read and written.

#![forbid(unsafe_code)]

pub mod attestation;
pub mod digest;
pub mod layout;
pub mod store;
pub mod write;
