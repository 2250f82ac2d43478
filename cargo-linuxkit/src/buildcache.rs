//! Initrd compression settings and the registry build cache.
//!
//! Settings come from the command line (or its environment variables), else from the
//! definition package's `[package.metadata.linuxkit]`:
//!
//! ```toml
//! [package.metadata.linuxkit]
//! compression = "zstd"                       # gzip (default), zstd or none
//! cache-from = "registry.example/team/cache" # fetch initrd pieces and local images first
//! cache-to = "registry.example/team/cache"   # push what the build used afterwards
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linuxkit_oci::store::{media, Descriptor, Platform};
use linuxkit_output::{Compressor, KernelCheck, PieceCache};
use linuxkit_pkg::{ImageSource, Prepared};
use linuxkit_resolve::{ProgressMode, Resolver, ResolverOptions, RetryPolicy};
use serde::{Deserialize, Serialize};

use crate::config::{BuildConfig, Config};
use crate::error::{Error, Result};
use crate::source::{Definition, Origin};

/// A registry repository used as a build cache (`REGISTRY/REPO`, no tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRepo {
    /// Registry host (and port).
    pub registry: String,
    /// Repository path in the registry.
    pub repository: String,
}

impl CacheRepo {
    /// Parses `REGISTRY/REPO` (expanded like an image name: `team/cache` is on Docker Hub).
    pub fn parse(s: &str) -> std::result::Result<CacheRepo, String> {
        let r = linuxkit_resolve::ImageRef::parse(s).map_err(|e| e.to_string())?;
        if r.tag().is_some() || r.digest().is_some() {
            return Err(format!(
                "{s:?} has a tag or digest: give REGISTRY/REPO only (each image's cache is \
                 tagged with the image name)"
            ));
        }
        Ok(CacheRepo {
            registry: r.registry().to_string(),
            repository: r.repository().to_string(),
        })
    }

    /// Parses the value of a command-line option, naming the option in errors.
    pub fn parse_arg(value: Option<&str>, flag: &str) -> Result<Option<CacheRepo>> {
        value
            .filter(|v| !v.trim().is_empty())
            .map(|v| CacheRepo::parse(v.trim()).map_err(|e| Error::Usage(format!("{flag}: {e}"))))
            .transpose()
    }

    /// `REGISTRY/REPO`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `REGISTRY/REPO:tag` (or `@digest`).
    pub fn reference(&self, object: &str) -> String {
        if object.starts_with("sha256:") {
            format!("{}@{object}", self.name())
        } else {
            format!("{}:{object}", self.name())
        }
    }
}

impl std::fmt::Display for CacheRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Parses `--compression`.
pub fn parse_compression(value: Option<&str>) -> Result<Option<Compressor>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim()
                .parse::<Compressor>()
                .map_err(|e| Error::Usage(e.to_string()))
        })
        .transpose()
}

/// The build settings of a package's `[package.metadata.linuxkit]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSettings {
    /// `compression`.
    pub compression: Option<Compressor>,
    /// `cache-from`.
    pub cache_from: Option<CacheRepo>,
    /// `cache-to`.
    pub cache_to: Option<CacheRepo>,
}

impl PackageSettings {
    /// Reads the keys from the package's `linuxkit` metadata table; the error says which key
    /// is wrong and why.
    pub fn from_metadata(lk: &serde_json::Value) -> std::result::Result<PackageSettings, String> {
        let string = |key: &str| -> std::result::Result<Option<&str>, String> {
            match lk.get(key) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(format!("`{key}` must be a string")),
            }
        };
        let repo = |key: &str| -> std::result::Result<Option<CacheRepo>, String> {
            string(key)?
                .map(|v| CacheRepo::parse(v).map_err(|e| format!("`{key}`: {e}")))
                .transpose()
        };
        Ok(PackageSettings {
            compression: string("compression")?
                .map(|v| {
                    v.parse::<Compressor>()
                        .map_err(|e| format!("`compression`: {e}"))
                })
                .transpose()?,
            cache_from: repo("cache-from")?,
            cache_to: repo("cache-to")?,
        })
    }
}

