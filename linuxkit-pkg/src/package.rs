//! Workspace packages as images: `[package.metadata.linuxkit]`, the content hash (the image
//! tag), the static release build, the image layer and its `org.mobyproject.config` label.
//!
//! ```toml
//! [package.metadata.linuxkit]
//! org = "linuxkit-local"          # image name for `pkg build`/`pkg push`: <org>/<package>:<tag>
//! path = "/usr/bin"               # where binaries go in the image
//! dirs = ["data"]                 # empty directories created in the image
//! [package.metadata.linuxkit.config]  # the label: a `services` entry without name and image
//! capabilities = ["CAP_NET_BIND_SERVICE"]
//! net = "host"
//! [package.metadata.linuxkit.bin.net-up] # per-binary overrides for `cargo:<package>.net-up`
//! config = { net = "host", capabilities = ["CAP_NET_ADMIN"] }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_metadata::{Metadata, MetadataCommand, Package, TargetKind};
use linuxkit_local::image::ImageConfig;
use linuxkit_local::Layer;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{io, PkgError};

/// The label key holding LinuxKit's per-image configuration.
pub const MOBY_CONFIG_LABEL: &str = "org.mobyproject.config";

/// The Rust target of static binaries.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// RUSTFLAGS of static binaries. rust-lld mis-relocates glibc's weak `__gmon_start__` in
/// static-pie binaries, so the system linker is used (as linuxkit-local's init build does).
pub const RUSTFLAGS: &str = "-C target-feature=+crt-static -C linker-features=-lld";

/// Default image org of `pkg build` names.
pub const DEFAULT_ORG: &str = "linuxkit-local";

/// `cargo metadata` of the workspace at `root` (workspace members only, no network).
pub fn workspace_metadata(root: &Path) -> Result<Metadata, PkgError> {
    MetadataCommand::new()
        .current_dir(root)
        .no_deps()
        .exec()
        .map_err(|e| PkgError::CargoMetadata {
            workspace: root.to_path_buf(),
            message: e.to_string(),
        })
}

/// A package resolved for one binary, with everything that makes up its image.
#[derive(Debug, Clone)]
pub struct PackageImage {
    /// The package name.
    pub package: String,
    /// The binary target.
    pub bin: String,
    /// The package's Cargo.toml.
    pub manifest: PathBuf,
    /// Image org for `pkg build` names.
    pub org: String,
    /// Directory of binaries in the image (absolute).
    pub bin_dir: String,
    /// Empty directories to create.
    pub dirs: Vec<String>,
    /// The `org.mobyproject.config` label value (canonical JSON), if configured.
    pub label: Option<String>,
    /// The content hash (40 hex digits): sources, path dependencies, Cargo.lock, metadata,
    /// binary name and build flags.
    pub tag: String,
}

impl PackageImage {
    /// The name `pkg build` gives the image: `<org>/<package>:<tag>` (`<package>-<bin>` when a
    /// binary other than the package's own is selected).
    pub fn name(&self) -> String {
        let repo = if self.bin == self.package {
            self.package.clone()
        } else {
            format!("{}-{}", self.package, self.bin)
        };
        format!(
            "{}/{}:{}",
            self.org,
            repo.to_lowercase().replace('_', "-"),
            self.tag
        )
    }

    /// Where the binary is in the image.
    pub fn bin_path(&self) -> String {
        format!("{}/{}", self.bin_dir.trim_end_matches('/'), self.bin)
    }

    /// The image config: entrypoint = the binary, a default PATH, the label.
    pub fn image_config(&self) -> ImageConfig {
        ImageConfig {
            entrypoint: Some(vec![self.bin_path()]),
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ]),
            labels: self
                .label
                .as_ref()
                .map(|l| BTreeMap::from([(MOBY_CONFIG_LABEL.to_string(), l.clone())])),
            ..ImageConfig::default()
        }
    }

    /// The single image layer around the built binary `binary`.
    pub fn layer(&self, binary: &Path) -> Result<Layer, linuxkit_local::LocalError> {
        let mut l = Layer::new();
        l.file(&self.bin_path(), 0o755, binary)?;
        for d in &self.dirs {
            l.dir(d, 0o755)?;
        }
        Ok(l)
    }
}

