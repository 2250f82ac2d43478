//! Content digests: the one [`Digest`] type of `linuxkit-validate`, and hashing into it.

use sha2::{Digest as _, Sha256};

pub use linuxkit_validate::{Digest, DigestError};

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    finish(Sha256::digest(bytes).into())
}

/// The digest of a finished sha256 hasher's output.
pub fn finish(sum: [u8; 32]) -> Digest {
    Digest::from_sha256_sum(sum)
}
