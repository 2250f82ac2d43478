//! Every image of a build made available before it runs: local sources prepared into the cache
//! ([`prepare_with`]), registry images pulled where missing (locked ones by their pinned digest),
//! and the provider the build then resolves through ([`LocalProvider`] over the resolver).
//!
//! `cargo linuxkit build`/`audit` and `linuxkit-testing`'s harness both go through
//! [`ImageSet::fetch`]; what differs between them (which references, the lockfile's pins, status
//! lines, the resolver's options, where the workspace is) comes in as arguments.

use std::path::{Path, PathBuf};

use linuxkit_oci::store::{ImageProvider, Platform, ResolvedImage, StoreError};
use linuxkit_resolve::{ResolveError, Resolver};

use crate::error::PkgError;
use crate::prepare::{
    prepare_with, split_local, ImageSource, LocalProvider, PrepareOptions, Prepared,
};

/// Why [`ImageSet::fetch`] or [`ImageSet::provider`] failed (each shows as the error inside).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Preparing a local image failed.
    #[error(transparent)]
    Prepare(#[from] PkgError),
    /// Making or using the resolver of registry images failed (pulling them, say).
    #[error(transparent)]
    Registry(Box<ResolveError>),
    /// The cache layout holding the local images could not be opened.
    #[error(transparent)]
    Layout(StoreError),
}

/// A step of [`ImageSet::fetch`], for a caller that reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchEvent {
    /// `count` local images are about to be prepared (not reported when there are none).
    Preparing {
        /// How many local images.
        count: usize,
    },
    /// The local images are prepared; `fetched` of them came from the [`ImageSource`].
    Prepared {
        /// How many local images.
        count: usize,
        /// How many of them were fetched instead of built.
        fetched: usize,
    },
    /// `count` registry images are about to be pulled where missing (reported even when 0).
    Resolving {
        /// How many registry images.
        count: usize,
    },
}

fn ignore(_: FetchEvent) {}

/// How [`ImageSet::fetch`] makes the images available.
pub struct FetchOptions<'a> {
    /// The OCI layout local images are written into and resolved from (LinuxKit's cache).
    pub cache: &'a Path,
    /// How local images are built.
    pub prepare: PrepareOptions,
    /// Where local images may come from instead of being built (a registry build cache); with
    /// one, every [`Prepared::key`] is computed.
    pub source: Option<&'a dyn ImageSource>,
    /// `reference@digest` forms of locked references (a `linuxkit.lock`): a registry reference
    /// with a pin here is pulled by that digest, never by a tag that may have moved.
    pub pins: &'a [String],
    /// Called at each step (status lines).
    pub on_event: &'a dyn Fn(FetchEvent),
}

impl<'a> FetchOptions<'a> {
    /// Local images in `cache`, built with the default [`PrepareOptions`], no image source, no
    /// pins, nothing reported.
    pub fn new(cache: &'a Path) -> Self {
        FetchOptions {
            cache,
            prepare: PrepareOptions::default(),
            source: None,
            pins: &[],
            on_event: &ignore,
        }
    }
}

/// The images of a build, available: see [`ImageSet::fetch`].
pub struct ImageSet {
    resolver: Option<Resolver>,
    cache: PathBuf,
    /// The local images, as prepared (in the order first written).
    pub prepared: Vec<Prepared>,
}

