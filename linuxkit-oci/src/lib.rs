//! OCI image types and local image storage, shared by resolution and assembly.
//!
//! - [`store`]: OCI descriptors, manifests, image configs, and [`store::ResolvedImage`], the
//!   one type assembly consumes; [`store::ImageProvider`] is what every image source implements.
//! - [`layout`]: reading OCI image layout directories (a user's layout or LinuxKit's cache).
//! - [`digest`]: content digests.

pub mod digest;
pub mod layout;
pub mod store;
