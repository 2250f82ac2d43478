//! `kernel+erofs`: the root filesystem (without `boot/`) as an EROFS image, like upstream's
//! `mkfs.erofs rootfs.img rootfs` (uncompressed, 4 KiB blocks).
//!
//! No maintained Rust crate writes EROFS images (`erofs-rs` reads them; `composefs` writes its
//! own flavour entirely in memory), so the writer is here. It is small because it writes the
//! plain, uncompressed subset of the format the kernel's driver has read since Linux 5.4:
//!
//! - block 0 holds the superblock at byte 1024; the metadata area starts at block 0
//!   (`meta_blkaddr = 0`), inodes are 32-byte aligned right after the superblock and an inode's
//!   number (`nid`) is its offset / 32, so the root (first) gets nid 36, well under the
//!   superblock's 16-bit `root_nid`;
//! - every inode is an *extended* inode (64 bytes: 32-bit ids, 64-bit size, per-file mtime);
//! - data is `FLAT_PLAIN` (whole blocks from `raw_blkaddr`) or `FLAT_INLINE` (whole blocks,
//!   then a tail of at most 2 KiB stored right after the inode, never crossing a block
//!   boundary: an inode that would is moved to the next block);
//! - directories are blocks of 12-byte dirents (`nid`, name offset, file type) followed by the
//!   names, sorted by name bytes including `.` and `..` (the kernel binary-searches them);
//! - devices keep their number in `i_u` (Linux's `new_encode_dev`); no xattrs (as the squashfs
//!   output, which neither carries them), hard links are copies (the tree has made them so).
//!
//! Layout is computed first (nids, then data blocks), then the metadata is written from memory
//! and file data streamed from the tree's scratch file. Same tree, same bytes: times are the
//! tree's, the UUID derives from the output name.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use crate::tree::{Kind, Node, Tree};

const BLOCK: u64 = 4096;
const SUPERBLOCK_OFFSET: usize = 1024;
const SUPERBLOCK_END: u64 = 1024 + 128;
const INODE_SIZE: u64 = 64;
const DIRENT_SIZE: usize = 12;
/// Tails up to this size are stored inline after their inode.
const INLINE_MAX: u64 = 2048;
const MAGIC: u32 = 0xE0F5_E1E2;

const LAYOUT_FLAT_PLAIN: u16 = 0;
const LAYOUT_FLAT_INLINE: u16 = 2;

/// EROFS file types (`EROFS_FT_*`) in dirents.
fn file_type(k: &Kind) -> u8 {
    match k {
        Kind::File { .. } => 1,
        Kind::Dir => 2,
        Kind::Char(..) => 3,
        Kind::Block(..) => 4,
        Kind::Fifo => 5,
        Kind::Symlink(_) => 7,
    }
}

fn mode(n: &Node) -> u16 {
    let fmt = match n.kind {
        Kind::File { .. } => 0o100000,
        Kind::Dir => 0o040000,
        Kind::Symlink(_) => 0o120000,
        Kind::Char(..) => 0o020000,
        Kind::Block(..) => 0o060000,
        Kind::Fifo => 0o010000,
    };
    (fmt | (n.perm & 0o7777)) as u16
}

/// Linux's `new_encode_dev`.
fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// A directory's entries (name, inode index), split into its blocks.
type DirBlocks<'a> = Vec<Vec<(&'a [u8], usize)>>;

/// One inode being laid out.
struct Inode<'a> {
    node: &'a Node,
    /// Children (name, inode index), sorted by name, for directories.
    children: Vec<(&'a [u8], usize)>,
    parent: usize,
    size: u64,
    inline: bool,
    nid: u64,
    blkaddr: u32,
    nlink: u32,
}

impl Inode<'_> {
    fn tail(&self) -> u64 {
        if self.inline {
            self.size % BLOCK
        } else {
            0
        }
    }
    fn data_blocks(&self) -> u64 {
        if self.inline {
            self.size / BLOCK
        } else {
            self.size.div_ceil(BLOCK)
        }
    }
}

