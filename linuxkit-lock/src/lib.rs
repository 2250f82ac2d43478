//! `linuxkit.lock`: every registry image a package's definitions use, pinned to a digest.
//!
//! The file sits next to the package's `Cargo.toml`. It is TOML, written in one canonical form
//! (entries sorted by reference, one blank line between entries, one platform per line) so that
//! the same inputs always give the same bytes, diffs show one image per hunk and a merge
//! conflict is resolved by keeping either block (or re-running `cargo linuxkit lock`):
//!
//! ```toml
//! # linuxkit.lock: the registry images of this package's definitions, pinned to digests.
//! # Written by `cargo linuxkit lock`; bump with `cargo linuxkit update [IMAGE...]`.
//! version = 1
//!
//! [[image]]
//! reference = "linuxkit/kernel:6.6.71"
//! digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
//!
//! [image.platforms]
//! "linux/amd64" = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
//! "linux/arm64" = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
//! ```
//!
//! - `reference` is the image string exactly as the definition writes it (the key: the
//!   compile-time check compares literals with it, no normalisation).
//! - `digest` is the root the tag named when it was locked: a manifest list / OCI index for
//!   multi-arch images, else the manifest. Builds pull `reference@digest`.
//! - `platforms` are the per-platform manifest digests of that root (informational: they let a
//!   review see which architectures changed).
//!
//! Local image sources (`cargo:`, `kernel:`, `init:`, `dir:`) are built from the workspace and
//! tagged by content, and references written with a digest are pinned already: neither is
//! locked ([`is_lockable`] is false for them).
//!
//! This crate has no engine dependencies: `linuxkit-macros` reads the file at compile time.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use linuxkit_validate::Digest;

/// The file name, next to the package's `Cargo.toml`.
pub const FILE_NAME: &str = "linuxkit.lock";

/// The format version written by this crate.
pub const VERSION: u32 = 1;

/// What the header comment says.
const HEADER: &str =
    "# linuxkit.lock: the registry images of this package's definitions, pinned to digests.\n\
# Written by `cargo linuxkit lock`; bump with `cargo linuxkit update [IMAGE...]`.\n";

/// A lockfile that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// I/O on the file.
    #[error("{path}: {source}")]
    Io {
        /// The lockfile.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid TOML, or not this format.
    #[error("{path}: {message}; fix it or delete it and run `cargo linuxkit lock`")]
    Parse {
        /// The lockfile.
        path: PathBuf,
        /// What is wrong (with line and column when TOML reports them).
        message: String,
    },
}

/// One locked image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedImage {
    /// The root digest (index or manifest) the reference resolved to.
    pub digest: Digest,
    /// Per-platform manifest digests, keyed `os/arch[/variant]`.
    pub platforms: BTreeMap<String, Digest>,
}

/// The parsed lockfile: reference as written -> locked image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lockfile {
    /// The entries, sorted by reference.
    pub images: BTreeMap<String, LockedImage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: u32,
    #[serde(default)]
    image: Vec<RawImage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    reference: String,
    digest: String,
    #[serde(default)]
    platforms: BTreeMap<String, String>,
}

/// Is `reference` a registry image that belongs in the lockfile? Local sources are built from
/// the workspace, and a reference with a digest (`name:tag@sha256:...`) is pinned already.
pub fn is_lockable(reference: &str) -> bool {
    !reference.is_empty()
        && !reference.contains('@')
        && !linuxkit_validate::is_local_source(reference)
}

/// The lockfile path of the package whose `Cargo.toml` is in `package_dir`.
pub fn path_in(package_dir: &Path) -> PathBuf {
    package_dir.join(FILE_NAME)
}

