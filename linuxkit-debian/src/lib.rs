//! Debian package files (`.deb`) as a source of files for another architecture, read without
//! installing them: an arm64 kernel and its modules (`kernel:debian?arch=arm64`), systemd's
//! aarch64 UKI stub, an arm64 static busybox, U-Boot for the Raspberry Pi.
//!
//! Packages are looked up by name and architecture in the **package directories**: the
//! colon-separated list in `LINUXKIT_DEBIAN_PACKAGES`, then apt's download cache
//! `/var/cache/apt/archives`. Fill a directory with
//! `apt-get download linux-image-6.1.0-NN-arm64:arm64 busybox-static:arm64 ...` (after
//! `dpkg --add-architecture arm64` and `apt-get update`; `scripts/debian-packages` does this).
//!
//! A `.deb` is an `ar` archive whose `data.tar{,.xz,.gz}` member holds the files; [`Deb`] streams
//! that tar (never unpacking it onto the disk) and hands each entry to the caller.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// The environment variable naming the package directories (colon-separated).
pub const PACKAGES_ENV: &str = "LINUXKIT_DEBIAN_PACKAGES";
/// apt's download cache, searched after [`PACKAGES_ENV`].
pub const APT_ARCHIVES: &str = "/var/cache/apt/archives";

/// Why a package or a file in it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    /// No package file with this name and architecture in the package directories.
    #[error(
        "no Debian package {package}:{arch} in {searched}: download it with \
         `apt-get download {package}:{arch}` (after `dpkg --add-architecture {arch}` and \
         `apt-get update`) into a directory named by {PACKAGES_ENV}"
    )]
    NotFound {
        /// Package name (a prefix for names that embed a version, e.g. `linux-image-`).
        package: String,
        /// Debian architecture.
        arch: String,
        /// The directories searched.
        searched: String,
    },
    /// Reading the package failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The package file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The package is not a usable `.deb`.
    #[error("{path}: {message}")]
    Format {
        /// The package file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file the caller needs is not in the package.
    #[error("{path} holds no {file}")]
    MissingFile {
        /// The package file.
        path: PathBuf,
        /// The file looked for.
        file: String,
    },
}

/// Debian's architecture name for an OCI one (`amd64`, `arm64`, `riscv64`, `s390x` are the same;
/// OCI `arm` is Debian `armhf`).
pub fn debian_arch(oci: &str) -> &str {
    match oci {
        "arm" => "armhf",
        "386" => "i386",
        other => other,
    }
}

/// The package directories: [`PACKAGES_ENV`] then [`APT_ARCHIVES`].
pub fn package_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(PACKAGES_ENV)
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    dirs.retain(|d| !d.as_os_str().is_empty());
    dirs.push(PathBuf::from(APT_ARCHIVES));
    dirs
}

/// A package file found in the package directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The file.
    pub path: PathBuf,
    /// The package name from the file name (`linux-image-6.1.0-57-arm64`).
    pub name: String,
    /// The version from the file name, `%3a` decoded to `:`.
    pub version: String,
}

/// Splits `name_version_arch.deb`.
fn parse_file_name(file: &str) -> Option<(&str, String, &str)> {
    let stem = file.strip_suffix(".deb")?;
    let (rest, arch) = stem.rsplit_once('_')?;
    let (name, version) = rest.split_once('_')?;
    Some((name, version.replace("%3a", ":").replace("%3A", ":"), arch))
}

/// Finds package `name` for Debian architecture `arch` (`all` packages match too). With
/// `prefix`, any package whose name starts with `name` matches (the kernel's name carries its
/// release: `linux-image-` finds `linux-image-6.1.0-57-arm64`). The first directory holding a
/// match wins; within it the newest version (compared as Debian versions, roughly).
pub fn find(name: &str, arch: &str, prefix: bool) -> Result<Package, DebianError> {
    find_in(&package_dirs(), name, arch, prefix)
}