/// Looks up `package` (and its binary `bin`, default: the one named like the package, else
/// the only one) in `meta` and computes its label and tag.
pub fn package_image(
    meta: &Metadata,
    reference: &str,
    package: &str,
    bin: Option<&str>,
) -> Result<PackageImage, PkgError> {
    let root = meta.workspace_root.as_std_path();
    let pkg = find_package(meta, package).ok_or_else(|| PkgError::NoPackage {
        reference: reference.to_string(),
        package: package.to_string(),
        workspace: root.to_path_buf(),
    })?;
    let bins: Vec<&str> = pkg
        .targets
        .iter()
        .filter(|t| t.is_kind(TargetKind::Bin))
        .map(|t| t.name.as_str())
        .collect();
    let chosen = match bin {
        Some(b) => bins.iter().find(|x| **x == b).copied(),
        None if bins.contains(&package) => Some(package),
        None if bins.len() == 1 => Some(bins[0]),
        None => None,
    };
    let bin = chosen.ok_or_else(|| PkgError::NoBinary {
        reference: reference.to_string(),
        package: package.to_string(),
        bin: bin
            .unwrap_or("(default: name it with .<binary>)")
            .to_string(),
        have: bins.join(", "),
    })?;
    let manifest = pkg.manifest_path.as_std_path().to_path_buf();
    let bad = |reason: String| PkgError::Metadata {
        manifest: manifest.clone(),
        reason,
    };
    let lk = pkg.metadata.get("linuxkit").cloned().unwrap_or(Value::Null);
    let per_bin = lk.get("bin").and_then(|b| b.get(bin));
    let str_of = |v: Option<&Value>, key: &str, default: &str| -> Result<String, PkgError> {
        match v {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(bad(format!("`{key}` must be a string"))),
        }
    };
    let org = str_of(lk.get("org"), "org", DEFAULT_ORG)?;
    let bin_dir = str_of(
        per_bin.and_then(|b| b.get("path")).or(lk.get("path")),
        "path",
        "/usr/bin",
    )?;
    if !bin_dir.starts_with('/') {
        return Err(bad(format!("`path` must be absolute, not {bin_dir:?}")));
    }
    let dirs = match per_bin.and_then(|b| b.get("dirs")).or(lk.get("dirs")) {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|d| d.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("`dirs` must be a list of strings".to_string()))?,
        Some(_) => return Err(bad("`dirs` must be a list of strings".to_string())),
    };
    let config = per_bin.and_then(|b| b.get("config")).or(lk.get("config"));
    let label = config
        .map(|c| label_json(c).map_err(|r| bad(format!("config: {r}"))))
        .transpose()?;

    let mut h = Sha256::new();
    let mut seen = BTreeSet::new();
    hash_package_sources(meta, pkg, &mut h, &mut seen)?;
    let lock = root.join("Cargo.lock");
    h.update(b"\0Cargo.lock\0");
    if let Ok(bytes) = fs::read(&lock) {
        h.update(&bytes);
    }
    h.update(b"\0metadata\0");
    h.update(serde_json::to_vec(&lk).unwrap_or_default());
    h.update(format!("\0bin {bin}\0target {TARGET}\0rustflags {RUSTFLAGS}").as_bytes());
    let tag = hex::encode(h.finalize())[..40].to_string();
    Ok(PackageImage {
        package: package.to_string(),
        bin: bin.to_string(),
        manifest,
        org,
        bin_dir,
        dirs,
        label,
        tag,
    })
}

fn find_package<'m>(meta: &'m Metadata, name: &str) -> Option<&'m Package> {
    meta.packages.iter().find(|p| p.name.as_str() == name)
}

/// The canonical label JSON of a `[package.metadata.linuxkit.config]` table: validated as a
/// `services` entry (the model rejects unknown keys), then serialised without name and image.
pub fn label_json(config: &Value) -> Result<String, String> {
    let Value::Object(map) = config else {
        return Err("must be a table".to_string());
    };
    if map.contains_key("name") || map.contains_key("image") {
        return Err("`name` and `image` cannot be set in the label".to_string());
    }
    let mut map = map.clone();
    map.insert("name".into(), "label".into());
    map.insert("image".into(), "label".into());
    let c: linuxkit_dsl::Container =
        serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
    let mut v = serde_json::to_value(&c).map_err(|e| e.to_string())?;
    if let Value::Object(m) = &mut v {
        m.remove("name");
        m.remove("image");
    }
    serde_json::to_string(&v).map_err(|e| e.to_string())
}

/// Hashes the files of `pkg`'s directory (and, recursively, of its path dependencies):
/// relative path, mode and content in path order, skipping `target/`, hidden entries and
/// nested packages.
fn hash_package_sources(
    meta: &Metadata,
    pkg: &Package,
    h: &mut Sha256,
    seen: &mut BTreeSet<PathBuf>,
) -> Result<(), PkgError> {
    let dir = pkg
        .manifest_path
        .parent()
        .map(|p| p.as_std_path().to_path_buf())
        .unwrap_or_default();
    if !seen.insert(dir.clone()) {
        return Ok(());
    }
    h.update(format!("\0package {}\0", pkg.name.as_str()).as_bytes());
    hash_tree(&dir, &dir, h)?;
    for dep in &pkg.dependencies {
        if dep.kind == cargo_metadata::DependencyKind::Development {
            continue;
        }
        if let Some(p) = find_package(meta, &dep.name) {
            if dep.path.is_some() {
                hash_package_sources(meta, p, h, seen)?;
            }
        }
    }
    Ok(())
}

