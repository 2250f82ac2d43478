//! `pkg build` and `pkg push`: a workspace package as an image named
//! `<org>/<package>:<content-hash tag>`, like LinuxKit's `linuxkit pkg`.

use std::path::Path;

use linuxkit_resolve::Resolver;

use crate::error::PkgError;
use crate::prepare::{prepare, PrepareOptions};

/// What [`pkg_build`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgBuilt {
    /// `cargo:<package>`.
    pub reference: String,
    /// `<org>/<package>:<tag>`.
    pub name: String,
    /// The content-hash tag.
    pub tag: String,
    /// Manifest digest.
    pub manifest_digest: linuxkit_validate::Digest,
    /// Nothing was rebuilt.
    pub fresh: bool,
}

/// Builds `package` (its default binary) into the cache at `cache`, named both
/// `cargo:<package>` and `<org>/<package>:<tag>`.
pub fn pkg_build(
    package: &str,
    workspace_root: &Path,
    cache: &Path,
    opts: &PrepareOptions,
) -> Result<PkgBuilt, PkgError> {
    let reference = format!("cargo:{package}");
    let mut p = prepare(
        std::slice::from_ref(&reference),
        workspace_root,
        cache,
        opts,
    )?;
    let p = p.pop().ok_or_else(|| PkgError::BadReference {
        reference: reference.clone(),
        reason: "nothing was built".into(),
    })?;
    Ok(PkgBuilt {
        reference,
        name: p.name.unwrap_or_default(),
        tag: p.tag.unwrap_or_default(),
        manifest_digest: p.manifest_digest,
        fresh: p.fresh,
    })
}

/// Builds `package` into the resolver's cache and pushes it to `registry`
/// (`host[:port]`) as `<registry>/<org>/<package>:<tag>`; returns that name.
pub fn pkg_push(
    package: &str,
    registry: &str,
    workspace_root: &Path,
    resolver: &Resolver,
    opts: &PrepareOptions,
) -> Result<String, PkgError> {
    let built = pkg_build(package, workspace_root, resolver.cache().dir(), opts)?;
    let remote = format!("{}/{}", registry.trim_end_matches('/'), built.name);
    resolver
        .push(&built.name, Some(&remote))
        .map_err(Box::new)?;
    Ok(remote)
}
