//! OS packages from the package databases of an image's root filesystem.
//!
//! The caller streams an image's flattened layers and hands over the contents of the entries
//! [`database_kind`] recognises (the topmost version of each path: the files as the container
//! sees them); nothing is extracted to disk.
//!
//! - dpkg: `var/lib/dpkg/status` (paragraphs; only packages whose status is `installed`), and
//!   the one-paragraph files of `var/lib/dpkg/status.d/` that distroless images carry instead;
//! - apk: `lib/apk/db/installed` (records of `X:value` lines);
//! - `etc/os-release` (or `usr/lib/os-release`): the distribution, for package URLs.

use packageurl::PackageUrl;

/// The paths whose contents [`OsPackages`] reads.
pub const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// The directory of distroless per-package dpkg status files.
pub const DPKG_STATUS_D: &str = "var/lib/dpkg/status.d/";
/// apk's database of installed packages.
pub const APK_INSTALLED: &str = "lib/apk/db/installed";
/// The os-release files, in order of preference.
pub const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// The largest database read (real ones are a few MiB); a larger entry is ignored.
pub const MAX_DATABASE: u64 = 64 << 20;

/// Which database an entry of an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// dpkg's status file, or one file of `status.d`.
    Dpkg,
    /// apk's installed database.
    Apk,
    /// An os-release file.
    OsRelease,
}

/// Is the entry `name` (relative, as in a layer) a database whose contents matter?
pub fn database_kind(name: &[u8]) -> Option<Database> {
    let name = std::str::from_utf8(name).ok()?;
    if name == DPKG_STATUS {
        return Some(Database::Dpkg);
    }
    if let Some(file) = name.strip_prefix(DPKG_STATUS_D) {
        // Distroless also keeps `<pkg>.md5sums` there.
        let plain = !file.is_empty() && !file.contains('/') && !file.ends_with(".md5sums");
        return plain.then_some(Database::Dpkg);
    }
    if name == APK_INSTALLED {
        return Some(Database::Apk);
    }
    if OS_RELEASE.contains(&name) {
        return Some(Database::OsRelease);
    }
    None
}

/// The package manager of an OS package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Manager {
    /// Debian's dpkg.
    Dpkg,
    /// Alpine's apk.
    Apk,
}

/// One installed OS package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OsPackage {
    /// dpkg or apk.
    pub manager: Manager,
    /// The package name.
    pub name: String,
    /// The version.
    pub version: String,
    /// The architecture (`amd64`, `x86_64`, `all`, `noarch`).
    pub arch: Option<String>,
    /// The source package (dpkg `Source`) or origin (apk `o:`), when it differs from the name.
    pub source: Option<String>,
    /// The declared license (apk `L:`); dpkg has none in its database.
    pub license: Option<String>,
}

/// The distribution of an image (`ID` and `VERSION_ID` of os-release).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `debian`, `alpine`, `ubuntu`, ...
    pub id: Option<String>,
    /// `12`, `3.20.3`, ...
    pub version_id: Option<String>,
}

/// Parses an os-release file (`KEY=value`, values optionally quoted).
pub fn parse_os_release(text: &[u8]) -> OsRelease {
    let text = String::from_utf8_lossy(text);
    let mut out = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v)
            .to_string();
        match k.trim() {
            "ID" if !v.is_empty() => out.id = Some(v),
            "VERSION_ID" if !v.is_empty() => out.version_id = Some(v),
            _ => {}
        }
    }
    out
}

/// The fields of one deb822 paragraph (continuation lines are dropped: no field read here
/// spans lines).
fn paragraphs(text: &str) -> Vec<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim(), v.trim()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The installed packages of a dpkg status file (or a `status.d` file). Paragraphs without a
/// name or version, and packages not installed (`Status` not ending in `installed`, e.g.
/// removed with their configuration kept), are skipped.
pub fn parse_dpkg_status(text: &[u8]) -> Vec<OsPackage> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for p in paragraphs(&text) {
        let get = |k: &str| {
            p.iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(k))
                .map(|x| x.1)
        };
        let (Some(name), Some(version)) = (get("Package"), get("Version")) else {
            continue;
        };
        if get("Status").is_some_and(|s| !s.ends_with(" installed")) {
            continue;
        }
        let source = get("Source")
            .and_then(|s| s.split_whitespace().next())
            .filter(|s| *s != name)
            .map(str::to_string);
        out.push(OsPackage {
            manager: Manager::Dpkg,
            name: name.to_string(),
            version: version.to_string(),
            arch: get("Architecture").map(str::to_string),
            source,
            license: None,
        });
    }
    out
}

/// The packages of apk's installed database.
pub fn parse_apk_installed(text: &[u8]) -> Vec<OsPackage> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut cur: Vec<(char, &str)> = Vec::new();
    let mut flush = |cur: &mut Vec<(char, &str)>| {
        let get = |k: char| cur.iter().find(|(f, _)| *f == k).map(|x| x.1);
        if let (Some(name), Some(version)) = (get('P'), get('V')) {
            out.push(OsPackage {
                manager: Manager::Apk,
                name: name.to_string(),
                version: version.to_string(),
                arch: get('A').map(str::to_string),
                source: get('o').filter(|o| *o != name).map(str::to_string),
                license: get('L').map(str::to_string),
            });
        }
        cur.clear();
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut cur);
            continue;
        }
        let mut chars = line.chars();
        if let (Some(k), Some(':')) = (chars.next(), chars.next()) {
            cur.push((k, &line[2..]));
        }
    }
    flush(&mut cur);
    out
}

