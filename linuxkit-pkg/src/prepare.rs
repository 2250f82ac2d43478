//! Building local images into the cache layout, named by the reference as written, and a
//! provider that resolves them there.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use cargo_metadata::Metadata;
use linuxkit_local::kernel::{write_kernel_image, KernelSource};
use linuxkit_oci::attestation::{statement, PREDICATE_SPDX};
use linuxkit_oci::digest::Digest;
use linuxkit_oci::layout::OciLayout;
use linuxkit_oci::store::{Descriptor, ImageProvider, Platform, ResolvedImage, StoreError};
use linuxkit_oci::write::LayoutWriter;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::crates::crate_graph;
use crate::error::{io, PkgError};
use crate::package::{build_static_for, hash_tree, package_image, workspace_metadata};
use crate::reference::{is_local, KernelFile, LocalSource};

/// Options of [`prepare`].
#[derive(Debug, Clone, Default)]
pub struct PrepareOptions {
    /// Run cargo with `--offline`.
    pub offline: bool,
    /// Rebuild even when the stamp says the image is up to date.
    pub force: bool,
    /// Where static builds and stamps go (default `<workspace>/target/linuxkit-pkg`).
    pub target_dir: Option<PathBuf>,
    /// The OCI architecture the images are for (default: this machine's).
    pub arch: Option<String>,
}

/// Where a prepared image may come from instead of being built: a registry build cache.
pub trait ImageSource {
    /// Fetches the image made from inputs `key` (see [`Prepared::key`]) for `reference` into
    /// the OCI layout at `cache`, every blob verified, without naming it; returns its root
    /// descriptor, or `None` when the source does not have it (or failed: the source reports
    /// that itself; the image is then built).
    fn fetch(&self, reference: &str, key: &str, cache: &Path) -> Option<Descriptor>;
}

/// An [`ImageSource`] that has nothing: [`prepare_with`] still computes every
/// [`Prepared::key`] (for a build that only pushes to a build cache).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSource;

impl ImageSource for NoSource {
    fn fetch(&self, _: &str, _: &str, _: &Path) -> Option<Descriptor> {
        None
    }
}

/// One prepared local image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The reference as written (the name of the image in the cache layout).
    pub reference: String,
    /// Digest of the image manifest.
    pub manifest_digest: Digest,
    /// For `cargo:` images, the content-hash tag; the image is also named
    /// `<org>/<package>:<tag>` in the cache.
    pub tag: Option<String>,
    /// For `cargo:` images, that full name.
    pub name: Option<String>,
    /// True when the stamp matched and nothing was built.
    pub fresh: bool,
    /// True when the image was fetched from an [`ImageSource`] instead of being built.
    pub fetched: bool,
    /// With [`prepare_with`]: the image's key in a build cache, a SHA-256 (hex) over what the
    /// image is made from and how, independent of the machine: the package's content tag and
    /// the compiler (`cargo:`), the init's tag (`init:`), the bzImage, `modules.dep` and
    /// module list (`kernel:`), the directory's files (`dir:`), and this crate's version.
    pub key: Option<String>,
}

