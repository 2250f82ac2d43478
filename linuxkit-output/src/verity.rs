//! `--verity`: the root file system as a squashfs followed by its dm-verity hash tree
//! (`linuxkit_verity::tree`), and the `linuxkit.verity=` parameter that carries the root hash.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};

use linuxkit_verity::Params;
use tempfile::NamedTempFile;

use crate::staging::Staging;
use crate::tree::Tree;
use crate::{squashfs, OutputError};

/// The squashfs root with its hash tree, built once per build and shared by the formats.
pub(crate) struct VerityRoot {
    /// The squashfs, padded to 4096 bytes, then the superblock and the tree.
    pub file: NamedTempFile,
    /// Root hash, salt and layout.
    pub params: Params,
}

impl VerityRoot {
    /// Copies the image (data and tree) to `out`.
    pub(crate) fn copy_to(&mut self, out: &mut File) -> io::Result<()> {
        let f = self.file.as_file_mut();
        f.seek(SeekFrom::Start(0))?;
        io::copy(f, out)?;
        Ok(())
    }

    /// The GPT name of the root partition: unique per root hash, so the root loader finds
    /// this disk's root and no other.
    pub(crate) fn partition_label(&self) -> String {
        format!(
            "linuxkit-root-{}",
            &linuxkit_verity::hex(&self.params.root_hash)[..16]
        )
    }
}

/// Writes the squashfs of `tree` and its hash tree into a scratch file.
pub(crate) fn root_image(tree: &Tree, staging: &Staging) -> Result<VerityRoot, OutputError> {
    let mut file = staging.scratch("verity-root")?;
    squashfs::write(tree, io::BufWriter::new(file.as_file_mut()))?;
    let params =
        linuxkit_verity::tree::append(file.as_file_mut()).map_err(|e| OutputError::Write {
            path: file.path().to_path_buf(),
            source: e,
        })?;
    Ok(VerityRoot { file, params })
}

/// `cmdline` with `linuxkit.verity=...` appended.
pub(crate) fn with_params(cmdline: &str, params: &Params) -> String {
    if cmdline.is_empty() {
        params.cmdline_arg()
    } else {
        format!("{cmdline} {}", params.cmdline_arg())
    }
}
