//! The build pipeline of one definition: resolve -> assemble -> output, incrementally.
//!
//! 1. Every image reference is resolved through the [`ImageProvider`] (cache, registry);
//!    references locked in the package's `linuxkit.lock` by their locked digest.
//! 2. A build stamp is computed: SHA-256 over the tool's identity, the canonical model JSON,
//!    the resolved manifest digests, the contents of local `files[].source` files, and the
//!    requested formats, name and options. When the stamp in `<dir>/.<name>.linuxkit-stamp`
//!    matches and every output it lists is unchanged, the build is `Fresh` and does nothing.
//! 3. `linuxkit_build::build_tar` streams the root filesystem into a temporary file in the
//!    output directory; `tar`/`docker` outputs are that file renamed, other formats are written
//!    by `linuxkit_output::write_outputs` (which also writes to temporary files and renames).
//!    A failed or interrupted build leaves the previous artifacts and stamp untouched.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use linuxkit_build::{build_tar, BuildOptions};
use linuxkit_oci::store::{ImageProvider, Platform};
use linuxkit_output::{Format, OutputOptions, PieceCache, SigningKey, VerityOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{BuildConfig, Config, Destination};
use crate::error::{Error, Result};
use crate::source::{display_path, Definition};

/// The directory, inside the image cache, of compressed initrd pieces reused across builds.
pub const PIECE_CACHE_DIR: &str = "cargo-linuxkit-pieces";
/// The piece cache is trimmed to this size (least recently used first) after each build.
const PIECE_CACHE_MAX_BYTES: u64 = 2 << 30;

/// What a build of one definition produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The image name.
    pub image: String,
    /// The files written (or found up to date), in format order; empty for `-o -`.
    pub files: Vec<PathBuf>,
    /// True when the outputs were already up to date and nothing was done.
    pub fresh: bool,
    /// Where the initrd pieces came from (compressed, local cache, registry build cache) and
    /// their keys; for a fresh build, the keys of the build that wrote the outputs.
    pub pieces: linuxkit_output::PieceUsage,
}

/// Every image reference of `def` with the platforms it is needed for; references locked in
/// the package's `linuxkit.lock` are pinned (`reference@digest`), so they are fetched by digest.
pub fn references(def: &Definition, platform: &Platform) -> Vec<(String, Platform)> {
    // An unreadable lockfile is reported by `build_one_with`; here it only means no pinning.
    let lock = crate::resolve::read_lockfile(def).ok().flatten();
    let mut out: Vec<(String, Platform)> = Vec::new();
    for (r, p) in written_references(def, platform) {
        let r = lock.as_ref().and_then(|l| l.pinned(&r)).unwrap_or(r);
        if !out.iter().any(|(x, q)| *x == r && *q == p) {
            out.push((r, p));
        }
    }
    out
}