/// Splits `references` into local ones (deduplicated, in order) and the others.
pub fn split_local(references: &[String]) -> (Vec<String>, Vec<String>) {
    let mut local = Vec::new();
    let mut other = Vec::new();
    for r in references {
        let list = if is_local(r) { &mut local } else { &mut other };
        if !list.contains(r) {
            list.push(r.clone());
        }
    }
    (local, other)
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Stamp {
    reference: String,
    stamp: String,
    /// The root the cache names the reference by (the manifest, or an index with its SBOM).
    digest: Digest,
    /// The image manifest (stamps without it are out of date).
    #[serde(default)]
    manifest: Option<Digest>,
}

fn stamp_file(target: &Path, reference: &str) -> PathBuf {
    let h = hex::encode(Sha256::digest(reference.as_bytes()));
    target.join("stamps").join(format!("{}.json", &h[..24]))
}

fn file_id(p: &Path) -> String {
    match fs::metadata(p) {
        Ok(m) => {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{} {} {t}", p.display(), m.len())
        }
        Err(_) => format!("{} missing", p.display()),
    }
}

/// Builds every local reference of `references` (others are ignored) whose inputs changed
/// since the last build, writes it into the OCI layout at `cache` (LinuxKit's cache) and names
/// it there by exactly the reference string, so [`LocalProvider`] (or any `LayoutSet`) finds
/// it with no network.
pub fn prepare(
    references: &[String],
    workspace_root: &Path,
    cache: &Path,
    opts: &PrepareOptions,
) -> Result<Vec<Prepared>, PkgError> {
    prepare_with(references, workspace_root, cache, opts, None)
}

/// [`prepare`], with each image's build-cache [`Prepared::key`] computed, and an image whose
/// stamp does not match fetched from `source` when it has one for that key (it is then named
/// and stamped as if it had been built here; what it is made from is what the key says).
pub fn prepare_with(
    references: &[String],
    workspace_root: &Path,
    cache: &Path,
    opts: &PrepareOptions,
    source: Option<&dyn ImageSource>,
) -> Result<Vec<Prepared>, PkgError> {
    let (local, _) = split_local(references);
    let arch = opts.arch.clone().unwrap_or_else(crate::target::host_arch);
    let target = opts
        .target_dir
        .clone()
        .unwrap_or_else(|| workspace_root.join("target").join("linuxkit-pkg"));
    let mut meta: Option<Metadata> = None;
    let mut out = Vec::new();
    for reference in &local {
        let parsed = LocalSource::parse(reference)?;
        if matches!(parsed, LocalSource::Cargo { .. }) && meta.is_none() {
            meta = Some(workspace_metadata(workspace_root)?);
        }
        let host = crate::target::host_arch();
        let job = Job {
            reference,
            parsed: &parsed,
            meta: meta.as_ref(),
            root: workspace_root,
            cache,
            target: &target,
            opts,
            arch: &arch,
            foreign: arch != host,
            host,
        };
        out.push(prepare_one(&job, source)?);
    }
    Ok(out)
}

/// One local image being prepared: what every step of [`prepare_one`] needs.
struct Job<'a> {
    reference: &'a str,
    parsed: &'a LocalSource,
    meta: Option<&'a Metadata>,
    root: &'a Path,
    cache: &'a Path,
    /// Where static builds and stamps go.
    target: &'a Path,
    opts: &'a PrepareOptions,
    /// The architecture the image is for.
    arch: &'a str,
    /// This machine's architecture.
    host: String,
    /// True when `arch` is not `host`.
    foreign: bool,
}

impl Job<'_> {
    fn local_err(&self) -> impl Fn(linuxkit_local::LocalError) -> PkgError + '_ {
        |source| PkgError::Local {
            reference: self.reference.to_string(),
            source,
        }
    }

    fn layout_err(&self) -> impl Fn(linuxkit_oci::write::WriteError) -> PkgError + '_ {
        |source| PkgError::Layout {
            reference: self.reference.to_string(),
            source,
        }
    }

    fn bad(&self, reason: String) -> PkgError {
        PkgError::BadReference {
            reference: self.reference.to_string(),
            reason,
        }
    }
}