/// Hashes the tree under `dir` (see [`hash_package_sources`]); public for `dir:` sources.
pub fn hash_tree(base: &Path, dir: &Path, h: &mut Sha256) -> Result<(), PkgError> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let path = e.path();
        if name.starts_with('.') || (dir == base && name == "target") {
            continue;
        }
        let rel = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .display()
            .to_string();
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        if meta.file_type().is_symlink() {
            let t = fs::read_link(&path).map_err(io(&path))?;
            h.update(format!("L {rel}\0{}\0", t.display()).as_bytes());
        } else if meta.is_dir() {
            // A nested package is hashed as its own package, if at all.
            if path.join("Cargo.toml").is_file() {
                continue;
            }
            h.update(format!("D {rel}\0").as_bytes());
            hash_tree(base, &path, h)?;
        } else if meta.is_file() {
            h.update(
                format!(
                    "F {rel}\0{:o}\0{}\0",
                    meta.permissions().mode() & 0o777,
                    meta.len()
                )
                .as_bytes(),
            );
            let mut f = fs::File::open(&path).map_err(io(&path))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f.read(&mut buf).map_err(io(&path))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
    }
    Ok(())
}

/// What `rustc -vV` says (the compiler of static builds: `$RUSTC`, else `rustc`), or
/// `unknown` when it cannot be run. Part of a `cargo:` image's build-cache key.
pub fn compiler_version() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Builds `bin` of `package` as a static release binary into `target_dir`; returns its path.
pub fn build_static(
    workspace: &Path,
    target_dir: &Path,
    package: &str,
    bin: &str,
    offline: bool,
) -> Result<PathBuf, PkgError> {
    build_static_for(
        workspace, target_dir, package, bin, offline, "amd64", TARGET,
    )
}

/// [`build_static`] for OCI architecture `arch` with Rust target `triple` (see
/// [`crate::target::target_for`]); across architectures Debian's cross linker is used.
pub fn build_static_for(
    workspace: &Path,
    target_dir: &Path,
    package: &str,
    bin: &str,
    offline: bool,
    arch: &str,
    triple: &str,
) -> Result<PathBuf, PkgError> {
    let mut cmd = static_cargo_build(target_dir, arch, triple, offline);
    cmd.current_dir(workspace)
        .args(["-p", package, "--bin", bin]);
    let described = format!(
        "CARGO_TARGET_DIR={} RUSTFLAGS='{RUSTFLAGS}' cargo build --release -p {package} --bin {bin} --target {triple}{}",
        target_dir.display(),
        if offline { " --offline" } else { "" }
    );
    run_cargo(cmd, described)?;
    Ok(target_dir.join(triple).join("release").join(bin))
}

/// `cargo build --release --quiet --target TRIPLE` of static binaries (this module's
/// [`RUSTFLAGS`], stripped) into `target_dir`, with Debian's cross linker for another
/// architecture; the caller adds what to build.
pub(crate) fn static_cargo_build(
    target_dir: &Path,
    arch: &str,
    triple: &str,
    offline: bool,
) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--quiet", "--target", triple]);
    crate::target::cross_env(&mut cmd, arch, triple);
    if offline {
        cmd.arg("--offline");
    }
    cmd.env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTFLAGS", RUSTFLAGS)
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// Runs a cargo build; on failure the error names `described` and holds the exit status and
/// the last 30 lines cargo printed.
pub(crate) fn run_cargo(mut cmd: Command, described: String) -> Result<(), PkgError> {
    let out = cmd.output().map_err(|e| PkgError::Tool {
        command: described.clone(),
        message: format!("cannot run {}: {e}", Path::new(cmd.get_program()).display()),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        return Err(PkgError::Tool {
            command: described,
            message: format!(
                "{}\n{}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_validated_and_canonical() {
        let v = serde_json::json!({"net": "host", "capabilities": ["CAP_NET_BIND_SERVICE"]});
        let l = label_json(&v).unwrap();
        let back: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(back, v);
        assert!(label_json(&serde_json::json!({"nosuchkey": 1}))
            .unwrap_err()
            .contains("nosuchkey"));
        assert!(label_json(&serde_json::json!({"name": "x"})).is_err());
        assert!(label_json(&serde_json::json!(["x"])).is_err());
    }
}
