//! Shared by linuxkit-build's integration tests: the conformance image layouts.

use std::path::{Path, PathBuf};

use linuxkit_oci::layout::{LayoutSet, OciLayout};

/// The image layouts of `../shared/conformance/images` (in name order), then `extra`.
pub fn conformance_images(extra: &[&Path]) -> LayoutSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/images");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    dirs.sort();
    dirs.extend(extra.iter().map(|p| p.to_path_buf()));
    LayoutSet::new(
        dirs.into_iter()
            .map(|d| OciLayout::open(&d, true).unwrap_or_else(|e| panic!("{}: {e}", d.display())))
            .collect(),
    )
}
