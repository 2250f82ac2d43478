//! Local image sources: images built from the workspace instead of pulled from a registry
//! (a cargo-linuxkit extension of LinuxKit's image strings, flagged by `export`).
//!
//! ```text
//! cargo:PACKAGE[.BINARY]
//! kernel:host[?modules=a,b&version=V] | kernel:debian[?arch=A&modules=..&dtbs=..] | kernel:PATH[?modules=..&version=V]
//! init:linuxkit-init[?busybox=1] | init:linuxkit-update
//! dir:PATH
//! ```
//!
//! [`image_source`](crate::image_source) checks with [`LocalSource::parse`], so what the macros
//! and the DSL accept is exactly what `linuxkit-pkg` builds.

use std::fmt;
use std::path::PathBuf;

/// Schemes of image sources built locally from the workspace. Registry references never start
/// with these: `cargo:x` would otherwise be read as `docker.io/library/cargo:x`.
pub const LOCAL_SCHEMES: [&str; 4] = ["cargo:", "kernel:", "init:", "dir:"];

/// The package of `init:linuxkit-init`, the embedded init.
pub const INIT_PACKAGE: &str = "linuxkit-init";
/// The package of `init:linuxkit-update`, the embedded A/B update agent.
pub const UPDATE_PACKAGE: &str = "linuxkit-update";

/// Is `s` a local image source (`cargo:PACKAGE`, `kernel:host?modules=..`, `init:linuxkit-init`,
/// `dir:PATH`)? Only the scheme is looked at; [`LocalSource::parse`] checks the rest.
pub fn is_local_source(s: &str) -> bool {
    LOCAL_SCHEMES.iter().any(|scheme| s.starts_with(scheme))
}

/// A local source that does not follow its scheme's grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSourceError {
    /// The source as written.
    pub reference: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl fmt::Display for LocalSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid local image reference {:?}: {}",
            self.reference, self.reason
        )
    }
}

impl std::error::Error for LocalSourceError {}

/// Where a local kernel comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelFile {
    /// The host's newest `/boot/vmlinuz-*` with its `/lib/modules/<version>`.
    Host,
    /// A bzImage path (relative paths are relative to the workspace root).
    Path(PathBuf),
    /// `kernel:debian`: Debian's `linux-image-<release>-<arch>` package file from the package
    /// directories (`LINUXKIT_DEBIAN_PACKAGES`, see `linuxkit_debian`).
    Debian {
        /// `arch=` (OCI spelling); `None`: the architecture being built.
        arch: Option<String>,
        /// `dtbs=`: device-tree directories of the package to add as `boot/dtb/<dir>/`.
        dtbs: Vec<String>,
    },
}

/// A parsed local reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSource {
    /// `cargo:<package>` or `cargo:<package>.<bin>`.
    Cargo {
        /// The workspace package.
        package: String,
        /// The binary target (default: the package's binary named like the package, or its
        /// only binary).
        bin: Option<String>,
    },
    /// `kernel:host?modules=..`, `kernel:<path>?modules=..&version=..` or
    /// `kernel:debian?arch=..&modules=..&dtbs=..`.
    Kernel {
        /// The bzImage.
        file: KernelFile,
        /// Modules to include (with their dependencies).
        modules: Vec<String>,
        /// Kernel release of a `kernel:<path>` (default: from a `vmlinuz-<version>` file name).
        version: Option<String>,
    },
    /// `init:linuxkit-init` (optionally `?busybox=1` for a debugging userland).
    Init {
        /// Add the host's busybox-static.
        busybox: bool,
    },
    /// `init:linuxkit-update`: the A/B update agent embedded in cargo-linuxkit.
    Update,
    /// `dir:<path>`.
    Dir {
        /// The directory, relative to the workspace root (or absolute).
        path: PathBuf,
    },
}

fn split_query(rest: &str) -> (&str, Vec<(&str, &str)>) {
    match rest.split_once('?') {
        Some((p, q)) => (
            p,
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
                .collect(),
        ),
        None => (rest, Vec::new()),
    }
}

