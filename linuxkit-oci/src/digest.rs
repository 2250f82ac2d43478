//! Content digests: the one [`Digest`] type of `linuxkit-validate`, and hashing into it.

use sha2::{Digest as _, Sha256};

pub use linuxkit_validate::{Digest, DigestError};

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    finish(Sha256::digest(bytes))
}

/// The digest of a finished sha256 hasher.
pub fn finish(sum: impl AsRef<[u8]>) -> Digest {
    Digest::from_sha256_hex(&hex::encode(sum)).expect("a sha256 sum is 64 lowercase hex digits")
}
