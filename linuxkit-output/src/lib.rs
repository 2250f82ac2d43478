//! Output formats built from the assembled root-filesystem tar.
//!
//! The input is the tar that `linuxkit-build` writes (`boot/kernel`, `boot/cmdline`,
//! `boot/ucode.cpio`, then everything else); the outputs are LinuxKit's formats with LinuxKit's
//! file names. One call, [`write_outputs`], builds every requested format: the tar is streamed
//! (never held in memory), the initrd is built once and shared by the formats that boot it, and
//! every file is written to a temporary file and renamed only when all formats succeeded.
//!
//! Map of the crate:
//! - [`mod@format`]: format names (`FromStr` with upstream's names and error) and file names.
//! - `formats`: one function per format family, over what they share (`formats::Shared`:
//!   the initrd, the root tree and the verity root, each read once).
//! - [`initrd`]: tar -> gzip'd newc cpio, upstream's `CopySplitTar`, compressed in parallel
//!   as concatenated gzip members (`pgz`; or zstd frames, or not compressed: [`Compressor`])
//!   with the cpio writer in `cpio`; [`KernelCheck`] lets the caller refuse a compression the
//!   image's kernel cannot unpack.
//! - `kernel_initrd`: `kernel+initrd` and `tar-kernel-initrd` files.
//! - `tree`: the tar as a directory tree (metadata in memory, contents in a scratch file) for
//!   filesystem images: `squashfs` (backhand), `iso` (hadris-iso: `kernel+iso`, `iso-bios`
//!   with ISOLINUX and a hybrid MBR, `iso-efi*` with an El Torito EFI image); `rootloader`:
//!   the small initramfs that mounts those roots when the kernel's drivers are modules.
//! - `efi`: UEFI formats: a Unified Kernel Image (`uki`, systemd-stub plus sections) on a FAT
//!   ESP in a GPT disk (`disk`: `fatfs`, `gpt`); `convert` turns raw disks into qcow2/VHD/VMDK
//!   with `qemu-img`; `bootfiles` finds stubs and bootloaders from the host's Debian packages.
//! - `bios`: MBR disks with a FAT partition and SYSLINUX (`raw-bios`, and `aws`, `gcp`,
//!   `qcow2-bios`, `vhd`, `dynamic-vhd`, `vmdk` converted from it).
//! - `staging`: temporary files and the final rename.
//! - `gopath`: Go's `filepath.Rel`/`Dir`/`Clean`, for hard links turned into symlinks.
//!
//! Where outputs differ from upstream's (which runs converter containers):
//! - The initrd is gzip'd as several members (about 2 MiB of cpio each, split between
//!   entries) compressed in parallel; decompressed it is upstream's cpio byte for byte.
//! - Every kernel+initrd-based disk gets `boot/ucode.cpio` in front of its initrd (upstream
//!   drops it there, with a TODO).
//! - `raw-efi`/`qcow2-efi`/`iso-efi*` boot a UKI at `EFI/BOOT/BOOTX64.EFI` (upstream: GRUB or
//!   systemd-boot loading it); `iso-efi` keeps upstream's kernel boot with `root=/dev/sr0`,
//!   `iso-bios` too (ISOLINUX, hybrid MBR).
//! - When the image's kernel has the root device's drivers as modules (Debian's), `iso-bios`
//!   and `iso-efi` boot with a root loader initrd (`rootloader`) and `kernel+squashfs`/
//!   `kernel+iso` write it as `<name>-squashfs-initrd.img`/`<name>-iso-initrd.img`; upstream's
//!   kernels have the drivers built in and need none.
//! - `qcow2-bios`, `aws`, `vhd`, `dynamic-vhd`, `vmdk`, `gcp` are the `raw-bios` disk (FAT +
//!   SYSLINUX) converted, not an ext4 disk made in a VM; `aws`/`qcow2-bios` honour `--size`.
//! - Times inside images are LinuxKit's fixed time and identifiers derive from the name, so
//!   the same inputs give the same bytes. `docker` is streamed by the CLI.
//! - `kernel+erofs` is written natively (`erofs`, no `mkfs.erofs`); `rpi3` (`rpi3`) is
//!   upstream's SD-card tree with Debian's firmware and U-Boot and sorted entries.
//! - Every format is architecture-neutral except the boot files: EFI formats take systemd's
//!   stub for `--arch` (`EFI/BOOT/BOOTAA64.EFI` on arm64), the root loader that
//!   architecture's busybox (from the Debian package directories, see `linuxkit_debian`);
//!   BIOS formats refuse anything but amd64 and `rpi3` anything but arm64.

