//! The root filesystem as a directory tree, for filesystem images (squashfs, ISO 9660).
//!
//! Upstream's converters extract the tar with `bsdtar` and image the directory. Here the tar is
//! read into a tree of metadata (never onto the host filesystem): later entries replace earlier
//! ones at the same path, missing parent directories are implied (0755), and file contents are
//! appended to one scratch file that readers access by offset, so memory holds metadata only.
//! Hard links become copies of their target's contents (as separate files).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use crate::initrd::{mtime, rdev, BootFiles};
use crate::OutputError;

/// What a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Directory.
    Dir,
    /// Regular file: `len` bytes at `offset` in the data file.
    File {
        /// Offset in the data file.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Symbolic link to the target.
    Symlink(Vec<u8>),
    /// Character device (major, minor).
    Char(u32, u32),
    /// Block device (major, minor).
    Block(u32, u32),
    /// Named pipe.
    Fifo,
}

/// One file system object.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky.
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
}

/// A root filesystem: nodes by normalised path (no leading `./` or `/`, no trailing `/`),
/// sorted so that a directory comes before its children.
pub(crate) struct Tree {
    pub root: Node,
    pub nodes: BTreeMap<Vec<u8>, Node>,
    pub data: Arc<File>,
}

/// Reads `len` bytes at `offset` of the shared data file.
pub(crate) struct DataReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl DataReader {
    /// Reads `len` bytes at `offset` of `file`.
    pub(crate) fn new(file: Arc<File>, offset: u64, len: u64) -> Self {
        DataReader {
            file,
            pos: offset,
            end: offset + len,
        }
    }
}

impl Read for DataReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Tree {
    /// A reader of a file node's contents.
    pub(crate) fn reader(&self, offset: u64, len: u64) -> DataReader {
        DataReader {
            file: Arc::clone(&self.data),
            pos: offset,
            end: offset + len,
        }
    }
}

/// Normalises a tar name; `None` for the root, `Err` for names that climb out (`..`).
fn normalise(name: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for p in name.split(|&b| b == b'/') {
        match p {
            b"" | b"." => {}
            b".." => return Err(()),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.join(&b'/')))
}

/// A directory the tar implies (the root, a missing parent): 0755, root's, the default time.
fn implied_dir() -> Node {
    Node {
        kind: Kind::Dir,
        perm: 0o755,
        uid: 0,
        gid: 0,
        mtime: crate::DEFAULT_MTIME as u32,
    }
}

/// Reads the tar into a tree, dropping `boot/*` but capturing `boot/kernel`, `boot/cmdline`
/// and `boot/ucode.cpio`. `data` is a scratch file that receives the file contents.
pub(crate) fn read_tree<R: Read>(
    tar: R,
    tar_path: &Path,
    mut data: File,
    drop_boot_dir: bool,
) -> Result<(Tree, BootFiles), OutputError> {
    let read_err = |source: io::Error| OutputError::ReadTar {
        path: tar_path.to_path_buf(),
        source,
    };
    let mut boot = BootFiles::default();
    let mut root = implied_dir();
    let mut nodes: BTreeMap<Vec<u8>, Node> = BTreeMap::new();
    let mut offset = 0u64;
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let raw = entry.path_bytes().into_owned();
        if capture_boot_file(&raw, &mut entry, &mut boot).map_err(read_err)? {
            continue;
        }
        let path = normalise(&raw).map_err(|()| OutputError::Unconvertible {
            path: tar_path.to_path_buf(),
            entry: String::from_utf8_lossy(&raw).into_owned(),
            kind: "path with `..`".into(),
            format: "a filesystem image".into(),
        })?;
        if drop_boot_dir && path.as_deref() == Some(b"boot".as_slice()) {
            continue;
        }
        let node = entry_node(&mut entry, &raw, &nodes, &mut data, &mut offset, tar_path)?;
        match path {
            None => {
                if node.kind == Kind::Dir {
                    root = node;
                }
            }
            Some(p) => insert_node(&mut nodes, p, node),
        }
    }
    data.flush().map_err(read_err)?;
    imply_parents(&mut nodes);
    Ok((
        Tree {
            root,
            nodes,
            data: Arc::new(data),
        },
        boot,
    ))
}

