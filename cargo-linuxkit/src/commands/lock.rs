//! `cargo linuxkit lock`: writes `linuxkit.lock` next to the `Cargo.toml` of every package with
//! definitions, pinning each registry image its definitions use (kernel, init, onboot,
//! onshutdown, services, volume images) to a digest.
//!
//! Like Cargo with Cargo.lock, locking changes as little as possible: entries still in use are
//! kept, new references are resolved (from the image cache when there, else the registry) and
//! entries no longer used are removed. `cargo linuxkit update` re-resolves tags. Local sources
//! (`cargo:`, `kernel:`, `init:`, `dir:`) and references written with a digest are not locked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use linuxkit_lock::{is_lockable, LockedImage, Lockfile};
use linuxkit_oci::store::Platform;
use serde_json::json;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::source::{display_path, load};

/// The lockable references of every package with definitions, keyed by its lockfile path.
/// Compiles the definitions with the compile-time lock check off.
pub fn package_references(cfg: &Config) -> Result<BTreeMap<PathBuf, BTreeSet<String>>> {
    // The definitions are compiled to learn the references being locked: the compile-time
    // lock check of `locked = true` packages is off for this (see linuxkit-macros).
    std::env::set_var("CARGO_LINUXKIT_LOCKING", "1");
    let loaded = load(&[], cfg)?;
    let platform = Platform::host();
    let mut out: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for d in &loaded.definitions {
        let Some(path) = crate::resolve::lockfile_path(d) else {
            continue;
        };
        let refs = out.entry(path).or_default();
        for (r, _) in crate::build::written_references(d, &platform) {
            if is_lockable(&r) {
                refs.insert(r);
            }
        }
    }
    Ok(out)
}

/// Reads a lockfile (an empty one when missing).
pub fn read(path: &std::path::Path) -> Result<Lockfile> {
    Ok(Lockfile::read(path)
        .map_err(|e| Error::Resolve(Box::new(e)))?
        .unwrap_or_default())
}

/// `sha256:` and the first 12 hex digits, as shown in status lines.
pub fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// Builds the new lockfile of one package: `used` references, taking `fresh` entries first, then
/// entries of `old`; reports additions, changes and removals; writes it when it changed (or is
/// missing). Returns how many entries changed.
pub fn apply(
    path: &std::path::Path,
    old: &Lockfile,
    used: &BTreeSet<String>,
    fresh: &BTreeMap<String, LockedImage>,
    cfg: &Config,
) -> Result<usize> {
    let mut new = Lockfile::default();
    let mut changed = 0;
    for r in used {
        let Some(entry) = fresh.get(r).or_else(|| old.get(r)) else {
            continue;
        };
        match old.get(r) {
            None => {
                changed += 1;
                cfg.shell
                    .status("Adding", format!("{r} {}", short(&entry.digest)));
            }
            Some(o) if o.digest != entry.digest => {
                changed += 1;
                cfg.shell.status(
                    "Updating",
                    format!("{r} {} -> {}", short(&o.digest), short(&entry.digest)),
                );
            }
            Some(_) => {}
        }
        cfg.shell.json_message(json!({
            "reason": "linuxkit-locked",
            "reference": r,
            "old": old.get(r).map(|o| o.digest.clone()),
            "digest": entry.digest,
        }));
        new.images.insert(r.clone(), entry.clone());
    }
    for r in old.images.keys().filter(|r| !used.contains(*r)) {
        changed += 1;
        cfg.shell.status("Removing", r);
    }
    if new != *old || !path.exists() {
        new.write(path).map_err(|e| Error::Resolve(Box::new(e)))?;
        cfg.shell.status(
            "Writing",
            format!("{} ({} image(s))", display_path(path), new.images.len()),
        );
    }
    Ok(changed)
}

/// Runs `cargo linuxkit lock`.
pub fn run(cfg: &Config) -> Result<i32> {
    let packages = package_references(cfg)?;
    let resolver = crate::resolve::resolver(cfg, Platform::host(), false)?;
    for (path, used) in &packages {
        let old = read(path)?;
        let missing: Vec<String> = used
            .iter()
            .filter(|r| old.get(r).is_none())
            .cloned()
            .collect();
        if !missing.is_empty() {
            cfg.shell
                .status("Locking", format!("{} image(s)", missing.len()));
        }
        let fresh = crate::resolve::lock_entries(&resolver, &missing)?;
        apply(path, &old, used, &fresh, cfg)?;
    }
    Ok(0)
}