/// The settings that apply to one definition: the command line first, then its package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    /// Initrd compression.
    pub compression: Compressor,
    /// Registry build cache to fetch from.
    pub cache_from: Option<CacheRepo>,
    /// Registry build cache to push to.
    pub cache_to: Option<CacheRepo>,
}

/// The settings of `def` under `bc`.
pub fn effective(bc: &BuildConfig, def: &Definition) -> Effective {
    let pkg = match &def.origin {
        Origin::Rust { target, .. } => (*target.settings).clone(),
        Origin::Yaml { .. } => PackageSettings::default(),
    };
    Effective {
        compression: bc.compression.or(pkg.compression).unwrap_or_default(),
        cache_from: bc.cache_from.clone().or(pkg.cache_from),
        cache_to: bc.cache_to.clone().or(pkg.cache_to),
    }
}

/// The directory, inside the image cache, of what kernels' embedded configs say about initrd
/// compression, by the kernel's SHA-256 (reading it may mean decompressing the kernel).
const KERNEL_CONFIG_DIR: &str = "cargo-linuxkit-kconfig";

/// The check of a definition's kernel before its initrd is written with a compression other
/// than gzip: the kernel's `config-<release>` next to a local `kernel:` source's bzImage, else
/// the config embedded in the kernel (`CONFIG_IKCONFIG`, LinuxKit's kernels have it; what it
/// says is kept in the image cache by the kernel's digest). A kernel known not to have the
/// option is refused; one whose config cannot be found is trusted.
pub fn kernel_check(cfg: &Config, def: &Definition) -> KernelCheck {
    let root = match &def.origin {
        Origin::Rust { root, .. } => root.clone(),
        Origin::Yaml { .. } => PathBuf::from("."),
    };
    let config_file = def
        .image
        .kernel
        .as_ref()
        .and_then(|k| linuxkit_pkg::kernel_config_file(&k.image, &root));
    let verdicts = cfg.cache_dir.join(KERNEL_CONFIG_DIR);
    KernelCheck(Arc::new(move |kernel: &[u8], compressor: Compressor| {
        let Some(option) = compressor.kernel_option() else {
            return Ok(());
        };
        if compressor == Compressor::Zstd {
            if let Some(release) = linuxkit_run::kernel::bzimage_release(kernel) {
                if release_before(&release, (5, 9)) {
                    return Err(format!(
                        "it is Linux {release}, and zstd initramfs support came with Linux 5.9"
                    ));
                }
            }
        }
        let (config, source) = match &config_file {
            Some(f) => match fs::read_to_string(f) {
                Ok(text) => (Some(text), f.display().to_string()),
                Err(_) => (None, String::new()),
            },
            None => (
                embedded_config(kernel, &verdicts),
                "the kernel's embedded config (IKCONFIG)".to_string(),
            ),
        };
        match config {
            Some(text) => config_verdict(&text, option, &source),
            None => Ok(()),
        }
    }))
}

/// The initrd lines of the config embedded in `kernel` (`None` when it has none), read once
/// per kernel and remembered in `dir`.
fn embedded_config(kernel: &[u8], dir: &Path) -> Option<String> {
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(kernel));
    let remembered = dir.join(&digest);
    let text = match fs::read_to_string(&remembered) {
        Ok(t) => t,
        Err(_) => {
            let t = match linuxkit_run::kernel::ikconfig(kernel) {
                Ok(Some(config)) => {
                    let mut t = String::from("config\n");
                    for l in config.lines().filter(|l| l.contains("CONFIG_RD_")) {
                        t.push_str(l);
                        t.push('\n');
                    }
                    t
                }
                // No config, or an image this tool cannot decompress: nothing is known.
                Ok(None) | Err(_) => "none\n".to_string(),
            };
            // Remembering is an accelerator: a failure only costs reading the kernel again.
            let _ = crate::fsutil::write_atomic(&remembered, t.as_bytes());
            t
        }
    };
    text.starts_with("config\n").then_some(text)
}

