//! Disk images: FAT file systems (`fatfs`), GPT partition tables (`gpt`), windows into an
//! image file, and deterministic identifiers.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// 1 MiB: partitions start and disks end on MiB boundaries.
pub(crate) const MIB: u64 = 1 << 20;

/// A region of a file seen as a whole device.
#[derive(Debug)]
pub(crate) struct Window<'a> {
    file: &'a mut File,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Window<'a> {
    pub(crate) fn new(file: &'a mut File, start: u64, len: u64) -> Self {
        Window {
            file,
            start,
            len,
            pos: 0,
        }
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        if n == 0 {
            return Ok(0);
        }
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.file.read(&mut buf[..n])?;
        // Unwritten parts of a sparse image read as zeros already; past EOF too.
        let got = if got == 0 {
            buf[..n].fill(0);
            n
        } else {
            got
        };
        self.pos += got as u64;
        Ok(got)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let w = self.file.write(&buf[..n])?;
        self.pos += w as u64;
        Ok(w)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let p = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if p < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            ));
        }
        self.pos = p as u64;
        Ok(self.pos)
    }
}

/// FNV-1a: identifiers (volume ids, GUIDs) derived from the inputs instead of random ones.
pub(crate) fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A version-4-shaped UUID derived from `seed`.
pub(crate) fn uuid_from(seed: &[&[u8]]) -> uuid::Uuid {
    let a = fnv64(seed).to_le_bytes();
    let mut more: Vec<&[u8]> = seed.to_vec();
    more.push(b"second half");
    let b = fnv64(&more).to_le_bytes();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a);
    bytes[8..].copy_from_slice(&b);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// FAT timestamps: LinuxKit's fixed time (2017-04-18 16:30:00), never the clock.
#[derive(Debug)]
pub(crate) struct FixedTime;

impl FixedTime {
    pub(crate) fn date_time() -> fatfs::DateTime {
        fatfs::DateTime {
            date: Self::date(),
            time: fatfs::Time {
                hour: 16,
                min: 30,
                sec: 0,
                millis: 0,
            },
        }
    }
    fn date() -> fatfs::Date {
        fatfs::Date {
            year: 2017,
            month: 4,
            day: 18,
        }
    }
}

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        Self::date()
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        Self::date_time()
    }
}

/// The file system options every FAT image is written with.
pub(crate) fn fat_options() -> fatfs::FsOptions {
    static FIXED: FixedTime = FixedTime;
    fatfs::FsOptions::new().time_provider(&FIXED)
}

/// Sets the timestamps of existing files (written by other tools) to the fixed time.
pub(crate) fn fix_fat_times<D: Read + Write + Seek>(dev: D, paths: &[&str]) -> io::Result<()> {
    let fs = fatfs::FileSystem::new(dev, fat_options())?;
    {
        let root = fs.root_dir();
        for p in paths {
            let mut f = root.open_file(p)?;
            // Deprecated in favour of a TimeProvider, which cannot change what another tool
            // (mtools) already wrote.
            #[allow(deprecated)]
            f.set_created(FixedTime::date_time());
            #[allow(deprecated)]
            f.set_modified(FixedTime::date_time());
            #[allow(deprecated)]
            f.set_accessed(FixedTime::date());
            f.flush()?;
        }
    }
    fs.unmount()
}

/// One file to put into a FAT file system.
pub(crate) struct FatFile<'a> {
    /// Path with `/` separators, e.g. `EFI/BOOT/BOOTX64.EFI`.
    pub path: &'a str,
    /// Writes the contents.
    pub write: &'a mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
}

/// Size of a FAT file system that holds `content` bytes in a few files: MiB-aligned, with
/// room for the tables and cluster slack.
pub(crate) fn fat_size(content: u64) -> u64 {
    (content + content / 32 + 2 * MIB).div_ceil(MIB) * MIB
}

/// Formats `dev` as FAT (type chosen by size) and writes `files`.
pub(crate) fn write_fat<D: Read + Write + Seek>(
    mut dev: D,
    volume_id: u32,
    label: &[u8; 11],
    files: &mut [FatFile<'_>],
) -> io::Result<()> {
    fatfs::format_volume(
        &mut dev,
        fatfs::FormatVolumeOptions::new()
            .volume_id(volume_id)
            .volume_label(*label),
    )?;
    let fs = fatfs::FileSystem::new(dev, fat_options())?;
    {
        let root = fs.root_dir();
        for f in files.iter_mut() {
            let mut dir = root.clone();
            let mut parts: Vec<&str> = f.path.split('/').collect();
            let name = parts.pop().unwrap_or_default();
            for p in parts {
                dir = match dir.open_dir(p) {
                    Ok(d) => d,
                    Err(_) => dir.create_dir(p)?,
                };
            }
            let mut file = dir.create_file(name)?;
            file.truncate()?;
            let mut buf = io::BufWriter::with_capacity(MIB as usize, &mut file);
            (f.write)(&mut buf)?;
            buf.flush()?;
        }
    }
    fs.unmount()
}

/// One GPT partition: type, name, LBA range (inclusive), attribute flags.
pub(crate) struct GptPart<'a> {
    pub part_type: gpt::partition_types::Type,
    pub name: &'a str,
    pub first_lba: u64,
    pub last_lba: u64,
    pub flags: u64,
}

/// Writes a protective MBR and a GPT with `parts` (numbered from 1, GUIDs derived from `seed`)
/// to `file`, which is already `disk_len` bytes long.
pub(crate) fn write_gpt_parts(
    file: &mut File,
    disk_len: u64,
    parts: &[GptPart<'_>],
    seed: &[&[u8]],
) -> io::Result<()> {
    let sectors = disk_len / 512;
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(sectors - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(file).map_err(io::Error::other)?;
    let mut disk_seed = seed.to_vec();
    disk_seed.push(b"disk");
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(&mut *file, Some(uuid_from(&disk_seed)))
        .map_err(io::Error::other)?;
    let mut table = BTreeMap::new();
    for i in 1..=128u32 {
        table.insert(i, gpt::partition::Partition::zero());
    }
    for (i, p) in parts.iter().enumerate() {
        let number = i as u32 + 1;
        let label = format!("partition {number}");
        let mut part_seed = seed.to_vec();
        part_seed.push(label.as_bytes());
        table.insert(
            number,
            gpt::partition::Partition {
                part_type_guid: p.part_type.clone(),
                part_guid: uuid_from(&part_seed),
                first_lba: p.first_lba,
                last_lba: p.last_lba,
                flags: p.flags,
                name: p.name.to_string(),
            },
        );
    }
    disk.update_partitions(table).map_err(io::Error::other)?;
    disk.write().map_err(io::Error::other)?;
    Ok(())
}