/// Every image reference of `def` as written, with the platforms it is needed for.
pub fn written_references(def: &Definition, platform: &Platform) -> Vec<(String, Platform)> {
    let img = &def.image;
    let mut refs: Vec<(String, Platform)> = Vec::new();
    let mut add = |r: &str, p: &Platform| {
        if !r.is_empty() && !refs.iter().any(|(x, q)| x == r && q == p) {
            refs.push((r.to_string(), p.clone()));
        }
    };
    if let Some(k) = &img.kernel {
        add(&k.image, platform);
    }
    for r in &img.init {
        add(r, platform);
    }
    for c in img
        .onboot
        .iter()
        .chain(&img.onshutdown)
        .chain(&img.services)
    {
        add(&c.image, platform);
    }
    for v in &img.volumes {
        if let Some(r) = &v.image {
            match &v.platforms {
                Some(ps) if !ps.is_empty() => {
                    for p in ps {
                        let mut it = p.split('/');
                        let os = it.next().unwrap_or("linux");
                        let arch = it.next().unwrap_or(&platform.architecture);
                        add(
                            r,
                            &Platform {
                                os: os.into(),
                                architecture: arch.into(),
                                variant: it.next().map(str::to_string),
                            },
                        );
                    }
                }
                _ => add(r, platform),
            }
        }
    }
    refs
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Stamp {
    stamp: String,
    outputs: Vec<(PathBuf, u64, u128)>,
    /// Keys of the initrd pieces of the outputs (pushed by a fresh build with `--cache-to`).
    #[serde(default)]
    pieces: std::collections::BTreeSet<String>,
}

fn file_id(p: &Path) -> Option<(u64, u128)> {
    let m = fs::metadata(p).ok()?;
    let t = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((m.len(), t.as_nanos()))
}

/// The identity of this tool binary (version, size and mtime of the executable), so a rebuilt
/// tool never trusts stamps of an older one.
fn tool_identity() -> String {
    let exe = std::env::current_exe().ok();
    let id = exe.as_deref().and_then(file_id);
    format!("{} {:?}", env!("CARGO_PKG_VERSION"), id)
}

fn hash_file_sources(def: &Definition, h: &mut Sha256) {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for f in &def.image.files {
        let Some(src) = &f.source else { continue };
        let path = match (src.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => def.files_base().join(src),
        };
        h.update(src.as_bytes());
        match fs::File::open(&path) {
            Ok(mut file) => {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = file.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            Err(_) => h.update(b"\0missing"),
        }
    }
}

/// The build stamp (see the module docs); `None` when a reference does not resolve (the build
/// then runs and reports the error).
fn compute_stamp(
    def: &Definition,
    bc: &BuildConfig,
    provider: &dyn ImageProvider,
    platform: &Platform,
    name: &str,
    compression: linuxkit_output::Compressor,
    signer: Option<&SigningKey>,
) -> Option<String> {
    let mut h = Sha256::new();
    h.update(tool_identity().as_bytes());
    h.update(serde_json::to_vec(&def.image).ok()?);
    for (r, p) in references(def, platform) {
        let resolved = provider.resolve(&r, &p).ok()?;
        h.update(format!("\n{r} {p} {}", resolved.manifest_digest).as_bytes());
    }
    hash_file_sources(def, &mut h);
    let formats: Vec<&str> = bc.formats.iter().map(|f| f.name()).collect();
    h.update(
        format!(
            "\n{formats:?} {name} {} {} {} {} {:?}",
            bc.arch,
            bc.decompress_kernel,
            bc.size_mb,
            def.files_base().display(),
            bc.sbom
        )
        .as_bytes(),
    );
    // The signer by its certificate (never the key), and dm-verity.
    h.update(
        format!(
            "\nsigner {:?} verity {}",
            signer.map(SigningKey::identity),
            bc.verity
        )
        .as_bytes(),
    );
    // Only a non-default compression enters the stamp, so gzip builds stay fresh.
    if compression != linuxkit_output::Compressor::Gzip {
        h.update(format!(" compression={compression}").as_bytes());
    }
    Some(hex::encode(h.finalize()))
}

fn stamp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.linuxkit-stamp"))
}

fn is_fresh(
    dir: &Path,
    name: &str,
    stamp: &str,
) -> Option<(Vec<PathBuf>, std::collections::BTreeSet<String>)> {
    let s: Stamp = serde_json::from_slice(&fs::read(stamp_path(dir, name)).ok()?).ok()?;
    if s.stamp != stamp || s.outputs.is_empty() {
        return None;
    }
    for (p, size, mtime) in &s.outputs {
        if file_id(p) != Some((*size, *mtime)) {
            return None;
        }
    }
    Some((s.outputs.into_iter().map(|(p, _, _)| p).collect(), s.pieces))
}

fn write_stamp(
    dir: &Path,
    name: &str,
    stamp: &str,
    files: &[PathBuf],
    pieces: &std::collections::BTreeSet<String>,
) {
    let outputs = files
        .iter()
        .filter_map(|p| file_id(p).map(|(s, m)| (p.clone(), s, m)))
        .collect();
    let s = Stamp {
        stamp: stamp.to_string(),
        outputs,
        pieces: pieces.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec_pretty(&s) {
        // A stamp that cannot be written only costs a rebuild next time.
        let _ = crate::fsutil::write_atomic(&stamp_path(dir, name), &bytes);
    }
}

/// Builds one definition. `default_dir` is used when the destination has no `--dir`;
/// `signing` signs the UKIs of EFI formats (see [`crate::secureboot::signing_key`]). Initrd
/// pieces the local cache lacks from the definition's
/// `--cache-from` registry build cache through `registry` (fetched while the root filesystem
/// is assembled).
pub fn build_one_with(
    def: &Definition,
    bc: &BuildConfig,
    provider: &dyn ImageProvider,
    cfg: &Config,
    default_dir: &Path,
    signing: Option<std::sync::Arc<SigningKey>>,
    registry: Option<&crate::buildcache::RegistryCache>,
) -> Result<Built> {
    let start = Instant::now();
    let platform = Platform::linux(&bc.arch);
    // Locked references resolve by digest; `--locked` requires every one to be locked.
    let written: Vec<String> = written_references(def, &platform)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let lock = crate::resolve::lockfile_for_build(def, &written, cfg)?;
    let locked_provider;
    let provider: &dyn ImageProvider = match &lock {
        Some(l) => {
            locked_provider = crate::resolve::LockedProvider::new(provider, l);
            &locked_provider
        }
        None => provider,
    };
    let (dir, name) = destination(def, bc, default_dir);
    let formats: Vec<&str> = bc.formats.iter().map(|f| f.name()).collect();
    let job = Job {
        def,
        bc,
        cfg,
        provider,
        dir,
        name,
        formats: formats.join(","),
        settings: crate::buildcache::effective(bc, def),
        start,
    };
    let verity = verity_options(bc)?;

    let stamp = if bc.destination == Destination::Stdout {
        None
    } else {
        compute_stamp(
            def,
            bc,
            provider,
            &platform,
            &job.name,
            job.settings.compression,
            signing.as_deref(),
        )
    };
    if let (Some(s), false) = (&stamp, bc.force) {
        if let Some(built) = job.fresh(s) {
            return Ok(built);
        }
    }

    let opts = build_options(def, bc, platform);
    cfg.shell.status("Assembling", format!("`{}`", def.name));
    if bc.destination == Destination::Stdout {
        return job.to_stdout(&opts);
    }
    let (files, pieces, prefetch) = job.write_files(&opts, signing, verity, registry)?;
    Ok(job.written(files, &pieces, prefetch, stamp.as_deref()))
}

/// One definition being built: what every step of [`build_one_with`] needs.
struct Job<'a> {
    def: &'a Definition,
    bc: &'a BuildConfig,
    cfg: &'a Config,
    /// The provider of its images (locked references by their digest).
    provider: &'a dyn ImageProvider,
    /// The output directory, and the name of the outputs in it.
    dir: PathBuf,
    name: String,
    /// The formats, as status lines show them (`a,b`).
    formats: String,
    settings: crate::buildcache::Effective,
    start: Instant,
}

/// Initrd pieces fetched from the registry build cache into `staging` while the root filesystem
/// is assembled.
struct Prefetch<'a> {
    registry: &'a crate::buildcache::RegistryCache,
    repo: &'a crate::buildcache::CacheRepo,
    /// The build-cache manifest's tag.
    tag: String,
    staging: tempfile::TempDir,
}