/// Whether kernel release `release` (`5.4.0-1-amd64`) is older than `major.minor`.
fn release_before(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(a), Some(b)) => (a, b) < (major, minor),
        _ => false,
    }
}

/// Whether a kernel config (`text`, from `source`) has `option` (`CONFIG_RD_ZSTD=y`).
fn config_verdict(text: &str, option: &str, source: &str) -> std::result::Result<(), String> {
    for line in text.lines().map(str::trim) {
        if line == format!("{option}=y") {
            return Ok(());
        }
        if line == format!("# {option} is not set") {
            return Err(format!("{source} has `# {option} is not set`"));
        }
    }
    Err(format!("{source} has no {option} (no initramfs support)"))
}

/// `artifactType` of a build-cache manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.cargo-linuxkit.build-cache.v1";
/// Media type of a build-cache manifest's config: what the build was and the local images it
/// used.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cargo-linuxkit.build-cache.config.v1+json";
/// Media type of a compressed initrd piece (the piece file of the local piece cache).
pub const PIECE_MEDIA_TYPE: &str = "application/vnd.cargo-linuxkit.initrd-piece.v1";
/// The annotation of a piece layer holding its key (SHA-256 of compressor, settings and
/// uncompressed bytes, hex).
pub const PIECE_KEY_ANNOTATION: &str = "dev.cargo-linuxkit.piece-key";
/// Prefix of the tags of local images in a build cache (`local-<key>`).
const LOCAL_TAG_PREFIX: &str = "local-";

/// A build-cache manifest: an OCI image manifest whose layers are the compressed initrd pieces
/// of one build, each annotated with its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheManifest {
    /// 2.
    pub schema_version: u32,
    /// The OCI image manifest media type.
    pub media_type: String,
    /// [`ARTIFACT_TYPE`].
    pub artifact_type: String,
    /// The [`CacheConfig`] blob.
    pub config: Descriptor,
    /// The pieces.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Image name, architecture and compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The config blob of a [`CacheManifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// The image (definition) name.
    pub image: String,
    /// OCI architecture.
    pub architecture: String,
    /// Initrd compression of the pieces.
    pub compression: String,
    /// The local images the build used (each also tagged `local-<key>` in the repository).
    pub images: Vec<CachedImage>,
}

/// A local image in a build cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedImage {
    /// The reference as written (`cargo:hello`).
    pub reference: String,
    /// Its build-cache key (see `linuxkit_pkg::Prepared::key`).
    pub key: String,
    /// Its manifest digest.
    pub digest: linuxkit_resolve::Digest,
}

/// The tag of the build-cache manifest of image `name` for `arch` and `compression`:
/// `<name>-<arch>`, plus `-<compression>` unless gzip; characters a tag cannot hold become `-`.
pub fn manifest_tag(name: &str, arch: &str, compression: Compressor) -> String {
    let mut tag = format!("{name}-{arch}");
    if compression != Compressor::Gzip {
        tag.push('-');
        tag.push_str(compression.name());
    }
    let mut out: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        out.insert(0, '_');
    }
    out.truncate(128);
    out
}

/// What a build took from (or gave to) the registry build cache, for `--message-format json`
/// and the status lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Pieces fetched into the staging directory.
    pub pieces: usize,
    /// Pieces listed by the manifest that the local cache already had.
    pub present: usize,
}

