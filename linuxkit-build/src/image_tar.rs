//! Upstream's `ImageTar`: one image's flattened filesystem under a prefix, with the exclude,
//! replace and touch handling of build spec §3.3, and the prefix directories (`tarPrefix`).

use std::io::Read;

use linuxkit_oci::store::ResolvedImage;
use linuxkit_sbom::ospkg::{self, OsPackages};

use crate::error::BuildError;
use crate::flatten::flatten;
use crate::gotar::{type_flag, GoTime, Header};
use crate::sink::EntrySink;

pub use linuxkit_validate::DEFAULT_MTIME;
/// Where `etc/resolv.conf` of init images and filesystem volumes points.
pub const RESOLV_SYMLINK: &str = "/run/resolvconf/resolv.conf";
/// PAX record naming the image (or generator) an entry comes from.
pub const PAX_SOURCE: &str = "LINUXKIT.source";
/// PAX record naming the section of the definition an entry comes from.
pub const PAX_LOCATION: &str = "LINUXKIT.location";

/// The `etc/hosts` every image gets.
pub(crate) const HOSTS: &str = "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";
/// The `etc/resolv.conf` of containers.
pub(crate) const NO_RESOLV: &str = "\n# no resolv.conf configured\n";

/// Names never copied from an image.
const EXCLUDE: &[&[u8]] = &[
    b".dockerenv",
    b"Dockerfile",
    b"dev/console",
    b"dev/pts",
    b"dev/shm",
    b"etc/hostname",
];

/// A header as LinuxKit generates it: default mtime, PAX records for source and location.
pub(crate) fn lk_header(
    name: impl Into<Vec<u8>>,
    typeflag: u8,
    mode: i64,
    source: &str,
    location: &str,
) -> Header {
    let mut h = Header::new(name, typeflag);
    h.mode = mode;
    h.mtime = Some(GoTime::from_secs(DEFAULT_MTIME as i64));
    h.set_pax(PAX_SOURCE, source);
    h.set_pax(PAX_LOCATION, location);
    h
}

/// `tarPrefix`: a 0755 directory entry for every component of `prefix` (which ends with `/`).
pub(crate) fn tar_prefix(
    prefix: &str,
    location: &str,
    source: &str,
    sink: &mut dyn EntrySink,
) -> Result<(), BuildError> {
    let Some(path) = prefix.strip_suffix('/') else {
        return Ok(());
    };
    let mut mkdir = String::new();
    for dir in path.split('/') {
        mkdir.push_str(dir);
        let h = lk_header(mkdir.as_bytes(), type_flag::DIR, 0o755, source, location);
        sink.entry(h, &mut std::io::empty())?;
        mkdir.push('/');
    }
    Ok(())
}

/// `ImageTar`: `image` (`None` for a blank volume) flattened under `prefix` (empty or ending
/// with `/`). `resolv` is the symlink target for `etc/resolv.conf`, or empty for containers.
/// With `packages`, the package databases and os-release of the image are read as they pass
/// (for the SBOM).
pub(crate) fn image_tar(
    max_entries: u64,
    location: &str,
    image: Option<(&ResolvedImage, &str)>,
    prefix: &str,
    resolv: &str,
    sink: &mut dyn EntrySink,
    mut packages: Option<&mut OsPackages>,
) -> Result<(), BuildError> {
    let source = image.map_or("empty", |(_, r)| r);
    tar_prefix(prefix, location, source, sink)?;
    let Some((image, source)) = image else {
        return Ok(());
    };
    let mut mtab_found = false;
    let at = Placement {
        prefix,
        resolv,
        source,
        location,
    };
    flatten(
        image,
        source,
        max_entries,
        &mut |h: Header, data: &mut dyn Read| {
            if let Some(db) = packages.as_deref_mut() {
                let wanted = h.typeflag == type_flag::REG
                    && (h.size as u64) <= ospkg::MAX_DATABASE
                    && ospkg::database_kind(&h.name).is_some();
                if wanted {
                    let name = h.name.clone();
                    let size = h.size as usize;
                    let mut tee = CopyingReader {
                        inner: data,
                        copy: Vec::with_capacity(size),
                    };
                    let done = emit(&at, h, &mut tee, &mut mtab_found, sink);
                    // Only a database read whole is used (a sink may skip an entry's data).
                    if tee.copy.len() == size {
                        db.add(&name, &tee.copy);
                    }
                    return done;
                }
            }
            emit(&at, h, data, &mut mtab_found, sink)
        },
    )?;
    touch(location, source, prefix, resolv, mtab_found, sink)
}

