//! Root filesystem tar -> compressed newc cpio initrd, as upstream's `initrd.CopySplitTar`.
//!
//! The tar is streamed entry by entry: `boot/kernel`, `boot/cmdline` and `boot/ucode.cpio` are
//! captured, every other `boot/...` entry is dropped (the `boot` directory itself is kept), and
//! everything else becomes a cpio entry in the same order, duplicates included. The cpio stream
//! is compressed as gzip members (or zstd frames) on several threads, reusing cached pieces
//! (`pgz`);
//! decompressed, it is exactly upstream's stream.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::cpio::{Header, Kind, NewcWriter};
pub use crate::pgz::Compressor;
use crate::pgz::{self, Members, PieceCache, Settings};
use crate::OutputError;
use linuxkit_validate::gopath;

/// The files upstream takes out of `boot/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootFiles {
    /// `boot/kernel` (empty when the image has no kernel).
    pub kernel: Vec<u8>,
    /// `boot/cmdline`, verbatim.
    pub cmdline: String,
    /// `boot/ucode.cpio` (empty when absent).
    pub ucode: Vec<u8>,
}

/// How the initrd is compressed.
#[derive(Clone, Debug)]
pub struct Compression {
    /// gzip (upstream's format, the default), zstd or none.
    pub compressor: Compressor,
    /// gzip level, 0-9 (upstream's pgzip default corresponds to 6); zstd uses
    /// [`crate::ZSTD_LEVEL`].
    pub level: u32,
    /// Compression threads (the output does not depend on it).
    pub threads: usize,
    /// Where compressed pieces are kept for later builds (the output does not depend on it).
    pub cache: Option<PieceCache>,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            compressor: Compressor::Gzip,
            level: 6,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8),
            cache: None,
        }
    }
}

/// Converts the root filesystem tar read from `tar` into a compressed cpio written to `out`
/// (without ucode) and returns the captured boot files. `tar_path` and `out_path` name the
/// files in errors.
pub fn tar_to_initrd<R: Read, W: Write + Send>(
    tar: R,
    tar_path: &Path,
    out: &mut W,
    out_path: &Path,
    compression: Compression,
) -> Result<BootFiles, OutputError> {
    let read_err = |source: io::Error| OutputError::ReadTar {
        path: tar_path.to_path_buf(),
        source,
    };
    let write_err = |source: io::Error| OutputError::Write {
        path: out_path.to_path_buf(),
        source,
    };
    let settings = Settings {
        compressor: compression.compressor,
        level: compression.level,
        threads: compression.threads,
    };
    pgz::compress_members(
        out,
        settings,
        compression.cache.as_ref(),
        write_err,
        |m: &mut Members<'_>| {
            let mut boot = BootFiles::default();
            let mut cpio = NewcWriter::new();
            let mut archive = tar::Archive::new(tar);
            for entry in archive.entries().map_err(read_err)? {
                let mut entry = entry.map_err(read_err)?;
                let name = entry.path_bytes().into_owned();
                match name.as_slice() {
                    b"boot/kernel" => {
                        boot.kernel.clear();
                        entry.read_to_end(&mut boot.kernel).map_err(read_err)?;
                    }
                    b"boot/cmdline" => {
                        let mut buf = Vec::new();
                        entry.read_to_end(&mut buf).map_err(read_err)?;
                        boot.cmdline = String::from_utf8_lossy(&buf).into_owned();
                    }
                    b"boot/ucode.cpio" => {
                        boot.ucode.clear();
                        entry.read_to_end(&mut boot.ucode).map_err(read_err)?;
                    }
                    n if n.starts_with(b"boot/") => {}
                    _ => {
                        let conv = convert(&mut entry, &name).map_err(read_err)?;
                        let Some((kind, size, link)) = conv else {
                            return Err(OutputError::Unconvertible {
                                path: tar_path.to_path_buf(),
                                entry: String::from_utf8_lossy(&name).into_owned(),
                                kind: format!("{:?}", entry.header().entry_type()),
                                format: "an initrd".into(),
                            });
                        };
                        let (perm, uid, gid) = ids(entry.header()).map_err(read_err)?;
                        let header = Header {
                            name: &name,
                            kind,
                            perm,
                            uid,
                            gid,
                            mtime: mtime(&mut entry).map_err(read_err)?,
                            size,
                            rdev: rdev(entry.header()),
                        };
                        if size > pgz::MEMBER_SIZE as u64 {
                            m.begin_large().map_err(write_err)?;
                        }
                        let result = match &link {
                            Some(target) => cpio.entry(m, &header, &mut target.as_slice()),
                            None if kind == Kind::Regular => cpio.entry(m, &header, &mut entry),
                            None => cpio.entry(m, &header, &mut io::empty()),
                        };
                        // A short read is the tar's fault; anything else is the output's.
                        result.map_err(|e| match e.kind() {
                            io::ErrorKind::BrokenPipe => write_err(e),
                            _ => read_err(e),
                        })?;
                        m.boundary().map_err(write_err)?;
                    }
                }
            }
            cpio.finish(m).map_err(write_err)?;
            Ok(boot)
        },
    )
}

