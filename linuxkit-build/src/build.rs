//! `build_tar`: the whole assembly, in upstream's order (build spec §3.1): kernel, init images
//! (+ consolidated apk database), volumes, onboot / onshutdown / services bundles, files, the
//! Dockerfile for `--format docker`, and the SBOM (`sbom.spdx.json`, unless
//! [`BuildOptions::sbom`] is `None`), made reproducible by `linuxkit-sbom`.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use linuxkit_dsl::{Container, Image, Kernel, Volume};
use linuxkit_oci::digest::Digest;
use linuxkit_oci::store::{ImageProvider, Platform, ResolvedImage, StoreError};
use linuxkit_sbom::ospkg::OsPackages;
use linuxkit_sbom::{ImageInfo, SbomBuilder};

use crate::error::{BuildError, ResultExt};
use crate::files::write_files;
use crate::gotar::{type_flag, GoTime, Header};
use crate::image_tar::{image_tar, lk_header, tar_prefix, DEFAULT_MTIME, RESOLV_SYMLINK};
use crate::kernel::{KernelFilter, KernelNames};
use crate::oci_config::{container_spec, IdMap};
use crate::oci_volume::image_oci_tar;
use crate::reference;
use crate::sink::{EntrySink, TarOut, APK_INSTALLED};

/// The Dockerfile appended for `--format docker`.
const DOCKERFILE: &str = "\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT [\"/bin/rc.init\"]\n";

/// How to build.
pub struct BuildOptions<'a> {
    /// The target platform (upstream `--arch`): which manifest of multi-platform images is used.
    pub platform: Platform,
    /// Append the `Dockerfile` entry (upstream `--format docker`).
    pub docker: bool,
    /// Relative `files[].source` paths resolve against this directory (upstream: the process's
    /// working directory).
    pub files_base: PathBuf,
    /// The home directory `~/` expands to in `files[].source` (default: `$HOME`).
    pub home: Option<PathBuf>,
    /// Gunzip the kernel (upstream `--decompress-kernel`).
    pub decompress_kernel: bool,
    /// Receives upstream-like status lines (`Extract kernel image: ...`, `Add init containers:`).
    pub progress: Option<&'a dyn Fn(&str)>,
    /// Most tar entries (over all layers) one image may have; more fails the build (default
    /// [`DEFAULT_MAX_IMAGE_ENTRIES`]). Flattening keeps every path of an image in memory.
    pub max_image_entries: u64,
    /// Write an SBOM into the image (upstream's default; `None` is `--no-sbom`, the default
    /// here so that the output is upstream's `--no-sbom` tar).
    pub sbom: Option<SbomOptions>,
}

/// Where the SBOM goes and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomOptions {
    /// Its path in the root filesystem (upstream `--sbom-output`, default `sbom.spdx.json`).
    pub path: String,
    /// The document's name and that of the system's package (the image name).
    pub name: String,
}

impl SbomOptions {
    /// `sbom.spdx.json` for the system `name`.
    pub fn new(name: impl Into<String>) -> Self {
        SbomOptions {
            path: DEFAULT_SBOM_PATH.to_string(),
            name: name.into(),
        }
    }
}

/// Upstream's default SBOM file name, at the root of the filesystem.
pub const DEFAULT_SBOM_PATH: &str = "sbom.spdx.json";

/// The default of [`BuildOptions::max_image_entries`]: about 2 million entries (a full Debian
/// image has some 10 000), at most a few hundred MiB of path bookkeeping.
pub const DEFAULT_MAX_IMAGE_ENTRIES: u64 = 1 << 21;

impl BuildOptions<'_> {
    /// Options for `platform` with upstream's defaults: no Dockerfile, sources relative to the
    /// current directory, `$HOME`, no kernel decompression, no status lines.
    pub fn new(platform: Platform) -> Self {
        BuildOptions {
            platform,
            docker: false,
            files_base: PathBuf::from("."),
            home: std::env::var_os("HOME").map(PathBuf::from),
            decompress_kernel: false,
            progress: None,
            max_image_entries: DEFAULT_MAX_IMAGE_ENTRIES,
            sbom: None,
        }
    }
}