/// [`find`] in the given directories.
pub fn find_in(
    dirs: &[PathBuf],
    name: &str,
    arch: &str,
    prefix: bool,
) -> Result<Package, DebianError> {
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<Package> = rd
            .flatten()
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let (n, version, a) = parse_file_name(&file)?;
                let name_ok = if prefix {
                    n.starts_with(name)
                } else {
                    n == name
                };
                (name_ok && (a == arch || a == "all")).then(|| Package {
                    path: e.path(),
                    name: n.to_string(),
                    version,
                })
            })
            .collect();
        found.sort_by(|a, b| {
            compare_versions(&a.name, &b.name).then(compare_versions(&a.version, &b.version))
        });
        if let Some(p) = found.pop() {
            return Ok(p);
        }
    }
    Err(DebianError::NotFound {
        package: if prefix {
            format!("{name}*")
        } else {
            name.to_string()
        },
        arch: arch.to_string(),
        searched: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Orders versions and names with runs of digits compared as numbers (`6.1.0-10` after
/// `6.1.0-9`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<Result<u128, &str>> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(first) = rest.chars().next() {
            let digit = first.is_ascii_digit();
            let end = rest
                .find(|c: char| c.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(end);
            out.push(match run.parse() {
                Ok(n) if digit => Ok(n),
                _ => Err(run),
            });
            rest = tail;
        }
        out
    }
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

/// One `.deb` file.
#[derive(Debug, Clone)]
pub struct Deb {
    path: PathBuf,
}

/// One entry of a package's data: its normalised path (no leading `./` or `/`), its tar header,
/// and its contents.
pub struct Entry<'a> {
    /// The path inside the package, e.g. `boot/vmlinuz-6.1.0-57-arm64`.
    pub path: String,
    /// The tar header (type, mode, size).
    pub header: tar::Header,
    /// A symbolic or hard link's target, as written.
    pub link: Option<String>,
    /// The contents.
    pub data: &'a mut dyn Read,
}

impl Deb {
    /// The package file at `path`.
    pub fn open(path: impl Into<PathBuf>) -> Deb {
        Deb { path: path.into() }
    }

    /// The package file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl Fn(io::Error) -> DebianError + '_ {
        |source| DebianError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Streams the package's data tar, calling `f` for every entry in archive order until it
    /// returns `false`.
    pub fn for_each(
        &self,
        mut f: impl FnMut(Entry<'_>) -> Result<bool, DebianError>,
    ) -> Result<(), DebianError> {
        let file = File::open(&self.path).map_err(self.io())?;
        let mut archive = ar::Archive::new(BufReader::with_capacity(1 << 20, file));
        while let Some(member) = archive.next_entry() {
            let member = member.map_err(self.io())?;
            let name = String::from_utf8_lossy(member.header().identifier()).into_owned();
            let name = name.trim_end_matches('/').to_string();
            let reader: Box<dyn Read> = match name.as_str() {
                "data.tar" => Box::new(member),
                "data.tar.xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(member)),
                "data.tar.gz" => Box::new(flate2::read::GzDecoder::new(member)),
                n if n.starts_with("data.tar") => {
                    return Err(DebianError::Format {
                        path: self.path.clone(),
                        message: format!(
                            "its files are in {n}, a compression this tool does not read \
                             (xz, gzip and none are read)"
                        ),
                    })
                }
                _ => continue,
            };
            let mut tar = tar::Archive::new(reader);
            for entry in tar.entries().map_err(self.io())? {
                let mut entry = entry.map_err(self.io())?;
                let raw = entry.path_bytes().into_owned();
                let path = String::from_utf8_lossy(&raw);
                let path = path.trim_start_matches("./").trim_start_matches('/');
                let path = path.trim_end_matches('/').to_string();
                if path.is_empty() {
                    continue;
                }
                let header = entry.header().clone();
                let link = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned());
                if !f(Entry {
                    path,
                    header,
                    link,
                    data: &mut entry,
                })? {
                    return Ok(());
                }
            }
            return Ok(());
        }
        Err(DebianError::Format {
            path: self.path.clone(),
            message: "not a Debian package: no data.tar member".into(),
        })
    }

    /// The contents of the regular files at `paths` (normalised, e.g. `bin/busybox`), in the
    /// same order; an error names the first one missing. Symbolic links inside the package are
    /// followed once (Debian's usr-merge links such as `lib/ld-linux-aarch64.so.1`).
    pub fn read_files(&self, paths: &[&str]) -> Result<Vec<Vec<u8>>, DebianError> {
        let mut out: Vec<Option<Vec<u8>>> = vec![None; paths.len()];
        let mut links: Vec<(usize, String)> = Vec::new();
        let mut left = paths.len();
        self.for_each(|e| {
            if let Some(i) = paths.iter().position(|p| *p == e.path) {
                if out[i].is_none() {
                    if e.header.entry_type().is_symlink() {
                        let target = e.link.clone().unwrap_or_default();
                        links.push((i, resolve_link(&e.path, &target)));
                    } else {
                        let mut data = Vec::new();
                        e.data.read_to_end(&mut data).map_err(self.io())?;
                        out[i] = Some(data);
                        left -= 1;
                    }
                }
            }
            Ok(left > 0)
        })?;
        if !links.is_empty() {
            let targets: Vec<&str> = links.iter().map(|(_, t)| t.as_str()).collect();
            let resolved = self.read_files(&targets)?;
            for ((i, _), data) in links.iter().zip(resolved) {
                out[*i] = Some(data);
            }
        }
        out.into_iter()
            .zip(paths)
            .map(|(d, p)| {
                d.ok_or_else(|| DebianError::MissingFile {
                    path: self.path.clone(),
                    file: p.to_string(),
                })
            })
            .collect()
    }
}

/// The normalised path a symbolic link at `at` pointing to `target` names.
fn resolve_link(at: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        at.split('/').collect::<Vec<_>>()
    };
    if !target.starts_with('/') {
        parts.pop();
    }
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_versions() {
        assert_eq!(
            parse_file_name("busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb"),
            Some(("busybox-static", "1:1.35.0-4+deb12u1+b1".into(), "arm64"))
        );
        assert_eq!(parse_file_name("x.deb"), None);
        assert!(compare_versions("6.1.0-10-arm64", "6.1.0-9-arm64").is_gt());
        assert_eq!(
            resolve_link("lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu/ld.so"),
            "lib/aarch64-linux-gnu/ld.so"
        );
        assert_eq!(resolve_link("usr/bin/x", "/bin/y"), "bin/y");
        assert_eq!(resolve_link("usr/bin/x", "../lib/z"), "usr/lib/z");
    }

    /// Builds a small .deb (ar with data.tar.xz) the way dpkg-deb lays one out.
    fn make_deb(dir: &Path, name: &str) -> PathBuf {
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8], link: Option<&str>| {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o755);
            match link {
                Some(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    tar.append_link(&mut h, path, t).unwrap();
                }
                None => {
                    h.set_size(data.len() as u64);
                    tar.append_data(&mut h, path, data).unwrap();
                }
            }
        };
        add("./bin/busybox", b"BB", None);
        add("./bin/sh", b"", Some("busybox"));
        let data = tar.into_inner().unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        io::Write::write_all(&mut xz, &data).unwrap();
        let xz = xz.finish().unwrap();
        let path = dir.join(name);
        let mut a = ar::Builder::new(File::create(&path).unwrap());
        a.append(
            &ar::Header::new(b"debian-binary".to_vec(), 4),
            &b"2.0\n"[..],
        )
        .unwrap();
        a.append(
            &ar::Header::new(b"data.tar.xz".to_vec(), xz.len() as u64),
            &xz[..],
        )
        .unwrap();
        path
    }

    #[test]
    fn reads_files_through_links_and_finds_packages() {
        let d = tempfile::tempdir().unwrap();
        make_deb(d.path(), "busybox-static_1%3a1.35_arm64.deb");
        make_deb(d.path(), "busybox-static_1%3a1.36_arm64.deb");
        make_deb(d.path(), "busybox-static_1%3a1.36_amd64.deb");
        let p = find_in(&[d.path().into()], "busybox-static", "arm64", false).unwrap();
        assert_eq!(p.version, "1:1.36");
        let files = Deb::open(&p.path)
            .read_files(&["bin/sh", "bin/busybox"])
            .unwrap();
        assert_eq!(files, [b"BB".to_vec(), b"BB".to_vec()]);
        let err = Deb::open(&p.path).read_files(&["nope"]).unwrap_err();
        assert!(err.to_string().contains("holds no nope"), "{err}");
        let err = find_in(&[d.path().into()], "runc", "arm64", false).unwrap_err();
        assert!(
            err.to_string().contains("apt-get download runc:arm64"),
            "{err}"
        );
    }
}