/// Captures `boot/kernel`, `boot/cmdline` and `boot/ucode.cpio` into `boot`; true for every
/// `boot/*` entry (which the tree drops).
fn capture_boot_file<R: Read>(
    raw: &[u8],
    entry: &mut tar::Entry<'_, R>,
    boot: &mut BootFiles,
) -> io::Result<bool> {
    match raw {
        b"boot/kernel" => {
            boot.kernel.clear();
            entry.read_to_end(&mut boot.kernel)?;
        }
        b"boot/cmdline" => {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf)?;
            boot.cmdline = String::from_utf8_lossy(&buf).into_owned();
        }
        b"boot/ucode.cpio" => {
            boot.ucode.clear();
            entry.read_to_end(&mut boot.ucode)?;
        }
        n if n.starts_with(b"boot/") => {}
        _ => return Ok(false),
    }
    Ok(true)
}

/// The node for tar entry `raw`: a regular file's contents are appended to `data` at
/// `offset` (which advances), a hard link to a file in `nodes` becomes a copy of it.
fn entry_node<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    raw: &[u8],
    nodes: &BTreeMap<Vec<u8>, Node>,
    data: &mut File,
    offset: &mut u64,
    tar_path: &Path,
) -> Result<Node, OutputError> {
    let read_err = |source: io::Error| OutputError::ReadTar {
        path: tar_path.to_path_buf(),
        source,
    };
    let h = entry.header();
    let (perm, uid, gid) = crate::initrd::ids(h).map_err(read_err)?;
    let (perm, uid, gid) = ((perm & 0o7777) as u32, uid as u32, gid as u32);
    let (major, minor) = rdev(h);
    use tar::EntryType as T;
    let et = h.entry_type();
    let link = entry
        .link_name_bytes()
        .map(|l| l.into_owned())
        .unwrap_or_default();
    let mtime = mtime(entry).map_err(read_err)? as u32;
    let kind = match et {
        T::Regular if raw.ends_with(b"/") && entry.header().as_bytes()[156] == 0 => Kind::Dir,
        T::Regular => {
            let len = io::copy(entry, data).map_err(|source| OutputError::Write {
                path: tar_path.with_extension("data"),
                source,
            })?;
            let k = Kind::File {
                offset: *offset,
                len,
            };
            *offset += len;
            k
        }
        T::Directory => Kind::Dir,
        T::Symlink => Kind::Symlink(link),
        T::Link => match normalise(&link).ok().flatten().and_then(|l| nodes.get(&l)) {
            Some(Node {
                kind: k @ Kind::File { .. },
                ..
            }) => k.clone(),
            _ => {
                // Not a file we have: fall back to what the initrd does.
                let dir = linuxkit_validate::gopath::dir(raw);
                let mut abs = b"/".to_vec();
                abs.extend_from_slice(&link);
                Kind::Symlink(linuxkit_validate::gopath::rel(&dir, &link).unwrap_or(abs))
            }
        },
        T::Char => Kind::Char(major as u32, minor as u32),
        T::Block => Kind::Block(major as u32, minor as u32),
        T::Fifo => Kind::Fifo,
        other => {
            return Err(OutputError::Unconvertible {
                path: tar_path.to_path_buf(),
                entry: String::from_utf8_lossy(raw).into_owned(),
                kind: format!("{other:?}"),
                format: "a filesystem image".into(),
            })
        }
    };
    Ok(Node {
        kind,
        perm,
        uid,
        gid,
        mtime,
    })
}

/// Puts `node` at `p`, replacing what was there; a non-directory replaces a directory and
/// everything below it.
fn insert_node(nodes: &mut BTreeMap<Vec<u8>, Node>, p: Vec<u8>, node: Node) {
    if node.kind != Kind::Dir {
        let mut prefix = p.clone();
        prefix.push(b'/');
        let below: Vec<Vec<u8>> = nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in below {
            nodes.remove(&k);
        }
    }
    nodes.insert(p, node);
}

/// Implies missing parents; drops entries under a non-directory.
fn imply_parents(nodes: &mut BTreeMap<Vec<u8>, Node>) {
    let paths: Vec<Vec<u8>> = nodes.keys().cloned().collect();
    for p in paths {
        let mut end = 0;
        let mut orphan = false;
        while let Some(i) = p[end..].iter().position(|&b| b == b'/') {
            let parent = p[..end + i].to_vec();
            end += i + 1;
            match nodes.get(&parent) {
                Some(n) if n.kind != Kind::Dir => {
                    orphan = true;
                    break;
                }
                Some(_) => {}
                None => {
                    nodes.insert(parent, implied_dir());
                }
            }
        }
        if orphan {
            nodes.remove(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_names() {
        assert_eq!(normalise(b"./a/b/"), Ok(Some(b"a/b".to_vec())));
        assert_eq!(normalise(b"."), Ok(None));
        assert_eq!(normalise(b"/"), Ok(None));
        assert_eq!(normalise(b"a/../../etc"), Err(()));
    }
}