/// The databases of one image, as they were streamed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsPackages {
    /// The packages found, sorted, without duplicates.
    pub packages: Vec<OsPackage>,
    /// The image's os-release (the first of [`OS_RELEASE`] that was a regular file).
    pub release: OsRelease,
    release_rank: Option<usize>,
}

impl OsPackages {
    /// Reads the contents of an entry named `name` that [`database_kind`] recognised.
    pub fn add(&mut self, name: &[u8], contents: &[u8]) {
        match database_kind(name) {
            Some(Database::Dpkg) => self.packages.extend(parse_dpkg_status(contents)),
            Some(Database::Apk) => self.packages.extend(parse_apk_installed(contents)),
            Some(Database::OsRelease) => {
                let rank = OS_RELEASE.iter().position(|p| p.as_bytes() == name);
                if self.release_rank.is_none() || rank < self.release_rank {
                    self.release = parse_os_release(contents);
                    self.release_rank = rank;
                }
            }
            None => return,
        }
        self.packages.sort();
        self.packages.dedup();
    }

    /// The package URL of `p` in this image: `pkg:deb/<distro>/<name>@<version>?arch=..` or
    /// `pkg:apk/<distro>/...`; the distribution is os-release's `ID` (`debian` for dpkg and
    /// `alpine` for apk when the image has no os-release), with `distro=<ID>-<VERSION_ID>`.
    pub fn purl(&self, p: &OsPackage) -> Option<String> {
        let (ty, default) = match p.manager {
            Manager::Dpkg => ("deb", "debian"),
            Manager::Apk => ("apk", "alpine"),
        };
        let distro = self.release.id.as_deref().unwrap_or(default).to_lowercase();
        let mut purl = PackageUrl::new(ty, p.name.as_str()).ok()?;
        purl.with_namespace(distro.as_str()).ok()?;
        purl.with_version(p.version.as_str()).ok()?;
        if let Some(a) = &p.arch {
            purl.add_qualifier("arch", a.as_str()).ok()?;
        }
        if let (Some(id), Some(v)) = (&self.release.id, &self.release.version_id) {
            purl.add_qualifier("distro", format!("{id}-{v}")).ok()?;
        }
        Some(purl.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: bash\nStatus: install ok installed\nPriority: required\nArchitecture: amd64\nSource: bash (5.2.15-2)\nVersion: 5.2.15-2+b2\nDescription: GNU Bourne Again SHell\n Bash is an sh-compatible command language interpreter.\n\nPackage: oldpkg\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n";

    #[test]
    fn dpkg_status_lists_installed_packages_only() {
        let p = parse_dpkg_status(STATUS.as_bytes());
        let names: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [("bash", "5.2.15-2+b2"), ("libc6", "2.36-9+deb12u4")]
        );
        assert_eq!(
            p[0].source, None,
            "the source package is the package's own name"
        );
        assert_eq!(p[1].source.as_deref(), Some("glibc"));
        assert_eq!(p[1].arch.as_deref(), Some("amd64"));
    }

    #[test]
    fn apk_database_records() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\no:musl\nm:Someone <s@e>\n\nP:busybox-binsh\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\no:busybox\n";
        let p = parse_apk_installed(db.as_bytes());
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "musl");
        assert_eq!(p[0].source, None);
        assert_eq!(p[1].source.as_deref(), Some("busybox"));
        assert_eq!(p[1].license.as_deref(), Some("GPL-2.0-only"));
    }

    #[test]
    fn purls_carry_the_distribution() {
        let mut db = OsPackages::default();
        db.add(
            b"etc/os-release",
            b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        );
        db.add(DPKG_STATUS.as_bytes(), STATUS.as_bytes());
        assert_eq!(
            db.purl(&db.packages[0]).unwrap(),
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
        );
        // The etc/ file wins over usr/lib whichever comes first.
        db.add(b"usr/lib/os-release", b"ID=other\n");
        assert_eq!(db.release.id.as_deref(), Some("debian"));
    }

    #[test]
    fn database_paths() {
        assert_eq!(database_kind(b"var/lib/dpkg/status"), Some(Database::Dpkg));
        assert_eq!(
            database_kind(b"var/lib/dpkg/status.d/base"),
            Some(Database::Dpkg)
        );
        assert_eq!(
            database_kind(b"var/lib/dpkg/status.d/python3.11"),
            Some(Database::Dpkg)
        );
        assert_eq!(database_kind(b"var/lib/dpkg/status.d/base.md5sums"), None);
        assert_eq!(database_kind(b"var/lib/dpkg/status-old"), None);
        assert_eq!(database_kind(b"lib/apk/db/installed"), Some(Database::Apk));
        assert_eq!(
            database_kind(b"usr/lib/os-release"),
            Some(Database::OsRelease)
        );
    }
}
