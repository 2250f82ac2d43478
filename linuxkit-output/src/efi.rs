//! UEFI formats: a Unified Kernel Image as `EFI/BOOT/BOOTX64.EFI` (`BOOTAA64.EFI` on arm64:
//! the name follows the stub's machine type) on a FAT ESP, on a GPT disk
//! (`raw-efi`, `qcow2-efi`) or as the El Torito EFI image of an ISO (`iso-efi*`).
//!
//! Upstream's `raw-efi` puts systemd-boot plus a UKI on the ESP; the firmware's default path
//! holding the UKI itself boots the same kernel, initrd and command line with one stage less.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::disk::{self, FatFile, Window, MIB};
use crate::initrd::BootFiles;
use crate::uki::{self, Section, Stub};

/// Kernel, initrd (ucode + gzip'd cpio in a file) and command line.
pub(crate) struct Payload<'a> {
    pub boot: &'a BootFiles,
    pub initrd_gz: &'a mut File,
    pub cmdline: String,
}

impl Payload<'_> {
    fn initrd_len(&mut self) -> io::Result<u64> {
        Ok(self.boot.ucode.len() as u64 + self.initrd_gz.seek(SeekFrom::End(0))?)
    }
}

/// Length of the UKI for `p`.
pub(crate) fn uki_len(stub: &Stub, p: &mut Payload<'_>) -> io::Result<u64> {
    Ok(stub.image_len(&[
        uki::OS_RELEASE.len() as u64,
        p.cmdline.len() as u64,
        p.initrd_len()?,
        p.boot.kernel.len() as u64,
    ]))
}

/// Streams the UKI for `p` into `out`.
pub(crate) fn write_uki(stub: Stub, p: &mut Payload<'_>, out: &mut dyn Write) -> io::Result<()> {
    let initrd_len = p.initrd_len()?;
    p.initrd_gz.seek(SeekFrom::Start(0))?;
    let mut osrel = uki::OS_RELEASE;
    let mut cmdline = p.cmdline.as_bytes();
    let mut initrd = p.boot.ucode.as_slice().chain(&mut *p.initrd_gz);
    let mut kernel = p.boot.kernel.as_slice();
    stub.write(
        out,
        &mut [
            Section {
                name: b".osrel",
                len: osrel.len() as u64,
                data: &mut osrel,
            },
            Section {
                name: b".cmdline",
                len: cmdline.len() as u64,
                data: &mut cmdline,
            },
            Section {
                name: b".initrd",
                len: initrd_len,
                data: &mut initrd,
            },
            Section {
                name: b".linux",
                len: p.boot.kernel.len() as u64,
                data: &mut kernel,
            },
        ],
    )
}

/// A FAT image (as bytes in `dev`) holding the UKI at the removable-media default path.
pub(crate) fn write_esp<D: Read + Write + Seek>(
    dev: D,
    stub: Stub,
    p: &mut Payload<'_>,
    seed: &[&[u8]],
) -> io::Result<()> {
    let path = stub.boot_path();
    let mut stub = Some(stub);
    let mut write = |out: &mut dyn Write| -> io::Result<()> {
        let s = stub
            .take()
            .ok_or_else(|| io::Error::other("UKI written twice"))?;
        write_uki(s, p, out)
    };
    disk::write_fat(
        dev,
        disk::fnv64(seed) as u32,
        b"LINUXKIT   ",
        &mut [FatFile {
            path,
            write: &mut write,
        }],
    )
}

/// `raw-efi`: a GPT disk with one EFI System Partition at 1 MiB. Returns the disk size.
pub(crate) fn write_raw_efi(
    out: &mut File,
    stub: Stub,
    p: &mut Payload<'_>,
    seed: &[&[u8]],
) -> io::Result<u64> {
    let esp_len = disk::fat_size(uki_len(&stub, p)?);
    let disk_len = MIB + esp_len + MIB;
    out.set_len(disk_len)?;
    write_esp(Window::new(out, MIB, esp_len), stub, p, seed)?;
    let first = MIB / 512;
    let last = first + esp_len / 512 - 1;
    // Attribute bit 2: legacy BIOS bootable, as upstream's sgdisk call sets it.
    disk::write_gpt(
        out,
        disk_len,
        gpt::partition_types::EFI,
        "EFI System",
        first,
        last,
        1 << 2,
        seed,
    )?;
    out.flush()?;
    Ok(disk_len)
}
