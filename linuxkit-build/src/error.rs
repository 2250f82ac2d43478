//! Errors of the assembly stage, worded like upstream LinuxKit's so the same problem is
//! recognisable (`failed to build init tarball from <ref>: could not pull image <ref>: ...`).

use std::io;

use linuxkit_oci::store::StoreError;

use crate::oci_config::ConfigError;
use crate::reference::ReferenceError;

/// An assembly failure. Context wrappers nest like upstream's `fmt.Errorf("...: %v", err)`.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The definition fails a check upstream makes before building.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// Context added around an inner error, e.g. `failed to build init tarball from <ref>`.
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The inner error.
        source: Box<BuildError>,
    },
    /// An image could not be resolved (not in any layout/cache, no manifest for the platform).
    #[error("could not pull image {reference}: {source}")]
    Pull {
        /// The image as upstream names it in this message.
        reference: String,
        /// What the image source reported.
        source: StoreError,
    },
    /// An image reference could not be parsed.
    #[error("could not resolve references for image {image}: {source}")]
    Reference {
        /// The image as written.
        image: String,
        /// Why it does not parse.
        source: ReferenceError,
    },
    /// An image's layer or blob could not be read (I/O error, corrupt tar, digest mismatch).
    #[error("reading image {reference}: {source}")]
    ImageRead {
        /// The image.
        reference: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A layer entry cargo-linuxkit refuses to place: its path or link target leaves the image
    /// root, it is stored below a symbolic link, or it is a hard link to a missing path.
    #[error("image {reference} has an unsafe layer entry {entry:?}: {reason}; cargo-linuxkit refuses to assemble it (rebuild the image without that entry)")]
    UnsafeEntry {
        /// The image.
        reference: String,
        /// The entry's name (cleaned).
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// An image has more layer entries than the build allows (a layer bomb).
    #[error("image {reference} has more than {limit} layer entries: refusing to assemble it (an image this large is not a LinuxKit image; BuildOptions::max_image_entries raises the limit)")]
    TooManyEntries {
        /// The image.
        reference: String,
        /// The limit.
        limit: u64,
    },
    /// Generating a container's `config.json`/`runtime.json` failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The kernel image does not have the expected files.
    #[error("{0}")]
    Kernel(String),
    /// A volume's `platforms` entry cannot be parsed.
    #[error("{0}")]
    Platform(String),
    /// A `files` entry is invalid or its source cannot be read.
    #[error("{0}")]
    Files(String),
    /// The output could not be written.
    #[error("writing the output tar: {0}")]
    Output(io::Error),
    /// The SBOM attestation of an image could not be read from the image store.
    #[error("reading the SBOM attestation of {reference}: {source} (build with --no-sbom to leave the SBOM out)")]
    Attestation {
        /// The image.
        reference: String,
        /// What the store reported.
        source: StoreError,
    },
    /// The SBOM could not be made.
    #[error(transparent)]
    Sbom(#[from] linuxkit_sbom::SbomError),
}

impl BuildError {
    /// Wraps `self` in a context message.
    pub fn context(self, context: impl Into<String>) -> Self {
        BuildError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }
}

/// Adds context to results.
pub(crate) trait ResultExt<T> {
    /// Wraps the error in a context message.
    fn context(self, f: impl FnOnce() -> String) -> Result<T, BuildError>;
}

impl<T> ResultExt<T> for Result<T, BuildError> {
    fn context(self, f: impl FnOnce() -> String) -> Result<T, BuildError> {
        self.map_err(|e| e.context(f()))
    }
}
