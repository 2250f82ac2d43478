//! Reading OCI image layout directories (a user's layout, or LinuxKit's cache).

use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::store::{
    blob_path, media, Descriptor, ImageConfigFile, ImageProvider, Index, LayerBlob, Manifest,
    Platform, ResolvedImage, StoreError, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
};

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/...`).
#[derive(Debug, Clone)]
pub struct OciLayout {
    dir: PathBuf,
    /// Verify blob digests while reading (true for layouts this tool did not write itself).
    verify: bool,
}

impl OciLayout {
    /// Opens a layout. `verify` makes every blob be checked against its digest when read.
    pub fn open(dir: impl Into<PathBuf>, verify: bool) -> Result<Self, StoreError> {
        let dir = dir.into();
        let marker = dir.join("oci-layout");
        if !marker.is_file() {
            return Err(StoreError::Io {
                path: marker,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not an OCI image layout (no oci-layout file)",
                ),
            });
        }
        Ok(OciLayout { dir, verify })
    }

    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `blobs/sha256` directory.
    pub fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs").join("sha256")
    }

    /// Reads the root `index.json`.
    pub fn index(&self) -> Result<Index, StoreError> {
        let path = self.dir.join("index.json");
        let bytes = read(&path)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            what: path.display().to_string(),
            source,
        })
    }

    /// Reads a blob fully, checking its digest (small blobs: manifests, indexes, configs).
    pub fn read_blob(&self, digest: &Digest, reference: &str) -> Result<Vec<u8>, StoreError> {
        let path = blob_path(&self.blobs_dir(), digest);
        let bytes = read(&path)?;
        let actual = crate::digest::sha256_digest(&bytes);
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                reference: reference.to_string(),
                digest: digest.to_string(),
                actual: actual.into_string(),
            });
        }
        Ok(bytes)
    }

    /// Finds the root descriptor for `reference`: by `io.containerd.image.name`, then by
    /// `org.opencontainers.image.ref.name` equal to the whole reference, then (for a
    /// digest-pinned reference) by digest.
    pub fn find_root(&self, reference: &str) -> Result<Option<Descriptor>, StoreError> {
        let index = self.index()?;
        let by = |key: &str| {
            index
                .manifests
                .iter()
                .rev()
                .find(|d| {
                    d.annotations
                        .as_ref()
                        .and_then(|a| a.get(key))
                        .is_some_and(|n| n == reference)
                })
                .cloned()
        };
        if let Some(d) = by(ANNOTATION_CONTAINERD_NAME).or_else(|| by(ANNOTATION_REF_NAME)) {
            return Ok(Some(d));
        }
        if let Some((_, digest)) = reference.rsplit_once('@') {
            if let Some(d) = index.manifests.iter().find(|d| d.digest == digest) {
                return Ok(Some(d.clone()));
            }
        }
        Ok(None)
    }

    /// Resolves a root descriptor to the manifest for `platform`.
    pub fn resolve_descriptor(
        &self,
        reference: &str,
        root: Descriptor,
        platform: &Platform,
    ) -> Result<ResolvedImage, StoreError> {
        let mut manifest_desc = root.clone();
        if media::is_index(&root.media_type) {
            let raw = self.read_blob(&root.digest, reference)?;
            let index: Index = serde_json::from_slice(&raw).map_err(|source| StoreError::Json {
                what: format!("index of {reference}"),
                source,
            })?;
            manifest_desc = select_platform(reference, &index, platform)?;
        }
        let raw = self.read_blob(&manifest_desc.digest, reference)?;
        let manifest: Manifest =
            serde_json::from_slice(&raw).map_err(|source| StoreError::Json {
                what: format!("manifest of {reference}"),
                source,
            })?;
        let config_raw = self.read_blob(&manifest.config.digest, reference)?;
        let config: ImageConfigFile =
            serde_json::from_slice(&config_raw).map_err(|source| StoreError::Json {
                what: format!("image config of {reference}"),
                source,
            })?;
        let blobs_dir = self.blobs_dir();
        let layers = manifest
            .layers
            .iter()
            .map(|l| LayerBlob {
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
                path: blob_path(&blobs_dir, &l.digest),
                verify: self.verify,
            })
            .collect();
        Ok(ResolvedImage {
            reference: reference.to_string(),
            root,
            manifest_digest: manifest_desc.digest,
            manifest,
            config,
            config_raw,
            layers,
            blobs_dir,
        })
    }
}

/// Picks the first manifest of an index whose OS and architecture match (the variant is
/// ignored, as LinuxKit does).
pub fn select_platform(
    reference: &str,
    index: &Index,
    platform: &Platform,
) -> Result<Descriptor, StoreError> {
    index
        .manifests
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == platform.os && p.architecture == platform.architecture)
        })
        .cloned()
        .ok_or_else(|| StoreError::NoPlatform {
            reference: reference.to_string(),
            wanted: platform.to_string(),
            available: index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl ImageProvider for OciLayout {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, StoreError> {
        let root = self
            .find_root(reference)?
            .ok_or_else(|| StoreError::NotFound {
                reference: reference.to_string(),
                location: self.dir.display().to_string(),
            })?;
        self.resolve_descriptor(reference, root, platform)
    }
}

/// Several layouts searched in order: the first that knows a reference resolves it.
#[derive(Debug, Clone, Default)]
pub struct LayoutSet {
    layouts: Vec<OciLayout>,
}

impl LayoutSet {
    /// A set of layouts, searched in order.
    pub fn new(layouts: Vec<OciLayout>) -> Self {
        LayoutSet { layouts }
    }
}

impl ImageProvider for LayoutSet {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, StoreError> {
        for layout in &self.layouts {
            if let Some(root) = layout.find_root(reference)? {
                return layout.resolve_descriptor(reference, root, platform);
            }
        }
        Err(StoreError::NotFound {
            reference: reference.to_string(),
            location: self
                .layouts
                .iter()
                .map(|l| l.dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    fs::read(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}