/// The directory's entries (name, inode index) split into blocks, and its size in bytes.
fn dir_blocks<'a>(
    me: usize,
    parent: usize,
    children: &[(&'a [u8], usize)],
) -> (DirBlocks<'a>, u64) {
    let mut all: Vec<(&[u8], usize)> = vec![(b".", me), (b"..", parent)];
    all.extend_from_slice(children);
    all.sort_by(|a, b| a.0.cmp(b.0));
    let mut blocks: Vec<Vec<(&[u8], usize)>> = vec![Vec::new()];
    let mut used = 0usize;
    for e in all {
        let need = DIRENT_SIZE + e.0.len();
        if used + need > BLOCK as usize {
            blocks.push(Vec::new());
            used = 0;
        }
        used += need;
        if let Some(b) = blocks.last_mut() {
            b.push(e);
        }
    }
    let size = (blocks.len() as u64 - 1) * BLOCK + used as u64;
    (blocks, size)
}

/// The bytes of one directory block.
fn dir_block(entries: &[(&[u8], usize)], inodes: &[Inode<'_>]) -> Vec<u8> {
    let mut b = Vec::new();
    let mut nameoff = DIRENT_SIZE * entries.len();
    for (name, i) in entries {
        b.extend_from_slice(&inodes[*i].nid.to_le_bytes());
        b.extend_from_slice(&(nameoff as u16).to_le_bytes());
        b.push(file_type(&inodes[*i].node.kind));
        b.push(0);
        nameoff += name.len();
    }
    for (name, _) in entries {
        b.extend_from_slice(name);
    }
    b
}

fn invalid(m: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m)
}

/// The computed layout: inodes with their nids and data blocks, each directory's blocks, the
/// end of the metadata area and the image's size in blocks.
struct Layout<'a> {
    inodes: Vec<Inode<'a>>,
    dirs: Vec<Option<DirBlocks<'a>>>,
    meta_end: u64,
    total_blocks: u32,
}

/// Writes `tree` as an EROFS image to `out`; `uuid` is the volume's UUID. Returns the image
/// size in bytes.
pub(crate) fn write(tree: &Tree, uuid: [u8; 16], out: &mut dyn Write) -> io::Result<u64> {
    let layout = layout(tree)?;
    let meta = metadata(tree, &layout, uuid)?;
    out.write_all(&meta)?;
    write_data(tree, &layout, out)
}

/// Lays the image out: inodes, their sizes, nids and data blocks.
fn layout(tree: &Tree) -> io::Result<Layout<'_>> {
    let mut inodes = collect_inodes(tree)?;
    let dirs = size_inodes(&mut inodes);
    let meta_end = assign_nids(&mut inodes)?;
    let total_blocks = assign_blocks(&mut inodes, meta_end)?;
    Ok(Layout {
        inodes,
        dirs,
        meta_end,
        total_blocks,
    })
}

/// Step 1, inodes: the root, then every node in path order; children per directory.
fn collect_inodes(tree: &Tree) -> io::Result<Vec<Inode<'_>>> {
    let mut inodes: Vec<Inode<'_>> = vec![Inode {
        node: &tree.root,
        children: Vec::new(),
        parent: 0,
        size: 0,
        inline: false,
        nid: 0,
        blkaddr: 0,
        nlink: 1,
    }];
    let mut index: BTreeMap<&[u8], usize> = BTreeMap::new();
    for (path, node) in &tree.nodes {
        let (parent_path, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&path[..0], &path[..]),
        };
        let parent = if parent_path.is_empty() {
            0
        } else {
            *index.get(parent_path).ok_or_else(|| {
                invalid(format!(
                    "{}: parent directory missing",
                    String::from_utf8_lossy(path)
                ))
            })?
        };
        if inodes[parent].node.kind != Kind::Dir {
            return Err(invalid(format!(
                "{}: parent is not a directory",
                String::from_utf8_lossy(path)
            )));
        }
        if name.len() > 255 {
            return Err(invalid(format!(
                "{}: name longer than 255 bytes",
                String::from_utf8_lossy(path)
            )));
        }
        let i = inodes.len();
        index.insert(path.as_slice(), i);
        inodes.push(Inode {
            node,
            children: Vec::new(),
            parent,
            size: 0,
            inline: false,
            nid: 0,
            blkaddr: 0,
            nlink: 1,
        });
        inodes[parent].children.push((name, i));
    }
    Ok(inodes)
}

