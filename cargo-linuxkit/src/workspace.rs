//! Finding definition targets: `[package.metadata.linuxkit] definitions = [...]` in the
//! packages of the Cargo workspace, read with `cargo metadata`.

use std::path::{Path, PathBuf};

use cargo_metadata::{MetadataCommand, TargetKind};

use crate::config::CargoFlags;
use crate::error::{Error, Result};

/// Whether a definition target is a `[[bin]]` or an `[[example]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `cargo build --bin NAME`.
    Bin,
    /// `cargo build --example NAME`.
    Example,
}

impl Kind {
    /// The cargo flag selecting a target of this kind.
    pub fn cargo_flag(self) -> &'static str {
        match self {
            Kind::Bin => "--bin",
            Kind::Example => "--example",
        }
    }
}

/// One definition target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionTarget {
    /// Package name.
    pub package: String,
    /// Package version (the default version of `push`).
    pub version: String,
    /// Target name.
    pub target: String,
    /// Bin or example.
    pub kind: Kind,
    /// The package's Cargo.toml.
    pub manifest_path: PathBuf,
    /// The target's main source file.
    pub src_path: PathBuf,
    /// Build settings of its package's `[package.metadata.linuxkit]` (compression, registry
    /// build cache).
    pub settings: Box<crate::buildcache::PackageSettings>,
    /// `deny-warnings = true` in the package's `[package.metadata.linuxkit]`: the warnings of
    /// its definitions are errors.
    pub deny_warnings: bool,
    /// `[package.metadata.linuxkit] arch`: the architecture its images are built for when
    /// `--arch` is not given.
    pub arch: Option<String>,
}

/// The workspace as far as `cargo linuxkit` cares.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root directory.
    pub root: PathBuf,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
    /// Every declared definition target, in package then declaration order.
    pub definitions: Vec<DefinitionTarget>,
}

/// Reads the workspace with `cargo metadata --no-deps`.
pub fn discover(manifest_path: Option<&Path>, flags: &CargoFlags) -> Result<Workspace> {
    if manifest_path.is_none() {
        let cwd = std::env::current_dir().map_err(Error::io("."))?;
        if !cwd.ancestors().any(|d| d.join("Cargo.toml").is_file()) {
            return Err(Error::NoPackage { dir: cwd });
        }
    }
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    if let Some(p) = manifest_path {
        cmd.manifest_path(p);
    }
    cmd.other_options(flags.args());
    let meta = cmd.exec()?;
    let mut definitions = Vec::new();
    let mut packages: Vec<_> = meta.workspace_packages();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    for pkg in packages {
        let Some(lk) = pkg.metadata.get("linuxkit") else {
            continue;
        };
        let manifest = pkg.manifest_path.clone().into_std_path_buf();
        let bad = |message: String| Error::Manifest {
            manifest: manifest.clone(),
            message,
        };
        let settings =
            Box::new(crate::buildcache::PackageSettings::from_metadata(lk).map_err(bad)?);
        let names = match lk.get("definitions") {
            None => continue,
            Some(serde_json::Value::Array(a)) => a,
            Some(_) => return Err(bad("`definitions` must be a list of target names".into())),
        };
        let deny_warnings = match lk.get("deny-warnings") {
            None => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => return Err(bad("`deny-warnings` must be true or false".into())),
        };
        let arch = match lk.get("arch") {
            None => None,
            Some(serde_json::Value::String(a)) if !a.is_empty() => Some(a.clone()),
            Some(_) => {
                return Err(bad(
                    "`arch` must be an architecture name in OCI spelling, e.g. \"arm64\"".into(),
                ))
            }
        };
        for name in names {
            let name = name
                .as_str()
                .ok_or_else(|| bad("`definitions` must be a list of target names".into()))?;
            let target = pkg
                .targets
                .iter()
                .filter(|t| t.name == name)
                .find_map(|t| {
                    let kind = if t.kind.contains(&TargetKind::Example) {
                        Kind::Example
                    } else if t.kind.contains(&TargetKind::Bin) {
                        Kind::Bin
                    } else {
                        return None;
                    };
                    Some((t, kind))
                })
                .ok_or_else(|| {
                    bad(format!(
                        "definition `{name}` is not a bin or example target of package `{}`",
                        pkg.name
                    ))
                })?;
            definitions.push(DefinitionTarget {
                package: pkg.name.to_string(),
                version: pkg.version.to_string(),
                target: name.to_string(),
                kind: target.1,
                manifest_path: manifest.clone(),
                src_path: target.0.src_path.clone().into_std_path_buf(),
                settings: settings.clone(),
                deny_warnings,
                arch: arch.clone(),
            });
        }
    }
    Ok(Workspace {
        root: meta.workspace_root.into_std_path_buf(),
        target_dir: meta.target_directory.into_std_path_buf(),
        definitions,
    })
}
