//! ISO 9660 images with Rock Ridge and Joliet (`hadris-iso`): the root filesystem for
//! `kernel+iso` (upstream: `genisoimage -l -J -R -V LinuxKit`), ISOLINUX hybrid images for
//! `iso-bios`, and El Torito EFI images for `iso-efi`/`iso-efi-initrd`.
//!
//! hadris-iso stamps the current time into volume descriptors and directory records; after
//! writing, [`fix_times`] replaces every timestamp from the writing window with LinuxKit's
//! fixed time so the same inputs give the same bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hadris_iso::boot::options::{BootEntryOptions, BootOptions, BootSectionOptions};
use hadris_iso::boot::{EmulationType, PlatformId};
use hadris_iso::joliet::JolietLevel;
use hadris_iso::read::PathSeparator;
use hadris_iso::rrip::RripOptions;
use hadris_iso::write::options::{
    BaseIsoLevel, CreationFeatures, HybridBootOptions, IsoFormatOptions,
};
use hadris_iso::write::{FileSource, InputEntry, InputEntryKind, InputMetadata, IsoImageWriter};

use crate::tree::{Kind, Node, Tree};

/// How the image boots.
pub(crate) enum Boot {
    /// Not bootable (`kernel+iso`).
    None,
    /// ISOLINUX from `boot_image` (a path in the image), hybrid MBR from `mbr`.
    Bios { boot_image: String, mbr: Vec<u8> },
    /// El Torito EFI image at `boot_image` (a FAT image in the tree).
    Efi { boot_image: String },
}

/// An extra file at a path inside the image (bootloader files, kernel, ...).
pub(crate) struct Extra {
    pub path: String,
    pub len: u64,
    pub open: Arc<dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync>,
}

impl Extra {
    /// An extra file held in memory.
    pub(crate) fn bytes(path: &str, data: Vec<u8>) -> Extra {
        let data = Arc::new(data);
        Extra {
            path: path.into(),
            len: data.len() as u64,
            open: Arc::new(move || {
                Ok(Box::new(io::Cursor::new(Arc::clone(&data).to_vec())) as Box<dyn Read + Send>)
            }),
        }
    }
}

fn meta(n: &Node) -> InputMetadata {
    InputMetadata {
        mode: Some(n.perm),
        uid: Some(n.uid),
        gid: Some(n.gid),
        created: Some(i64::from(n.mtime)),
        modified: Some(i64::from(n.mtime)),
        accessed: Some(i64::from(n.mtime)),
    }
}

fn fixed_meta(mode: u32) -> InputMetadata {
    let t = crate::DEFAULT_MTIME as i64;
    InputMetadata {
        mode: Some(mode),
        uid: Some(0),
        gid: Some(0),
        created: Some(t),
        modified: Some(t),
        accessed: Some(t),
    }
}

/// A directory being assembled: children by name (sorted).
#[derive(Default)]
struct Dir {
    node: Option<Node>,
    dirs: std::collections::BTreeMap<String, Dir>,
    leaves: std::collections::BTreeMap<String, InputEntry>,
}

impl Dir {
    fn at(&mut self, path: &[&str]) -> &mut Dir {
        let mut d = self;
        for p in path {
            d.leaves.remove(*p);
            d = d.dirs.entry((*p).to_string()).or_default();
        }
        d
    }