/// An image used by a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedImage {
    /// Where it is used: `kernel`, `init[0]`, `volume[1]`, `services[2]`, ...
    pub location: String,
    /// The reference as written in the definition.
    pub reference: String,
    /// The digest of the manifest used.
    pub manifest_digest: Digest,
}

/// What a build wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Number of tar members (not counting PAX extended headers).
    pub entries: u64,
    /// Size of the tar stream in bytes.
    pub bytes: u64,
    /// The images used, in build order.
    pub images: Vec<UsedImage>,
}

/// Assembles the root-filesystem tar of `image` into `out`, byte-compatible with upstream
/// `linuxkit build --format tar --no-sbom`. Images are resolved through `images`. On error the
/// output holds a partial stream: write to a temporary file and rename on success.
pub fn build_tar(
    image: &Image,
    images: &dyn ImageProvider,
    opts: &BuildOptions<'_>,
    out: &mut dyn Write,
) -> Result<BuildReport, BuildError> {
    check_config(image)?;
    let progress = |s: &str| {
        if let Some(p) = opts.progress {
            p(s)
        }
    };
    let mut b = Builder {
        images,
        opts,
        used: Vec::new(),
        sbom: opts.sbom.as_ref().map(|o| {
            SbomBuilder::new(
                o.name.clone(),
                concat!("cargo-linuxkit-", env!("CARGO_PKG_VERSION")),
            )
        }),
    };
    let mut out = TarOut::new(out);

    if let Some(kernel) = image.kernel.as_ref().filter(|k| !k.image.is_empty()) {
        b.write_kernel(kernel, &mut out)?;
    }
    b.write_init(image, &mut out)?;
    if !image.volumes.is_empty() {
        progress("Add volumes:");
    }
    for (i, vol) in image.volumes.iter().enumerate() {
        b.write_volume(i, vol, &mut out)?;
    }

    let ids = IdMap::for_image(image);
    let mut dup: HashMap<String, String> = HashMap::new();
    let sections: [(&str, &[Container], &str); 3] = [
        ("onboot", &image.onboot, "Add onboot containers:"),
        (
            "onshutdown",
            &image.onshutdown,
            "Add onshutdown containers:",
        ),
        ("services", &image.services, "Add service containers:"),
    ];
    for (section, list, title) in sections {
        if !list.is_empty() {
            progress(title);
        }
        for (i, c) in list.iter().enumerate() {
            let dir = if section == "services" {
                c.name.clone()
            } else {
                format!("{i:03}-{}", c.name)
            };
            progress(&format!("  Create OCI config for {}", c.image));
            b.output_image(image, c, section, i, &dir, &ids, &mut dup, &mut out)?;
        }
    }

    let home = opts.home.as_deref();
    write_files(image, &ids, &opts.files_base, home, &progress, &mut out)
        .context(|| "failed to add filesystem parts".to_string())?;

    if opts.docker {
        progress("  Adding Dockerfile");
        let mut h = Header::new("Dockerfile", type_flag::REG);
        h.mode = 0o644;
        h.size = DOCKERFILE.len() as i64;
        h.mtime = Some(GoTime::from_secs(DEFAULT_MTIME as i64));
        out.write_bytes(h, DOCKERFILE.as_bytes())?;
    }

    if let (Some(o), Some(sbom)) = (&opts.sbom, &b.sbom) {
        let doc = sbom.finish()?;
        let mut h = Header::new(o.path.trim_start_matches('/'), type_flag::REG);
        h.mode = 0o644;
        h.size = doc.len() as i64;
        h.mtime = Some(GoTime::from_secs(DEFAULT_MTIME as i64));
        out.write_bytes(h, &doc)?;
    }

    let entries = out.entries;
    let bytes = out.finish()?;
    Ok(BuildReport {
        entries,
        bytes,
        images: b.used,
    })
}

