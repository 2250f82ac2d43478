//! The error type.

/// Why an SBOM could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// An SBOM attestation of an image is not an SPDX JSON document this tool can merge.
    #[error("the SBOM attestation of {image} cannot be merged: {reason} (build with --no-sbom to leave the SBOM out)")]
    Attestation {
        /// The image reference.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
}
