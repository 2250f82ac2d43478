//! Registry operations beyond image pulls, for callers that use a registry repository as a
//! store of their own (a build cache): fetching a manifest by tag, blobs to files, images
//! without naming them in the cache, and pushing blobs, manifests and cached images. They
//! use the same endpoints, mirrors, credentials, TLS and retries as pulls.

use std::path::PathBuf;

use linuxkit_oci::store::{Descriptor, Platform, StoreError};

use crate::reference::ImageRef;
use crate::{ResolveError, Resolver};

impl Resolver {
    /// The manifest or index `reference` names (`host/repo:tag` or `@digest`), with its
    /// verified descriptor; `None` when the registry has no such tag or digest.
    pub fn fetch_manifest(
        &self,
        reference: &str,
    ) -> Result<Option<(Vec<u8>, Descriptor)>, ResolveError> {
        let image = ImageRef::parse(reference)?;
        self.online()?;
        let registry = self.registry()?;
        let writer = self.cache.writer();
        self.block_on(registry.manifest(&image, writer))?
    }

    /// Fetches blobs of the repository of `repository` (`host/repo`, a tag or digest is
    /// ignored), in parallel, each to its path (written only once it matched its digest and
    /// size). One result per blob, in order.
    pub fn fetch_blobs(
        &self,
        repository: &str,
        blobs: &[(Descriptor, PathBuf)],
    ) -> Result<Vec<Result<(), ResolveError>>, ResolveError> {
        let image = ImageRef::parse(repository)?;
        self.online()?;
        let registry = self.registry()?;
        let writer = self.cache.writer();
        self.block_on(registry.blobs_to_files(&image, writer, blobs))?
    }

    /// Pulls the image `reference` names into the cache's blobs (every blob verified) without
    /// giving it a name there; returns its root descriptor. The caller names it.
    pub fn fetch_image(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Descriptor, ResolveError> {
        let image = ImageRef::parse(reference)?;
        self.online()?;
        let registry = self.registry()?;
        let writer = self.cache.writer();
        self.block_on(registry.pull_as(&image, platform, writer, false, None))?
    }

    /// Pushes blobs from files to the repository of `repository` (those it lacks), in
    /// parallel; the first failure stops the push. Returns how many were uploaded.
    pub fn push_blobs(
        &self,
        repository: &str,
        blobs: &[(Descriptor, PathBuf)],
    ) -> Result<usize, ResolveError> {
        let image = ImageRef::parse(repository)?;
        self.online()?;
        let registry = self.registry()?;
        self.block_on(registry.push_blob_files(&image, blobs))?
    }

    /// Pushes a manifest document under `reference`'s tag (or digest).
    pub fn push_manifest(
        &self,
        reference: &str,
        raw: &[u8],
        media_type: &str,
    ) -> Result<(), ResolveError> {
        let image = ImageRef::parse(reference)?;
        self.online()?;
        let registry = self.registry()?;
        self.block_on(registry.put_manifest(&image, raw.to_vec(), media_type))?
    }

    /// Pushes the cached image whose root is `root` (named `source_name` in messages) to
    /// `reference`, blobs the registry already has skipped.
    pub fn push_root(
        &self,
        root: &Descriptor,
        source_name: &str,
        reference: &str,
    ) -> Result<(), ResolveError> {
        let target = ImageRef::parse(reference)?;
        self.online()?;
        if !self
            .cache
            .layout()
            .blobs_dir()
            .join(root.digest.trim_start_matches("sha256:"))
            .is_file()
        {
            return Err(ResolveError::Store(StoreError::NotFound {
                reference: source_name.to_string(),
                location: self.cache.dir().display().to_string(),
            }));
        }
        let registry = self.registry()?;
        self.block_on(registry.push(self.cache.layout(), root, source_name, &target))?
    }

    fn online(&self) -> Result<(), ResolveError> {
        if self.options.offline {
            return Err(ResolveError::Options(
                "offline mode is on: no registry access".to_string(),
            ));
        }
        Ok(())
    }
}