/// [`build_tar`] into the file `path`, atomically: the stream goes to a temporary file in the
/// same directory, which replaces `path` only when the build succeeded. A failed build leaves
/// any previous file untouched and no partial output.
pub fn build_tar_to_path(
    image: &Image,
    images: &dyn ImageProvider,
    opts: &BuildOptions<'_>,
    path: &std::path::Path,
) -> Result<BuildReport, BuildError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let io_err = |e: std::io::Error| {
        BuildError::Output(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    };
    let tmp = tempfile::Builder::new()
        .prefix(".linuxkit-build-")
        .suffix(".tar.tmp")
        .tempfile_in(dir)
        .map_err(io_err)?;
    let report = {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        let report = build_tar(image, images, opts, &mut w)?;
        w.flush().map_err(io_err)?;
        report
    };
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(report)
}

struct Builder<'a> {
    images: &'a dyn ImageProvider,
    opts: &'a BuildOptions<'a>,
    used: Vec<UsedImage>,
    sbom: Option<SbomBuilder>,
}

/// An image being read for the SBOM: its handle and what its databases list so far.
struct SbomRead {
    handle: usize,
    packages: OsPackages,
}

impl Builder<'_> {
    fn progress(&self, line: &str) {
        if let Some(p) = self.opts.progress {
            p(line)
        }
    }

    /// The kernel section through the kernel filter (build spec §3.2).
    fn write_kernel(&mut self, kernel: &Kernel, out: &mut TarOut<'_>) -> Result<(), BuildError> {
        let r = canonical(&kernel.image)?;
        self.progress(&format!("Extract kernel image: {r}"));
        let context = || "failed to extract kernel image and tarball".to_string();
        let resolved = self.resolve("kernel", &kernel.image, &r).context(context)?;
        out.source = r.clone();
        let mut kf = KernelFilter::new(
            out,
            KernelNames::of(kernel),
            kernel.cmdline.clone().unwrap_or_default(),
            r.clone(),
            self.opts.decompress_kernel,
        );
        image_tar(
            self.opts.max_image_entries,
            "kernel",
            Some((&resolved, &r)),
            "",
            "",
            &mut kf,
            None,
        )
        .context(context)?;
        kf.close().context(|| "close error".to_string())?;
        let version = kf.version();
        if let Some(read) = self.sbom_image("kernel", &kernel.image, &resolved, "") {
            if let (Some(v), Some(sbom)) = (version, self.sbom.as_mut()) {
                sbom.set_kernel(read.handle, v);
            }
            self.sbom_contents(read, &resolved)?;
        }
        Ok(())
    }

    /// The init images, then the consolidated apk database (build spec §3.3).
    fn write_init(&mut self, image: &Image, out: &mut TarOut<'_>) -> Result<(), BuildError> {
        if !image.init.is_empty() {
            self.progress("Add init containers:");
        }
        out.apk_dbs = Some(Vec::new());
        for (i, init) in image.init.iter().enumerate() {
            let r = canonical(init)?;
            self.progress(&format!("Process init image: {r}"));
            let context = || format!("failed to build init tarball from {r}");
            let location = format!("init[{i}]");
            let resolved = self.resolve(&location, init, &r).context(context)?;
            out.source = r.clone();
            let mut read = self.sbom_image(&location, init, &resolved, "");
            image_tar(
                self.opts.max_image_entries,
                &location,
                Some((&resolved, &r)),
                "",
                RESOLV_SYMLINK,
                out,
                read.as_mut().map(|r| &mut r.packages),
            )
            .context(context)?;
            if let Some(read) = read {
                self.sbom_contents(read, &resolved).context(context)?;
            }
        }
        let dbs = out.apk_dbs.take().unwrap_or_default();
        if dbs.len() > 1 {
            let mut content = Vec::new();
            for db in &dbs {
                content.extend_from_slice(db);
                content.extend_from_slice(b"\n\n");
            }
            let mut h = Header::new(APK_INSTALLED, type_flag::REG);
            h.mode = 0o644;
            h.size = content.len() as i64;
            h.set_pax(crate::image_tar::PAX_SOURCE, "LINUXKIT.apkinit");
            h.set_pax(crate::image_tar::PAX_LOCATION, "init");
            out.write_bytes(h, &content)?;
        }
        Ok(())
    }

    /// One volume: its filesystem or OCI layout under `lower/`, then `tmp/` and `merged/`
    /// (build spec §3.4).
    fn write_volume(
        &mut self,
        i: usize,
        vol: &Volume,
        out: &mut TarOut<'_>,
    ) -> Result<(), BuildError> {
        self.progress(&format!("Process volume image: {}", vol.name));
        let location = format!("volume[{i}]");
        let base = format!("{}/{}", linuxkit_bundle::VOLUMES, vol.name);
        let lower = format!("{base}/lower/");
        let vol_image = vol.image.as_deref().filter(|s| !s.is_empty());
        let format = vol.format.as_deref().unwrap_or("");
        match vol_image {
            None => image_tar(
                self.opts.max_image_entries,
                &location,
                None,
                &lower,
                RESOLV_SYMLINK,
                out,
                None,
            ),
            Some(img) if format.is_empty() || format == "filesystem" => {
                let r = canonical(img)?;
                let resolved = self.resolve(&location, img, &r)?;
                out.source = r.clone();
                let mut read = self.sbom_image(&location, img, &resolved, &lower);
                image_tar(
                    self.opts.max_image_entries,
                    &location,
                    Some((&resolved, &r)),
                    &lower,
                    RESOLV_SYMLINK,
                    out,
                    read.as_mut().map(|r| &mut r.packages),
                )?;
                match read {
                    Some(read) => self.sbom_contents(read, &resolved),
                    None => Ok(()),
                }
            }
            Some(_) => Ok(()),
        }
        .context(|| {
            format!(
                "failed to build volume filesystem tarball from {}",
                vol.name
            )
        })?;
        if let (Some(img), "oci") = (vol_image, format) {
            let platforms = vol
                .platforms
                .iter()
                .flatten()
                .map(|p| parse_platform(p))
                .collect::<Result<Vec<_>, _>>()?;
            let r = canonical(img)?;
            let platform = platforms.first().unwrap_or(&self.opts.platform).clone();
            let context = || {
                format!(
                    "failed to build volume OCI v1 layout tarball from {}",
                    vol.name
                )
            };
            // The whole index is stored, so any of its manifests will do to find it: when no
            // platform was asked for and the target's is missing, use the first one listed.
            let resolved = match self.resolve_for(&location, img, &r, &platform) {
                Err(BuildError::Pull {
                    source: StoreError::NoPlatform { available, .. },
                    ..
                }) if platforms.is_empty() && !available.is_empty() => {
                    let first = available.split(", ").next().unwrap_or_default();
                    self.resolve_for(&location, img, &r, &parse_platform(first)?)
                }
                other => other,
            }
            .context(context)?;
            out.source = r.clone();
            image_oci_tar(&location, &resolved, &r, &lower, &platforms, out).context(context)?;
            // Listed as an image; its content is an OCI layout, not a filesystem to read (nor,
            // as upstream, one whose attestations are merged).
            if let Some(read) = self.sbom_image(&location, img, &resolved, &lower) {
                if let Some(sbom) = self.sbom.as_mut() {
                    sbom.set_contents(read.handle, OsPackages::default(), Vec::new());
                }
            }
        }
        for dir in ["tmp", "merged"] {
            let name = format!("{base}/{dir}/");
            let h = lk_header(name, type_flag::DIR, 0o755, "linuxkit.volumes", &location);
            out.entry(h, &mut std::io::empty())?;
        }
        Ok(())
    }

    fn resolve(
        &mut self,
        location: &str,
        written: &str,
        canonical: &str,
    ) -> Result<ResolvedImage, BuildError> {
        let platform = self.opts.platform.clone();
        self.resolve_for(location, written, canonical, &platform)
    }

    fn resolve_for(
        &mut self,
        location: &str,
        written: &str,
        canonical: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, BuildError> {
        let resolved =
            self.images
                .resolve(written, platform)
                .map_err(|source| BuildError::Pull {
                    reference: canonical.to_string(),
                    source,
                })?;
        self.used.push(UsedImage {
            location: location.to_string(),
            reference: written.to_string(),
            manifest_digest: resolved.manifest_digest.clone(),
        });
        Ok(resolved)
    }

    /// Records `resolved` (used at `location`, written `written`, its files under `prefix`) in
    /// the SBOM; returns what to fill while it is streamed when its contents are still to be
    /// read (first use, SBOM enabled).
    fn sbom_image(
        &mut self,
        location: &str,
        written: &str,
        resolved: &ResolvedImage,
        prefix: &str,
    ) -> Option<SbomRead> {
        let sbom = self.sbom.as_mut()?;
        let (locator, tag) = match reference::is_local_source(written) {
            true => (None, None),
            false => match reference::ImageRef::parse(written) {
                Ok(r) => (
                    Some(r.cache_locator().to_string()),
                    r.tag().map(str::to_string),
                ),
                Err(_) => (None, None),
            },
        };
        let info = ImageInfo {
            reference: written.to_string(),
            locator,
            tag,
            manifest_digest: resolved.manifest_digest.clone(),
        };
        let handle = sbom.image(info, location, prefix.trim_end_matches('/'));
        sbom.needs_contents(handle).then(|| SbomRead {
            handle,
            packages: OsPackages::default(),
        })
    }

    /// Stores what was read of an image, and the SBOMs it carries as attestations.
    fn sbom_contents(
        &mut self,
        read: SbomRead,
        resolved: &ResolvedImage,
    ) -> Result<(), BuildError> {
        let attestations =
            linuxkit_oci::attestation::spdx_predicates(resolved).map_err(|source| {
                BuildError::Attestation {
                    reference: resolved.reference.clone(),
                    source,
                }
            })?;
        if let Some(sbom) = self.sbom.as_mut() {
            sbom.set_contents(read.handle, read.packages, attestations);
        }
        Ok(())
    }

    /// Upstream `outputImage` + `ImageBundle`.
    #[allow(clippy::too_many_arguments)]
    fn output_image(
        &mut self,
        image: &Image,
        c: &Container,
        section: &str,
        index: usize,
        dir: &str,
        ids: &IdMap,
        dup: &mut HashMap<String, String>,
        out: &mut TarOut<'_>,
    ) -> Result<(), BuildError> {
        let r = reference::canonical(&c.image).map_err(|source| BuildError::Reference {
            image: c.image.clone(),
            source,
        })?;
        let location = format!("{section}[{index}]");
        let resolved = self.resolve(&location, &c.image, &r).map_err(|e| match e {
            BuildError::Pull { source, .. } => BuildError::Pull {
                reference: c.image.clone(),
                source,
            },
            other => other,
        })?;
        let spec = container_spec(c, &resolved.config, ids, &image.volumes)?;
        let config = spec.config_json();
        let prefix = format!("containers/{section}/{dir}");
        out.source = r.clone();
        if let Some(earlier) = dup.get(&r).cloned() {
            // Flattened for an earlier container: the SBOM only records this use.
            let _ = self.sbom_image(&location, &c.image, &resolved, &earlier);
        }
        (|| {
            let readonly = spec.readonly;
            let mut root = format!("{prefix}/{}", if readonly { "rootfs" } else { "lower" });
            let found_elsewhere = match dup.get(&r) {
                Some(earlier) => {
                    tar_prefix(&format!("{prefix}/"), &location, &r, out)?;
                    root = earlier.clone();
                    true
                }
                None => {
                    let mut read = self.sbom_image(&location, &c.image, &resolved, &root);
                    image_tar(
                        self.opts.max_image_entries,
                        &location,
                        Some((&resolved, &r)),
                        &format!("{root}/"),
                        "",
                        out,
                        read.as_mut().map(|r| &mut r.packages),
                    )?;
                    if let Some(read) = read {
                        self.sbom_contents(read, &resolved)?;
                    }
                    dup.insert(r.clone(), root.clone());
                    false
                }
            };
            let mut h = lk_header(
                format!("{prefix}/config.json"),
                type_flag::REG,
                0o644,
                &r,
                &location,
            );
            h.size = config.len() as i64;
            out.write_bytes(h, &config)?;
            let mut dirs = Vec::new();
            if !readonly {
                dirs.push("tmp");
                dirs.push("rootfs");
            } else if found_elsewhere {
                dirs.push("rootfs");
            }
            for d in dirs {
                let h = lk_header(
                    format!("{prefix}/{d}"),
                    type_flag::DIR,
                    0o755,
                    &r,
                    &location,
                );
                out.entry(h, &mut std::io::empty())?;
            }
            let runtime = spec.runtime_json(&prefix, &root);
            let mut h = lk_header(
                format!("{prefix}/runtime.json"),
                type_flag::REG,
                0o644,
                &r,
                &location,
            );
            h.size = runtime.len() as i64;
            out.write_bytes(h, &runtime)
        })()
        .context(|| format!("failed to extract root filesystem for {}", c.image))
    }
}

