//! `cargo linuxkit build`: evaluate, check, resolve, assemble, write outputs.

use std::path::PathBuf;

use linuxkit_pkg::{FetchEvent, FetchOptions, ImageSet};
use serde_json::json;

use crate::buildcache::{manifest_tag, CacheRepo, Effective, ImageFetcher, RegistryCache};
use crate::cli::BuildArgs;
use crate::commands::check;
use crate::config::{BuildConfig, Config, Destination};
use crate::error::{Error, Result};
use crate::source::{load, Definition, Loaded};

/// The default output directory of a definition: the current directory for YAML (as upstream),
/// `<target-dir>/linuxkit` for workspace images.
pub fn default_dir(loaded: &Loaded) -> PathBuf {
    match &loaded.workspace {
        Some(ws) => ws.target_dir.join("linuxkit"),
        None => PathBuf::from("."),
    }
}

/// Builds the definitions named by `args`.
pub fn run(args: &BuildArgs, cfg: &Config) -> Result<i32> {
    let mut bc = BuildConfig::from_args(args)?;
    let loaded = load(&args.input.inputs, cfg)?;
    if args.arch.is_none() {
        if let Some(arch) = metadata_arch(&loaded)? {
            bc.arch = arch;
        }
    }
    if args.dry_run {
        for d in &loaded.definitions {
            print!("{}", linuxkit_dsl::to_yaml_string(&d.image)?);
        }
        return Ok(0);
    }
    let built = build_loaded(&loaded, &bc, cfg)?;
    let _ = built;
    Ok(0)
}

/// Checks then builds every loaded definition; returns what each produced.
pub fn build_loaded(
    loaded: &Loaded,
    bc: &BuildConfig,
    cfg: &Config,
) -> Result<Vec<crate::build::Built>> {
    if loaded.definitions.len() > 1
        && bc.destination
            != (Destination::Dir {
                dir: bc_dir(bc),
                name: None,
            })
    {
        return Err(Error::Usage(
            "-o and --name need exactly one image; name the image to build".into(),
        ));
    }
    let errors = check::report(&loaded.definitions, cfg);
    if errors > 0 {
        return Err(Error::Problems {
            count: errors,
            what: loaded.names(),
        });
    }
    // Signing keys are loaded and checked before anything is prepared or written; only EFI
    // formats boot a UKI to sign.
    let efi = bc.formats.iter().any(|&f| crate::secureboot::is_efi(f));
    let mut signers = Vec::new();
    for d in &loaded.definitions {
        signers.push(if efi {
            crate::secureboot::signing_key(bc, d)?
        } else {
            None
        });
    }
    let platform = linuxkit_oci::store::Platform::linux(&bc.arch);
    // The registry build cache, when a definition uses one (`--cache-from`, `--cache-to`).
    let settings: Vec<Effective> = loaded
        .definitions
        .iter()
        .map(|d| crate::buildcache::effective(bc, d))
        .collect();
    let registry = if settings
        .iter()
        .any(|s| s.cache_from.is_some() || s.cache_to.is_some())
    {
        Some(RegistryCache::new(cfg, platform.clone())?)
    } else {
        None
    };
    let mut from_repos: Vec<CacheRepo> = Vec::new();
    for repo in settings.iter().filter_map(|s| s.cache_from.clone()) {
        if !from_repos.contains(&repo) {
            from_repos.push(repo);
        }
    }
    // With a build cache, local images get keys (to push), and come from the cache when it
    // has them (instead of being built).
    let fetcher = registry.as_ref().map(|r| ImageFetcher {
        cache: r,
        repos: from_repos,
    });
    let source: Option<&dyn linuxkit_pkg::ImageSource> = fetcher.as_ref().map(|f| f as _);
    let images = fetch_images_with(loaded, &platform, bc.pull, cfg, source)?;
    let dir = default_dir(loaded);
    let out = images.with_provider(|provider| -> Result<_> {
        let mut out = Vec::new();
        for ((d, signing), set) in loaded.definitions.iter().zip(signers).zip(&settings) {
            let b = crate::build::build_one_with(
                d,
                bc,
                provider,
                cfg,
                &dir,
                signing,
                registry.as_ref(),
            )?;
            // The local images this definition uses.
            let own: Vec<String> = crate::build::references(d, &platform)
                .into_iter()
                .map(|(r, _)| r)
                .collect();
            let mine: Vec<&linuxkit_pkg::Prepared> = images
                .prepared
                .iter()
                .filter(|p| own.contains(&p.reference))
                .collect();
            let count =
                |f: fn(&linuxkit_pkg::Prepared) -> bool| mine.iter().filter(|p| f(p)).count();
            cfg.shell.json_message(json!({
                "reason": "linuxkit-artifact",
                "image": b.image,
                "formats": bc.formats.iter().map(|f| f.name()).collect::<Vec<_>>(),
                "files": b.files,
                "fresh": b.fresh,
                "compression": set.compression.name(),
                "pieces": {
                    "compressed": b.pieces.compressed,
                    "local": b.pieces.local,
                    "fetched": b.pieces.fetched,
                },
                "local_images": {
                    "built": count(|p| !p.fresh && !p.fetched),
                    "fetched": count(|p| p.fetched),
                    "fresh": count(|p| p.fresh),
                },
            }));
            if let (Some(r), Some(repo)) = (&registry, &set.cache_to) {
                push_to_build_cache(r, repo, d, bc, set, &b, &mine, cfg);
            }
            out.push(b);
        }
        Ok(out)
    })?;
    cfg.shell
        .json_message(json!({"reason": "build-finished", "success": true}));
    Ok(out)
}

