//! Errors of image resolution.

use std::path::PathBuf;

use linuxkit_oci::store::StoreError;
use linuxkit_oci::write::WriteError;

use crate::auth::AuthError;
use crate::reference::ReferenceError;

/// Why a registry operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The registry refused the credentials (401/403).
    Unauthorized,
    /// The image, tag or blob does not exist (404, MANIFEST_UNKNOWN, ...).
    NotFound,
    /// Content did not match its digest.
    DigestMismatch,
    /// Still failing after the configured retries (5xx, resets, timeouts).
    Transient,
    /// The registry's host name does not resolve (DNS); not retried.
    UnknownHost,
    /// Anything else the registry rejected.
    Other,
}

/// Errors of resolving, pulling, pushing and managing cached images.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The reference does not follow the grammar.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Offline mode and the image is not in the cache.
    #[error(
        "image {reference} is not in the cache {cache} and offline mode is on; \
         run `cargo linuxkit cache pull {reference}` while online, or import it with \
         `cargo linuxkit cache import`"
    )]
    Offline {
        /// The reference as written.
        reference: String,
        /// The cache directory.
        cache: PathBuf,
    },
    /// `cache pull --offline` of an image that is not in the cache (for the platform).
    #[error(
        "image {reference} is not in the cache {cache} (for {platform}) and offline mode is on, \
         so `cache pull` cannot download it; run it again without --offline, or import the image \
         with `cargo linuxkit cache import`"
    )]
    OfflinePull {
        /// The reference as expanded (`:latest` added).
        reference: String,
        /// The requested platform.
        platform: String,
        /// The cache directory.
        cache: PathBuf,
    },
    /// Offline mode and the image is cached, but not for the requested platform.
    #[error(
        "image {reference} is in the cache {cache} but not for {platform}, and offline mode is on; \
         pull it for {platform} while online"
    )]
    OfflinePlatform {
        /// The reference as written.
        reference: String,
        /// The requested platform.
        platform: String,
        /// The cache directory.
        cache: PathBuf,
    },
    /// A cached blob of the image was damaged (and removed) while offline mode is on.
    #[error(
        "image {reference}: the cache {cache} was damaged ({what}); the damaged blob was removed, \
         but offline mode is on: build again online to pull it, and run `cargo linuxkit cache verify`"
    )]
    CacheDamaged {
        /// The reference as written.
        reference: String,
        /// What was wrong.
        what: String,
        /// The cache directory.
        cache: PathBuf,
    },
    /// The cache's `index.json` cannot be parsed (a half-written or edited file).
    #[error(
        "the cache index {}/index.json cannot be read ({reason}); run `cargo linuxkit cache verify --repair` \
         (it keeps the blobs and starts a new index; images are pulled again)",
        cache.display()
    )]
    CacheIndex {
        /// The cache directory.
        cache: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// A registry operation failed.
    #[error("pulling {reference} from {registry}: {reason}{}", hint(*kind, registry))]
    Registry {
        /// The reference as written.
        reference: String,
        /// The registry (or mirror) asked.
        registry: String,
        /// The classified failure.
        kind: FailureKind,
        /// What the registry or transport said.
        reason: String,
    },
    /// Pushing to a registry failed.
    #[error("pushing {reference} to {target}: {reason}")]
    Push {
        /// The cached image.
        reference: String,
        /// Where it was pushed.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// Reading the cache or a layout.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the cache.
    #[error("image {reference}: writing the cache: {source}")]
    Write {
        /// The image being written.
        reference: String,
        /// The underlying error.
        source: WriteError,
    },
    /// Credentials could not be read.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A bad option value (mirror, platform, ...).
    #[error("{0}")]
    Options(String),
    /// An archive or layout to import or export is malformed.
    #[error("{path}: {message}")]
    Archive {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Several images failed (prefetch); each is listed.
    #[error("{} images could not be resolved:\n  {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Many(Vec<ResolveError>),
}

impl ResolveError {
    /// `Ok(value)` when `errors` is empty, the one error, or [`ResolveError::Many`].
    pub(crate) fn none_or_many<T>(
        value: T,
        mut errors: Vec<ResolveError>,
    ) -> Result<T, ResolveError> {
        match errors.len() {
            0 => Ok(value),
            1 => Err(errors.remove(0)),
            _ => Err(ResolveError::Many(errors)),
        }
    }
}

fn hint(kind: FailureKind, registry: &str) -> String {
    let hint = match kind {
        FailureKind::Unauthorized => {
            " (log in with `docker login`, or check ~/.docker/config.json and credential helpers)"
        }
        FailureKind::NotFound => " (check the name and tag)",
        FailureKind::DigestMismatch => " (the registry served corrupt content; nothing was cached)",
        FailureKind::Transient => " (gave up after retries; try again later or use a mirror)",
        FailureKind::UnknownHost => {
            return format!(
                " (the registry host name {} does not resolve: check the name and the network, \
                 point the registry at a reachable copy with `--mirror REGISTRY=URL`, or use only \
                 cached images with `--offline`)",
                host_name(registry)
            )
        }
        FailureKind::Other => "",
    };
    hint.to_string()
}

/// `host` of `host[:port]`.
fn host_name(registry: &str) -> &str {
    match registry.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    }
}

impl ResolveError {
    pub(crate) fn write(reference: &str, source: WriteError) -> Self {
        ResolveError::Write {
            reference: reference.to_string(),
            source,
        }
    }

    /// Converts into the store contract's error, keeping the message.
    pub fn into_store(self, reference: &str) -> StoreError {
        match self {
            ResolveError::Store(e) => e,
            other => StoreError::Source {
                reference: reference.to_string(),
                source: Box::new(other),
            },
        }
    }
}