impl ImageSet {
    /// Makes every reference of `references` available: local sources (`cargo:`, `kernel:`,
    /// `init:`, `dir:`) are built from the workspace at `workspace_root()` (asked only when
    /// there are some) into `opts.cache`, under their own names; the others are pulled where
    /// missing through the resolver `resolver(remote)` returns, given those references
    /// (pinned ones by their digest). A resolver of `None` means no registry: every registry
    /// reference then fails to resolve, saying none was expected.
    pub fn fetch<E: From<FetchError>>(
        references: &[String],
        opts: &FetchOptions<'_>,
        workspace_root: impl FnOnce() -> Result<PathBuf, E>,
        resolver: impl FnOnce(&[String]) -> Result<Option<Resolver>, E>,
    ) -> Result<ImageSet, E> {
        let (local, remote) = split_local(references);
        let resolver = resolver(&remote)?;
        let mut prepared = Vec::new();
        if !local.is_empty() {
            let root = workspace_root()?;
            (opts.on_event)(FetchEvent::Preparing { count: local.len() });
            prepared = prepare_with(&local, &root, opts.cache, &opts.prepare, opts.source)
                .map_err(FetchError::Prepare)?;
            (opts.on_event)(FetchEvent::Prepared {
                count: prepared.len(),
                fetched: prepared.iter().filter(|p| p.fetched).count(),
            });
        }
        (opts.on_event)(FetchEvent::Resolving {
            count: remote.len(),
        });
        if let Some(r) = &resolver {
            r.prefetch(&pin(remote, opts.pins))
                .map_err(|e| FetchError::Registry(Box::new(e)))?;
        }
        Ok(ImageSet {
            resolver,
            cache: opts.cache.to_path_buf(),
            prepared,
        })
    }

    /// The provider a build resolves through: local sources from the cache by the name
    /// written (when there are any), everything else through the resolver.
    pub fn provider(&self) -> Result<impl ImageProvider + '_, FetchError> {
        let registry: &dyn ImageProvider = match &self.resolver {
            Some(r) => r,
            None => &NoRegistry,
        };
        Ok(if self.prepared.is_empty() {
            SetProvider::Registry(registry)
        } else {
            SetProvider::Local(
                LocalProvider::new(&self.cache, registry).map_err(FetchError::Layout)?,
            )
        })
    }

    /// Runs `f` with [the provider](Self::provider).
    pub fn with_provider<T, E: From<FetchError>>(
        &self,
        f: impl FnOnce(&dyn ImageProvider) -> Result<T, E>,
    ) -> Result<T, E> {
        f(&self.provider()?)
    }
}

/// `remote`, each reference with a pin in `pins` (`reference@digest`) replaced by it.
fn pin(remote: Vec<String>, pins: &[String]) -> Vec<String> {
    remote
        .into_iter()
        .map(|r| {
            let prefix = format!("{r}@");
            pins.iter()
                .find(|p| p.starts_with(&prefix))
                .cloned()
                .unwrap_or(r)
        })
        .collect()
}

/// What [`ImageSet::provider`] returns.
enum SetProvider<'a> {
    Registry(&'a dyn ImageProvider),
    Local(LocalProvider<'a>),
}

impl ImageProvider for SetProvider<'_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, StoreError> {
        match self {
            SetProvider::Registry(r) => r.resolve(reference, platform),
            SetProvider::Local(l) => l.resolve(reference, platform),
        }
    }
}

/// Refuses every registry image (the resolver of a set that names none).
struct NoRegistry;