fn prepare_one(job: &Job<'_>, source: Option<&dyn ImageSource>) -> Result<Prepared, PkgError> {
    // What each source is compiled for, checked before anything is built.
    let rust_target = rust_target(job)?;
    // 1. The stamp: everything the image is made from, computed without building.
    let (stamp, pkg_image) = input_stamp(job)?;
    let mut stamp = format!("{} {stamp}", job.arch);
    // One stamp per architecture: the cache names one image per reference, so building for
    // another architecture replaces it and the stamp of the first no longer matches.
    let stamp_path = if job.foreign {
        stamp_file(job.target, &format!("{} {}", job.arch, job.reference))
    } else {
        stamp_file(job.target, job.reference)
    };
    let (mut tag, mut name) = image_name(job, pkg_image.as_ref());
    let key = match source {
        Some(_) => Some(cache_key(
            job.reference,
            job.parsed,
            pkg_image.as_ref(),
            job.root,
        )?),
        None => None,
    };
    let reference = job.reference.to_string();

    // 2. Up to date: the stamp matches and the cache still names that manifest.
    if let Some(manifest) = up_to_date(job, &stamp_path, &stamp) {
        return Ok(Prepared {
            reference,
            manifest_digest: manifest,
            tag,
            name,
            fresh: true,
            fetched: false,
            key,
        });
    }

    // 2b. Made elsewhere from the same inputs: fetched, named and stamped as if built here.
    if let (Some(src), Some(k)) = (source, &key) {
        if let Some(desc) = src.fetch(job.reference, k, job.cache) {
            let manifest = name_fetched(job, &desc, name.as_deref())?;
            write_stamp(&stamp_path, job.reference, &stamp, &desc.digest, &manifest)?;
            return Ok(Prepared {
                reference,
                manifest_digest: manifest,
                tag,
                name,
                fresh: false,
                fetched: true,
                key,
            });
        }
    }

    // 3. Build.
    let (written, built_package) = build(job, pkg_image.as_ref(), rust_target)?;
    if let Some(p) = built_package {
        stamp = format!("{} cargo {}", job.arch, p.tag);
        // Only an image of this machine's architecture gets the package's tagged name.
        if !job.foreign {
            tag = Some(p.tag.clone());
            name = Some(p.name());
        }
    }
    write_stamp(
        &stamp_path,
        job.reference,
        &stamp,
        &written.root.digest,
        &written.manifest.digest,
    )?;
    Ok(Prepared {
        reference,
        manifest_digest: written.manifest.digest,
        tag,
        name,
        fresh: false,
        fetched: false,
        key,
    })
}