/// Sorts directories' children and sets every inode's size, inline flag and link count.
/// Returns each directory's blocks (`None` for other inodes).
fn size_inodes<'a>(inodes: &mut [Inode<'a>]) -> Vec<Option<DirBlocks<'a>>> {
    let n = inodes.len();
    let mut dirs: Vec<Option<DirBlocks<'_>>> = Vec::with_capacity(n);
    for i in 0..n {
        let parent = inodes[i].parent;
        let mut subdirs = 0;
        let size = match &inodes[i].node.kind {
            Kind::Dir => {
                inodes[i].children.sort_by(|a, b| a.0.cmp(b.0));
                subdirs = inodes[i]
                    .children
                    .iter()
                    .filter(|(_, c)| tree_kind_is_dir(inodes, *c))
                    .count() as u32;
                let (blocks, size) = dir_blocks(i, parent, &inodes[i].children);
                dirs.push(Some(blocks));
                size
            }
            Kind::File { len, .. } => {
                dirs.push(None);
                *len
            }
            Kind::Symlink(t) => {
                dirs.push(None);
                t.len() as u64
            }
            _ => {
                dirs.push(None);
                0
            }
        };
        let ino = &mut inodes[i];
        ino.size = size;
        ino.inline = size % BLOCK != 0 && size % BLOCK <= INLINE_MAX;
        if ino.node.kind == Kind::Dir {
            ino.nlink = 2 + subdirs;
        }
    }
    dirs
}