/// After a build with `--cache-to`: its pieces, its local images and its manifest to `repo`.
#[allow(clippy::too_many_arguments)]
fn push_to_build_cache(
    r: &RegistryCache,
    repo: &CacheRepo,
    d: &Definition,
    bc: &BuildConfig,
    set: &Effective,
    b: &crate::build::Built,
    mine: &[&linuxkit_pkg::Prepared],
    cfg: &Config,
) {
    let tag = manifest_tag(&d.name, &bc.arch, set.compression);
    let pieces =
        linuxkit_output::PieceCache::new(cfg.cache_dir.join(crate::build::PIECE_CACHE_DIR));
    let Some(p) = r.push(
        repo,
        &tag,
        &d.name,
        set.compression,
        &b.pieces.keys,
        &pieces,
        mine,
    ) else {
        return;
    };
    cfg.shell.status(
        "Pushed",
        format!(
            "`{}` to {}: {} initrd pieces ({} new), {} local image(s) new",
            d.name,
            repo.reference(&tag),
            p.pieces,
            p.uploaded,
            p.images
        ),
    );
    cfg.shell.json_message(json!({
        "reason": "build-cache-pushed",
        "image": d.name,
        "reference": repo.reference(&tag),
        "pieces": p.pieces,
        "uploaded": p.uploaded,
        "local_images": p.images,
    }));
}

/// Makes every image of `loaded` available for `platform`, as a build needs them: the
/// lockfiles are checked first (`--locked`), local sources (`cargo:`, `kernel:`, `init:`,
/// `dir:`) are built from the workspace into the cache, registry images are pulled when
/// missing (locked ones by their digest; all of them again with `pull`; none offline).
pub fn fetch_images(
    loaded: &Loaded,
    platform: &linuxkit_oci::store::Platform,
    pull: bool,
    cfg: &Config,
) -> Result<ImageSet> {
    fetch_images_with(loaded, platform, pull, cfg, None)
}

/// [`fetch_images`], local images taken from `source` (a registry build cache) when it has
/// them, and given their build-cache keys (see `linuxkit_pkg::prepare_with`).
pub fn fetch_images_with(
    loaded: &Loaded,
    platform: &linuxkit_oci::store::Platform,
    pull: bool,
    cfg: &Config,
    source: Option<&dyn linuxkit_pkg::ImageSource>,
) -> Result<ImageSet> {
    let resolver = crate::resolve::resolver(cfg, platform.clone(), pull)?;
    let mut refs: Vec<String> = Vec::new();
    // Lockfiles are checked before anything is pulled (`--locked` fails first), and locked
    // references are fetched by their pinned digest, never by a tag that may have moved.
    let mut pinned: Vec<String> = Vec::new();
    for d in &loaded.definitions {
        let written: Vec<String> = crate::build::written_references(d, platform)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        let lock = crate::resolve::lockfile_for_build(d, &written, cfg)?;
        for (r, p) in crate::build::references(d, platform) {
            if p == *platform && !refs.contains(&r) {
                if let Some(pin) = lock.as_ref().and_then(|l| l.pinned(&r)) {
                    pinned.push(pin);
                }
                refs.push(r);
            }
        }
    }
    let on_event = |event| match event {
        FetchEvent::Preparing { count } => cfg
            .shell
            .status("Preparing", format!("{count} local image(s)")),
        FetchEvent::Prepared { fetched, .. } if fetched > 0 => cfg.shell.status(
            "Fetched",
            format!("{fetched} local image(s) from the build cache"),
        ),
        FetchEvent::Prepared { .. } => {}
        FetchEvent::Resolving { count } => {
            cfg.shell.status("Resolving", format!("{count} image(s)"))
        }
    };
    let opts = FetchOptions {
        prepare: linuxkit_pkg::PrepareOptions {
            offline: cfg.offline,
            arch: Some(platform.architecture.clone()),
            ..Default::default()
        },
        source,
        pins: &pinned,
        on_event: &on_event,
        ..FetchOptions::new(&cfg.cache_dir)
    };
    // The workspace is looked for only when there are local sources to build from it.
    let root = || match &loaded.workspace {
        Some(ws) => Ok(ws.root.clone()),
        None => Ok(crate::workspace::discover(cfg.manifest_path.as_deref(), &cfg.cargo)?.root),
    };
    ImageSet::fetch(&refs, &opts, root, |_| Ok(Some(resolver)))
}

/// The `[package.metadata.linuxkit] arch` of the loaded definitions' packages, when they set
/// one (they must agree: one build is for one architecture).
pub fn metadata_arch(loaded: &Loaded) -> Result<Option<String>> {
    let mut found: Option<(String, String)> = None;
    for d in &loaded.definitions {
        let crate::source::Origin::Rust { target, .. } = &d.origin else {
            continue;
        };
        let Some(a) = &target.arch else { continue };
        match &found {
            Some((b, pkg)) if b != a => {
                return Err(Error::Usage(format!(
                    "packages {pkg} and {} build for different architectures ({b} and {a}): \
                     build their images separately, or give --arch",
                    target.package
                )))
            }
            Some(_) => {}
            None => found = Some((a.clone(), target.package.clone())),
        }
    }
    Ok(found.map(|(a, _)| a))
}

fn bc_dir(bc: &BuildConfig) -> Option<PathBuf> {
    match &bc.destination {
        Destination::Dir { dir, .. } => dir.clone(),
        _ => None,
    }
}