/// The Rust target a `cargo:` source, or an `init:` for an architecture other than the
/// embedded init's, is compiled for (an error when its standard library is not installed).
fn rust_target(job: &Job<'_>) -> Result<Option<&'static str>, PkgError> {
    Ok(match job.parsed {
        LocalSource::Cargo { .. } => Some(crate::target::target_for(
            job.reference,
            job.reference,
            job.arch,
        )?),
        LocalSource::Init { .. } if job.arch != linuxkit_local::init::embedded::ARCH => Some(
            crate::target::target_for(job.reference, "the init linuxkit-init", job.arch)?,
        ),
        _ => None,
    })
}

/// What the image is made from, computed without building (the stamp, without the
/// architecture), and for `cargo:` the package.
fn input_stamp(job: &Job<'_>) -> Result<(String, Option<crate::package::PackageImage>), PkgError> {
    let (reference, arch) = (job.reference, job.arch);
    let stamp = match job.parsed {
        LocalSource::Cargo { package, bin } => {
            let meta = job.meta.ok_or_else(|| PkgError::CargoMetadata {
                workspace: job.root.to_path_buf(),
                message: "no metadata".into(),
            })?;
            let p = package_image(meta, reference, package, bin.as_deref())?;
            return Ok((format!("cargo {}", p.tag), Some(p)));
        }
        LocalSource::Init { busybox } => {
            let bb = if *busybox {
                file_id(Path::new(linuxkit_local::busybox::HOST_BUSYBOX))
            } else {
                String::new()
            };
            format!("init {} {bb}", linuxkit_local::init::embedded::TAG)
        }
        LocalSource::Update => format!("update {}", linuxkit_local::update::embedded_tag()),
        LocalSource::Kernel {
            file: KernelFile::Debian { arch: a, dtbs },
            modules,
            ..
        } => {
            let deb = debian_kernel(reference, a.as_deref(), arch)?;
            format!("kernel debian {} {modules:?} {dtbs:?}", file_id(&deb))
        }
        LocalSource::Kernel {
            file,
            modules,
            version,
        } => {
            if job.foreign {
                return Err(job.bad(format!(
                    "this is a kernel of this {} machine, and the image is built for {arch}: use \
                     kernel:debian?arch={arch}&modules=... (a Debian linux-image package file, \
                     see LINUXKIT_DEBIAN_PACKAGES)",
                    job.host
                )));
            }
            let src = kernel_source(reference, job.root, file, version.as_deref())?;
            format!(
                "kernel {} {} {:?}",
                file_id(&src.bzimage),
                file_id(&src.modules_dir.join("modules.dep")),
                modules
            )
        }
        LocalSource::Dir { path } => {
            let dir = job.root.join(path);
            let mut h = Sha256::new();
            hash_tree(&dir, &dir, &mut h)?;
            format!("dir {}", hex::encode(h.finalize()))
        }
    };
    Ok((stamp, None))
}

/// The tag and the (registry) name the image also goes by, before it is built: a `cargo:`
/// package's content-hash name, the embedded init's or update agent's; none for another
/// architecture's image.
fn image_name(
    job: &Job<'_>,
    pkg_image: Option<&crate::package::PackageImage>,
) -> (Option<String>, Option<String>) {
    match (pkg_image, job.parsed) {
        (Some(_), _) if job.foreign => (None, None),
        (Some(p), _) => (Some(p.tag.clone()), Some(p.name())),
        (None, LocalSource::Init { busybox: false }) if job.foreign => (None, None),
        (None, LocalSource::Init { busybox: false }) => (
            Some(linuxkit_local::init::embedded::TAG.to_string()),
            Some(linuxkit_local::init::embedded_name()),
        ),
        (None, LocalSource::Update) => (
            Some(linuxkit_local::update::embedded_tag()),
            Some(linuxkit_local::update::embedded_name()),
        ),
        (None, _) => (None, None),
    }
}

/// The image manifest the cache names the image by, when its stamp at `stamp_path` says it was
/// made from `stamp` (and `--force` was not given).
fn up_to_date(job: &Job<'_>, stamp_path: &Path, stamp: &str) -> Option<Digest> {
    if job.opts.force {
        return None;
    }
    let s: Stamp = serde_json::from_slice(&fs::read(stamp_path).ok()?).ok()?;
    let current = s.stamp == stamp
        && s.reference == job.reference
        && names(job.cache, job.reference, &s.digest);
    if current {
        s.manifest
    } else {
        None
    }
}

/// Names the image fetched from an [`ImageSource`] (root `desc`, already in the cache) by the
/// reference and by `name`; returns its image manifest.
fn name_fetched(job: &Job<'_>, desc: &Descriptor, name: Option<&str>) -> Result<Digest, PkgError> {
    let writer = LayoutWriter::create_or_open(job.cache).map_err(job.layout_err())?;
    writer
        .add_root(desc, job.reference)
        .map_err(job.layout_err())?;
    if let Some(n) = name {
        writer
            .add_root(desc, &linuxkit_resolve::expand(n))
            .map_err(job.layout_err())?;
    }
    platform_manifest(job.cache, desc).map_err(|e| PkgError::Resolve(Box::new(e.into())))
}

/// Builds the image into the cache, one function per kind of source; for `cargo:`, also the
/// package as built (its tag hashes the `Cargo.lock` cargo may have written).
fn build(
    job: &Job<'_>,
    pkg_image: Option<&crate::package::PackageImage>,
    rust_target: Option<&'static str>,
) -> Result<
    (
        linuxkit_local::WrittenImage,
        Option<crate::package::PackageImage>,
    ),
    PkgError,
> {
    let written = match job.parsed {
        LocalSource::Cargo { .. } => {
            let p = pkg_image.ok_or_else(|| job.bad("package not resolved".into()))?;
            let (w, p) = build_cargo(job, p, rust_target.unwrap_or(crate::package::TARGET))?;
            return Ok((w, Some(p)));
        }
        LocalSource::Init { busybox } => build_init_image(job, *busybox, rust_target)?,
        LocalSource::Update => build_update(job)?,
        LocalSource::Kernel {
            file: KernelFile::Debian { arch: a, dtbs },
            modules,
            ..
        } => {
            let deb = debian_kernel(job.reference, a.as_deref(), job.arch)?;
            let mods: Vec<&str> = modules.iter().map(String::as_str).collect();
            let dtbs: Vec<&str> = dtbs.iter().map(String::as_str).collect();
            linuxkit_local::debian_kernel::write_debian_kernel_image(
                job.cache,
                job.reference,
                &deb,
                job.arch,
                &mods,
                &dtbs,
            )
            .map_err(job.local_err())?
        }
        LocalSource::Kernel {
            file,
            modules,
            version,
        } => {
            let src = kernel_source(job.reference, job.root, file, version.as_deref())?;
            let mods: Vec<&str> = modules.iter().map(String::as_str).collect();
            write_kernel_image(job.cache, job.reference, &src, &mods).map_err(job.local_err())?
        }
        LocalSource::Dir { path } => {
            let mut layer = linuxkit_local::Layer::new();
            add_dir(&mut layer, &job.root.join(path)).map_err(job.local_err())?;
            linuxkit_local::write_image(
                job.cache,
                job.reference,
                &Platform::linux(job.arch),
                &linuxkit_local::ImageConfig::default(),
                &layer,
            )
            .map_err(job.local_err())?
        }
    };
    Ok((written, None))
}

/// A `cargo:` image: the package built static for `triple`, as one layer, with the SBOM of its
/// crates attached; an image of this machine's architecture is also named by the package's
/// tagged name.
fn build_cargo(
    job: &Job<'_>,
    p: &crate::package::PackageImage,
    triple: &str,
) -> Result<(linuxkit_local::WrittenImage, crate::package::PackageImage), PkgError> {
    let (root, offline) = (job.root, job.opts.offline);
    let binary = build_static_for(
        root, job.target, &p.package, &p.bin, offline, job.arch, triple,
    )?;
    // cargo may have written Cargo.lock (a new workspace): hash what was built.
    let p = match job.meta {
        Some(meta) => package_image(meta, job.reference, &p.package, Some(&p.bin))?,
        None => p.clone(),
    };
    let layer = p.layer(&binary).map_err(job.local_err())?;
    // Its SBOM: the crates of the binary, attached as BuildKit attaches a scan.
    let crates = crate_graph(root, &p.package, offline)?;
    let sbom = linuxkit_sbom::cargo::crates_document(
        &p.name(),
        concat!("cargo-linuxkit-", env!("CARGO_PKG_VERSION")),
        &crates,
        0,
    );
    let image_name = p.name();
    let attest = |m: &Descriptor| {
        (
            statement(&image_name, m, PREDICATE_SPDX, sbom.clone()),
            PREDICATE_SPDX.to_string(),
        )
    };
    let w = linuxkit_local::write_image_attested(
        job.cache,
        job.reference,
        &Platform::linux(job.arch),
        &p.image_config(),
        &layer,
        &attest,
    )
    .map_err(job.local_err())?;
    if !job.foreign {
        let writer = LayoutWriter::create_or_open(job.cache).map_err(job.layout_err())?;
        writer
            .add_root(&w.root, &linuxkit_resolve::expand(&p.name()))
            .map_err(job.layout_err())?;
    }
    Ok((w, p))
}

/// An `init:linuxkit-init` image: the embedded init (or one built for `rust_target`), with
/// this machine's busybox when asked; the plain one of this machine's architecture is also
/// named as the embedded init image.
fn build_init_image(
    job: &Job<'_>,
    busybox: bool,
    rust_target: Option<&'static str>,
) -> Result<linuxkit_local::WrittenImage, PkgError> {
    let (reference, arch) = (job.reference, job.arch);
    let built;
    let init: &[u8] = match rust_target {
        Some(triple) => {
            built = build_init(job.target, arch, triple, job.opts.offline)?;
            &built
        }
        None => linuxkit_local::init::embedded_init().map_err(job.local_err())?,
    };
    if busybox && job.foreign {
        return Err(job.bad(format!(
            "?busybox=1 adds this machine's {} busybox, not an {arch} one",
            job.host
        )));
    }
    let bb = if busybox {
        Some(linuxkit_local::busybox::host_busybox().ok_or_else(|| {
            job.bad("no static /bin/busybox (apt-get install busybox-static)".into())
        })?)
    } else {
        None
    };
    let w =
        linuxkit_local::init::write_init_image_for(job.cache, reference, init, bb.as_deref(), arch)
            .map_err(job.local_err())?;
    if !busybox && !job.foreign {
        add_name(
            job.cache,
            reference,
            &w,
            &linuxkit_local::init::embedded_name(),
        )?;
    }
    Ok(w)
}

/// An `init:linuxkit-update` image: the embedded update agent, also named as its image.
fn build_update(job: &Job<'_>) -> Result<linuxkit_local::WrittenImage, PkgError> {
    let agent = linuxkit_local::update::embedded_agent().map_err(job.local_err())?;
    let w = linuxkit_local::update::write_agent_image(job.cache, job.reference, agent)
        .map_err(job.local_err())?;
    add_name(
        job.cache,
        job.reference,
        &w,
        &linuxkit_local::update::embedded_name(),
    )?;
    Ok(w)
}

/// Records that `reference` was made from `stamp`: the cache names it by `root`, whose image
/// manifest is `manifest`.
fn write_stamp(
    stamp_path: &Path,
    reference: &str,
    stamp: &str,
    root: &Digest,
    manifest: &Digest,
) -> Result<(), PkgError> {
    let s = Stamp {
        reference: reference.to_string(),
        stamp: stamp.to_string(),
        digest: root.clone(),
        manifest: Some(manifest.clone()),
    };
    if let Some(parent) = stamp_path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let bytes = serde_json::to_vec_pretty(&s).unwrap_or_default();
    let tmp = stamp_path.with_extension("json.partial");
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, stamp_path).map_err(io(stamp_path))?;
    Ok(())
}