impl LocalSource {
    /// Parses a local image source (one of [`LOCAL_SCHEMES`]).
    pub fn parse(reference: &str) -> Result<Self, LocalSourceError> {
        let bad = |reason: &str| LocalSourceError {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = reference
            .split_once(':')
            .ok_or_else(|| bad("expected cargo:, kernel:, init: or dir:"))?;
        let (path, query) = split_query(rest);
        let known = |allowed: &[&str]| -> Result<(), LocalSourceError> {
            match query.iter().find(|(k, _)| !allowed.contains(k)) {
                Some((k, _)) => Err(bad(&format!(
                    "unknown option {k:?} (allowed: {})",
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ))),
                None => Ok(()),
            }
        };
        let get = |k: &str| query.iter().find(|(q, _)| *q == k).map(|(_, v)| *v);
        match scheme {
            "cargo" => {
                known(&[])?;
                // `<package>.<bin>`: package names never contain '.', and the whole reference
                // stays a valid registry tag (so every reference parser agrees on it).
                let (package, bin) = match path.split_once('.') {
                    Some((p, b)) => (p, Some(b)),
                    None => (path, None),
                };
                let ok = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                };
                if !ok(package) || bin.is_some_and(|b| !ok(b)) {
                    return Err(bad("expected cargo:<package> or cargo:<package>.<binary>"));
                }
                Ok(LocalSource::Cargo {
                    package: package.to_string(),
                    bin: bin.map(str::to_string),
                })
            }
            "kernel" => {
                let list = |k: &str| -> Vec<String> {
                    get(k)
                        .map(|m| {
                            m.split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let file = match path {
                    "host" => {
                        known(&["modules", "version"])?;
                        KernelFile::Host
                    }
                    "debian" => {
                        known(&["modules", "arch", "dtbs"])?;
                        KernelFile::Debian {
                            arch: get("arch").filter(|a| !a.is_empty()).map(str::to_string),
                            dtbs: list("dtbs"),
                        }
                    }
                    "" => {
                        return Err(bad(
                            "expected kernel:host, kernel:debian or kernel:<path to bzImage>",
                        ))
                    }
                    p => {
                        known(&["modules", "version"])?;
                        KernelFile::Path(PathBuf::from(p))
                    }
                };
                let modules = list("modules");
                Ok(LocalSource::Kernel {
                    file,
                    modules,
                    version: get("version").map(str::to_string),
                })
            }
            "init" if path == UPDATE_PACKAGE => {
                known(&[])?;
                Ok(LocalSource::Update)
            }
            "init" => {
                known(&["busybox"])?;
                if path != INIT_PACKAGE {
                    return Err(bad(
                        "the local images of this scheme are init:linuxkit-init and \
                         init:linuxkit-update",
                    ));
                }
                Ok(LocalSource::Init {
                    busybox: matches!(get("busybox"), Some("1" | "true" | "")),
                })
            }
            "dir" => {
                known(&[])?;
                if path.is_empty() {
                    return Err(bad("expected dir:<path>"));
                }
                Ok(LocalSource::Dir {
                    path: PathBuf::from(path),
                })
            }
            _ => Err(bad("expected cargo:, kernel:, init: or dir:")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme_and_rejects_bad_ones() {
        assert!(is_local_source("cargo:hello"));
        assert!(!is_local_source("linuxkit/init:v1"));
        assert!(!is_local_source("localhost:5000/cargo:x"));
        assert_eq!(
            LocalSource::parse("cargo:hello.net-up").unwrap(),
            LocalSource::Cargo {
                package: "hello".into(),
                bin: Some("net-up".into())
            }
        );
        assert_eq!(
            LocalSource::parse("kernel:host?modules=overlay,virtio_net").unwrap(),
            LocalSource::Kernel {
                file: KernelFile::Host,
                modules: vec!["overlay".into(), "virtio_net".into()],
                version: None
            }
        );
        assert_eq!(
            LocalSource::parse("kernel:debian?arch=arm64&modules=erofs&dtbs=broadcom").unwrap(),
            LocalSource::Kernel {
                file: KernelFile::Debian {
                    arch: Some("arm64".into()),
                    dtbs: vec!["broadcom".into()]
                },
                modules: vec!["erofs".into()],
                version: None
            }
        );
        assert_eq!(
            LocalSource::parse("init:linuxkit-init").unwrap(),
            LocalSource::Init { busybox: false }
        );
        assert_eq!(
            LocalSource::parse("init:linuxkit-update").unwrap(),
            LocalSource::Update
        );
        assert!(LocalSource::parse("init:linuxkit-update?busybox=1").is_err());
        assert_eq!(
            LocalSource::parse("init:linuxkit-init").unwrap(),
            LocalSource::Init { busybox: false }
        );
        assert_eq!(
            LocalSource::parse("dir:examples/x").unwrap(),
            LocalSource::Dir {
                path: "examples/x".into()
            }
        );
        for bad in [
            "cargo:",
            "cargo:a/b",
            "cargo:x?feature=y",
            "cargo:x.",
            "init:other",
            "kernel:",
            "kernel:host?arch=arm64",
            "kernel:debian?version=1",
            "dir:",
        ] {
            let e = LocalSource::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