/// What the output thread returns: the files written, the piece cache it compressed with, and
/// the pieces fetched from the registry build cache.
type Outputs = (
    std::result::Result<Vec<PathBuf>, linuxkit_output::OutputError>,
    PieceCache,
    Option<crate::buildcache::Fetched>,
);

/// The output directory and the name of the outputs of `def` under `--dir`/`--name`/`-o`.
fn destination(def: &Definition, bc: &BuildConfig, default_dir: &Path) -> (PathBuf, String) {
    match &bc.destination {
        Destination::Dir { dir, name } => (
            dir.clone().unwrap_or_else(|| default_dir.to_path_buf()),
            name.clone().unwrap_or_else(|| def.name.clone()),
        ),
        Destination::File(f) => (
            f.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            def.name.clone(),
        ),
        Destination::Stdout => (PathBuf::from("."), def.name.clone()),
    }
}

/// With `--verity`: the static helper the initrd verifies the root filesystem with.
fn verity_options(bc: &BuildConfig) -> Result<Option<VerityOptions>> {
    if !bc.verity {
        return Ok(None);
    }
    let helper = linuxkit_local::verity_binary().map_err(|e| Error::Usage(e.to_string()))?;
    Ok(Some(VerityOptions {
        helper: std::sync::Arc::new(helper.to_vec()),
    }))
}

