//! The crates a `cargo:` image's binary is built from, for its SBOM attestation.
//!
//! The graph is Cargo's resolve for the static target (`cargo metadata --filter-platform`),
//! followed from the package along normal dependencies only (build scripts' and tests'
//! dependencies do not end up in the binary); checksums are the `.crate` SHA-256 sums
//! `Cargo.lock` records, licenses the packages' `license` fields.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cargo_metadata::{DependencyKind, MetadataCommand, PackageId};
use linuxkit_sbom::cargo::Crate;
use serde::Deserialize;

use crate::error::PkgError;
use crate::package::TARGET;

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// `(name, version, source) -> checksum` of a `Cargo.lock` (format 2 and later keep the
/// checksum next to each package; older ones, none here).
fn lock_checksums(text: &str) -> BTreeMap<(String, String, String), String> {
    let lock: LockFile = match toml::from_str(text) {
        Ok(l) => l,
        Err(_) => return BTreeMap::new(),
    };
    lock.package
        .into_iter()
        .filter_map(|p| {
            let sum = p.checksum?;
            Some(((p.name, p.version, p.source.unwrap_or_default()), sum))
        })
        .collect()
}

/// The crates of `package`'s binaries for the static target, the package itself first, the
/// others sorted by name, version and source; each crate's normal dependencies as indices.
pub fn crate_graph(workspace: &Path, package: &str, offline: bool) -> Result<Vec<Crate>, PkgError> {
    let err = |message: String| PkgError::CargoMetadata {
        workspace: workspace.to_path_buf(),
        message,
    };
    let mut args = vec!["--filter-platform".to_string(), TARGET.to_string()];
    if offline {
        args.push("--offline".into());
    }
    let meta = MetadataCommand::new()
        .current_dir(workspace)
        .other_options(args)
        .exec()
        .map_err(|e| err(e.to_string()))?;
    let resolve = meta
        .resolve
        .as_ref()
        .ok_or_else(|| err("cargo metadata gave no dependency resolution".into()))?;
    let root = meta
        .packages
        .iter()
        .find(|p| p.name.as_str() == package && meta.workspace_members.contains(&p.id))
        .ok_or_else(|| err(format!("no workspace package {package:?}")))?;
    let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> =
        resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let normal = |n: &cargo_metadata::Node| -> Vec<PackageId> {
        n.deps
            .iter()
            .filter(|d| d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal))
            .map(|d| d.pkg.clone())
            .collect()
    };
    // The closure of normal dependencies.
    let mut seen: BTreeSet<PackageId> = BTreeSet::new();
    let mut todo = vec![root.id.clone()];
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(n) = nodes.get(&id) {
            todo.extend(normal(n));
        }
    }
    let lock = std::fs::read_to_string(meta.workspace_root.as_std_path().join("Cargo.lock"))
        .map(|t| lock_checksums(&t))
        .unwrap_or_default();
    let mut pkgs: Vec<&cargo_metadata::Package> = meta
        .packages
        .iter()
        .filter(|p| seen.contains(&p.id))
        .collect();
    let source_of = |p: &cargo_metadata::Package| p.source.as_ref().map(|s| s.repr.clone());
    pkgs.sort_by_key(|p| {
        (
            p.id != root.id,
            p.name.to_string(),
            p.version.to_string(),
            source_of(p),
        )
    });
    let index: BTreeMap<&PackageId, usize> =
        pkgs.iter().enumerate().map(|(i, p)| (&p.id, i)).collect();
    Ok(pkgs
        .iter()
        .map(|p| {
            let source = source_of(p);
            let key = (
                p.name.to_string(),
                p.version.to_string(),
                source.clone().unwrap_or_default(),
            );
            let mut dependencies: Vec<usize> = nodes
                .get(&p.id)
                .map(|n| normal(n))
                .unwrap_or_default()
                .iter()
                .filter_map(|d| index.get(d).copied())
                .collect();
            dependencies.sort_unstable();
            dependencies.dedup();
            Crate {
                name: p.name.to_string(),
                version: p.version.to_string(),
                checksum: lock.get(&key).cloned(),
                source,
                license: p.license.clone(),
                dependencies,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockfile_checksums_are_keyed_by_name_version_and_source() {
        let lock = "version = 4\n\n[[package]]\nname = \"hello\"\nversion = \"0.1.0\"\ndependencies = [\"libc\"]\n\n[[package]]\nname = \"libc\"\nversion = \"0.2.170\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"abcd\"\n";
        let sums = lock_checksums(lock);
        assert_eq!(sums.len(), 1);
        assert_eq!(
            sums[&(
                "libc".to_string(),
                "0.2.170".to_string(),
                "registry+https://github.com/rust-lang/crates.io-index".to_string()
            )],
            "abcd"
        );
        assert!(lock_checksums("not toml [").is_empty());
    }

    #[test]
    fn the_hello_package_depends_on_libc_with_its_checksum() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let crates = crate_graph(ws, "hello", true).unwrap();
        assert_eq!(crates[0].name, "hello");
        let libc = crates.iter().position(|c| c.name == "libc").unwrap();
        assert!(crates[0].dependencies.contains(&libc));
        assert_eq!(crates[libc].checksum.as_ref().map(String::len), Some(64));
        // Dev-dependencies of hello (insta, linuxkit-testing) are not in the binary.
        assert!(!crates
            .iter()
            .any(|c| c.name == "insta" || c.name == "linuxkit-testing"));
    }
}
