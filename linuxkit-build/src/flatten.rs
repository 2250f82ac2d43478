//! Layer flattening exactly like go-containerregistry v0.20.3 `mutate.Extract`, streamed.
//!
//! Layers are read top (last) first. Names are cleaned (`./a/` becomes `a`, the root `.`).
//! `.wh.<name>` hides `<name>` in lower layers and is not emitted; the first occurrence of a
//! path wins; a non-directory hides everything below its path in lower layers. Opaque
//! whiteouts (`.wh..wh..opq`) are not honoured (upstream quirk). Only the set of seen paths is
//! kept in memory, never file contents.

use std::collections::HashMap;
use std::io::Read;

use linuxkit_oci::store::ResolvedImage;

use crate::error::BuildError;
use crate::gotar::{path, type_flag, Header, Reader};

const WHITEOUT_PREFIX: &[u8] = b".wh.";

/// Calls `emit` for every entry of the flattened image, in upstream's order.
pub(crate) fn flatten(
    image: &ResolvedImage,
    reference: &str,
    emit: &mut dyn FnMut(Header, &mut dyn Read) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let read_err = |source| BuildError::ImageRead {
        reference: reference.to_string(),
        source,
    };
    let mut seen = Seen::default();
    for layer in image.layers.iter().rev() {
        let stream = layer
            .open_tar(reference)
            .map_err(|source| BuildError::Pull {
                reference: reference.to_string(),
                source,
            })?;
        let mut tr = Reader::new(stream);
        while let Some(mut h) = tr.next_header().map_err(read_err)? {
            if !seen.admit(&mut h) {
                continue;
            }
            emit(h, &mut tr.data())?;
        }
        // Drain to the end so that a verifying reader checks the digest.
        std::io::copy(&mut tr.into_inner(), &mut std::io::sink()).map_err(read_err)?;
    }
    Ok(())
}

/// The whiteout/first-wins bookkeeping of `mutate.Extract`.
#[derive(Default)]
pub(crate) struct Seen {
    /// Path -> hides its subtree (tombstone or non-directory).
    map: HashMap<Vec<u8>, bool>,
}

impl Seen {
    /// Cleans `h.name`; returns whether the entry is emitted.
    pub(crate) fn admit(&mut self, h: &mut Header) -> bool {
        h.name = path::clean(&h.name);
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
        self.map.insert(name, tombstone || !is_dir);
        !tombstone
    }

    fn in_whiteout_dir(&self, file: &[u8]) -> bool {
        let mut file = file.to_vec();
        while !file.is_empty() {
            let dir = path::dir(&file);
            if dir == file {
                break;
            }
            if self.map.get(&dir).copied().unwrap_or(false) {
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

    #[test]
    fn hard_links_keep_their_target_and_children_may_precede_parents() {
        let lower: &[(&str, u8)] = &[("bin/", D), ("bin/a", F)];
        let upper: &[(&str, u8)] = &[("bin/b", type_flag::LINK)];
        assert_eq!(run(&[lower, upper]), ["bin/b", "bin", "bin/a"]);
    }
}