#![forbid(unsafe_code)]

mod abdisk;
mod bios;
mod bootfiles;
mod convert;
mod cpio;
mod disk;
mod efi;
mod erofs;
mod error;
pub mod format;
mod formats;
pub mod initrd;
mod iso;
mod kernel_initrd;
mod pgz;
mod rootloader;
mod rpi3;
pub mod secureboot;
mod squashfs;
mod staging;
mod tree;
mod uki;
mod verity;

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use abdisk::{copy_range, read_built_disk, BuiltDisk, UpdateDisk, PANIC_TIMEOUT};
pub use error::OutputError;
pub use format::Format;
pub use initrd::{tar_to_initrd, BootFiles, Compression, Compressor};
pub use kernel_initrd::DEFAULT_MTIME;
pub use pgz::{PieceCache, PieceUsage, ZSTD_LEVEL};
pub use secureboot::{SecureBootCert, SecureBootError, SigningKey};

use staging::Staging;

/// Settings that apply to several formats.
#[derive(Clone, Debug)]
pub struct OutputOptions {
    /// Disk size in MiB for `aws` and `qcow2-bios` (upstream `--size`, default 1024).
    pub size_mib: u64,
    /// Target architecture as given to `--arch` (`amd64`, `arm64`, ...).
    pub arch: String,
    /// Initrd compression.
    pub compression: Compression,
    /// Whether the image's kernel can unpack an initrd compressed other than with gzip: run
    /// on `boot/kernel` while the initrd is compressed; nothing is written when it refuses.
    pub kernel_check: Option<KernelCheck>,
    /// Sign the UKI of every EFI format with this key (Authenticode, for Secure Boot).
    pub signing: Option<Arc<SigningKey>>,
    /// Protect the root file system image with dm-verity (`--verity`).
    pub verity: Option<VerityOptions>,
    /// Lay `raw-efi`/`qcow2-efi` out for A/B updates (the image has the update service).
    pub update: Option<UpdateDisk>,
}

/// The function of a [`KernelCheck`].
pub type KernelCheckFn = dyn Fn(&[u8], Compressor) -> Result<(), String> + Send + Sync;

/// Decides whether a kernel (the bytes of `boot/kernel`) can unpack an initrd compressed with
/// a compressor: `Err(reason)` when it is known not to, naming what says so.
#[derive(Clone)]
pub struct KernelCheck(pub std::sync::Arc<KernelCheckFn>);

impl std::fmt::Debug for KernelCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KernelCheck")
    }
}

/// dm-verity for formats whose root is a file system image: `kernel+squashfs` (the hash tree
/// after the squashfs, the root hash in `<name>-cmdline`) and `raw-efi`/`qcow2-efi` (a squashfs
/// root partition with its tree after the ESP, the root hash in the UKI's command line, so a
/// signed UKI covers every block of the root).
#[derive(Clone, Debug)]
pub struct VerityOptions {
    /// The static `linuxkit-verity` binary (see the `linuxkit-verity` crate) the root loader
    /// runs in the guest to open the verified root.
    pub helper: Arc<Vec<u8>>,
}

/// The formats `--verity` applies to.
pub const VERITY_FORMATS: [Format; 3] = [Format::KernelSquashfs, Format::RawEfi, Format::Qcow2Efi];

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            size_mib: 1024,
            arch: "amd64".into(),
            compression: Compression::default(),
            kernel_check: None,
            signing: None,
            verity: None,
            update: None,
        }
    }
}