/// The image manifest of `root` in the layout at `cache`: itself, or the `linux/amd64` entry
/// of an index (a `cargo:` image with its SBOM attestation is an index).
fn platform_manifest(cache: &Path, root: &Descriptor) -> Result<Digest, StoreError> {
    if !linuxkit_oci::store::media::is_index(&root.media_type) {
        return Ok(root.digest.clone());
    }
    let layout = OciLayout::open(cache, false)?;
    let raw = layout.read_blob(&root.digest, "local image")?;
    let index: linuxkit_oci::store::Index =
        serde_json::from_slice(&raw).map_err(|source| StoreError::Json {
            what: format!("index {}", root.digest),
            source,
        })?;
    Ok(
        linuxkit_oci::layout::select_platform("local image", &index, &Platform::linux("amd64"))?
            .digest,
    )
}

/// The build-cache key of a local image (see [`Prepared::key`]).
fn cache_key(
    reference: &str,
    parsed: &LocalSource,
    pkg_image: Option<&crate::package::PackageImage>,
    root: &Path,
) -> Result<String, PkgError> {
    let mut h = Sha256::new();
    h.update(format!(
        "cargo-linuxkit local image v1 {}\0{reference}\0",
        env!("CARGO_PKG_VERSION")
    ));
    let hash_file = |h: &mut Sha256, p: &Path| -> Result<(), PkgError> {
        let bytes = fs::read(p).map_err(io(p))?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
        Ok(())
    };
    match parsed {
        LocalSource::Cargo { .. } => {
            let tag = pkg_image.map(|p| p.tag.as_str()).unwrap_or_default();
            h.update(format!(
                "cargo {tag}\0{}",
                crate::package::compiler_version()
            ));
        }
        LocalSource::Init { busybox } => {
            h.update(format!("init {}\0", linuxkit_local::init::embedded::TAG));
            if *busybox {
                hash_file(&mut h, Path::new(linuxkit_local::busybox::HOST_BUSYBOX))?;
            }
        }
        LocalSource::Update => {
            h.update(format!(
                "update {}\0",
                linuxkit_local::update::embedded_tag()
            ));
        }
        LocalSource::Kernel {
            file,
            modules,
            version,
        } => {
            let src = kernel_source(reference, root, file, version.as_deref())?;
            h.update(format!("kernel {} {modules:?}\0", src.version));
            hash_file(&mut h, &src.bzimage)?;
            hash_file(&mut h, &src.modules_dir.join("modules.dep"))?;
        }
        LocalSource::Dir { path } => {
            let dir = root.join(path);
            h.update(b"dir\0");
            hash_tree(&dir, &dir, &mut h)?;
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// The kernel configuration file (`config-<release>`) next to the bzImage of a local
/// `kernel:` reference (Debian installs `/boot/config-<release>` with `/boot/vmlinuz-<release>`),
/// when there is one; `None` for other references.
pub fn kernel_config_file(reference: &str, workspace_root: &Path) -> Option<PathBuf> {
    let LocalSource::Kernel { file, version, .. } = LocalSource::parse(reference).ok()? else {
        return None;
    };
    let src = kernel_source(reference, workspace_root, &file, version.as_deref()).ok()?;
    let config = src
        .bzimage
        .parent()?
        .join(format!("config-{}", src.version));
    config.is_file().then_some(config)
}

/// Adds the tree under `dir` to `layer` at the layer root (the top directory itself is not an
/// entry).
fn add_dir(
    layer: &mut linuxkit_local::Layer,
    dir: &Path,
) -> Result<(), linuxkit_local::LocalError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(|source| linuxkit_local::LocalError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for n in names {
        let name = n.to_string_lossy().into_owned();
        let path = dir.join(&n);
        let meta =
            fs::symlink_metadata(&path).map_err(|source| linuxkit_local::LocalError::Io {
                path: path.clone(),
                source,
            })?;
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let t = fs::read_link(&path).map_err(|source| linuxkit_local::LocalError::Io {
                path: path.clone(),
                source,
            })?;
            layer.symlink(&name, &t.to_string_lossy())?;
        } else if meta.is_dir() {
            layer.dir(&name, mode)?;
            linuxkit_local::layer::add_tree(layer, &path, &name)?;
        } else if meta.is_file() {
            layer.file(&name, mode, path)?;
        }
    }
    Ok(())
}

/// Whether the layout at `cache` names `reference` with manifest `digest` and has the blob.
fn names(cache: &Path, reference: &str, digest: &Digest) -> bool {
    let Ok(layout) = OciLayout::open(cache, false) else {
        return false;
    };
    matches!(layout.find_root(reference), Ok(Some(d)) if d.digest == *digest)
        && linuxkit_oci::store::blob_path(&layout.blobs_dir(), digest).is_file()
}

fn kernel_source(
    reference: &str,
    root: &Path,
    file: &KernelFile,
    version: Option<&str>,
) -> Result<KernelSource, PkgError> {
    let bad = |reason: String| PkgError::BadReference {
        reference: reference.to_string(),
        reason,
    };
    match file {
        KernelFile::Debian { .. } => Err(bad("kernel:debian has no host kernel source".into())),
        KernelFile::Host => KernelSource::host().ok_or_else(|| {
            bad("no /boot/vmlinuz-<version> with /lib/modules/<version> on this machine (apt-get install linux-image-amd64)".into())
        }),
        KernelFile::Path(p) => {
            let bzimage = root.join(p);
            if !bzimage.is_file() {
                return Err(bad(format!("{} is not a file", bzimage.display())));
            }
            let version = match version {
                Some(v) => v.to_string(),
                None => bzimage
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("vmlinuz-"))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        bad("cannot tell the kernel release from the file name: add ?version=<release>".into())
                    })?,
            };
            let modules_dir = Path::new("/lib/modules").join(&version);
            Ok(KernelSource {
                bzimage,
                modules_dir,
                version,
            })
        }
    }
}

