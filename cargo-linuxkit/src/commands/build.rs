//! `cargo linuxkit build`: evaluate, check, resolve, assemble, write outputs.

use std::path::PathBuf;

use serde_json::json;

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
            what: names(&loaded.definitions),
        });
    }
    let platform = linuxkit_oci::store::Platform::linux(&bc.arch);
    let resolver = crate::resolve::resolver(cfg, platform.clone(), bc.pull)?;
    let mut refs: Vec<String> = Vec::new();
    // Lockfiles are checked before anything is pulled (`--locked` fails first), and locked
    // references are fetched by their pinned digest, never by a tag that may have moved.
    let mut pinned: Vec<String> = Vec::new();
    for d in &loaded.definitions {
        let written: Vec<String> = crate::build::written_references(d, &platform)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        let lock = crate::resolve::lockfile_for_build(d, &written, cfg)?;
        for (r, p) in crate::build::references(d, &platform) {
            if p == platform && !refs.contains(&r) {
                if let Some(pin) = lock.as_ref().and_then(|l| l.pinned(&r)) {
                    pinned.push(pin);
                }
                refs.push(r);
            }
        }
    }
    // Local sources (`cargo:`, `kernel:`, `init:`, `dir:`) are built from the workspace into the
    // cache under their own names; everything else is pulled.
    let (local, remote) = linuxkit_pkg::split_local(&refs);
    if !local.is_empty() {
        let root = match &loaded.workspace {
            Some(ws) => ws.root.clone(),
            None => crate::workspace::discover(cfg.manifest_path.as_deref(), &cfg.cargo)?.root,
        };
        cfg.shell
            .status("Preparing", format!("{} local image(s)", local.len()));
        let opts = linuxkit_pkg::PrepareOptions {
            offline: cfg.offline,
            arch: Some(bc.arch.clone()),
            ..Default::default()
        };
        linuxkit_pkg::prepare(&local, &root, &cfg.cache_dir, &opts)
            .map_err(|e| Error::Resolve(Box::new(e)))?;
    }
    cfg.shell
        .status("Resolving", format!("{} image(s)", remote.len()));
    let remote: Vec<String> = remote
        .into_iter()
        .map(|r| {
            let prefix = format!("{r}@");
            pinned
                .iter()
                .find(|p| p.starts_with(&prefix))
                .cloned()
                .unwrap_or(r)
        })
        .collect();
    crate::resolve::prefetch(&resolver, &remote)?;
    let local_provider;
    let provider: &dyn linuxkit_oci::store::ImageProvider = if local.is_empty() {
        &resolver
    } else {
        local_provider = linuxkit_pkg::LocalProvider::new(&cfg.cache_dir, &resolver)
            .map_err(|e| Error::Resolve(Box::new(e)))?;
        &local_provider
    };
    let dir = default_dir(loaded);
    let mut out = Vec::new();
    for d in &loaded.definitions {
        let b = crate::build::build_one(d, bc, provider, cfg, &dir)?;
        cfg.shell.json_message(json!({
            "reason": "linuxkit-artifact",
            "image": b.image,
            "formats": bc.formats.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "files": b.files,
            "fresh": b.fresh,
        }));
        out.push(b);
    }
    cfg.shell
        .json_message(json!({"reason": "build-finished", "success": true}));
    Ok(out)
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

fn names(defs: &[Definition]) -> String {
    defs.iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