/// Formats implemented so far.
fn supported(f: Format) -> bool {
    matches!(
        f,
        Format::Tar
            | Format::KernelInitrd
            | Format::TarKernelInitrd
            | Format::KernelSquashfs
            | Format::KernelErofs
            | Format::RawEfi
            | Format::Qcow2Efi
            | Format::KernelIso
            | Format::IsoBios
            | Format::IsoEfi
            | Format::IsoEfiInitrd
            | Format::RawBios
            | Format::Qcow2Bios
            | Format::Aws
            | Format::Vhd
            | Format::DynamicVhd
            | Format::Vmdk
            | Format::Gcp
            | Format::Rpi3
    )
}

/// Whether the format images the root filesystem as a tree.
fn needs_tree(f: Format, verity: bool) -> bool {
    matches!(
        f,
        Format::KernelSquashfs
            | Format::KernelErofs
            | Format::KernelIso
            | Format::IsoBios
            | Format::IsoEfi
    ) || (verity && matches!(f, Format::RawEfi | Format::Qcow2Efi))
}

fn no_kernel(f: Format) -> OutputError {
    OutputError::NoKernel {
        format: f.name().into(),
    }
}

fn efi_stub(f: Format, opts: &OutputOptions) -> Result<uki::Stub, OutputError> {
    let (path, bytes) = bootfiles::efi_stub(f, &opts.arch)?;
    uki::Stub::parse(bytes, 4).map_err(|m| OutputError::Image {
        format: f.name().into(),
        message: format!("{path}: {m}"),
    })
}

/// The kernel as a UKI's `.linux` section needs it: an EFI executable of the stub's machine.
/// A gzip'd kernel (LinuxKit's arm64 `Image.gz`) is decompressed; a kernel whose PE header
/// names another machine type is refused (it would not boot).
fn uki_kernel(f: Format, stub: &uki::Stub, boot: &BootFiles) -> Result<BootFiles, OutputError> {
    let bad = |message: String| OutputError::Image {
        format: f.name().into(),
        message,
    };
    let mut out = boot.clone();
    if boot.kernel.starts_with(&[0x1f, 0x8b]) {
        let mut k = Vec::with_capacity(boot.kernel.len() * 3);
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&boot.kernel[..]), &mut k)
            .map_err(|e| {
                bad(format!(
                    "boot/kernel is gzip'd and does not decompress: {e}"
                ))
            })?;
        out.kernel = k;
    }
    match uki::pe_machine(&out.kernel) {
        Some(m) if m != stub.machine() => Err(bad(format!(
            "boot/kernel is an {} kernel and the image is built for {} ({}): build with the \
             matching --arch or use a kernel of that architecture",
            uki::machine_name(m),
            uki::machine_name(stub.machine()),
            stub.boot_path()
        ))),
        _ => Ok(out),
    }
}

/// Adds `root=<dev>` when the command line has no `root=` (what upstream's ISO scripts do).
fn with_root(cmdline: &str, dev: &str) -> String {
    if cmdline.contains("root=") {
        cmdline.to_string()
    } else if cmdline.is_empty() {
        format!("root={dev}")
    } else {
        format!("{cmdline} root={dev}")
    }
}

/// Whether the format is built from the kernel, initrd and cmdline.
pub fn needs_initrd(f: Format, verity: bool) -> bool {
    if verity && matches!(f, Format::RawEfi | Format::Qcow2Efi) {
        return false;
    }
    matches!(
        f,
        Format::KernelInitrd
            | Format::TarKernelInitrd
            | Format::RawEfi
            | Format::Qcow2Efi
            | Format::IsoEfiInitrd
            | Format::RawBios
            | Format::Qcow2Bios
            | Format::Aws
            | Format::Vhd
            | Format::DynamicVhd
            | Format::Vmdk
            | Format::Gcp
            | Format::Rpi3
    )
}

fn unsupported(f: Format) -> OutputError {
    OutputError::Unsupported(f.name().to_string())
}

/// Builds `formats` from the root filesystem tar at `rootfs_tar` into `dir`, with output base
/// name `name`. Returns the files written, in order. On error nothing is renamed into place.
pub fn write_outputs(
    rootfs_tar: &Path,
    formats: &[Format],
    dir: &Path,
    name: &str,
    opts: &OutputOptions,
) -> Result<Vec<PathBuf>, OutputError> {
    let open = || {
        File::open(rootfs_tar)
            .map(|f| Box::new(BufReader::with_capacity(1 << 20, f)) as Box<dyn io::Read + Send>)
    };
    write_outputs_from(rootfs_tar, &open, formats, dir, name, opts)
}

