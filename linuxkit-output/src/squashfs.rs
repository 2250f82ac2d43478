//! `kernel+squashfs`: the root filesystem (without `boot/`) as a squashfs image, written with
//! the `backhand` crate. Like upstream's `mksquashfs rootfs rootfs.img`: gzip compression,
//! 128 KiB blocks; the image time is LinuxKit's fixed time so the bytes are reproducible.

use std::ffi::OsStr;
use std::io::{Seek, Write};
use std::os::unix::ffi::OsStrExt;

use backhand::compression::Compressor;
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};

use crate::tree::{Kind, Tree};
use crate::OutputError;

/// Linux's `new_encode_dev`.
fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// Writes `tree` as a squashfs image to `out`.
pub(crate) fn write<W: Write + Seek>(tree: &Tree, out: W) -> Result<(), OutputError> {
    let err = |e: backhand::BackhandError| OutputError::Image {
        format: "kernel+squashfs".into(),
        message: e.to_string(),
    };
    let mut fs = FilesystemWriter::default();
    fs.set_time(crate::DEFAULT_MTIME as u32);
    fs.set_compressor(FilesystemCompressor::new(Compressor::Gzip, None).map_err(err)?);
    fs.set_root_mode(tree.root.perm as u16);
    fs.set_root_uid(tree.root.uid);
    fs.set_root_gid(tree.root.gid);
    for (path, node) in &tree.nodes {
        let p = OsStr::from_bytes(path);
        let h = NodeHeader::new(node.perm as u16, node.uid, node.gid, node.mtime);
        match &node.kind {
            Kind::Dir => fs.push_dir(p, h),
            Kind::File { offset, len } => fs.push_file(tree.reader(*offset, *len), p, h),
            Kind::Symlink(target) => fs.push_symlink(OsStr::from_bytes(target), p, h),
            Kind::Char(ma, mi) => fs.push_char_device(encode_dev(*ma, *mi), p, h),
            Kind::Block(ma, mi) => fs.push_block_device(encode_dev(*ma, *mi), p, h),
            Kind::Fifo => fs.push_fifo(p, h),
        }
        .map_err(err)?;
    }
    fs.write(out).map_err(err)?;
    Ok(())
}