impl ImageProvider for NoRegistry {
    fn resolve(&self, reference: &str, _: &Platform) -> Result<ResolvedImage, StoreError> {
        Err(StoreError::NotFound {
            reference: reference.to_string(),
            location: "(no registry image was expected)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// What [`ImageSet::fetch`] of `refs` did: its result, the events it reported and the
    /// registry references it asked a resolver for (`resolver` is then used). Without a
    /// `root`, asking for the workspace fails the test.
    fn fetch_recorded(
        refs: &[&str],
        cache: &Path,
        prepare: PrepareOptions,
        root: Option<&Path>,
        resolver: Option<Resolver>,
    ) -> (Result<ImageSet, FetchError>, Vec<FetchEvent>, Vec<String>) {
        let events = std::cell::RefCell::new(Vec::new());
        let on_event = |e| events.borrow_mut().push(e);
        let opts = FetchOptions {
            prepare,
            on_event: &on_event,
            ..FetchOptions::new(cache)
        };
        let mut asked = Vec::new();
        let set = ImageSet::fetch(
            &strings(refs),
            &opts,
            || {
                Ok(root
                    .expect("the workspace is asked for only with local images")
                    .into())
            },
            |remote| {
                asked = remote.to_vec();
                Ok(resolver)
            },
        );
        (set, events.into_inner(), asked)
    }

    #[test]
    fn pins_replace_only_their_own_reference() {
        let pins = strings(&["alpine:3@sha256:aa", "busybox@sha256:bb"]);
        assert_eq!(
            pin(
                strings(&["alpine:3", "alpine", "busybox", "x@sha256:cc"]),
                &pins
            ),
            [
                "alpine:3@sha256:aa",
                "alpine",
                "busybox@sha256:bb",
                "x@sha256:cc"
            ]
        );
    }

    #[test]
    fn without_a_resolver_registry_images_are_refused_and_nothing_is_prepared() {
        let dir = tempfile::tempdir().unwrap();
        let refs = ["alpine:3", "alpine:3", "busybox"];
        let (set, events, asked) =
            fetch_recorded(&refs, dir.path(), PrepareOptions::default(), None, None);
        let set = set.unwrap();
        assert_eq!(asked, ["alpine:3", "busybox"]);
        assert!(set.prepared.is_empty());
        assert_eq!(events, [FetchEvent::Resolving { count: 2 }]);
        let e = set
            .provider()
            .unwrap()
            .resolve("alpine:3", &Platform::linux("amd64"))
            .unwrap_err();
        assert!(
            e.to_string().contains("no registry image was expected"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_local_reference_fails_after_the_workspace_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let (set, events, _) = fetch_recorded(
            &["dir:", "alpine:3"],
            dir.path(),
            PrepareOptions::default(),
            Some(dir.path()),
            None,
        );
        let e = set.err().unwrap();
        assert!(
            matches!(e, FetchError::Prepare(PkgError::BadReference { .. })),
            "{e}"
        );
        assert_eq!(events, [FetchEvent::Preparing { count: 1 }]);
    }

    #[test]
    fn local_images_come_from_the_cache_and_the_rest_from_the_resolver() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("rootfs/etc")).unwrap();
        std::fs::write(ws.path().join("rootfs/etc/motd"), "hi\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let resolver = Resolver::new(linuxkit_resolve::ResolverOptions {
            cache_dir: Some(out.path().join("registry-cache")),
            offline: true,
            progress: linuxkit_resolve::ProgressMode::Quiet,
            ..Default::default()
        })
        .unwrap();
        let prepare = PrepareOptions {
            target_dir: Some(out.path().join("t")),
            ..PrepareOptions::default()
        };
        let (set, events, asked) = fetch_recorded(
            &["dir:rootfs"],
            &out.path().join("cache"),
            prepare,
            Some(ws.path()),
            Some(resolver),
        );
        let set = set.unwrap();
        assert!(asked.is_empty());
        assert_eq!(
            events,
            [
                FetchEvent::Preparing { count: 1 },
                FetchEvent::Prepared {
                    count: 1,
                    fetched: 0
                },
                FetchEvent::Resolving { count: 0 },
            ]
        );
        assert_eq!(set.prepared.len(), 1);
        assert!(!set.prepared[0].fresh);
        let amd64 = Platform::linux("amd64");
        let img = set
            .with_provider(|p| p.resolve("dir:rootfs", &amd64).map_err(FetchError::Layout))
            .unwrap();
        assert_eq!(img.manifest_digest, set.prepared[0].manifest_digest);
        // A registry image goes to the (offline, empty) resolver, not the local layout.
        let e = set
            .provider()
            .unwrap()
            .resolve("alpine:3", &amd64)
            .unwrap_err();
        assert!(
            !e.to_string().contains("no registry image was expected"),
            "{e}"
        );
    }
}