/// The Debian kernel package for `kernel:debian` (`arch=` must be the architecture built).
fn debian_kernel(reference: &str, asked: Option<&str>, arch: &str) -> Result<PathBuf, PkgError> {
    if let Some(a) = asked.filter(|a| *a != arch) {
        return Err(PkgError::BadReference {
            reference: reference.to_string(),
            reason: format!(
                "this kernel is for {a} and the image is built for {arch}: build with --arch {a} \
                 (or [package.metadata.linuxkit] arch = \"{a}\")"
            ),
        });
    }
    let deb_arch = linuxkit_debian::debian_arch(arch);
    linuxkit_local::debian_kernel::find_kernel_package(deb_arch)
        .map(|p| p.path)
        .map_err(|source| PkgError::Local {
            reference: reference.to_string(),
            source,
        })
}

/// Builds `linuxkit-init` for another architecture from the source this tool was built with.
fn build_init(target: &Path, arch: &str, triple: &str, offline: bool) -> Result<Vec<u8>, PkgError> {
    let source = Path::new(linuxkit_local::init::embedded::SOURCE_DIR);
    let manifest = source.join("Cargo.toml");
    let target_dir = target.join(format!("linuxkit-init-{arch}"));
    let mut cmd = crate::package::static_cargo_build(&target_dir, arch, triple, offline);
    // As linuxkit-local's build script builds the embedded init: small, statically linked.
    cmd.args(["--bin", linuxkit_local::init::PACKAGE])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("LIBSECCOMP_LINK_TYPE", "static")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z")
        .env("CARGO_PROFILE_RELEASE_LTO", "true");
    let described = format!(
        "cargo build --release --bin linuxkit-init --target {triple} --manifest-path {}",
        manifest.display()
    );
    crate::package::run_cargo(cmd, described)?;
    let bin = target_dir
        .join(triple)
        .join("release")
        .join(linuxkit_local::init::PACKAGE);
    fs::read(&bin).map_err(io(&bin))
}

