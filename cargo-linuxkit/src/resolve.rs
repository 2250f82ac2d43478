//! The image source of builds: `linuxkit_resolve::Resolver` (LinuxKit cache + registries),
//! configured from the command line, and `linuxkit.lock` (see `linuxkit_lock`): lock entries
//! from resolved images, the lockfile a build uses (`--locked`), and [`LockedProvider`], which
//! resolves locked references by digest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use linuxkit_lock::{LockedImage, Lockfile};
use linuxkit_oci::store::{ImageProvider, Index, Platform, ResolvedImage, StoreError};
use linuxkit_resolve::{ProgressMode, Resolver, ResolverOptions};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::source::{Definition, Origin};

/// A resolver for `platform`; `pull` re-checks every image against its registry.
pub fn resolver(cfg: &Config, platform: Platform, pull: bool) -> Result<Resolver> {
    let progress = if cfg.shell.is_quiet() || cfg.shell.is_json() {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    };
    Resolver::new(ResolverOptions {
        cache_dir: Some(cfg.cache_dir.clone()),
        platform,
        offline: cfg.offline,
        always_pull: pull,
        mirrors: cfg.mirrors.clone(),
        insecure_registries: cfg.insecure_registries.clone(),
        progress,
        ..ResolverOptions::default()
    })
    .map_err(|e| Error::Resolve(Box::new(e)))
}

/// Makes sure every reference is available (pulling what is missing, in parallel).
pub fn prefetch(resolver: &Resolver, references: &[String]) -> Result<()> {
    resolver
        .prefetch(references)
        .map_err(|e| Error::Resolve(Box::new(e)))
}

/// Resolves every reference in `references` (registry images only) to its lock entry: the root
/// digest the cache (or, when missing or with an `always_pull` resolver, the registry) has for
/// it, and the per-platform manifest digests of that root.
pub fn lock_entries(
    resolver: &Resolver,
    references: &[String],
) -> Result<BTreeMap<String, LockedImage>> {
    prefetch(resolver, references)?;
    let platform = resolver.options().platform.clone();
    let mut out = BTreeMap::new();
    for r in references {
        let img = resolver
            .resolve_image(r, &platform)
            .map_err(|e| Error::Resolve(Box::new(e)))?;
        let mut platforms = BTreeMap::new();
        if linuxkit_oci::store::media::is_index(&img.root.media_type) {
            let raw = resolver
                .cache()
                .layout()
                .read_blob(&img.root.digest, r)
                .map_err(|e| Error::Resolve(Box::new(e)))?;
            let index: Index = serde_json::from_slice(&raw).map_err(|e| {
                Error::Resolve(format!("{r}: the image index is not valid JSON: {e}").into())
            })?;
            for m in index.manifests {
                // Attestation manifests carry `unknown/unknown`.
                match m.platform {
                    Some(p) if p.os != "unknown" => {
                        platforms.insert(p.to_string(), m.digest);
                    }
                    _ => {}
                }
            }
        } else {
            let p = Platform {
                os: img.config.os.clone(),
                architecture: img.config.architecture.clone(),
                variant: None,
            };
            platforms.insert(p.to_string(), img.manifest_digest.clone());
        }
        out.insert(
            r.clone(),
            LockedImage {
                digest: img.root.digest.clone(),
                platforms,
            },
        );
    }
    Ok(out)
}

/// The lockfile of a definition: `linuxkit.lock` next to its package's `Cargo.toml`. LinuxKit
/// YAML definitions have none.
pub fn lockfile_path(def: &Definition) -> Option<PathBuf> {
    match &def.origin {
        Origin::Rust { target, .. } => target.manifest_path.parent().map(linuxkit_lock::path_in),
        Origin::Yaml { .. } => None,
    }
}

/// The lockfile of `def` when it has one (`Ok(None)` when it has none or it does not exist).
pub fn read_lockfile(def: &Definition) -> Result<Option<Lockfile>> {
    match lockfile_path(def) {
        Some(p) => Lockfile::read(&p).map_err(|e| Error::Resolve(Box::new(e))),
        None => Ok(None),
    }
}

/// The lockfile a build of `def` uses. With `--locked` (or `--frozen`) a Rust definition's
/// lockfile must exist and lock every registry image `references` names (the build's), as
/// `cargo build --locked` requires of Cargo.lock. Entries no longer used do not fail a build
/// (`cargo linuxkit lock` removes them).
pub fn lockfile_for_build(
    def: &Definition,
    references: &[String],
    cfg: &Config,
) -> Result<Option<Lockfile>> {
    let lock = read_lockfile(def)?;
    if !(cfg.cargo.locked || cfg.cargo.frozen) {
        return Ok(lock);
    }
    let Some(path) = lockfile_path(def) else {
        return Ok(lock);
    };
    let shown = crate::source::display_path(&path);
    let Some(l) = &lock else {
        return Err(Error::Usage(format!(
            "{shown} is missing and --locked was passed: run `cargo linuxkit lock` and commit it"
        )));
    };
    let missing = l.staleness(references.iter().map(String::as_str)).missing;
    if missing.is_empty() {
        Ok(lock)
    } else {
        Err(Error::Usage(format!(
            "{shown} needs to be updated but --locked was passed: image `{}` needs {} not locked: run `cargo linuxkit lock`",
            def.name,
            missing.join(", ")
        )))
    }
}

/// An [`ImageProvider`] that resolves locked references by their locked digest
/// (`reference@digest`) and everything else as written. The resolved image keeps the
/// reference as written, so outputs do not change when a lockfile is added.
pub struct LockedProvider<'a> {
    inner: &'a dyn ImageProvider,
    lock: &'a Lockfile,
}

impl<'a> LockedProvider<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn ImageProvider, lock: &'a Lockfile) -> Self {
        LockedProvider { inner, lock }
    }
}

impl ImageProvider for LockedProvider<'_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, StoreError> {
        match self.lock.pinned(reference) {
            Some(pinned) => {
                let mut img = self.inner.resolve(&pinned, platform)?;
                img.reference = reference.to_string();
                Ok(img)
            }
            None => self.inner.resolve(reference, platform),
        }
    }
}