impl Lockfile {
    /// Parses lockfile text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Lockfile, LockError> {
        let bad = |message: String| LockError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| bad(e.to_string().trim().into()))?;
        if raw.version != VERSION {
            return Err(bad(format!(
                "unsupported version {} (this cargo-linuxkit writes version {VERSION})",
                raw.version
            )));
        }
        let mut images = BTreeMap::new();
        for i in raw.image {
            let Ok(digest) = Digest::parse(&i.digest) else {
                return Err(bad(format!(
                    "image {:?}: digest {:?} is not sha256:<64 lowercase hex digits>",
                    i.reference, i.digest
                )));
            };
            let mut platforms = BTreeMap::new();
            for (p, d) in &i.platforms {
                let Ok(d) = Digest::parse(d) else {
                    return Err(bad(format!(
                        "image {:?}: platform {p} digest {d:?} is not sha256:<64 lowercase hex digits>",
                        i.reference
                    )));
                };
                platforms.insert(p.clone(), d);
            }
            let entry = LockedImage { digest, platforms };
            if images.insert(i.reference.clone(), entry).is_some() {
                return Err(bad(format!(
                    "image {:?} is listed twice (a merge left both sides?): keep one entry",
                    i.reference
                )));
            }
        }
        Ok(Lockfile { images })
    }

    /// Reads the lockfile at `path`; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Lockfile>, LockError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Lockfile::parse(&text, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The canonical text of the lockfile (see the crate docs).
    pub fn render(&self) -> String {
        let mut s = String::from(HEADER);
        let _ = writeln!(s, "version = {VERSION}");
        for (reference, img) in &self.images {
            let _ = write!(
                s,
                "\n[[image]]\nreference = {}\ndigest = {}\n",
                quote(reference),
                quote(&img.digest)
            );
            if !img.platforms.is_empty() {
                s.push_str("\n[image.platforms]\n");
                for (p, d) in &img.platforms {
                    let _ = writeln!(s, "{} = {}", quote(p), quote(d));
                }
            }
        }
        s
    }

    /// Writes the canonical text to `path` through a temporary file in the same directory and
    /// a rename: readers never see a partial lockfile.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = dir.join(format!(".{FILE_NAME}.{}.partial", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// The locked entry of `reference` (as written).
    pub fn get(&self, reference: &str) -> Option<&LockedImage> {
        self.images.get(reference)
    }

    /// `reference@digest` when `reference` is locked and not already pinned by digest.
    pub fn pinned(&self, reference: &str) -> Option<String> {
        if reference.contains('@') {
            return None;
        }
        self.get(reference)
            .map(|i| format!("{reference}@{}", i.digest))
    }

    /// What keeps this lockfile from matching `references` (the registry references the
    /// package's definitions use now): references not locked, and entries no longer used.
    pub fn staleness<'a>(&self, references: impl IntoIterator<Item = &'a str>) -> Staleness {
        let used: std::collections::BTreeSet<&str> =
            references.into_iter().filter(|r| is_lockable(r)).collect();
        Staleness {
            missing: used
                .iter()
                .filter(|r| !self.images.contains_key(**r))
                .map(|r| r.to_string())
                .collect(),
            unused: self
                .images
                .keys()
                .filter(|r| !used.contains(r.as_str()))
                .cloned()
                .collect(),
        }
    }
}

/// Does the package manifest `text` (a `Cargo.toml`) opt in to compile-time lock checks with
/// `[package.metadata.linuxkit] locked = true`? `path` is only used in messages.
pub fn manifest_requires_lock(text: &str, path: &Path) -> Result<bool, LockError> {
    let bad = |message: String| LockError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let doc: toml::Table = toml::from_str(text).map_err(|e| bad(e.to_string().trim().into()))?;
    let locked = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("linuxkit"))
        .and_then(|l| l.get("locked"));
    match locked {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(other) => Err(bad(format!(
            "[package.metadata.linuxkit] locked must be true or false, not a {}",
            other.type_str()
        ))),
    }
}

/// How a lockfile differs from the references in use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Staleness {
    /// Used but not locked.
    pub missing: Vec<String>,
    /// Locked but no longer used.
    pub unused: Vec<String>,
}