/// Step 2, nids: inodes (and inline tails) after the superblock, 32-byte aligned. Returns
/// the end of the metadata area (block aligned).
fn assign_nids(inodes: &mut [Inode<'_>]) -> io::Result<u64> {
    let mut pos = SUPERBLOCK_END;
    for ino in inodes.iter_mut() {
        let need = INODE_SIZE + ino.tail();
        if pos % BLOCK + need > BLOCK {
            pos = pos.div_ceil(BLOCK) * BLOCK;
        }
        ino.nid = pos / 32;
        pos = (pos + need).div_ceil(32) * 32;
    }
    if inodes[0].nid > u64::from(u16::MAX) {
        return Err(invalid("root inode out of range".into()));
    }
    Ok(pos.div_ceil(BLOCK) * BLOCK)
}

/// Step 3, data blocks: after the metadata, in inode order. Returns the image's size in blocks.
fn assign_blocks(inodes: &mut [Inode<'_>], meta_end: u64) -> io::Result<u32> {
    let mut next = meta_end / BLOCK;
    for ino in inodes.iter_mut() {
        let blocks = ino.data_blocks();
        if blocks > 0 {
            ino.blkaddr =
                u32::try_from(next).map_err(|_| invalid("image larger than 16 TiB".into()))?;
            next += blocks;
        }
    }
    u32::try_from(next).map_err(|_| invalid("image too large".into()))
}

/// Step 4, the superblock and metadata (inodes and inline tails), in memory.
fn metadata(tree: &Tree, layout: &Layout<'_>, uuid: [u8; 16]) -> io::Result<Vec<u8>> {
    let inodes = &layout.inodes;
    let mut meta = vec![0u8; layout.meta_end as usize];
    {
        let sb = &mut meta[SUPERBLOCK_OFFSET..SUPERBLOCK_OFFSET + 128];
        sb[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        sb[12] = 12; // blkszbits
        sb[14..16].copy_from_slice(&(inodes[0].nid as u16).to_le_bytes());
        sb[16..24].copy_from_slice(&(inodes.len() as u64).to_le_bytes());
        sb[24..32].copy_from_slice(&crate::DEFAULT_MTIME.to_le_bytes());
        sb[36..40].copy_from_slice(&layout.total_blocks.to_le_bytes());
        // meta_blkaddr = 0, xattr_blkaddr = 0.
        sb[48..64].copy_from_slice(&uuid);
    }
    for i in 0..inodes.len() {
        write_inode(tree, layout, i, &mut meta)?;
    }
    Ok(meta)
}

/// Writes inode `i` (and its inline tail) into the metadata area `meta`.
fn write_inode(tree: &Tree, layout: &Layout<'_>, i: usize, meta: &mut [u8]) -> io::Result<()> {
    let inodes = &layout.inodes;
    let ino = &inodes[i];
    let at = (ino.nid * 32) as usize;
    let node = ino.node;
    let format = if ino.inline {
        LAYOUT_FLAT_INLINE
    } else {
        LAYOUT_FLAT_PLAIN
    };
    let i_u = match node.kind {
        Kind::Char(ma, mi) | Kind::Block(ma, mi) => encode_dev(ma, mi),
        _ => ino.blkaddr,
    };
    let b = &mut meta[at..at + INODE_SIZE as usize];
    b[0..2].copy_from_slice(&(1 | (format << 1)).to_le_bytes());
    b[4..6].copy_from_slice(&mode(node).to_le_bytes());
    b[8..16].copy_from_slice(&ino.size.to_le_bytes());
    b[16..20].copy_from_slice(&i_u.to_le_bytes());
    b[20..24].copy_from_slice(&(i as u32 + 1).to_le_bytes());
    b[24..28].copy_from_slice(&node.uid.to_le_bytes());
    b[28..32].copy_from_slice(&node.gid.to_le_bytes());
    b[32..40].copy_from_slice(&u64::from(node.mtime).to_le_bytes());
    b[44..48].copy_from_slice(&ino.nlink.to_le_bytes());
    if ino.inline {
        let tail = ino.tail() as usize;
        let t = at + INODE_SIZE as usize;
        let dst = &mut meta[t..t + tail];
        let skip = ino.size - tail as u64;
        match &node.kind {
            Kind::File { offset, len } => {
                tree.reader(offset + skip, len - skip).read_exact(dst)?;
            }
            Kind::Symlink(target) => dst.copy_from_slice(target),
            Kind::Dir => {
                let blocks = layout.dirs[i].as_deref().unwrap_or_default();
                let last = dir_block(blocks.last().map(Vec::as_slice).unwrap_or(&[]), inodes);
                dst.copy_from_slice(&last[..tail]);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Step 5, data: every inode's whole blocks, in inode order. Returns the image size in bytes.
fn write_data(tree: &Tree, layout: &Layout<'_>, out: &mut dyn Write) -> io::Result<u64> {
    let inodes = &layout.inodes;
    let zeros = [0u8; BLOCK as usize];
    let mut written = layout.meta_end;
    for (i, ino) in inodes.iter().enumerate() {
        let blocks = ino.data_blocks();
        if blocks == 0 {
            continue;
        }
        let len = if ino.inline { blocks * BLOCK } else { ino.size };
        match &ino.node.kind {
            Kind::File { offset, .. } => {
                let copied = io::copy(&mut tree.reader(*offset, len), out)?;
                if copied != len {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            Kind::Symlink(target) => out.write_all(&target[..len as usize])?,
            Kind::Dir => {
                // Every block written here is whole (an inline tail is in the metadata).
                let list = layout.dirs[i].as_deref().unwrap_or_default();
                for entries in list.iter().take(blocks as usize) {
                    let b = dir_block(entries, inodes);
                    out.write_all(&b)?;
                    out.write_all(&zeros[..BLOCK as usize - b.len()])?;
                }
                written += blocks * BLOCK;
                continue;
            }
            _ => {}
        }
        out.write_all(&zeros[..(blocks * BLOCK - len) as usize])?;
        written += blocks * BLOCK;
    }
    Ok(written)
}

fn tree_kind_is_dir(inodes: &[Inode<'_>], i: usize) -> bool {
    inodes[i].node.kind == Kind::Dir
}