/// How `linuxkit_build` assembles the root filesystem of `def`.
fn build_options(def: &Definition, bc: &BuildConfig, platform: Platform) -> BuildOptions<'static> {
    let mut opts = BuildOptions::new(platform);
    opts.docker = bc.formats.contains(&Format::Docker);
    opts.files_base = def.files_base();
    opts.decompress_kernel = bc.decompress_kernel;
    opts.sbom = bc.sbom.as_ref().map(|path| linuxkit_build::SbomOptions {
        path: path.clone(),
        name: def.name.clone(),
    });
    opts
}

impl<'a> Job<'a> {
    fn build_err(&self) -> impl Fn(linuxkit_build::BuildError) -> Error + '_ {
        |source| Error::Build {
            image: self.def.name.clone(),
            source: Box::new(source),
        }
    }

    /// The build when its stamp is `stamp` and the outputs it lists are unchanged.
    fn fresh(&self, stamp: &str) -> Option<Built> {
        let (files, keys) = is_fresh(&self.dir, &self.name, stamp)?;
        self.cfg.shell.status(
            "Fresh",
            format!("`{}` ({}) is up to date", self.def.name, self.formats),
        );
        Some(Built {
            image: self.def.name.clone(),
            files,
            fresh: true,
            pieces: linuxkit_output::PieceUsage {
                keys,
                ..Default::default()
            },
        })
    }

    /// `-o -`: the root filesystem tar to stdout.
    fn to_stdout(&self, opts: &BuildOptions<'_>) -> Result<Built> {
        let stdout = std::io::stdout();
        let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
        build_tar(&self.def.image, self.provider, opts, &mut out).map_err(self.build_err())?;
        out.flush().map_err(Error::io("<stdout>"))?;
        self.finished();
        Ok(Built {
            image: self.def.name.clone(),
            files: Vec::new(),
            fresh: false,
            pieces: Default::default(),
        })
    }

    /// Assembles the root filesystem into a temporary file in the output directory and writes
    /// the outputs from it (while it grows), or renames it to the one streamable output.
    fn write_files(
        &'a self,
        opts: &BuildOptions<'_>,
        signing: Option<std::sync::Arc<SigningKey>>,
        verity: Option<VerityOptions>,
        registry: Option<&'a crate::buildcache::RegistryCache>,
    ) -> Result<(Vec<PathBuf>, PieceCache, Option<Prefetch<'a>>)> {
        let dir = &self.dir;
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", self.name))
            .suffix(".tar.partial")
            .tempfile_in(dir)
            .map_err(Error::io(dir))?;
        let pieces = PieceCache::new(self.cfg.cache_dir.join(PIECE_CACHE_DIR));
        let prefetch = self.prefetch(registry)?;
        let oo = self.output_options(signing, verity)?;
        let (report, outputs) = self.assemble(&mut tmp, opts, &oo, &pieces, prefetch.as_ref());
        // An assembly error explains a failed output better than the output's own error.
        let report = report?;
        self.cfg.shell.status(
            "Assembled",
            format!(
                "`{}`: {} entries, {}",
                self.def.name,
                report.entries,
                human_bytes(report.bytes)
            ),
        );
        let (files, pieces) = match outputs {
            Some(joined) => self.collect_outputs(joined, tmp, prefetch.as_ref())?,
            None => {
                let dest = match &self.bc.destination {
                    Destination::File(f) => f.clone(),
                    _ => dir.join(self.bc.formats[0].file_name(&self.name)),
                };
                tmp.persist(&dest).map_err(|e| Error::Io {
                    path: dest.clone(),
                    source: e.error,
                })?;
                (vec![dest], pieces)
            }
        };
        Ok((files, pieces, prefetch))
    }

    /// Pieces the local cache lacks come from the registry build cache (`--cache-from`),
    /// fetched into a staging directory while the root filesystem is assembled; only for
    /// formats with an initrd.
    fn prefetch(
        &'a self,
        registry: Option<&'a crate::buildcache::RegistryCache>,
    ) -> Result<Option<Prefetch<'a>>> {
        let (Some(registry), Some(repo)) = (registry, &self.settings.cache_from) else {
            return Ok(None);
        };
        let bc = self.bc;
        if !bc
            .formats
            .iter()
            .any(|f| linuxkit_output::needs_initrd(*f, bc.verity))
        {
            return Ok(None);
        }
        let cache_dir = &self.cfg.cache_dir;
        let staging = tempfile::Builder::new()
            .prefix(".cargo-linuxkit-fetched-")
            .tempdir_in(cache_dir)
            .map_err(Error::io(cache_dir))?;
        let tag =
            crate::buildcache::manifest_tag(&self.def.name, &bc.arch, self.settings.compression);
        Ok(Some(Prefetch {
            registry,
            repo,
            tag,
            staging,
        }))
    }

    /// How the outputs are written (the piece cache is added by the output thread).
    fn output_options(
        &self,
        signing: Option<std::sync::Arc<SigningKey>>,
        verity: Option<VerityOptions>,
    ) -> Result<OutputOptions> {
        let bc = self.bc;
        let mut oo = OutputOptions {
            size_mib: bc.size_mb,
            arch: bc.arch.clone(),
            signing,
            verity,
            update: crate::updatable::disk(self.def, bc)?,
            ..OutputOptions::default()
        };
        oo.compression.compressor = self.settings.compression;
        oo.kernel_check = Some(crate::buildcache::kernel_check(self.cfg, self.def));
        Ok(oo)
    }

    /// Assembles the root filesystem into `tmp` while the output formats read it (a file that
    /// grows), so decompressing layers and compressing the initrd use the cores together, and
    /// while the registry's pieces are fetched. The outputs are `None` when the tar itself is
    /// the output.
    fn assemble(
        &self,
        tmp: &mut tempfile::NamedTempFile,
        opts: &BuildOptions<'_>,
        oo: &OutputOptions,
        pieces: &PieceCache,
        prefetch: Option<&Prefetch<'_>>,
    ) -> (
        Result<linuxkit_build::BuildReport>,
        Option<std::thread::Result<Outputs>>,
    ) {
        let bc = self.bc;
        let streamed = matches!(bc.destination, Destination::File(_))
            || matches!(bc.formats.as_slice(), [f] if f.is_streamable());
        let growing = crate::fsutil::Growing::new();
        let tmp_path = tmp.path().to_path_buf();
        std::thread::scope(|scope| {
            let fetching = prefetch.map(|p| {
                let name = &self.def.name;
                scope.spawn(move || {
                    p.registry
                        .fetch_pieces(p.repo, &p.tag, name, pieces, p.staging.path())
                })
            });
            let outputs = (!streamed).then(|| {
                let (growing, tmp_path) = (&growing, &tmp_path);
                scope.spawn(move || {
                    // Pieces from the registry are staged before compression looks for them.
                    let fetched = fetching.and_then(|h| h.join().ok());
                    self.write_outputs(growing, tmp_path, pieces, prefetch, fetched, oo)
                })
            });
            let report = (|| {
                let file = tmp.as_file_mut();
                let mut out = BufWriter::with_capacity(1 << 20, growing.writer(file));
                let report = build_tar(&self.def.image, self.provider, opts, &mut out)
                    .map_err(self.build_err())?;
                out.flush().map_err(Error::io(&tmp_path))?;
                drop(out);
                crate::fsutil::set_mode_0644(tmp.as_file()).map_err(Error::io(&tmp_path))?;
                Ok::<_, Error>(report)
            })();
            growing.finish(report.is_ok());
            (report, outputs.map(|h| h.join()))
        })
    }

    /// The output thread: every format written from the growing root filesystem tar.
    fn write_outputs(
        &self,
        growing: &crate::fsutil::Growing,
        tmp_path: &Path,
        pieces: &PieceCache,
        prefetch: Option<&Prefetch<'_>>,
        fetched: Option<crate::buildcache::Fetched>,
        oo: &OutputOptions,
    ) -> Outputs {
        let pieces = match (prefetch, &fetched) {
            (Some(p), Some(f)) if f.pieces > 0 => pieces.with_fetched(p.staging.path()),
            _ => pieces.clone(),
        };
        let mut oo = oo.clone();
        // Compressed initrd pieces are kept with the images, for the next build.
        oo.compression.cache = Some(pieces.clone());
        let open = || {
            growing.reader(tmp_path).map(|r| {
                Box::new(std::io::BufReader::with_capacity(1 << 20, r))
                    as Box<dyn std::io::Read + Send + '_>
            })
        };
        let files = linuxkit_output::write_outputs_from(
            tmp_path,
            &open,
            &self.bc.formats,
            &self.dir,
            &self.name,
            &oo,
        );
        (files, pieces, fetched)
    }

    /// The files the output thread wrote (the temporary tar then removed, the piece cache
    /// trimmed), or its error.
    fn collect_outputs(
        &self,
        joined: std::thread::Result<Outputs>,
        tmp: tempfile::NamedTempFile,
        prefetch: Option<&Prefetch<'_>>,
    ) -> Result<(Vec<PathBuf>, PieceCache)> {
        let output_err = |source| Error::Output {
            image: self.def.name.clone(),
            source: Box::new(source),
        };
        let (files, pieces, fetched) = joined.map_err(|_| {
            output_err(linuxkit_output::OutputError::Write {
                path: tmp.path().to_path_buf(),
                source: std::io::Error::other("the output thread panicked"),
            })
        })?;
        if let (Some(p), Some(f)) = (prefetch, &fetched) {
            if f.pieces > 0 {
                self.cfg.shell.status(
                    "Fetched",
                    format!(
                        "{} initrd pieces of `{}` from {}",
                        f.pieces, self.def.name, p.repo
                    ),
                );
            }
        }
        let files = files.map_err(output_err)?;
        drop(tmp);
        // The piece cache is an accelerator: failing to trim it is not a build failure.
        let _ = pieces.prune(PIECE_CACHE_MAX_BYTES);
        Ok((files, pieces))
    }

    /// Reports the files written and records the build's stamp.
    fn written(
        &self,
        files: Vec<PathBuf>,
        pieces: &PieceCache,
        prefetch: Option<Prefetch<'_>>,
        stamp: Option<&str>,
    ) -> Built {
        self.cfg.shell.status(
            "Writing",
            files
                .iter()
                .map(|f| display_path(f))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", "),
        );
        let usage = pieces.usage();
        if usage.rejected > 0 {
            if let Some(p) = &prefetch {
                self.cfg.shell.warn(format!(
                    "build cache {}: {} initrd pieces of `{}` did not decompress to the data \
                     they stand for; they were compressed here",
                    p.repo, usage.rejected, self.def.name
                ));
            }
        }
        drop(prefetch);
        if let Some(s) = stamp {
            write_stamp(&self.dir, &self.name, s, &files, &usage.keys);
        }
        self.finished();
        Built {
            image: self.def.name.clone(),
            files,
            fresh: false,
            pieces: usage,
        }
    }

    fn finished(&self) {
        self.cfg.shell.status(
            "Finished",
            format!(
                "`{}` ({}) in {:.2}s",
                self.def.name,
                self.formats,
                self.start.elapsed().as_secs_f64()
            ),
        );
    }
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}