/// Opens the root filesystem tar for one pass from its start (see [`write_outputs_from`]).
pub type OpenTar<'a> = dyn Fn() -> io::Result<Box<dyn io::Read + Send + 'a>> + Sync + 'a;

/// [`write_outputs`], reading the tar through `open` (each call a new pass from its start),
/// e.g. a tar that another thread is still writing; `rootfs_tar` names it in errors.
pub fn write_outputs_from(
    rootfs_tar: &Path,
    open: &OpenTar<'_>,
    formats: &[Format],
    dir: &Path,
    name: &str,
    opts: &OutputOptions,
) -> Result<Vec<PathBuf>, OutputError> {
    let mut wanted: Vec<Format> = Vec::new();
    for &f in formats {
        if !supported(f) {
            return Err(OutputError::Unsupported(f.name().to_string()));
        }
        if !wanted.contains(&f) {
            wanted.push(f);
        }
    }
    let verity = opts.verity.is_some();
    if verity {
        if let Some(f) = wanted.iter().find(|f| !VERITY_FORMATS.contains(f)) {
            return Err(OutputError::Image {
                format: f.name().into(),
                message: format!(
                    "--verity protects a root file system image, which {f} does not have; it \
                     applies to {}: build {f} without --verity, in a separate run",
                    VERITY_FORMATS.map(|f| f.name()).join(", ")
                ),
            });
        }
    }
    let open = || {
        open().map_err(|source| OutputError::ReadTar {
            path: rootfs_tar.to_path_buf(),
            source,
        })
    };
    let mut staging = Staging::new(dir);

    std::thread::scope(|scope| {
        // A compression other than gzip needs the kernel's support: checked (it may decompress
        // the kernel) while the initrd is compressed, before anything is renamed into place.
        let compressor = opts.compression.compressor;
        let check = match &opts.kernel_check {
            Some(check)
                if compressor != Compressor::Gzip
                    && wanted.iter().any(|&f| needs_initrd(f, verity)) =>
            {
                let kernel = read_kernel(open()?, rootfs_tar)?;
                Some(scope.spawn(move || match kernel {
                    Some(k) => (check.0)(&k, compressor),
                    None => Ok(()),
                }))
            }
            _ => None,
        };
        let written = write_formats(rootfs_tar, &wanted, &mut staging, name, opts, &open);
        if let Some(check) = check {
            let verdict = check
                .join()
                .unwrap_or_else(|_| Err("the kernel check failed".into()));
            if let Err(reason) = verdict {
                written?;
                return Err(OutputError::KernelCompression {
                    compression: compressor.name().into(),
                    option: compressor.kernel_option().unwrap_or_default().into(),
                    reason,
                });
            }
        }
        written
    })?;
    staging.commit()
}

/// The bytes of `boot/kernel` in the root filesystem tar (its first entries), if any.
fn read_kernel(tar: impl io::Read, path: &Path) -> Result<Option<Vec<u8>>, OutputError> {
    let err = |source| OutputError::ReadTar {
        path: path.to_path_buf(),
        source,
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        let name = entry.path_bytes();
        if name.as_ref() == b"boot/kernel" {
            let mut k = Vec::new();
            io::Read::read_to_end(&mut entry, &mut k).map_err(err)?;
            return Ok(Some(k));
        }
        if !name.starts_with(b"boot") {
            break;
        }
    }
    Ok(None)
}

/// Writes every format of `wanted` into `staging` (nothing renamed yet).
fn write_formats<R: io::Read>(
    rootfs_tar: &Path,
    wanted: &[Format],
    staging: &mut Staging,
    name: &str,
    opts: &OutputOptions,
    open: &dyn Fn() -> Result<R, OutputError>,
) -> Result<(), OutputError> {
    let mut shared = formats::Shared::read(rootfs_tar, wanted, staging, name, opts, open)?;
    for &f in wanted {
        shared.write(f, staging)?;
    }
    Ok(())
}