/// The registry build cache of one `build` invocation: a quiet resolver with short retries
/// (a cache must not hold a build up), sharing the image cache, credentials, mirrors and TLS
/// settings of pulls. Every failure is a warning; the build then does the work itself.
pub struct RegistryCache {
    resolver: linuxkit_resolve::Resolver,
    shell: crate::shell::Shell,
    platform: Platform,
    /// Warnings already printed (one per problem and repository).
    warned: Mutex<BTreeSet<String>>,
    /// Repositories that could not be reached: not asked again during this build.
    down: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for RegistryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCache")
            .field("platform", &self.platform)
            .finish()
    }
}

impl RegistryCache {
    /// A build cache for builds of `platform` with the settings of `cfg`.
    pub fn new(cfg: &Config, platform: Platform) -> Result<RegistryCache> {
        let resolver = Resolver::new(ResolverOptions {
            cache_dir: Some(cfg.cache_dir.clone()),
            platform: platform.clone(),
            offline: cfg.offline,
            mirrors: cfg.mirrors.clone(),
            insecure_registries: cfg.insecure_registries.clone(),
            progress: ProgressMode::Quiet,
            retry: RetryPolicy {
                attempts: 2,
                initial_backoff: Duration::from_millis(200),
            },
            timeout: Some(Duration::from_secs(30)),
            ..ResolverOptions::default()
        })
        .map_err(|e| Error::Resolve(Box::new(e)))?;
        Ok(RegistryCache {
            resolver,
            shell: cfg.shell.clone(),
            platform,
            warned: Mutex::default(),
            down: Mutex::default(),
        })
    }

    /// Prints `message` as a warning once.
    fn warn(&self, message: String) {
        let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if w.insert(message.clone()) {
            self.shell.warn(message);
        }
    }