/// Names the image `w` also by the (expanded) name of the embedded image it is, so that a
/// definition written with the registry name finds it offline.
fn add_name(
    cache: &Path,
    reference: &str,
    w: &linuxkit_local::WrittenImage,
    name: &str,
) -> Result<(), PkgError> {
    let layout_err = |source| PkgError::Layout {
        reference: reference.to_string(),
        source,
    };
    LayoutWriter::create_or_open(cache)
        .map_err(layout_err)?
        .add_root(&w.root, &linuxkit_resolve::expand(name))
        .map_err(layout_err)?;
    Ok(())
}

/// Resolves local references from the cache layout (by exactly the reference as written) and
/// every other reference through `inner` (e.g. linuxkit-resolve's `Resolver`).
pub struct LocalProvider<'a> {
    local: OciLayout,
    inner: &'a dyn ImageProvider,
}

impl<'a> LocalProvider<'a> {
    /// Local images from the layout at `cache`, the rest from `inner`.
    pub fn new(cache: &Path, inner: &'a dyn ImageProvider) -> Result<Self, StoreError> {
        Ok(LocalProvider {
            local: OciLayout::open(cache, false)?,
            inner,
        })
    }
}

impl ImageProvider for LocalProvider<'_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, StoreError> {
        if is_local(reference) {
            let img = self.local.resolve(reference, platform)?;
            // A local image is prepared for one architecture at a time.
            if img.config.architecture != platform.architecture {
                return Err(StoreError::NoPlatform {
                    reference: reference.to_string(),
                    wanted: platform.to_string(),
                    available: format!(
                        "{}/{} (prepared for another build; build again)",
                        img.config.os, img.config.architecture
                    ),
                });
            }
            Ok(img)
        } else {
            self.inner.resolve(reference, platform)
        }
    }
}

/// The distinct local references of a set (for callers that collect references per platform).
pub fn local_references<'a>(refs: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    refs.into_iter()
        .filter(|r| is_local(r))
        .map(str::to_string)
        .collect()
}