fn canonical(image: &str) -> Result<String, BuildError> {
    reference::canonical(image).map_err(|source| BuildError::Reference {
        image: image.to_string(),
        source,
    })
}

/// `os/arch[/variant][:osversion]` as go-containerregistry's `ParsePlatform` reads it.
fn parse_platform(p: &str) -> Result<Platform, BuildError> {
    let main = p.trim().split(':').next().unwrap_or_default();
    let parts: Vec<&str> = main.split('/').collect();
    if parts.len() > 3 {
        return Err(BuildError::Platform(format!(
            "failed to parse platform {p}: too many slashes in platform spec: {p}"
        )));
    }
    Ok(Platform {
        os: parts[0].to_string(),
        architecture: parts.get(1).map(|s| s.to_string()).unwrap_or_default(),
        variant: parts.get(2).map(|s| s.to_string()),
    })
}

/// The checks upstream makes when it reads a config (before building anything).
fn check_config(image: &Image) -> Result<(), BuildError> {
    let mut names = HashSet::new();
    for s in &image.services {
        if !names.insert(s.name.as_str()) {
            return Err(BuildError::InvalidConfig(format!(
                "duplicate service name: {}",
                s.name
            )));
        }
    }
    let mut vols = HashSet::new();
    for v in &image.volumes {
        let valid = v
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err(BuildError::InvalidConfig(format!(
                "invalid volume name: {}",
                v.name
            )));
        }
        if !vols.insert(v.name.as_str()) {
            return Err(BuildError::InvalidConfig(format!(
                "duplicate volume name: {}",
                v.name
            )));
        }
    }
    let check = |what: &str, s: &str| {
        reference::canonical(s)
            .map(|_| ())
            .map_err(|e| BuildError::InvalidConfig(format!("extract {what} image reference: {e}")))
    };
    if let Some(k) = image.kernel.as_ref().filter(|k| !k.image.is_empty()) {
        check("kernel", &k.image)?;
    }
    for i in &image.init {
        check("init", i)?;
    }
    for c in &image.onboot {
        check("on boot", &c.image)?;
    }
    for c in &image.onshutdown {
        check("on shutdown", &c.image)?;
    }
    for c in &image.services {
        check("service", &c.image)?;
    }
    for v in &image.volumes {
        if let Some(img) = v.image.as_deref().filter(|s| !s.is_empty()) {
            check("volume", img)?;
        }
    }
    Ok(())
}