    /// Whether `repo` cannot be used (offline mode, or it failed before); warns once.
    fn unusable(&self, repo: &CacheRepo) -> bool {
        if self.resolver.options().offline {
            self.warn(format!(
                "build cache {repo}: not used in offline mode; the build does all the work here"
            ));
            return true;
        }
        self.down
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&repo.name())
    }

    /// `repo` failed as a whole (unreachable, refused): one warning, and it is not asked
    /// again during this build.
    fn mark_down(&self, repo: &CacheRepo, e: &dyn std::fmt::Display) {
        let first = self
            .down
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo.name());
        if first {
            self.warn(format!(
                "build cache {repo} cannot be used ({e}); the build does without it"
            ));
        }
    }

    /// Whether `e` concerns the whole repository rather than one blob or image.
    fn repository_failure(e: &linuxkit_resolve::ResolveError) -> bool {
        !matches!(
            e,
            linuxkit_resolve::ResolveError::Registry {
                kind: linuxkit_resolve::FailureKind::DigestMismatch
                    | linuxkit_resolve::FailureKind::NotFound,
                ..
            }
        )
    }

    /// Fetches the pieces the build-cache manifest of `tag` in `repo` lists and the local
    /// `pieces` cache lacks into `staging` (files named by key, each verified against its
    /// digest and checked to be a piece file). Returns what was fetched; problems are
    /// warnings.
    pub fn fetch_pieces(
        &self,
        repo: &CacheRepo,
        tag: &str,
        image: &str,
        pieces: &PieceCache,
        staging: &Path,
    ) -> Fetched {
        let mut out = Fetched::default();
        if self.unusable(repo) {
            return out;
        }
        let reference = repo.reference(tag);
        let manifest = match self.resolver.fetch_manifest(&reference) {
            Ok(Some((raw, _))) => raw,
            Ok(None) => {
                self.warn(format!(
                    "build cache {repo} has no entry for `{image}` (tag {tag}): every initrd \
                     piece is compressed here; a build with --cache-to {repo} stores one"
                ));
                return out;
            }
            Err(e) => {
                self.mark_down(repo, &e);
                return out;
            }
        };
        let manifest: CacheManifest = match serde_json::from_slice(&manifest) {
            Ok(m) if is_cache_manifest(&m) => m,
            _ => {
                self.warn(format!(
                    "build cache {reference} is not a cargo-linuxkit build cache (no \
                     {ARTIFACT_TYPE} manifest); it is not used"
                ));
                return out;
            }
        };
        let mut wanted = Vec::new();
        for layer in &manifest.layers {
            let Some(key) = piece_key(layer) else {
                continue;
            };
            if pieces.piece_file(key).is_some() {
                out.present += 1;
            } else if !wanted
                .iter()
                .any(|(_, p): &(Descriptor, PathBuf)| p.ends_with(key))
            {
                wanted.push((layer.clone(), staging.join(key)));
            }
        }
        if wanted.is_empty() {
            return out;
        }
        let results = match self.resolver.fetch_blobs(&repo.name(), &wanted) {
            Ok(r) => r,
            Err(e) => {
                self.mark_down(repo, &e);
                return out;
            }
        };
        let mut failed: Vec<String> = Vec::new();
        for ((desc, path), r) in wanted.iter().zip(results) {
            match r {
                Ok(()) => {
                    let ok = fs::read(path).is_ok_and(|b| PieceCache::is_piece_file(&b));
                    if ok {
                        out.pieces += 1;
                    } else {
                        let _ = fs::remove_file(path);
                        failed.push(format!("{} is not an initrd piece", desc.digest));
                    }
                }
                Err(e) => failed.push(e.to_string()),
            }
        }
        if !failed.is_empty() {
            self.warn(format!(
                "build cache {repo}: {} of {} initrd pieces could not be fetched ({}{}); \
                 they are compressed here",
                failed.len(),
                wanted.len(),
                failed[0],
                if failed.len() > 1 { ", ..." } else { "" }
            ));
        }
        out
    }

    /// Pushes the local images a build used, then its pieces (`keys`, from `pieces`) and its
    /// build-cache manifest (tagged `tag`) to `repo` (no manifest when it used no piece).
    /// Returns what was pushed, or `None` after a warning when the push failed.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &self,
        repo: &CacheRepo,
        tag: &str,
        image: &str,
        compression: Compressor,
        keys: &BTreeSet<String>,
        pieces: &PieceCache,
        images: &[&Prepared],
    ) -> Option<Pushed> {
        if self.unusable(repo) {
            return None;
        }
        match self.try_push(repo, tag, image, compression, keys, pieces, images) {
            Ok(p) => Some(p),
            Err(e) => {
                self.warn(format!(
                    "build cache {repo}: the push of `{image}` failed ({e}); the build is \
                     complete, but other machines will not find its pieces until a later push"
                ));
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn try_push(
        &self,
        repo: &CacheRepo,
        tag: &str,
        image: &str,
        compression: Compressor,
        keys: &BTreeSet<String>,
        pieces: &PieceCache,
        images: &[&Prepared],
    ) -> std::result::Result<Pushed, String> {
        let mut pushed = Pushed::default();
        // Local images first, each under its key: a manifest never lists what is not there.
        let layout = linuxkit_oci::layout::OciLayout::open(self.resolver.cache().dir(), false)
            .map_err(|e| e.to_string())?;
        let mut cached = Vec::new();
        for p in images {
            let Some(key) = &p.key else { continue };
            let target = repo.reference(&format!("{LOCAL_TAG_PREFIX}{key}"));
            let root = layout
                .find_root(&p.reference)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} is not in the image cache", p.reference))?;
            let there = self
                .resolver
                .fetch_manifest(&target)
                .map_err(|e| e.to_string())?;
            if there.is_none_or(|(_, d)| d.digest != root.digest) {
                self.resolver
                    .push_root(&root, &p.reference, &target)
                    .map_err(|e| e.to_string())?;
                pushed.images += 1;
            }
            cached.push(CachedImage {
                reference: p.reference.clone(),
                key: key.clone(),
                digest: root.digest.clone(),
            });
        }
        // A build without an initrd (`tar`, ...) leaves the manifest of the image's last
        // initrd in place.
        if keys.is_empty() {
            return Ok(pushed);
        }
        // The pieces, then the config, then the manifest naming them.
        let mut blobs = Vec::new();
        let mut layers = Vec::new();
        for key in keys {
            let path = pieces
                .piece_file(key)
                .ok_or_else(|| format!("initrd piece {key} is no longer in the local cache"))?;
            let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let desc = Descriptor {
                media_type: PIECE_MEDIA_TYPE.to_string(),
                digest: linuxkit_oci::digest::sha256_digest(&bytes),
                size: bytes.len() as u64,
                platform: None,
                annotations: Some(BTreeMap::from([(
                    PIECE_KEY_ANNOTATION.to_string(),
                    key.clone(),
                )])),
            };
            layers.push(desc.clone());
            blobs.push((desc, path));
        }
        let config = CacheConfig {
            image: image.to_string(),
            architecture: self.platform.architecture.clone(),
            compression: compression.name().to_string(),
            images: cached,
        };
        let config_bytes = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
        let scratch = tempfile::Builder::new()
            .prefix(".cargo-linuxkit-push-")
            .tempdir_in(self.resolver.cache().dir())
            .map_err(|e| e.to_string())?;
        let config_path = scratch.path().join("config.json");
        fs::write(&config_path, &config_bytes).map_err(|e| e.to_string())?;
        let config_desc = Descriptor {
            media_type: CONFIG_MEDIA_TYPE.to_string(),
            digest: linuxkit_oci::digest::sha256_digest(&config_bytes),
            size: config_bytes.len() as u64,
            platform: None,
            annotations: None,
        };
        pushed.pieces = layers.len();
        pushed.uploaded = self
            .resolver
            .push_blobs(&repo.name(), &blobs)
            .map_err(|e| e.to_string())?;
        self.resolver
            .push_blobs(&repo.name(), &[(config_desc.clone(), config_path)])
            .map_err(|e| e.to_string())?;
        let manifest = CacheManifest {
            schema_version: 2,
            media_type: media::OCI_MANIFEST.to_string(),
            artifact_type: ARTIFACT_TYPE.to_string(),
            config: config_desc,
            layers,
            annotations: Some(BTreeMap::from([
                (
                    "org.opencontainers.image.title".to_string(),
                    image.to_string(),
                ),
                (
                    "dev.cargo-linuxkit.compression".to_string(),
                    compression.name().to_string(),
                ),
            ])),
        };
        let raw = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
        self.resolver
            .push_manifest(&repo.reference(tag), &raw, media::OCI_MANIFEST)
            .map_err(|e| e.to_string())?;
        Ok(pushed)
    }
}

/// What a push sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Pieces the manifest lists.
    pub pieces: usize,
    /// Pieces uploaded (the registry lacked them).
    pub uploaded: usize,
    /// Local images pushed (the registry lacked them under their key).
    pub images: usize,
}

