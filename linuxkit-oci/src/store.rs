//! Resolved images: the contract between image resolution and assembly.
//!
//! Resolution (registry pulls, the local cache, OCI layout directories, ...) turns every image
//! reference of a definition into a [`ResolvedImage`]: the selected manifest, the parsed image
//! config and the layer blobs as files on disk, already verified or verified while streamed.
//! Assembly only ever sees this type; it never talks to a registry.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use crate::digest::Digest;

/// Media types of OCI and Docker manifests, indexes and layers.
pub mod media {
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// OCI gzip layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI uncompressed layer.
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI zstd layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// Is this media type an index (OCI index or Docker manifest list)?
    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_LIST
    }
}

/// Annotation holding the full image name in containerd-style layouts (and `cache import`).
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Annotation holding the reference name of a root descriptor in an OCI layout.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Errors of reading resolved images and OCI layouts.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A JSON document (index, manifest, config) could not be parsed.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// What was being parsed.
        what: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The reference is not in the store.
    #[error("image {reference} not found in {location}")]
    NotFound {
        /// The reference as written.
        reference: String,
        /// Where it was looked up.
        location: String,
    },
    /// The image index has no manifest for the requested platform.
    #[error("image {reference} has no manifest for {wanted}; available platforms: {available}")]
    NoPlatform {
        /// The reference as written.
        reference: String,
        /// The requested platform.
        wanted: String,
        /// The platforms the index lists.
        available: String,
    },
    /// A blob's content does not match its digest.
    #[error("blob {digest} of {reference} does not match its digest (got {actual}); if it is in the cache, `cargo linuxkit cache verify --repair` removes the damaged copy so that the next build pulls it again")]
    DigestMismatch {
        /// The image the blob belongs to.
        reference: String,
        /// The expected digest.
        digest: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// An image source (registry, cache, ...) failed for this reference.
    #[error("image {reference}: {source}")]
    Source {
        /// The reference as written.
        reference: String,
        /// What went wrong, as the source reports it.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A descriptor or media type this tool cannot handle.
    #[error("image {reference}: {message}")]
    Unsupported {
        /// The image.
        reference: String,
        /// What is unsupported.
        message: String,
    },
}

/// A target platform, `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Architecture in OCI/Go spelling, e.g. `amd64`.
    pub architecture: String,
    /// Optional variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/<arch>`.
    pub fn linux(architecture: &str) -> Self {
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// The host's platform in OCI spelling (`amd64`, `arm64`, ...).
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "riscv64" => "riscv64",
            "s390x" => "s390x",
            other => other,
        };
        Platform::linux(arch)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// `sha256:<hex>` (checked when read).
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Platform (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image index (also the root `index.json` of a layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI (or Docker v2) image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// The layers, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The `config` section of an OCI image config: the only part LinuxKit uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Default user.
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment.
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Entrypoint.
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Working directory.
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    /// Labels (`org.mobyproject.config` lives here).
    #[serde(rename = "Labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// An OCI image config file (the parts this tool reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfigFile {
    /// Architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// The runtime config.
    #[serde(default)]
    pub config: ContainerConfig,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The compression of a layer media type; unknown types are sniffed when opened.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
            Some(Compression::Gzip)
        } else if media_type.ends_with("+zstd") {
            Some(Compression::Zstd)
        } else if media_type.ends_with(".tar") || media_type.ends_with("rootfs.diff.tar") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// One layer of a resolved image, stored as a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// `sha256:<hex>` of the (compressed) blob.
    pub digest: Digest,
    /// Layer media type.
    pub media_type: String,
    /// Blob size in bytes.
    pub size: u64,
    /// Where the blob is.
    pub path: PathBuf,
    /// True when the blob's digest must be checked while it is read (sources that were not
    /// verified on insertion, such as a user's OCI layout directory).
    pub verify: bool,
}

impl LayerBlob {
    /// Opens the layer as an uncompressed tar stream. When [`LayerBlob::verify`] is set, the
    /// compressed bytes are hashed as they are read and a mismatch is reported as an
    /// `InvalidData` I/O error at end of stream.
    pub fn open_tar(&self, reference: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let file = fs::File::open(&self.path).map_err(|source| StoreError::Io {
            path: self.path.clone(),
            source,
        })?;
        let raw: Box<dyn Read + Send> = if self.verify {
            Box::new(VerifyingReader::new(
                BufReader::with_capacity(256 * 1024, file),
                &self.digest,
                reference,
            ))
        } else {
            Box::new(BufReader::with_capacity(256 * 1024, file))
        };
        let compression = match Compression::from_media_type(&self.media_type) {
            Some(c) => c,
            None => sniff_compression(&self.path)?,
        };
        Ok(match compression {
            Compression::None => raw,
            Compression::Gzip => Box::new(NamedErrors {
                inner: flate2::read::MultiGzDecoder::new(raw),
                what: format!("layer {} of {reference}", self.digest),
            }),
            Compression::Zstd => {
                return Err(StoreError::Unsupported {
                    reference: reference.to_string(),
                    message: format!("zstd layers are not supported yet ({})", self.digest),
                })
            }
        })
    }
}

fn sniff_compression(path: &Path) -> Result<Compression, StoreError> {
    let mut magic = [0u8; 4];
    let mut f = fs::File::open(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let n = f.read(&mut magic).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    })
}

