//! BIOS disks (`raw-bios` and the formats converted from it): an MBR disk with one active FAT
//! partition at 1 MiB holding `kernel`, `initrd.img` and `syslinux.cfg`, made bootable by
//! SYSLINUX, as upstream's `mkimage-raw-bios`.
//!
//! The FAT file system is written natively (`fatfs`); installing SYSLINUX's boot sector and
//! `ldlinux.sys` (whose sector list is patched into the boot sector) is left to Debian's
//! `syslinux --install --offset`, which does exactly that on an image file.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use crate::disk::{self, FatFile, Window, MIB};
use crate::efi::Payload;
use crate::{Format, OutputError};

/// SYSLINUX's MBR boot code (`syslinux-common`).
pub(crate) const MBR_BIN: crate::bootfiles::BootFile = crate::bootfiles::BootFile {
    paths: &[
        "/usr/lib/syslinux/mbr/mbr.bin",
        "/usr/share/syslinux/mbr.bin",
    ],
    package: "syslinux-common",
};

/// Writes a `raw-bios` disk of at least `min_len` bytes to `out` (at `out_path`).
pub(crate) fn write_raw_bios(
    format: Format,
    out: &mut File,
    out_path: &Path,
    p: &mut Payload<'_>,
    min_len: u64,
    seed: &[&[u8]],
) -> Result<u64, OutputError> {
    let werr = |source: io::Error| OutputError::Write {
        path: out_path.to_path_buf(),
        source,
    };
    let mbr_code = MBR_BIN.read(format)?;
    let cfg = format!(
        "DEFAULT linux\nLABEL linux\n    KERNEL /kernel\n    INITRD /initrd.img\n    APPEND {}\n",
        p.cmdline
    );
    let initrd_len =
        p.boot.ucode.len() as u64 + p.initrd_gz.seek(SeekFrom::End(0)).map_err(werr)?;
    let fat_len = disk::fat_size(p.boot.kernel.len() as u64 + initrd_len + (1 << 16));
    let disk_len = (MIB + fat_len + MIB).max(min_len.div_ceil(MIB) * MIB);
    out.set_len(disk_len).map_err(werr)?;
    {
        let kernel = p.boot.kernel.as_slice();
        let ucode = p.boot.ucode.as_slice();
        let gz = &mut *p.initrd_gz;
        let mut write_kernel = |w: &mut dyn Write| w.write_all(kernel);
        let mut write_initrd = |w: &mut dyn Write| {
            w.write_all(ucode)?;
            gz.seek(SeekFrom::Start(0))?;
            io::copy(gz, w).map(|_| ())
        };
        let mut write_cfg = |w: &mut dyn Write| w.write_all(cfg.as_bytes());
        disk::write_fat(
            Window::new(out, MIB, fat_len),
            disk::fnv64(seed) as u32,
            b"LINUXKIT   ",
            &mut [
                FatFile {
                    path: "syslinux.cfg",
                    write: &mut write_cfg,
                },
                FatFile {
                    path: "kernel",
                    write: &mut write_kernel,
                },
                FatFile {
                    path: "initrd.img",
                    write: &mut write_initrd,
                },
            ],
        )
        .map_err(werr)?;
    }
    // The boot sector must know where its partition starts (hidden sectors).
    write_at(out, MIB + 28, &((MIB / 512) as u32).to_le_bytes()).map_err(werr)?;
    out.flush().map_err(werr)?;
    out.sync_all().map_err(werr)?;

    let o = Command::new("syslinux")
        .args(["--install", "--offset"])
        .arg(MIB.to_string())
        .arg(out_path)
        .output()
        .map_err(|e| OutputError::Tool {
            tool: "syslinux".into(),
            format: format.name().into(),
            message: format!(
                "cannot run syslinux ({e}): install it with `apt-get install -y syslinux mtools`"
            ),
        })?;
    if !o.status.success() {
        return Err(OutputError::Tool {
            tool: "syslinux".into(),
            format: format.name().into(),
            message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        });
    }
    write_at(out, MIB + 28, &((MIB / 512) as u32).to_le_bytes()).map_err(werr)?;
    // mtools stamps the files it wrote with the clock.
    disk::fix_fat_times(
        Window::new(out, MIB, fat_len),
        &["ldlinux.sys", "ldlinux.c32"],
    )
    .map_err(werr)?;

    // MBR: SYSLINUX boot code, a disk signature, one active partition.
    let mut bpb = [0u8; 90];
    out.seek(SeekFrom::Start(MIB)).map_err(werr)?;
    io::Read::read_exact(out, &mut bpb).map_err(werr)?;
    let part_type: u8 = match (&bpb[54..62], &bpb[82..90]) {
        (_, b"FAT32   ") => 0x0c,
        (b"FAT12   ", _) => 0x01,
        _ => 0x0e,
    };
    let mut mbr = [0u8; 512];
    let code = mbr_code.len().min(440);
    mbr[..code].copy_from_slice(&mbr_code[..code]);
    mbr[440..444].copy_from_slice(&(disk::fnv64(seed) as u32).to_le_bytes());
    let e = &mut mbr[446..462];
    e[0] = 0x80;
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[4] = part_type;
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[8..12].copy_from_slice(&((MIB / 512) as u32).to_le_bytes());
    e[12..16].copy_from_slice(&((fat_len / 512) as u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    write_at(out, 0, &mbr).map_err(werr)?;
    out.flush().map_err(werr)?;
    Ok(disk_len)
}

fn write_at(f: &mut File, off: u64, data: &[u8]) -> io::Result<()> {
    f.seek(SeekFrom::Start(off))?;
    f.write_all(data)
}

/// `gcp`: `disk.raw` in a gzip'd GNU tar, as Google Compute Engine imports it.
pub(crate) fn write_gcp(raw: &Path, raw_len: u64, out: &mut File) -> io::Result<()> {
    let gz = flate2::write::GzEncoder::new(io::BufWriter::new(out), flate2::Compression::new(6));
    let mut b = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(crate::DEFAULT_MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(raw_len);
    b.append_data(&mut h, "disk.raw", File::open(raw)?)?;
    let gz = b.into_inner()?;
    gz.finish()?.flush()
}