/// A converted entry: cpio kind, cpio size, symlink target.
type Converted = (Kind, u64, Option<Vec<u8>>);

/// Upstream's type mapping: `(kind, cpio size, symlink target)`, `None` when the tar type has
/// no cpio equivalent. Hard links become relative symlinks.
fn convert<R: Read>(entry: &mut tar::Entry<'_, R>, name: &[u8]) -> io::Result<Option<Converted>> {
    use tar::EntryType as T;
    let et = entry.header().entry_type();
    let link = || {
        entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default()
    };
    Ok(match et {
        // Go reads an old-style regular file whose name ends in `/` as a directory.
        T::Regular if entry.header().as_bytes()[156] == 0 && name.ends_with(b"/") => {
            Some((Kind::Directory, 0, None))
        }
        T::Regular => Some((Kind::Regular, entry.size(), None)),
        T::Symlink => {
            let l = link();
            Some((Kind::Symlink, l.len() as u64, Some(l)))
        }
        T::Link => {
            let l = link();
            let target = gopath::rel(&gopath::dir(name), &l).unwrap_or_else(|| {
                let mut abs = b"/".to_vec();
                abs.extend_from_slice(&l);
                abs
            });
            Some((Kind::Symlink, target.len() as u64, Some(target)))
        }
        T::Char => Some((Kind::Char, 0, None)),
        T::Block => Some((Kind::Block, 0, None)),
        T::Directory => Some((Kind::Directory, 0, None)),
        T::Fifo => Some((Kind::Fifo, 0, None)),
        _ => None,
    })
}

/// Modification time in whole seconds, from the PAX `mtime` record when present.
pub(crate) fn mtime<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<u64> {
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax.flatten() {
            if ext.key_bytes() == b"mtime" {
                let v = ext.value_bytes();
                let int = v.split(|&b| b == b'.').next().unwrap_or(b"0");
                if let Some(secs) = std::str::from_utf8(int)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    return Ok(secs.max(0) as u64);
                }
            }
        }
    }
    let hdr = entry.header();
    lenient(hdr, hdr.mtime(), 136..148)
}

/// A numeric header field as Go reads it: an empty (all NUL or space) field is 0, where the
/// `tar` crate reports an error.
fn lenient(
    hdr: &tar::Header,
    r: io::Result<u64>,
    range: std::ops::Range<usize>,
) -> io::Result<u64> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => {
            if hdr.as_bytes()[range].iter().all(|&b| b == 0 || b == b' ') {
                Ok(0)
            } else {
                Err(e)
            }
        }
    }
}

/// Mode, uid, gid as Go reads them.
pub(crate) fn ids(hdr: &tar::Header) -> io::Result<(u64, u64, u64)> {
    Ok((
        lenient(hdr, hdr.mode().map(u64::from), 100..108)?,
        lenient(hdr, hdr.uid(), 108..116)?,
        lenient(hdr, hdr.gid(), 116..124)?,
    ))
}

/// Device numbers as Go reads them: from the ustar fields, 0 when absent.
pub(crate) fn rdev(hdr: &tar::Header) -> (u64, u64) {
    let major = hdr.device_major().ok().flatten().unwrap_or(0);
    let minor = hdr.device_minor().ok().flatten().unwrap_or(0);
    (u64::from(major), u64::from(minor))
}
