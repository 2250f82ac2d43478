//! Layer flattening exactly like go-containerregistry v0.20.3 `mutate.Extract`, streamed.
//!
//! Layers are read top (last) first. Names are cleaned (`./a/` becomes `a`, the root `.`).
//! `.wh.<name>` hides `<name>` in lower layers and is not emitted; the first occurrence of a
//! path wins; a non-directory hides everything below its path in lower layers. Opaque
//! whiteouts (`.wh..wh..opq`) are not honoured (upstream quirk). Only the set of seen paths is
//! kept in memory, never file contents.
//!
//! Hostile layers: names and hard-link targets are made relative (a leading `/` is dropped, as
//! every extractor does, so the entry lands where upstream's pipeline puts it). An entry stored
//! below a symbolic link seen before it is hidden, as upstream (a non-directory hides its
//! subtree). An emitted name or hard-link target
//! that climbs out of the root with `..`, a symbolic link that entries emitted before it (from
//! upper layers) are stored below (writing through it could leave the image's root or a
//! container's rootfs), a hard link
//! to a path the image does not contain, and an image with more than
//! [`BuildOptions::max_image_entries`](crate::BuildOptions) entries are rejected with
//! [`BuildError::UnsafeEntry`] / [`BuildError::TooManyEntries`], naming the image and the entry.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use linuxkit_oci::store::ResolvedImage;

use crate::error::BuildError;
use crate::gotar::{path, type_flag, Header, Reader};

const WHITEOUT_PREFIX: &[u8] = b".wh.";

/// Calls `emit` for every entry of the flattened image, in upstream's order.
pub(crate) fn flatten(
    image: &ResolvedImage,
    reference: &str,
    max_entries: u64,
    emit: &mut dyn FnMut(Header, &mut dyn Read) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let read_err = |source| BuildError::ImageRead {
        reference: reference.to_string(),
        source,
    };
    let unsafe_entry = |(entry, reason): (Vec<u8>, String)| BuildError::UnsafeEntry {
        reference: reference.to_string(),
        entry: String::from_utf8_lossy(&entry).into_owned(),
        reason,
    };
    let mut seen = Seen::default();
    let mut count: u64 = 0;
    // Layers are decompressed on other threads, ahead of the tar parsing and output here:
    // the one being read, and the next one.
    let open = |layer: &linuxkit_oci::store::LayerBlob| {
        layer
            .open_tar(reference)
            .map(ReadAhead::spawn)
            .map_err(|source| BuildError::Pull {
                reference: reference.to_string(),
                source,
            })
    };
    let mut layers = image.layers.iter().rev();
    let mut next = layers.next().map(open).transpose()?;
    while let Some(stream) = next.take() {
        next = layers.next().map(open).transpose()?;
        let mut tr = Reader::new(stream);
        while let Some(mut h) = tr.next_header().map_err(read_err)? {
            count += 1;
            if count > max_entries {
                return Err(BuildError::TooManyEntries {
                    reference: reference.to_string(),
                    limit: max_entries,
                });
            }
            if !seen.admit(&mut h) {
                continue;
            }
            if h.typeflag == type_flag::LINK && h.linkname.starts_with(b"/") {
                // Hard-link targets are relative to the image root, like names.
                h.linkname = relative(&h.linkname);
            }
            seen.check(&h).map_err(unsafe_entry)?;
            emit(h, &mut tr.data())?;
        }
        // Drain to the end so that a verifying reader checks the digest.
        std::io::copy(&mut tr.into_inner(), &mut std::io::sink()).map_err(read_err)?;
    }
    seen.finish().map_err(unsafe_entry)
}

