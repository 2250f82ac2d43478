//! Updatable disks: a `raw-efi` or `qcow2-efi` disk whose ESP is laid out for A/B updates
//! (GPT partition name `linuxkit_update::esp::PARTITION_NAME`) is run without `-no-reboot`, so
//! a guest that reboots into a new version (or falls back) restarts in the same VM on the same
//! disk instead of ending the run.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Reads bytes at a guest offset; `false` when it cannot.
type ReadAt = dyn FnMut(u64, &mut [u8]) -> bool;

/// Whether the disk at `path` (QEMU format `format`) has an updatable ESP.
pub fn updatable_disk(path: &Path, format: &str) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut reader: Box<ReadAt> = match format {
        "raw" => Box::new(move |off, buf| {
            f.seek(SeekFrom::Start(off)).is_ok() && f.read_exact(buf).is_ok()
        }),
        "qcow2" => match Qcow2::open(f) {
            Some(mut q) => Box::new(move |off, buf| q.read(off, buf)),
            None => return false,
        },
        _ => return false,
    };
    gpt_names(&mut *reader)
        .iter()
        .any(|n| n == linuxkit_update::esp::PARTITION_NAME)
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]))
}

/// The partition names of a GPT disk with 512-byte sectors (none when it has no GPT).
fn gpt_names(read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> Vec<String> {
    let mut header = [0u8; 92];
    if !read(512, &mut header) || &header[..8] != b"EFI PART" {
        return Vec::new();
    }
    let start = u64_at(&header, 72).saturating_mul(512);
    let count = u32_at(&header, 80).min(256) as usize;
    let size = u32_at(&header, 84) as usize;
    if !(128..=4096).contains(&size) {
        return Vec::new();
    }
    let mut table = vec![0u8; count * size];
    if !read(start, &mut table) {
        return Vec::new();
    }
    table
        .chunks(size)
        .filter(|e| e[..16].iter().any(|&b| b != 0))
        .map(|e| {
            let units: Vec<u16> = e[56..128]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            String::from_utf16_lossy(&units)
        })
        .collect()
}

/// Just enough of qcow2 to read the start of a disk: allocated, uncompressed, unencrypted
/// clusters through the L1 and L2 tables (what `qemu-img convert` writes); anything else reads
/// as zeros.
struct Qcow2 {
    file: File,
    cluster_bits: u32,
    l1_offset: u64,
    l1_size: u64,
}

impl Qcow2 {
    fn open(mut file: File) -> Option<Qcow2> {
        let mut h = [0u8; 48];
        file.read_exact(&mut h).ok()?;
        if &h[..4] != b"QFI\xfb" {
            return None;
        }
        let be32 = |o: usize| u32::from_be_bytes(h[o..o + 4].try_into().unwrap_or([0; 4]));
        let be64 = |o: usize| u64::from_be_bytes(h[o..o + 8].try_into().unwrap_or([0; 8]));
        let cluster_bits = be32(20);
        if !(9..=21).contains(&cluster_bits) || be32(32) != 0 {
            return None;
        }
        Some(Qcow2 {
            file,
            cluster_bits,
            l1_size: u64::from(be32(36)),
            l1_offset: be64(40),
        })
    }

    fn entry(&mut self, at: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.file.seek(SeekFrom::Start(at)).ok()?;
        self.file.read_exact(&mut b).ok()?;
        Some(u64::from_be_bytes(b))
    }

    /// The host offset of guest offset `off`, `None` when unallocated (zeros).
    fn map(&mut self, off: u64) -> Option<u64> {
        let cluster = 1u64 << self.cluster_bits;
        let l2_entries = cluster / 8;
        let l1_index = off / cluster / l2_entries;
        if l1_index >= self.l1_size {
            return None;
        }
        let l2 = self.entry(self.l1_offset + 8 * l1_index)? & 0x00ff_ffff_ffff_fe00;
        if l2 == 0 {
            return None;
        }
        let e = self.entry(l2 + 8 * ((off / cluster) % l2_entries))?;
        if e & (1 << 62) != 0 {
            return None;
        }
        let host = e & 0x00ff_ffff_ffff_fe00;
        (host != 0).then_some(host + off % cluster)
    }

    fn read(&mut self, mut off: u64, buf: &mut [u8]) -> bool {
        let cluster = 1u64 << self.cluster_bits;
        let mut done = 0;
        while done < buf.len() {
            let n = ((cluster - off % cluster) as usize).min(buf.len() - done);
            match self.map(off) {
                Some(host) => {
                    if self.file.seek(SeekFrom::Start(host)).is_err()
                        || self.file.read_exact(&mut buf[done..done + n]).is_err()
                    {
                        return false;
                    }
                }
                None => buf[done..done + n].fill(0),
            }
            done += n;
            off += n as u64;
        }
        true
    }
}
