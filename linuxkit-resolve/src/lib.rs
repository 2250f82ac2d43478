//! Image resolution: reference normalisation, registry pulls and the local cache.
//!
//! - [`reference`]: LinuxKit's reference expansion (`redis` -> `docker.io/library/redis`) and a
//!   strict parse into registry, repository, tag and digest.
//! - [`cache`]: the LinuxKit-compatible OCI-layout cache (`~/.linuxkit/cache`, or
//!   `$LINUXKIT_CACHE`), and `cache ls | rm | clean | import | export`.
//! - [`registry`]: mirrors and retry policy of registry access (oci-client underneath).
//! - [`remote`]: manifests, blobs and images fetched or pushed by callers that keep their own
//!   content in a registry repository (the build cache), with the same access as pulls.
//! - [`auth`]: credentials from `~/.docker/config.json` and credential helpers.
//! - [`progress`]: progress bars / plain lines / quiet.
//! - [`error`]: the error type, `ResolveError`.
//!
//! [`Resolver`] ties them together and implements [`ImageProvider`]: an image is taken from the
//! cache when it is there (no network, no re-hashing of layers), pulled otherwise (unless
//! offline), or always re-checked against the registry with `always_pull`.
//!
//! ```no_run
//! use linuxkit_oci::store::{ImageProvider, Platform};
//! use linuxkit_resolve::{Resolver, ResolverOptions};
//!
//! let resolver = Resolver::new(ResolverOptions {
//!     mirrors: vec!["docker.io=http://127.0.0.1:5000".into()],
//!     ..ResolverOptions::default()
//! })?;
//! let refs = vec!["linuxkit/init:v1.2.0".to_string(), "alpine:3.20".to_string()];
//! resolver.prefetch(&refs)?; // parallel pulls of what is missing
//! let image = resolver.resolve(&refs[0], &Platform::linux("amd64"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Invariants:
//! - Every blob in the cache was hashed and matched its digest before it was renamed into
//!   `blobs/sha256/`; nothing reads a blob that is still being written (`.partial/`).
//! - The root index is only rewritten whole, under the layout lock; a root is added after all
//!   blobs it needs are in place, so a killed pull leaves the index as it was.
//! - Offline mode never opens a network connection; neither does a warm resolution.
//! - Only loopback registries, `insecure_registries` and `http://` mirrors use plain HTTP.

#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod error;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod remote;

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use linuxkit_oci::store::{ImageProvider, Platform, ResolvedImage, StoreError};

pub use crate::cache::{default_cache_dir, Cache, CacheEntry, CacheProblem, Cached, VerifyReport};
pub use crate::error::{FailureKind, ResolveError};
pub use crate::progress::ProgressMode;
pub use crate::reference::{expand, expand_with_tag, ImageRef};
pub use crate::registry::{Mirror, RetryPolicy};

use crate::registry::{Registry, RegistryConfig};

/// Options of a [`Resolver`] (the CLI fills them from its flags).
#[derive(Debug, Clone)]
pub struct ResolverOptions {
    /// Cache directory; `None` = `$LINUXKIT_CACHE` or `~/.linuxkit/cache`.
    pub cache_dir: Option<PathBuf>,
    /// Platform selected from multi-arch indexes.
    pub platform: Platform,
    /// Never touch the network; a missing image is an error naming it.
    pub offline: bool,
    /// Check the registry for every image even when cached (`--pull`).
    pub always_pull: bool,
    /// Mirrors, `REGISTRY=URL` as LinuxKit's `--mirror` (e.g. `docker.io=http://127.0.0.1:5000`).
    pub mirrors: Vec<String>,
    /// Registries (`host[:port]`) spoken to over plain HTTP. Loopback registries always are.
    pub insecure_registries: Vec<String>,
    /// How progress is shown.
    pub progress: ProgressMode,
    /// Docker client config to read credentials from; `None` = `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    /// Blobs downloaded at the same time, over all images.
    pub max_concurrent_downloads: usize,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Read timeout of registry requests.
    pub timeout: Option<Duration>,
    /// Store every platform of a multi-arch image (as upstream does), not only the selected one.
    pub all_platforms: bool,
}

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            cache_dir: None,
            platform: Platform::host(),
            offline: false,
            always_pull: false,
            mirrors: Vec::new(),
            insecure_registries: Vec::new(),
            progress: ProgressMode::Auto,
            docker_config: None,
            max_concurrent_downloads: 4,
            retry: RetryPolicy::default(),
            timeout: Some(Duration::from_secs(60)),
            all_platforms: false,
        }
    }
}