/// Names the layer and the fix in decompression errors (a damaged blob fails there first).
struct NamedErrors<R> {
    inner: R,
    what: String,
}

impl<R: Read> Read for NamedErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.get_ref().is_some_and(|r| r.is::<StoreError>()) {
                return e;
            }
            io::Error::new(
                e.kind(),
                format!(
                    "{}: {e}; if it is in the cache, `cargo linuxkit cache verify --repair` removes the damaged copy so that the next build pulls it again",
                    self.what
                ),
            )
        })
    }
}

/// A reader that hashes what passes through and fails at EOF when the digest differs.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
    reference: String,
    done: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, expecting `sha256:<hex>` `digest`.
    pub fn new(inner: R, digest: &Digest, reference: &str) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected: digest.clone(),
            reference: reference.to_string(),
            done: false,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
        } else if !buf.is_empty() && !self.done {
            self.done = true;
            let actual = crate::digest::finish(self.hasher.clone().finalize().into());
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    StoreError::DigestMismatch {
                        reference: self.reference.clone(),
                        digest: self.expected.to_string(),
                        actual: actual.into_string(),
                    },
                ));
            }
        }
        Ok(n)
    }
}

/// An image resolved to local, verified (or verify-on-read) blobs.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The reference exactly as written in the definition.
    pub reference: String,
    /// The root descriptor the reference named (an index or a manifest).
    pub root: Descriptor,
    /// Digest of the selected platform manifest.
    pub manifest_digest: Digest,
    /// The selected manifest.
    pub manifest: Manifest,
    /// The parsed image config.
    pub config: ImageConfigFile,
    /// The raw config blob bytes.
    pub config_raw: Vec<u8>,
    /// Layers, bottom first.
    pub layers: Vec<LayerBlob>,
    /// The `blobs/sha256` directory holding every blob of this image (for `format: oci` volumes).
    pub blobs_dir: PathBuf,
}

impl ResolvedImage {
    /// Path of a blob of this image by digest.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path(&self.blobs_dir, digest)
    }
}

/// Path of `sha256:<hex>` inside a `blobs/sha256` directory.
pub fn blob_path(blobs_dir: &Path, digest: &Digest) -> PathBuf {
    blobs_dir.join(digest.hex())
}

/// Anything that can turn a reference into a resolved image.
pub trait ImageProvider: Send + Sync {
    /// Resolves `reference` (as written in the definition) for `platform`.
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, StoreError>;
}