fn is_cache_manifest(m: &CacheManifest) -> bool {
    m.schema_version == 2
        && m.artifact_type == ARTIFACT_TYPE
        && m.config.media_type == CONFIG_MEDIA_TYPE
}

/// The key of a piece layer (validated as 64 lowercase hex digits).
fn piece_key(layer: &Descriptor) -> Option<&str> {
    if layer.media_type != PIECE_MEDIA_TYPE {
        return None;
    }
    let key = layer.annotations.as_ref()?.get(PIECE_KEY_ANNOTATION)?;
    (key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some(key.as_str())
}

/// Local images from the build caches `repos` (in order), by key: the `linuxkit_pkg`
/// [`ImageSource`] of a build with `--cache-from`.
pub struct ImageFetcher<'a> {
    /// The build cache.
    pub cache: &'a RegistryCache,
    /// Repositories to look in, in order.
    pub repos: Vec<CacheRepo>,
}

impl ImageSource for ImageFetcher<'_> {
    fn fetch(&self, reference: &str, key: &str, _cache: &Path) -> Option<Descriptor> {
        for repo in &self.repos {
            if self.cache.unusable(repo) {
                continue;
            }
            let target = repo.reference(&format!("{LOCAL_TAG_PREFIX}{key}"));
            match self
                .cache
                .resolver
                .fetch_image(&target, &self.cache.platform)
            {
                Ok(desc) => return Some(desc),
                Err(linuxkit_resolve::ResolveError::Registry {
                    kind: linuxkit_resolve::FailureKind::NotFound,
                    ..
                }) => continue,
                Err(e) if RegistryCache::repository_failure(&e) => self.cache.mark_down(repo, &e),
                Err(e) => {
                    self.cache.warn(format!(
                        "build cache {repo}: local image {reference} could not be fetched \
                         ({e}); it is built here"
                    ));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_repositories() {
        let r = CacheRepo::parse("127.0.0.1:5000/team/cache").unwrap();
        assert_eq!(r.name(), "127.0.0.1:5000/team/cache");
        assert_eq!(
            r.reference("hello-amd64"),
            "127.0.0.1:5000/team/cache:hello-amd64"
        );
        assert_eq!(
            CacheRepo::parse("team/cache").unwrap().name(),
            "docker.io/team/cache"
        );
        let e = CacheRepo::parse("127.0.0.1:5000/cache:v1").unwrap_err();
        assert!(e.contains("REGISTRY/REPO only"), "{e}");
        assert!(CacheRepo::parse("Bad Name").is_err());
    }

    #[test]
    fn kernel_configs() {
        let debian = "CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n";
        assert_eq!(config_verdict(debian, "CONFIG_RD_ZSTD", "x"), Ok(()));
        let old = "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n";
        assert_eq!(
            config_verdict(old, "CONFIG_RD_ZSTD", "/boot/config-5.4"),
            Err("/boot/config-5.4 has `# CONFIG_RD_ZSTD is not set`".into())
        );
        assert!(config_verdict("config\n", "CONFIG_RD_ZSTD", "x").is_err());
        assert!(release_before("5.4.0-1-amd64", (5, 9)));
        assert!(!release_before("6.1.0-57-amd64", (5, 9)));
        assert!(!release_before("5.10.0", (5, 9)));
        assert!(!release_before("weird", (5, 9)));
        // A kernel without an embedded config is remembered as such and trusted.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(embedded_config(b"not a kernel", dir.path()), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(embedded_config(b"not a kernel", dir.path()), None);
    }

    #[test]
    fn manifest_tags() {
        assert_eq!(
            manifest_tag("hello", "amd64", Compressor::Gzip),
            "hello-amd64"
        );
        assert_eq!(
            manifest_tag("hello", "amd64", Compressor::Zstd),
            "hello-amd64-zstd"
        );
        assert_eq!(
            manifest_tag(".x/y", "arm64", Compressor::None),
            "_.x-y-arm64-none"
        );
        assert_eq!(
            manifest_tag(&"a".repeat(200), "amd64", Compressor::Gzip).len(),
            128
        );
    }

    #[test]
    fn package_metadata() {
        let s = PackageSettings::from_metadata(&serde_json::json!({
            "definitions": ["x"], "compression": "zstd", "cache-from": "127.0.0.1:5000/c"
        }))
        .unwrap();
        assert_eq!(s.compression, Some(Compressor::Zstd));
        assert_eq!(s.cache_from.unwrap().name(), "127.0.0.1:5000/c");
        assert_eq!(s.cache_to, None);
        let e =
            PackageSettings::from_metadata(&serde_json::json!({"compression": "xz"})).unwrap_err();
        assert_eq!(
            e,
            "`compression`: unknown initrd compression xz: use gzip, zstd or none"
        );
        let e = PackageSettings::from_metadata(&serde_json::json!({"cache-to": 3})).unwrap_err();
        assert_eq!(e, "`cache-to` must be a string");
    }
}
