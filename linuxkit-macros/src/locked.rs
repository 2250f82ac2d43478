//! The lockfile check: when a package opts in with `[package.metadata.linuxkit] locked = true`,
//! every registry image reference written as a literal must be in its `linuxkit.lock`.
//!
//! The package is the one being compiled (`CARGO_MANIFEST_DIR`; `CARGO_LINUXKIT_PACKAGE_DIR`
//! overrides it, for tests whose crate lives elsewhere, such as trybuild's). The files are read
//! on every expansion (they are small), never cached across expansions, so a long-lived
//! rust-analyzer sees edits; no network, no cache. Expansions of an opted-in package also
//! `include_bytes!` the lockfile and the manifest, so rustc recompiles when they change.
//!
//! `cargo linuxkit lock` has to compile the definitions to learn their references: it sets
//! `CARGO_LINUXKIT_LOCKING`, which turns the check off (the lockfile it then writes is tracked,
//! so the next ordinary build checks again).

use std::path::PathBuf;

use linuxkit_lock::{is_lockable, manifest_requires_lock, Lockfile, FILE_NAME};
use proc_macro2::TokenStream;
use quote::quote;

/// The package directory whose manifest and lockfile apply.
fn package_dir() -> Option<PathBuf> {
    std::env::var_os("CARGO_LINUXKIT_PACKAGE_DIR")
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR"))
        .map(PathBuf::from)
}

/// The lock state of an opted-in package.
struct Opted {
    manifest: PathBuf,
    lockfile: PathBuf,
    lock: Result<Option<Lockfile>, String>,
}

/// `Ok(None)` when the package did not opt in (or has no readable manifest: cargo reports
/// that itself).
fn opted() -> Result<Option<Opted>, String> {
    let Some(dir) = package_dir() else {
        return Ok(None);
    };
    let manifest = dir.join("Cargo.toml");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return Ok(None);
    };
    if !manifest_requires_lock(&text, &manifest).map_err(|e| e.to_string())? {
        return Ok(None);
    }
    let lockfile = dir.join(FILE_NAME);
    let lock = Lockfile::read(&lockfile).map_err(|e| e.to_string());
    Ok(Some(Opted {
        manifest,
        lockfile,
        lock,
    }))
}

/// Set by `cargo linuxkit lock` and `update` while they evaluate the definitions: the
/// references are what they are about to lock, so they are not checked.
const LOCKING_ENV: &str = "CARGO_LINUXKIT_LOCKING";

/// Checks that `reference` (already grammatically valid) is locked when the package requires it.
pub(crate) fn check(reference: &str) -> Result<(), String> {
    if !is_lockable(reference) || std::env::var_os(LOCKING_ENV).is_some() {
        return Ok(());
    }
    let Some(o) = opted()? else {
        return Ok(());
    };
    match o.lock? {
        Some(lock) if lock.get(reference).is_some() => Ok(()),
        Some(_) => Err(format!(
            "image {reference:?} is not in {FILE_NAME} (this package sets [package.metadata.linuxkit] locked = true): run `cargo linuxkit lock`"
        )),
        None => Err(format!(
            "image {reference:?} is not locked: there is no {FILE_NAME} next to this package's Cargo.toml (it sets [package.metadata.linuxkit] locked = true): run `cargo linuxkit lock`"
        )),
    }
}

/// `image_ref!`'s check: the grammar, then the lockfile.
pub(crate) fn image_reference(s: &str) -> Result<(), String> {
    linuxkit_validate::image_reference(s)?;
    check(s)
}

/// The builder literals' check: the grammar (local sources allowed), then the lockfile.
pub(crate) fn image_source(s: &str) -> Result<(), String> {
    linuxkit_validate::image_source(s)?;
    check(s)
}

/// Items making rustc depend on the manifest and the lockfile of an opted-in package (nothing
/// otherwise).
pub(crate) fn tracking() -> TokenStream {
    let Ok(Some(o)) = opted() else {
        return TokenStream::new();
    };
    let mut files = vec![o.manifest];
    if o.lockfile.is_file() {
        files.push(o.lockfile);
    }
    let files = files.iter().map(|f| f.display().to_string());
    quote!(#(const _: &[u8] = include_bytes!(#files);)*)
}