impl Staleness {
    /// Nothing to change.
    pub fn is_up_to_date(&self) -> bool {
        self.missing.is_empty() && self.unused.is_empty()
    }
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("not locked: {}", self.missing.join(", ")));
        }
        if !self.unused.is_empty() {
            parts.push(format!("no longer used: {}", self.unused.join(", ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::from_sha256_hex(&c.to_string().repeat(64)).unwrap()
    }

    fn sample() -> Lockfile {
        let mut l = Lockfile::default();
        l.images.insert(
            "linuxkit/kernel:6.6.71".into(),
            LockedImage {
                digest: d('1'),
                platforms: [
                    ("linux/arm64".into(), d('3')),
                    ("linux/amd64".into(), d('2')),
                ]
                .into_iter()
                .collect(),
            },
        );
        l.images.insert(
            "alpine:3.20".into(),
            LockedImage {
                digest: d('4'),
                platforms: BTreeMap::new(),
            },
        );
        l
    }

    #[test]
    fn renders_canonically_and_round_trips() {
        let l = sample();
        let text = l.render();
        let expected = format!(
            "{HEADER}version = 1\n\n[[image]]\nreference = \"alpine:3.20\"\ndigest = \"{}\"\n\n\
             [[image]]\nreference = \"linuxkit/kernel:6.6.71\"\ndigest = \"{}\"\n\n\
             [image.platforms]\n\"linux/amd64\" = \"{}\"\n\"linux/arm64\" = \"{}\"\n",
            d('4'),
            d('1'),
            d('2'),
            d('3')
        );
        assert_eq!(text, expected);
        let back = Lockfile::parse(&text, Path::new(FILE_NAME)).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.render(), text);
    }

    #[test]
    fn rejects_duplicates_bad_digests_and_versions_with_the_path() {
        let text = format!(
            "version = 1\n[[image]]\nreference = \"a:1\"\ndigest = \"{0}\"\n[[image]]\nreference = \"a:1\"\ndigest = \"{0}\"\n",
            d('a')
        );
        let e = Lockfile::parse(&text, Path::new("x/linuxkit.lock")).unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("x/linuxkit.lock: "), "{m}");
        assert!(m.contains("\"a:1\" is listed twice"), "{m}");

        let e = Lockfile::parse(
            "version = 1\n[[image]]\nreference = \"a:1\"\ndigest = \"sha256:ab\"\n",
            Path::new("l"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not sha256:<64"), "{e}");
        let e = Lockfile::parse("version = 2\n", Path::new("l")).unwrap_err();
        assert!(e.to_string().contains("unsupported version 2"), "{e}");
        let e = Lockfile::parse("version = 1\n[[image]]\nref = 1\n", Path::new("l")).unwrap_err();
        assert!(e.to_string().contains("run `cargo linuxkit lock`"), "{e}");
    }

    #[test]
    fn pins_and_reports_staleness() {
        let l = sample();
        assert_eq!(
            l.pinned("alpine:3.20").as_deref(),
            Some(format!("alpine:3.20@{}", d('4')).as_str())
        );
        assert_eq!(l.pinned("alpine:3.21"), None);
        let pinned = format!("busybox:1@{}", d('5'));
        let s = l.staleness(["alpine:3.20", "cargo:hello", "redis:7", pinned.as_str()]);
        assert_eq!(s.missing, ["redis:7"]);
        assert_eq!(s.unused, ["linuxkit/kernel:6.6.71"]);
        assert!(!s.is_up_to_date());
        assert_eq!(
            s.to_string(),
            "not locked: redis:7; no longer used: linuxkit/kernel:6.6.71"
        );
        assert!(l
            .staleness([
                "alpine:3.20",
                "linuxkit/kernel:6.6.71",
                "init:linuxkit-init"
            ])
            .is_up_to_date());
    }

    #[test]
    fn manifests_opt_in_with_metadata_locked() {
        let p = Path::new("Cargo.toml");
        let yes = "[package]\nname = \"a\"\n[package.metadata.linuxkit]\nlocked = true\n";
        assert!(manifest_requires_lock(yes, p).unwrap());
        assert!(!manifest_requires_lock("[package]\nname = \"a\"\n", p).unwrap());
        let e = manifest_requires_lock("[package.metadata.linuxkit]\nlocked = 1\n", p).unwrap_err();
        assert!(
            e.to_string().contains("locked must be true or false"),
            "{e}"
        );
    }

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        assert_eq!(Lockfile::read(&p).unwrap(), None);
        sample().write(&p).unwrap();
        assert_eq!(Lockfile::read(&p).unwrap(), Some(sample()));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE_NAME]);
    }
}
