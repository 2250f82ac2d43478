//! A reproducible single image layer: entries sorted by path, parents created, owner 0:0,
//! one fixed mtime, GNU tar headers (long names), and a gzip stream with a fixed header
//! (no name, mtime 0, OS 255). File contents are streamed from disk when written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use linuxkit_oci::write::DigestingWriter;

use crate::error::{io, LocalError};

pub use linuxkit_validate::DEFAULT_MTIME;

/// gzip level of layers (fixed: part of the reproducible output).
pub const GZIP_LEVEL: u32 = 6;

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
    },
    /// A regular file read from the host when the layer is written.
    File {
        /// Permission bits.
        mode: u32,
        /// Where the content is.
        source: PathBuf,
    },
    /// A regular file with the given content.
    Bytes {
        /// Permission bits.
        mode: u32,
        /// The content.
        data: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// The link target, verbatim.
        target: String,
    },
}

/// A layer being described; nothing is read until it is written.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    entries: BTreeMap<String, Entry>,
}

/// Checks and normalises a layer path: relative, no `.`/`..`/empty components.
fn clean(path: &str) -> Result<String, LocalError> {
    let p = path.trim_start_matches('/').trim_end_matches('/');
    if p.is_empty() || p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(LocalError::BadPath(path.to_string()));
    }
    Ok(p.to_string())
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&mut self, path: &str, entry: Entry) -> Result<&mut Self, LocalError> {
        let p = clean(path)?;
        let mut parent = p.as_str();
        while let Some((dir, _)) = parent.rsplit_once('/') {
            self.entries
                .entry(dir.to_string())
                .or_insert(Entry::Dir { mode: 0o755 });
            parent = dir;
        }
        self.entries.insert(p, entry);
        Ok(self)
    }

    /// Adds a directory (parents are added as 0755 as needed).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<&mut Self, LocalError> {
        self.insert(path, Entry::Dir { mode })
    }

    /// Adds a file whose content is read from `source` when the layer is written.
    pub fn file(
        &mut self,
        path: &str,
        mode: u32,
        source: impl Into<PathBuf>,
    ) -> Result<&mut Self, LocalError> {
        self.insert(
            path,
            Entry::File {
                mode,
                source: source.into(),
            },
        )
    }

    /// Adds a file with the given content.
    pub fn bytes(
        &mut self,
        path: &str,
        mode: u32,
        data: impl Into<Vec<u8>>,
    ) -> Result<&mut Self, LocalError> {
        self.insert(
            path,
            Entry::Bytes {
                mode,
                data: data.into(),
            },
        )
    }

    /// Adds a symbolic link.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Self, LocalError> {
        self.insert(
            path,
            Entry::Symlink {
                target: target.to_string(),
            },
        )
    }

    /// The entries in the order they are written.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Writes the layer as an uncompressed tar.
    pub fn write_tar<W: Write>(&self, out: W) -> Result<W, LocalError> {
        let mut b = tar::Builder::new(out);
        b.mode(tar::HeaderMode::Deterministic);
        let out_err = |e| io(PathBuf::from("<layer output>"))(e);
        for (path, entry) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(DEFAULT_MTIME);
            match entry {
                Entry::Dir { mode } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), io::empty())
                        .map_err(out_err)?;
                }
                Entry::File { mode, source } => {
                    let f = File::open(source).map_err(io(source))?;
                    let len = f.metadata().map_err(io(source))?.len();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(len);
                    b.append_data(&mut h, path, f).map_err(io(source))?;
                }
                Entry::Bytes { mode, data } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, data.as_slice())
                        .map_err(out_err)?;
                }
                Entry::Symlink { target } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, path, target).map_err(out_err)?;
                }
            }
        }
        b.into_inner().map_err(out_err)
    }

    /// Writes the layer as tar+gzip into `out`; returns the digest of the uncompressed tar
    /// (the image config's `diff_id`).
    pub fn write_gzip<W: Write>(
        &self,
        out: W,
    ) -> Result<(linuxkit_validate::Digest, W), LocalError> {
        let gz = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(out, Compression::new(GZIP_LEVEL));
        let hashing = self.write_tar(DigestingWriter::new(gz))?;
        let (gz, diff_id, _) = hashing.finish();
        let out = gz.finish().map_err(io(PathBuf::from("<layer output>")))?;
        Ok((diff_id, out))
    }
}

/// Adds every file, directory and symlink under `dir` to `layer` below `prefix`, sorted,
/// keeping permission bits (files are streamed later).
pub fn add_tree(layer: &mut Layer, dir: &Path, prefix: &str) -> Result<(), LocalError> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let t = std::fs::read_link(&path).map_err(io(&path))?;
            layer.symlink(&name, &t.to_string_lossy())?;
        } else if meta.is_dir() {
            layer.dir(&name, mode)?;
            add_tree(layer, &path, &name)?;
        } else if meta.is_file() {
            layer.file(&name, mode, path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sorted_with_parents_and_bad_paths_rejected() {
        let mut l = Layer::new();
        l.bytes("usr/bin/b", 0o755, "b").unwrap();
        l.symlink("sbin/init", "/init").unwrap();
        l.bytes("init", 0o755, "x").unwrap();
        let names: Vec<&str> = l.entries().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["init", "sbin", "sbin/init", "usr", "usr/bin", "usr/bin/b"]
        );
        assert!(l.bytes("../etc/passwd", 0o644, "").is_err());
        assert!(l.bytes("a//b", 0o644, "").is_err());
    }

    #[test]
    fn output_is_reproducible_and_diff_id_is_the_tar_digest() {
        let mut l = Layer::new();
        l.bytes("etc/hello", 0o644, "hello\n").unwrap();
        l.dir("var/empty", 0o700).unwrap();
        let (d1, gz1) = l.write_gzip(Vec::new()).unwrap();
        let (d2, gz2) = l.write_gzip(Vec::new()).unwrap();
        assert_eq!(gz1, gz2);
        assert_eq!(d1, d2);
        let tar = l.write_tar(Vec::new()).unwrap();
        assert_eq!(
            d1,
            format!(
                "sha256:{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&tar))
            )
        );
        // Fixed gzip header: magic, deflate, no flags, mtime 0, OS 255.
        assert_eq!(&gz1[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut a = tar::Archive::new(tar.as_slice());
        let got: Vec<(String, u64, u32)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mtime().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("etc/".to_string(), DEFAULT_MTIME, 0o755),
                ("etc/hello".to_string(), DEFAULT_MTIME, 0o644),
                ("var/".to_string(), DEFAULT_MTIME, 0o755),
                ("var/empty/".to_string(), DEFAULT_MTIME, 0o700),
            ]
        );
    }
}