    fn into_entries(self) -> Vec<InputEntry> {
        let mut v: Vec<InputEntry> = self.leaves.into_values().collect();
        for (name, d) in self.dirs {
            let m = d
                .node
                .as_ref()
                .map(meta)
                .unwrap_or_else(|| fixed_meta(0o755));
            v.push(InputEntry::directory(name, d.into_entries()).with_metadata(m));
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

fn source(
    len: u64,
    open: Arc<dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync>,
) -> FileSource {
    FileSource::new(len, move || open())
}

/// Writes an ISO of `tree` (if any) plus `extras` to `out`.
pub(crate) fn write(
    out: &mut File,
    tree: Option<&Tree>,
    extras: Vec<Extra>,
    boot: Boot,
) -> io::Result<()> {
    let mut root = Dir::default();
    if let Some(t) = tree {
        add_tree(&mut root, t);
    }
    add_extras(&mut root, extras);
    let entries = root.into_entries();
    let (el_torito, hybrid) = boot_options(&boot);
    let options = format_options(el_torito, hybrid);
    let before = now();
    out.set_len(0)?;
    out.seek(SeekFrom::Start(0))?;
    let tree = hadris_iso::write::InputTree::new(PathSeparator::ForwardSlash, entries);
    IsoImageWriter::create(&mut *out, tree, options)
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    let after = now();
    fix_times(out, before, after)?;
    if let Boot::Bios { .. } = boot {
        patch_isohybrid(out)?;
    }
    out.flush()
}

/// Adds the nodes of `t` under `root` (named pipes are left out: hadris-iso has none).
fn add_tree(root: &mut Dir, t: &Tree) {
    root.node = Some(t.root.clone());
    for (path, node) in &t.nodes {
        let p = String::from_utf8_lossy(path).into_owned();
        let mut parts: Vec<&str> = p.split('/').collect();
        let name = parts.pop().unwrap_or_default().to_string();
        let parent = root.at(&parts);
        let entry = match &node.kind {
            Kind::Dir => {
                parent.at(&[name.as_str()]).node = Some(node.clone());
                continue;
            }
            Kind::File { offset, len } => {
                let data = Arc::clone(&t.data);
                let (offset, len) = (*offset, *len);
                let open: Arc<dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync> =
                    Arc::new(move || {
                        Ok(
                            Box::new(crate::tree::DataReader::new(Arc::clone(&data), offset, len))
                                as Box<dyn Read + Send>,
                        )
                    });
                InputEntry {
                    name: Arc::new(name.clone()),
                    kind: InputEntryKind::Source(source(len, open)),
                    metadata: InputMetadata::default(),
                }
            }
            Kind::Symlink(target) => {
                InputEntry::symlink(name.clone(), String::from_utf8_lossy(target).into_owned())
            }
            Kind::Char(ma, mi) => InputEntry::character_device(name.clone(), *ma, *mi),
            Kind::Block(ma, mi) => InputEntry::block_device(name.clone(), *ma, *mi),
            // ISO 9660 has no named pipes in hadris-iso; they are left out.
            Kind::Fifo => continue,
        };
        parent.dirs.remove(&name);
        parent.leaves.insert(name, entry.with_metadata(meta(node)));
    }
}

/// Adds `extras` under `root` (root's, 0644, the fixed time).
fn add_extras(root: &mut Dir, extras: Vec<Extra>) {
    for e in extras {
        let mut parts: Vec<&str> = e.path.split('/').collect();
        let name = parts.pop().unwrap_or_default().to_string();
        let parent = root.at(&parts);
        let entry = InputEntry {
            name: Arc::new(name.clone()),
            kind: InputEntryKind::Source(source(e.len, e.open)),
            metadata: fixed_meta(0o644),
        };
        parent.leaves.insert(name, entry);
    }
}

/// The El Torito boot options and the hybrid MBR for `boot`.
fn boot_options(boot: &Boot) -> (Option<BootOptions>, Option<HybridBootOptions>) {
    match boot {
        Boot::None => (None, None),
        Boot::Bios { boot_image, mbr } => (
            Some(BootOptions {
                write_boot_catalog: true,
                default: BootEntryOptions {
                    load_size: NonZeroU16::new(4),
                    boot_image_path: boot_image.clone(),
                    boot_info_table: true,
                    grub2_boot_info: false,
                    emulation: EmulationType::NoEmulation,
                },
                entries: vec![],
            }),
            Some(HybridBootOptions::mbr().bootstrap(mbr[..mbr.len().min(432)].to_vec())),
        ),
        Boot::Efi { boot_image } => {
            let entry = BootEntryOptions {
                load_size: None,
                boot_image_path: boot_image.clone(),
                boot_info_table: false,
                grub2_boot_info: false,
                emulation: EmulationType::NoEmulation,
            };
            (
                Some(BootOptions {
                    write_boot_catalog: true,
                    default: entry.clone(),
                    entries: vec![(
                        BootSectionOptions {
                            platform: PlatformId::UEFI,
                        },
                        entry,
                    )],
                }),
                None,
            )
        }
    }
}

/// `genisoimage -l -J -R -V LinuxKit`'s options, with the boot options.
fn format_options(
    el_torito: Option<BootOptions>,
    hybrid: Option<HybridBootOptions>,
) -> IsoFormatOptions {
    IsoFormatOptions {
        volume_name: "LinuxKit".into(),
        system_id: None,
        volume_set_id: None,
        publisher_id: None,
        preparer_id: None,
        application_id: None,
        sector_size: 2048,
        path_separator: PathSeparator::ForwardSlash,
        features: CreationFeatures {
            filenames: BaseIsoLevel::Level2 {
                supports_lowercase: false,
                supports_rrip: true,
            },
            long_filenames: false,
            joliet: Some(JolietLevel::Level3),
            rock_ridge: Some(RripOptions::default()),
            el_torito,
            hybrid_boot: hybrid,
        },
        strict_charset: false,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// (year, month, day, hour, minute, second) of a Unix time, UTC.
fn civil(t: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (t / 86400) as i64;
    let secs = t % 86400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs / 60 % 60) as u32,
        (secs % 60) as u32,
    )
}

/// The 7-byte directory-record date of `t`.
fn dir_date(t: u64) -> [u8; 7] {
    let (y, mo, d, h, mi, s) = civil(t);
    [
        (y - 1900) as u8,
        mo as u8,
        d as u8,
        h as u8,
        mi as u8,
        s as u8,
        0,
    ]
}

/// The 17-byte volume-descriptor date of `t`.
fn dec_date(t: u64) -> [u8; 17] {
    let (y, mo, d, h, mi, s) = civil(t);
    let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}00");
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(text.as_bytes());
    out
}

fn read_at(f: &mut File, off: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; len];
    f.seek(SeekFrom::Start(off))?;
    f.read_exact(&mut b)?;
    Ok(b)
}

fn write_at(f: &mut File, off: u64, data: &[u8]) -> io::Result<()> {
    f.seek(SeekFrom::Start(off))?;
    f.write_all(data)
}

/// Replaces timestamps written between `from` and `to` with LinuxKit's fixed time.
fn fix_times(f: &mut File, from: u64, to: u64) -> io::Result<()> {
    let fixed_dir = dir_date(crate::DEFAULT_MTIME);
    let fixed_dec = dec_date(crate::DEFAULT_MTIME);
    let window: Vec<u64> = (from.saturating_sub(1)..=to + 1).collect();
    let dirs: Vec<[u8; 7]> = window.iter().map(|&t| dir_date(t)).collect();
    let decs: Vec<[u8; 17]> = window.iter().map(|&t| dec_date(t)).collect();
    let mut roots = Vec::new();
    for sector in 16..64u64 {
        let vd = read_at(f, sector * 2048, 2048)?;
        if &vd[1..6] != b"CD001" {
            break;
        }
        if vd[0] == 255 {
            break;
        }
        if vd[0] == 1 || vd[0] == 2 {
            for off in [813usize, 830, 847, 864] {
                if decs.iter().any(|d| d[..14] == vd[off..off + 14]) {
                    write_at(f, sector * 2048 + off as u64, &fixed_dec)?;
                }
            }
            let rec = sector * 2048 + 156;
            fix_record(f, rec, &vd[156..190], &dirs, &fixed_dir)?;
            let extent = u32::from_le_bytes([vd[158], vd[159], vd[160], vd[161]]);
            let len = u32::from_le_bytes([vd[166], vd[167], vd[168], vd[169]]);
            roots.push((u64::from(extent), u64::from(len)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut stack = roots;
    while let Some((extent, len)) = stack.pop() {
        if !seen.insert(extent) || len > (64 << 20) {
            continue;
        }
        let base = extent * 2048;
        let data = read_at(f, base, len as usize)?;
        let mut i = 0usize;
        while i < data.len() {
            let rl = data[i] as usize;
            if rl == 0 {
                // Records do not cross sectors: skip to the next one.
                i = (i / 2048 + 1) * 2048;
                continue;
            }
            if i + rl > data.len() || rl < 34 {
                break;
            }
            let rec = &data[i..i + rl];
            fix_record(f, base + i as u64, rec, &dirs, &fixed_dir)?;
            let name_len = rec[32] as usize;
            let is_self_or_parent = name_len == 1 && (rec[33] == 0 || rec[33] == 1);
            if rec[25] & 2 != 0 && !is_self_or_parent {
                let e = u32::from_le_bytes([rec[2], rec[3], rec[4], rec[5]]);
                let l = u32::from_le_bytes([rec[10], rec[11], rec[12], rec[13]]);
                stack.push((u64::from(e), u64::from(l)));
            }
            i += rl;
        }
    }
    Ok(())
}

/// Fixes the recording date of one directory record and the times of its Rock Ridge `TF`.
fn fix_record(
    f: &mut File,
    at: u64,
    rec: &[u8],
    dirs: &[[u8; 7]],
    fixed: &[u8; 7],
) -> io::Result<()> {
    if dirs.iter().any(|d| d[..6] == rec[18..24]) {
        write_at(f, at + 18, fixed)?;
    }
    let name_len = rec[32] as usize;
    let mut su = 33 + name_len;
    if su % 2 == 1 {
        su += 1;
    }
    while su + 4 <= rec.len() {
        let sig = &rec[su..su + 2];
        let l = rec[su + 2] as usize;
        if l < 4 || su + l > rec.len() {
            break;
        }
        if sig == b"TF" {
            let flags = rec[su + 4];
            let size = if flags & 0x80 != 0 { 17 } else { 7 };
            let count = (flags & 0x7f).count_ones() as usize;
            for k in 0..count {
                let o = su + 5 + k * size;
                if size == 7 && o + 7 <= su + l && dirs.iter().any(|d| d[..6] == rec[o..o + 6]) {
                    write_at(f, at + o as u64, fixed)?;
                }
            }
        }
        su += l;
    }
    Ok(())
}

/// Makes the ISOLINUX hybrid MBR find `isolinux.bin`: its LBA in 512-byte sectors goes at
/// offset 432 (what `isohybrid` writes).
fn patch_isohybrid(f: &mut File) -> io::Result<()> {
    let brvd = read_at(f, 17 * 2048, 2048)?;
    if brvd[0] != 0 || &brvd[7..30] != b"EL TORITO SPECIFICATION" {
        return Err(io::Error::other("no El Torito boot record at sector 17"));
    }
    let catalog = u32::from_le_bytes([brvd[0x47], brvd[0x48], brvd[0x49], brvd[0x4a]]);
    let cat = read_at(f, u64::from(catalog) * 2048, 64)?;
    let rba = u32::from_le_bytes([cat[40], cat[41], cat[42], cat[43]]);
    let mut patch = [0u8; 8];
    patch[..4].copy_from_slice(&(rba * 4).to_le_bytes());
    write_at(f, 432, &patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_linuxkits_fixed_time() {
        assert_eq!(civil(1_492_533_000), (2017, 4, 18, 16, 30, 0));
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(&dec_date(1_492_533_000)[..16], b"2017041816300000");
        assert_eq!(dir_date(1_492_533_000), [117, 4, 18, 16, 30, 0, 0]);
    }
}
