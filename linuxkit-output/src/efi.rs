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
use crate::secureboot::SigningKey;
use crate::uki::{self, Section, Stub};
use crate::{Format, OutputError};

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

/// The UKI an ESP holds: streamed from the stub and payload while it is written, or built in
/// memory and signed (the Authenticode digest needs the whole image).
pub(crate) enum Uki<'a> {
    /// Written section by section from the stub and the payload.
    Stream {
        /// The stub, taken when written.
        stub: Option<Stub>,
        /// Kernel, initrd and command line.
        payload: Payload<'a>,
    },
    /// A finished (signed) image, and where the firmware looks for it.
    Bytes(Vec<u8>, &'static str),
}

impl<'a> Uki<'a> {
    /// The UKI of `stub` and `payload`, signed with `key` when there is one.
    pub(crate) fn new(
        stub: Stub,
        mut payload: Payload<'a>,
        key: Option<&SigningKey>,
        format: Format,
    ) -> Result<Uki<'a>, OutputError> {
        let Some(key) = key else {
            return Ok(Uki::Stream {
                stub: Some(stub),
                payload,
            });
        };
        let werr = |e: io::Error| OutputError::Image {
            format: format.name().into(),
            message: format!("building the UKI: {e}"),
        };
        let len = uki_len(&stub, &mut payload).map_err(werr)?;
        let path = stub.boot_path();
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 8192);
        write_uki(stub, &mut payload, &mut bytes).map_err(werr)?;
        key.sign_pe(&mut bytes, &format!("the UKI of {format}"))?;
        Ok(Uki::Bytes(bytes, path))
    }

    /// Its length in bytes.
    pub(crate) fn len(&mut self) -> io::Result<u64> {
        match self {
            Uki::Stream {
                stub: Some(stub),
                payload,
            } => uki_len(stub, payload),
            Uki::Stream { stub: None, .. } => Err(io::Error::other("UKI written twice")),
            Uki::Bytes(b, _) => Ok(b.len() as u64),
        }
    }

    /// Where the firmware looks for it on the ESP: the removable-media default path for the
    /// stub's machine type (`EFI/BOOT/BOOTX64.EFI`, `BOOTAA64.EFI`, ...).
    pub(crate) fn boot_path(&self) -> io::Result<&'static str> {
        match self {
            Uki::Stream { stub: Some(s), .. } => Ok(s.boot_path()),
            Uki::Stream { stub: None, .. } => Err(io::Error::other("UKI written twice")),
            Uki::Bytes(_, path) => Ok(path),
        }
    }

    /// Writes it (once).
    pub(crate) fn write(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Uki::Stream { stub, payload } => {
                let s = stub
                    .take()
                    .ok_or_else(|| io::Error::other("UKI written twice"))?;
                write_uki(s, payload, out)
            }
            Uki::Bytes(b, _) => out.write_all(b),
        }
    }
}

/// A FAT image (as bytes in `dev`) holding the UKI at the removable-media default path.
pub(crate) fn write_esp<D: Read + Write + Seek>(
    dev: D,
    uki: &mut Uki<'_>,
    seed: &[&[u8]],
) -> io::Result<()> {
    let path = uki.boot_path()?;
    let mut write = |out: &mut dyn Write| -> io::Result<()> { uki.write(out) };
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

/// A root file system image for a partition of its own after the ESP.
pub(crate) struct RootPartition<'a> {
    /// The GPT partition name (the root loader finds the partition by it).
    pub name: String,
    /// The image (squashfs plus its dm-verity hash tree), read from the start.
    pub image: &'a mut File,
}

/// `raw-efi`: a GPT disk with one EFI System Partition at 1 MiB and, when given, a Linux root
/// partition after it. Returns the disk size.
pub(crate) fn write_raw_efi(
    out: &mut File,
    uki: &mut Uki<'_>,
    root: Option<RootPartition<'_>>,
    seed: &[&[u8]],
) -> io::Result<u64> {
    let esp_len = disk::fat_size(uki.len()?);
    let mut root = root;
    let root_len = match &mut root {
        Some(r) => r.image.seek(SeekFrom::End(0))?.div_ceil(MIB) * MIB,
        None => 0,
    };
    let disk_len = MIB + esp_len + root_len + MIB;
    out.set_len(disk_len)?;
    write_esp(Window::new(out, MIB, esp_len), uki, seed)?;
    let first = MIB / 512;
    let last = first + esp_len / 512 - 1;
    // Attribute bit 2: legacy BIOS bootable, as upstream's sgdisk call sets it.
    let mut parts = vec![disk::GptPart {
        part_type: gpt::partition_types::EFI,
        name: "EFI System",
        first_lba: first,
        last_lba: last,
        flags: 1 << 2,
    }];
    if let Some(r) = &mut root {
        r.image.seek(SeekFrom::Start(0))?;
        out.seek(SeekFrom::Start(MIB + esp_len))?;
        io::copy(r.image, out)?;
    }
    if let Some(r) = &root {
        // Attribute bit 60: read-only (the Discoverable Partitions Specification's flag).
        parts.push(disk::GptPart {
            part_type: gpt::partition_types::LINUX_ROOT_X64,
            name: &r.name,
            first_lba: last + 1,
            last_lba: last + root_len / 512,
            flags: 1 << 60,
        });
    }
    disk::write_gpt_parts(out, disk_len, &parts, seed)?;
    out.flush()?;
    Ok(disk_len)
}