/// A stream read to its end on a thread of its own, in chunks, a few chunks ahead of the
/// consumer (decompression runs beside the tar parsing and writing). Errors arrive in order.
pub(crate) struct ReadAhead {
    chunks: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

/// Size of the chunks read ahead, and how many may wait.
const CHUNK: usize = 256 << 10;
const AHEAD: usize = 3;

impl ReadAhead {
    pub(crate) fn spawn(mut inner: Box<dyn Read + Send>) -> ReadAhead {
        let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD);
        std::thread::spawn(move || loop {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            let r = loop {
                match inner.read(&mut buf[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == buf.len() {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            buf.truncate(filled);
            let end = filled == 0 || r.is_err();
            let msg = match r {
                Err(e) if filled == 0 => Err(e),
                Err(e) => {
                    // Deliver what was read, then the error.
                    if tx.send(Ok(buf)).is_err() {
                        return;
                    }
                    Err(e)
                }
                Ok(()) => Ok(buf),
            };
            // A dropped receiver (the build stopped) ends the thread.
            if tx.send(msg).is_err() || end {
                return;
            }
        });
        ReadAhead {
            chunks: rx,
            current: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) if chunk.is_empty() => self.done = true,
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(std::io::Error::other("the layer reader stopped"));
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The whiteout/first-wins bookkeeping of `mutate.Extract`, and the safety checks.
#[derive(Default)]
pub(crate) struct Seen {
    /// Path -> (hides its subtree: tombstone or non-directory, emitted: not a tombstone).
    map: HashMap<Vec<u8>, (bool, bool)>,
    /// Emitted symbolic links -> their targets.
    symlinks: HashMap<Vec<u8>, Vec<u8>>,
    /// Every ancestor directory of an emitted entry.
    parents: HashSet<Vec<u8>>,
    /// Emitted hard links (name, target), checked against the emitted names at the end.
    hard_links: Vec<(Vec<u8>, Vec<u8>)>,
}

/// An entry name (or hard-link target) relative to the image root: cleaned, without a leading
/// `/` (the root itself is `.`).
pub(crate) fn relative(name: &[u8]) -> Vec<u8> {
    let cleaned = path::clean(name);
    match cleaned.strip_prefix(b"/") {
        Some([]) => b".".to_vec(),
        Some(rest) => rest.to_vec(),
        None => cleaned,
    }
}

fn escapes(name: &[u8]) -> bool {
    name == b".." || name.starts_with(b"../")
}

impl Seen {
    /// Cleans `h.name`; returns whether the entry is emitted.
    pub(crate) fn admit(&mut self, h: &mut Header) -> bool {
        h.name = relative(&h.name);
        let base = path::base(&h.name);
        let dir = path::dir(&h.name);
        let (tombstone, base) = match base.strip_prefix(WHITEOUT_PREFIX) {
            Some(rest) => (true, rest.to_vec()),
            None => (false, base),
        };
        let is_dir = h.typeflag == type_flag::DIR;
        let name = if is_dir {
            h.name.clone()
        } else {
            path::join(&[&dir, &base])
        };
        if self.map.contains_key(&name) || self.in_whiteout_dir(&name) {
            return false;
        }
        self.map.insert(name, (tombstone || !is_dir, !tombstone));
        !tombstone
    }

    /// Checks an entry about to be emitted; records what later checks need. The error is the
    /// entry's name and why it is refused.
    pub(crate) fn check(&mut self, h: &Header) -> Result<(), (Vec<u8>, String)> {
        let refuse = |why: String| Err((h.name.clone(), why));
        if escapes(&h.name) {
            return refuse("its path leaves the image root ('..')".into());
        }
        // Ancestors: none may be a symbolic link of this image.
        let mut dir = path::dir(&h.name);
        while dir != b"." && dir != b"/" && !dir.is_empty() {
            if let Some(target) = self.symlinks.get(&dir) {
                return refuse(format!(
                    "it is stored below the symbolic link {} -> {}: writing through a link could leave the image root",
                    String::from_utf8_lossy(&dir),
                    String::from_utf8_lossy(target)
                ));
            }
            if !self.parents.insert(dir.clone()) {
                // Its ancestors were recorded (and checked) with an earlier entry.
                break;
            }
            dir = path::dir(&dir);
        }
        match h.typeflag {
            type_flag::SYMLINK => {
                if self.parents.contains(&h.name) {
                    return refuse(format!(
                        "it is a symbolic link (-> {}) to be used as a directory by entries stored below it",
                        String::from_utf8_lossy(&h.linkname)
                    ));
                }
                self.symlinks.insert(h.name.clone(), h.linkname.clone());
            }
            type_flag::LINK => {
                let target = relative(&h.linkname);
                if escapes(&target) {
                    return refuse(format!(
                        "it is a hard link to {}, outside the image root",
                        String::from_utf8_lossy(&h.linkname)
                    ));
                }
                self.hard_links.push((h.name.clone(), target));
            }
            _ => {}
        }
        Ok(())
    }

    /// After the last layer: every hard link must point to an entry the image emitted.
    pub(crate) fn finish(&self) -> Result<(), (Vec<u8>, String)> {
        for (name, target) in &self.hard_links {
            let emitted = self.map.get(target).is_some_and(|&(_, emitted)| emitted);
            if !emitted || target == name {
                return Err((
                    name.clone(),
                    format!(
                        "it is a hard link to {}, which the image does not contain",
                        String::from_utf8_lossy(target)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn in_whiteout_dir(&self, file: &[u8]) -> bool {
        let mut file = file.to_vec();
        while !file.is_empty() {
            let dir = path::dir(&file);
            if dir == file {
                break;
            }
            if self.map.get(&dir).is_some_and(|&(hides, _)| hides) {
                return true;
            }
            file = dir;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(layers: &[&[(&str, u8)]]) -> Vec<String> {
        let mut seen = Seen::default();
        let mut out = Vec::new();
        for layer in layers.iter().rev() {
            for (name, flag) in layer.iter() {
                let mut h = Header::new(name.as_bytes(), *flag);
                if seen.admit(&mut h) {
                    out.push(String::from_utf8(h.name).unwrap());
                }
            }
        }
        out
    }

    const D: u8 = type_flag::DIR;
    const F: u8 = type_flag::REG;

    #[test]
    fn whiteouts_and_first_wins() {
        let lower: &[(&str, u8)] = &[
            ("./", D),
            ("./gone", F),
            ("data/", D),
            ("data/keep.txt", F),
            ("data/remove-me.txt", F),
            ("opaque/", D),
            ("opaque/old", F),
            ("was-dir/", D),
            ("was-dir/child", F),
            ("was-file", F),
        ];
        let upper: &[(&str, u8)] = &[
            (".wh.gone", F),
            ("data/.wh.remove-me.txt", F),
            ("opaque/", D),
            ("opaque/.wh..wh..opq", F),
            ("was-dir", F),
            ("was-file/", D),
            ("was-file/new", F),
        ];
        let got = run(&[lower, upper]);
        assert_eq!(
            got,
            [
                "opaque",
                "was-dir",
                "was-file",
                "was-file/new", // upper layer
                ".",
                "data",
                "data/keep.txt",
                "opaque/old", // lower survivors
            ]
        );
    }

    /// Regression (fuzz target `layer`, first run): `../x`, `/abs` and a hard link to
    /// `../../etc/shadow` reached the output tar as such.
    #[test]
    fn names_are_relative_and_escapes_refused() {
        assert_eq!(relative(b"/etc/passwd"), b"etc/passwd");
        assert_eq!(relative(b"/"), b".");
        assert_eq!(relative(b"a/../../x"), b"../x");
        let mut seen = Seen::default();
        let mut h = Header::new("a/../../x", F);
        assert!(seen.admit(&mut h));
        assert!(seen.check(&h).is_err());
        let mut l = Header::new("h", type_flag::LINK);
        l.linkname = b"../../etc/shadow".to_vec();
        assert!(seen.admit(&mut l));
        assert!(seen
            .check(&l)
            .unwrap_err()
            .1
            .contains("outside the image root"));
    }

    #[test]
    fn hard_links_keep_their_target_and_children_may_precede_parents() {
        let lower: &[(&str, u8)] = &[("bin/", D), ("bin/a", F)];
        let upper: &[(&str, u8)] = &[("bin/b", type_flag::LINK)];
        assert_eq!(run(&[lower, upper]), ["bin/b", "bin", "bin/a"]);
    }
}