/// Copies what passes through.
struct CopyingReader<'a> {
    inner: &'a mut dyn Read,
    copy: Vec<u8>,
}

impl Read for CopyingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// Where an image's entries go and how they are labelled.
#[derive(Clone, Copy)]
struct Placement<'a> {
    prefix: &'a str,
    resolv: &'a str,
    source: &'a str,
    location: &'a str,
}

/// One flattened entry of `ImageTar`: excluded, replaced (`etc/hosts`, `etc/resolv.conf`) or
/// written under `prefix`.
fn emit(
    at: &Placement<'_>,
    mut h: Header,
    data: &mut dyn Read,
    mtab_found: &mut bool,
    sink: &mut dyn EntrySink,
) -> Result<(), BuildError> {
    let Placement {
        prefix,
        resolv,
        source,
        location,
    } = *at;
    h.set_pax(PAX_SOURCE, source);
    h.set_pax(PAX_LOCATION, location);
    if EXCLUDE.contains(&h.name.as_slice()) {
        return Ok(());
    }
    let hosts = h.name == b"etc/hosts";
    if hosts || h.name == b"etc/resolv.conf" {
        h.name = prefixed(prefix, &h.name);
        h.mtime = Some(GoTime::from_secs(DEFAULT_MTIME as i64));
        if hosts || resolv.is_empty() {
            let contents = if hosts { HOSTS } else { NO_RESOLV };
            h.size = contents.len() as i64;
            return sink.entry(h, &mut contents.as_bytes());
        }
        h.size = 0;
        h.typeflag = type_flag::SYMLINK;
        h.linkname = resolv.as_bytes().to_vec();
        return sink.entry(h, &mut std::io::empty());
    }
    if h.name == b"etc/mtab" {
        h.mtime = Some(GoTime::from_secs(DEFAULT_MTIME as i64));
        *mtab_found = true;
    }
    h.name = prefixed(prefix, &h.name);
    if h.typeflag == type_flag::LINK {
        h.linkname = prefixed(prefix, &h.linkname);
    }
    sink.entry(h, data)
}

fn prefixed(prefix: &str, name: &[u8]) -> Vec<u8> {
    let mut n = prefix.as_bytes().to_vec();
    n.extend_from_slice(name);
    n
}

/// The entries every image gets after its own (upstream's `touch` map, in sorted key order).
/// Only an image's own `etc/mtab` suppresses one of them (build spec §3.3 quirk).
fn touch(
    location: &str,
    source: &str,
    prefix: &str,
    resolv: &str,
    mtab_found: bool,
    sink: &mut dyn EntrySink,
) -> Result<(), BuildError> {
    let dir = |name: &str| (name.to_string(), type_flag::DIR, 0o755);
    let entries = [
        dir("dev"),
        dir("dev/pts"),
        dir("dev/shm"),
        dir("etc"),
        ("etc/hosts".to_string(), type_flag::REG, 0o644),
        ("etc/mtab".to_string(), type_flag::SYMLINK, 0o755),
        ("etc/resolv.conf".to_string(), type_flag::REG, 0o644),
        dir("proc"),
        dir("sys"),
    ];
    for (name, flag, mode) in entries {
        if name == "etc/mtab" && mtab_found {
            continue;
        }
        let mut h = lk_header(
            prefixed(prefix, name.as_bytes()),
            flag,
            mode,
            source,
            location,
        );
        let mut contents: &[u8] = &[];
        match name.as_str() {
            "etc/hosts" => contents = HOSTS.as_bytes(),
            "etc/mtab" => h.linkname = b"/proc/mounts".to_vec(),
            "etc/resolv.conf" if resolv.is_empty() => contents = NO_RESOLV.as_bytes(),
            "etc/resolv.conf" => {
                h.typeflag = type_flag::SYMLINK;
                h.linkname = resolv.as_bytes().to_vec();
            }
            _ => {}
        }
        h.size = contents.len() as i64;
        sink.entry(h, &mut contents)?;
    }
    Ok(())
}
