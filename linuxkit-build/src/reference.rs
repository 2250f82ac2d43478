//! Image reference normalisation as LinuxKit does it (build spec §5.1), on the one
//! [`ImageRef`] of `linuxkit-validate`.
//!
//! - [`expand`] is upstream's `util.ReferenceExpand`: `alpine` becomes `docker.io/library/alpine`,
//!   `a/b` becomes `docker.io/a/b` unless `a` looks like a registry host; no tag is added.
//! - [`canonical`] is what `UpdateImages` writes back into the config before it is serialised as
//!   metadata, containerd's `reference.Parse(ReferenceExpand(s)).String()`. For every reference
//!   the grammar accepts that is [`ImageRef::cache_name`]; references it refuses are refused here
//!   already (upstream accepts some, such as capitals, at this stage and fails when pulling).

pub use linuxkit_validate::is_local_source;
pub use linuxkit_validate::reference::{expand, ImageRef, ReferenceError};

/// The form `UpdateImages` writes: the reference's [cache name](ImageRef::cache_name).
///
/// Local image sources built from the workspace (`cargo:`, `kernel:`, `init:`, `dir:`) are not
/// registry references and are returned unchanged, so that two of them never share a name.
pub fn canonical(reference: &str) -> Result<String, ReferenceError> {
    if is_local_source(reference) {
        return Ok(reference.to_string());
    }
    Ok(ImageRef::parse(reference)?.cache_name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_is_what_update_images_writes() {
        assert_eq!(canonical("alpine").unwrap(), "docker.io/library/alpine");
        assert_eq!(
            canonical("linuxkit/init:v1").unwrap(),
            "docker.io/linuxkit/init:v1"
        );
        assert_eq!(
            canonical("127.0.0.1:5000/fixture/kernel:v1").unwrap(),
            "127.0.0.1:5000/fixture/kernel:v1"
        );
        assert_eq!(canonical("a__b/c---d/e.f").unwrap(), "a__b/c---d/e.f");
        assert_eq!(canonical("cargo:hello").unwrap(), "cargo:hello");
        assert!(canonical("Alpine")
            .unwrap_err()
            .to_string()
            .contains("must be lowercase: \"Alpine\""));
    }
}