/// Resolves image references through the cache and registries.
pub struct Resolver {
    options: ResolverOptions,
    mirrors: Vec<Mirror>,
    cache: Cache,
    progress: progress::Progress,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
    registry: OnceLock<Result<Registry, String>>,
    /// Names already pulled by this resolver (`always_pull` checks each image once).
    pulled: Mutex<HashSet<String>>,
    /// Per-name locks serialising pulls of the same image.
    inflight: (Mutex<HashSet<String>>, std::sync::Condvar),
}

/// A held per-name pull lock; released on drop.
struct InflightGuard<'a> {
    resolver: &'a Resolver,
    name: String,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        let (set, cv) = &self.resolver.inflight;
        set.lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.name);
        cv.notify_all();
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("options", &self.options)
            .field("cache", &self.cache.dir())
            .finish()
    }
}

impl Resolver {
    /// Opens the cache (creating it) and checks the options. No network access happens here.
    pub fn new(options: ResolverOptions) -> Result<Self, ResolveError> {
        let dir = options.cache_dir.clone().unwrap_or_else(default_cache_dir);
        let cache = Cache::open(dir)?;
        let mirrors = options
            .mirrors
            .iter()
            .map(|m| Mirror::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Resolver {
            progress: progress::Progress::new(options.progress),
            options,
            mirrors,
            cache,
            runtime: OnceLock::new(),
            registry: OnceLock::new(),
            pulled: Mutex::new(HashSet::new()),
            inflight: (Mutex::new(HashSet::new()), std::sync::Condvar::new()),
        })
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The options.
    pub fn options(&self) -> &ResolverOptions {
        &self.options
    }

    /// Resolves `reference` (as written in the definition) for `platform`: from the cache, else
    /// pulled (unless offline), or re-checked first with `always_pull`.
    pub fn resolve_image(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, ResolveError> {
        let image = ImageRef::parse(reference)?;
        if self.options.always_pull && !self.options.offline && !self.was_pulled(&image) {
            let _inflight = self.inflight(&image);
            if !self.was_pulled(&image) {
                self.pull_ref(&image, platform)?;
            }
        }
        if let Some(img) = self.cached(&image, platform)? {
            return Ok(img);
        }
        if self.options.offline {
            return Err(match self.cache.find(&image)? {
                Some(_) => ResolveError::OfflinePlatform {
                    reference: reference.to_string(),
                    platform: platform.to_string(),
                    cache: self.cache.dir().to_path_buf(),
                },
                None => ResolveError::Offline {
                    reference: reference.to_string(),
                    cache: self.cache.dir().to_path_buf(),
                },
            });
        }
        // One pull per name at a time; a concurrent caller finds the image cached afterwards.
        let _inflight = self.inflight(&image);
        if let Some(img) = self.cached(&image, platform)? {
            return Ok(img);
        }
        self.pull_ref(&image, platform)?;
        self.cached(&image, platform)?.ok_or_else(|| {
            ResolveError::Store(StoreError::NotFound {
                reference: reference.to_string(),
                location: self.cache.dir().display().to_string(),
            })
        })
    }

    /// Pulls every image of `references` that is missing from the cache (all of them with
    /// `always_pull`), in parallel. In offline mode, checks they are all cached. All failures
    /// are reported together.
    pub fn prefetch(&self, references: &[String]) -> Result<(), ResolveError> {
        let platform = self.options.platform.clone();
        let mut todo = Vec::new();
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        for r in references {
            if !seen.insert(r.clone()) {
                continue;
            }
            let image = match ImageRef::parse(r) {
                Ok(i) => i,
                Err(e) => {
                    errors.push(e.into());
                    continue;
                }
            };
            let must_pull = self.options.always_pull && !self.was_pulled(&image);
            if !must_pull || self.options.offline {
                match self.cached(&image, &platform) {
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
            if self.options.offline {
                errors.push(ResolveError::Offline {
                    reference: r.clone(),
                    cache: self.cache.dir().to_path_buf(),
                });
                continue;
            }
            todo.push(image);
        }
        if !todo.is_empty() {
            let registry = self.registry()?;
            let writer = self.cache.writer();
            let all = self.options.all_platforms;
            let results = self.block_on(async {
                futures_util::future::join_all(
                    todo.iter()
                        .map(|image| registry.pull(image, &platform, writer, all)),
                )
                .await
            })?;
            for (image, res) in todo.iter().zip(results) {
                match res {
                    Ok(_) => self.mark_pulled(image),
                    Err(e) => errors.push(e),
                }
            }
        }
        ResolveError::none_or_many((), errors)
    }

    /// `cache pull`: expands each name with `:latest` like LinuxKit and pulls it from the
    /// registry even when cached. Like upstream it also names the platform manifest
    /// `<name>-<arch>`. Returns the cache names.
    ///
    /// Offline (as `cargo fetch --offline`), nothing is downloaded: every image must already be
    /// cached for the platform, and the names are returned; a missing one is an
    /// [`ResolveError::OfflinePull`] naming it.
    pub fn pull(&self, names: &[String]) -> Result<Vec<String>, ResolveError> {
        let platform = self.options.platform.clone();
        let images = names
            .iter()
            .map(|n| ImageRef::parse(&expand_with_tag(n)))
            .collect::<Result<Vec<_>, _>>()?;
        if self.options.offline {
            return self.pull_offline(&images, &platform);
        }
        let registry = self.registry()?;
        let writer = self.cache.writer();
        let all = self.options.all_platforms;
        let results = self.block_on(async {
            futures_util::future::join_all(
                images
                    .iter()
                    .map(|image| registry.pull(image, &platform, writer, all)),
            )
            .await
        })?;
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for (image, r) in images.iter().zip(results) {
            match r.and_then(|root| self.add_arch_name(image, root, &platform)) {
                Ok(()) => {
                    self.mark_pulled(image);
                    out.push(image.name.clone());
                }
                Err(e) => errors.push(e),
            }
        }
        ResolveError::none_or_many(out, errors)
    }

    /// `cache pull --offline`: checks that every image is cached for `platform` (adding its
    /// `<name>-<arch>` root when it is missing, from the cache alone).
    fn pull_offline(
        &self,
        images: &[ImageRef],
        platform: &Platform,
    ) -> Result<Vec<String>, ResolveError> {
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for image in images {
            match self.check_cached(image, platform) {
                Ok(()) => out.push(image.name.clone()),
                Err(e) => errors.push(e),
            }
        }
        ResolveError::none_or_many(out, errors)
    }

    /// One image of [`Self::pull_offline`]: complete in the cache for `platform`, or an
    /// [`ResolveError::OfflinePull`] naming it.
    fn check_cached(&self, image: &ImageRef, platform: &Platform) -> Result<(), ResolveError> {
        let root = match self.cached(image, platform)? {
            Some(_) => self.cache.find(image)?,
            None => None,
        };
        let Some(root) = root else {
            return Err(ResolveError::OfflinePull {
                reference: image.original.clone(),
                platform: platform.to_string(),
                cache: self.cache.dir().to_path_buf(),
            });
        };
        self.ensure_arch_name(image, root, platform)
    }

    /// Adds the `<name>-<arch>` root unless the cache already has that name.
    fn ensure_arch_name(
        &self,
        image: &ImageRef,
        root: linuxkit_oci::store::Descriptor,
        platform: &Platform,
    ) -> Result<(), ResolveError> {
        let name = format!("{}-{}", image.name, platform.architecture);
        if self.cache.list()?.iter().any(|e| e.name == name) {
            return Ok(());
        }
        self.add_arch_name(image, root, platform)
    }

    /// How many registry requests were repeated after a transient failure (5xx, reset,
    /// timeout) by this resolver so far; each is also announced with a `Retrying` status line.
    pub fn retries(&self) -> u64 {
        self.registry
            .get()
            .and_then(|r| r.as_ref().ok())
            .map_or(0, Registry::retries)
    }

    /// Pushes the cached image `name` to `remote` (default: `name` itself), e.g. for
    /// `pkg push`. Blobs the registry already has are skipped.
    pub fn push(&self, name: &str, remote: Option<&str>) -> Result<(), ResolveError> {
        if self.options.offline {
            return Err(ResolveError::Options(
                "cannot push in offline mode".to_string(),
            ));
        }
        let image = ImageRef::parse(name)?;
        let target = ImageRef::parse(remote.unwrap_or(name))?;
        let root = self.cache.find(&image)?.ok_or_else(|| {
            ResolveError::Store(StoreError::NotFound {
                reference: name.to_string(),
                location: self.cache.dir().display().to_string(),
            })
        })?;
        let registry = self.registry()?;
        self.progress
            .status("Pushing", &format!("{} to {}", image.name, target.name));
        self.block_on(registry.push(self.cache.layout(), &root, name, &target))?
    }

    fn cached(
        &self,
        image: &ImageRef,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let Some(root) = self.cache.find(image)? else {
            return Ok(None);
        };
        match self.cache.resolve_cached(&image.original, root, platform)? {
            Cached::Ready(img) => Ok(Some(*img)),
            Cached::Missing => Ok(None),
            // Pulled again below; offline, say what happened and what to do.
            Cached::Damaged(what) if self.options.offline => Err(ResolveError::CacheDamaged {
                reference: image.original.clone(),
                what,
                cache: self.cache.dir().to_path_buf(),
            }),
            Cached::Damaged(_) => Ok(None),
        }
    }

    fn pull_ref(&self, image: &ImageRef, platform: &Platform) -> Result<(), ResolveError> {
        let registry = self.registry()?;
        let writer = self.cache.writer();
        let all = self.options.all_platforms;
        self.block_on(registry.pull(image, platform, writer, all))??;
        self.mark_pulled(image);
        Ok(())
    }

    /// Adds the `<name>-<arch>` root for the platform manifest of a pulled image.
    fn add_arch_name(
        &self,
        image: &ImageRef,
        root: linuxkit_oci::store::Descriptor,
        platform: &Platform,
    ) -> Result<(), ResolveError> {
        let name = format!("{}-{}", image.name, platform.architecture);
        let mut desc = if linuxkit_oci::store::media::is_index(&root.media_type) {
            let raw = self
                .cache
                .layout()
                .read_blob(&root.digest, &image.original)?;
            let index: linuxkit_oci::store::Index =
                serde_json::from_slice(&raw).map_err(|source| StoreError::Json {
                    what: format!("index of {}", image.original),
                    source,
                })?;
            linuxkit_oci::layout::select_platform(&image.original, &index, platform)?
        } else {
            root
        };
        desc.annotations = None;
        self.cache
            .writer()
            .add_root(&desc, &name)
            .map(|_| ())
            .map_err(|e| ResolveError::write(&image.original, e))
    }

    /// Holds the per-name pull lock of `image` (concurrent `resolve` calls of one name).
    fn inflight(&self, image: &ImageRef) -> InflightGuard<'_> {
        let (set, cv) = &self.inflight;
        let mut names = set.lock().unwrap_or_else(|p| p.into_inner());
        while names.contains(&image.name) {
            names = cv.wait(names).unwrap_or_else(|p| p.into_inner());
        }
        names.insert(image.name.clone());
        InflightGuard {
            resolver: self,
            name: image.name.clone(),
        }
    }

    fn was_pulled(&self, image: &ImageRef) -> bool {
        self.pulled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&image.name)
    }

    fn mark_pulled(&self, image: &ImageRef) {
        self.pulled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(image.name.clone());
    }

    fn registry(&self) -> Result<&Registry, ResolveError> {
        self.registry
            .get_or_init(|| {
                let creds = auth::Credentials::load(self.options.docker_config.as_deref())
                    .map_err(|e| e.to_string())?;
                Ok(Registry::new(
                    RegistryConfig {
                        mirrors: self.mirrors.clone(),
                        insecure: self.options.insecure_registries.clone(),
                        retry: self.options.retry,
                        read_timeout: self.options.timeout,
                        max_downloads: self.options.max_concurrent_downloads,
                    },
                    creds,
                    self.progress.clone(),
                ))
            })
            .as_ref()
            .map_err(|e| ResolveError::Options(e.clone()))
    }

    /// Runs `fut` on the resolver's runtime (from a helper thread when the caller is itself
    /// inside a tokio runtime).
    fn block_on<F>(&self, fut: F) -> Result<F::Output, ResolveError>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let rt = self
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| ResolveError::Options(format!("cannot start the async runtime: {e}")))?;
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| rt.block_on(fut))
                    .join()
                    .map_err(|p| std::panic::resume_unwind(p))
            })
        } else {
            Ok(rt.block_on(fut))
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // A runtime must not be dropped (blocking) inside an async context: let it wind down
        // in the background instead.
        if let Some(Ok(rt)) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl ImageProvider for Resolver {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, StoreError> {
        self.resolve_image(reference, platform)
            .map_err(|e| e.into_store(reference))
    }
}
