//! What to boot: boot-mode detection from a path, following upstream `linuxkit run qemu`.
//!
//! - `P` does not exist but `P-kernel` does: kernel boot with `P-initrd.img` and `P-cmdline`;
//!   a squashfs boot when `P-squashfs.img` exists (`kernel+squashfs`), or a kernel boot with
//!   `P.iso` as the root CD-ROM when there is no initrd but an ISO (`kernel+iso`); those two
//!   load `P-squashfs-initrd.img`/`P-iso-initrd.img` (a modular kernel's root loader) if present.
//! - `P` ends in `.iso`: CD-ROM boot (UEFI when the name ends in `-efi.iso` or
//!   `-efi-initrd.iso`).
//! - `P` ends in `.img.tar.gz` (`gcp`): the `disk.raw` inside is unpacked into the state
//!   directory and booted as a raw disk.
//! - `P` is any other file: a disk image (UEFI when the name contains `-efi.`), its container
//!   format (`qcow2`, `vpc` for VHD, `vmdk`, else `raw`) read from its magic bytes.
//! - `P` is a directory (an output directory of `cargo linuxkit build`): the one bootable output in
//!   it, kernel outputs first.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::RunError;

/// How the machine boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootMode {
    /// Direct kernel boot: `-kernel`, `-initrd`, `-append`.
    Kernel {
        /// `<prefix>-kernel`.
        kernel: PathBuf,
        /// `<prefix>-initrd.img`, when present.
        initrd: Option<PathBuf>,
        /// The contents of `<prefix>-cmdline` (empty when absent).
        cmdline: String,
    },
    /// Kernel plus a squashfs root disk (`root=/dev/sda` is appended to the command line).
    Squashfs {
        /// `<prefix>-kernel`.
        kernel: PathBuf,
        /// `<prefix>-squashfs.img`.
        squashfs: PathBuf,
        /// `<prefix>-squashfs-initrd.img`, the root loader of a modular kernel, when present.
        initrd: Option<PathBuf>,
        /// The contents of `<prefix>-cmdline`.
        cmdline: String,
    },
    /// Kernel plus an EROFS root disk (`kernel+erofs`; `root=/dev/sda` is appended).
    Erofs {
        /// `<prefix>-kernel`.
        kernel: PathBuf,
        /// `<prefix>-erofs.img`.
        image: PathBuf,
        /// `<prefix>-erofs-initrd.img`, the root loader of a modular kernel, when present.
        initrd: Option<PathBuf>,
        /// The contents of `<prefix>-cmdline`.
        cmdline: String,
    },
    /// Kernel plus an ISO 9660 root on the CD-ROM (`kernel+iso`; `root=/dev/sr0` is appended
    /// when the command line names no root).
    KernelIso {
        /// `<prefix>-kernel`.
        kernel: PathBuf,
        /// `<prefix>.iso`.
        iso: PathBuf,
        /// `<prefix>-iso-initrd.img`, the root loader of a modular kernel, when present.
        initrd: Option<PathBuf>,
        /// The contents of `<prefix>-cmdline`.
        cmdline: String,
    },
    /// Boot from an ISO image as a CD-ROM.
    Iso(PathBuf),
    /// Boot from a disk image.
    Disk {
        /// The image file.
        path: PathBuf,
        /// Its QEMU block format: `raw`, `qcow2`, `vpc` (VHD, fixed or dynamic) or `vmdk`.
        format: &'static str,
    },
    /// A `gcp` image: `disk.raw` inside a gzip'd tar, unpacked before booting.
    GcpTar(PathBuf),
}

/// A detected bootable output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootTarget {
    /// Output prefix (`dir/name`): the default state directory is `<prefix>-state`.
    pub prefix: PathBuf,
    /// The boot mode.
    pub mode: BootMode,
    /// True when the output needs UEFI firmware (EFI ISO or disk formats).
    pub uefi: bool,
    /// The guest's architecture (OCI spelling), read from the artifact: the kernel's boot
    /// header, or the removable-media loader name (`BOOTAA64.EFI`, ...) on an EFI disk or ISO;
    /// this machine's when the artifact does not tell.
    pub arch: String,
}

impl BootTarget {
    /// A short description of the boot path: `kernel+initrd`, `kernel+squashfs`, `kernel+iso`,
    /// `CD-ROM`, `qcow2 disk`, ..., with `, UEFI` when the firmware is OVMF.
    pub fn describe(&self) -> String {
        let what = match &self.mode {
            BootMode::Kernel {
                initrd: Some(_), ..
            } => "kernel+initrd".to_string(),
            BootMode::Kernel { initrd: None, .. } => "kernel".to_string(),
            BootMode::Squashfs { .. } => "kernel+squashfs".to_string(),
            BootMode::Erofs { .. } => "kernel+erofs".to_string(),
            BootMode::KernelIso { .. } => "kernel+iso".to_string(),
            BootMode::Iso(_) => "CD-ROM".to_string(),
            BootMode::Disk { format, .. } => format!("{format} disk"),
            BootMode::GcpTar(_) => "gcp disk.raw".to_string(),
        };
        let what = if self.uefi {
            format!("{what}, UEFI")
        } else {
            what
        };
        if self.arch == host_arch() {
            what
        } else {
            format!("{what}, {}", self.arch)
        }
    }
}

/// File-name endings of outputs `detect` boots as images (not kernel outputs).
const IMAGE_SUFFIXES: [&str; 7] = [
    ".iso",
    ".qcow2",
    ".img",
    ".raw",
    ".vhd",
    ".vmdk",
    ".img.tar.gz",
];

/// The OCI architecture of this machine.
pub fn host_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

/// The architecture of a kernel file from its first bytes: an x86 bzImage (`HdrS`), an arm64
/// `Image` (`ARMd` at 0x38, also gzip'd), a RISC-V `Image` (`RSC\x05` at 0x38), an ELF
/// `vmlinux` (its machine), or an EFI executable (its PE machine).
pub fn kernel_arch(head: &[u8]) -> Option<&'static str> {
    let mut unzipped = Vec::new();
    let head = if head.starts_with(&[0x1f, 0x8b]) {
        let mut d = flate2::read::GzDecoder::new(head).take(4096);
        let _ = d.read_to_end(&mut unzipped);
        &unzipped[..]
    } else {
        head
    };
    if head.len() > 0x206 && &head[0x202..0x206] == b"HdrS" {
        return Some("amd64");
    }
    match head.get(0x38..0x3c) {
        Some(b"ARMd") => return Some("arm64"),
        Some(b"RSC\x05") => return Some("riscv64"),
        _ => {}
    }
    if head.starts_with(b"\x7fELF") {
        return match head.get(18..20).map(|m| u16::from_le_bytes([m[0], m[1]])) {
            Some(62) => Some("amd64"),
            Some(183) => Some("arm64"),
            Some(243) => Some("riscv64"),
            _ => None,
        };
    }
    None
}

/// The architecture of an EFI disk or ISO: the name of the removable-media loader in its FAT
/// directory (`BOOTAA64.EFI` is stored as `BOOTAA64EFI`), searched in the file.
fn efi_image_arch(path: &Path) -> Option<&'static str> {
    const NAMES: [(&[u8], &str); 3] = [
        (b"BOOTX64 EFI", "amd64"),
        (b"BOOTAA64EFI", "arm64"),
        (b"BOOTRISCV64", "riscv64"),
    ];
    let mut f = fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut keep = 0usize;
    loop {
        let n = f.read(&mut buf[keep..]).ok()?;
        if n == 0 {
            return None;
        }
        let window = &buf[..keep + n];
        for (name, arch) in NAMES {
            if window.windows(name.len()).any(|w| w == name) {
                return Some(arch);
            }
        }
        let tail = 16.min(window.len());
        let start = window.len() - tail;
        buf.copy_within(start..start + tail, 0);
        keep = tail;
    }
}

fn file_head(path: &Path) -> Vec<u8> {
    let mut head = vec![0u8; 8192];
    let n = fs::File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .unwrap_or(0);
    head.truncate(n);
    head
}

/// Detects what `path` is and how to boot it, and the guest's architecture.
pub fn detect(path: &Path) -> Result<BootTarget, RunError> {
    let mut t = detect_mode(path)?;
    let arch = match &t.mode {
        BootMode::Kernel { kernel, .. }
        | BootMode::Squashfs { kernel, .. }
        | BootMode::Erofs { kernel, .. }
        | BootMode::KernelIso { kernel, .. } => kernel_arch(&file_head(kernel)),
        BootMode::Iso(p) | BootMode::Disk { path: p, .. } if t.uefi => efi_image_arch(p),
        _ => None,
    };
    t.arch = arch.map(str::to_string).unwrap_or_else(host_arch);
    Ok(t)
}

fn detect_mode(path: &Path) -> Result<BootTarget, RunError> {
    if path.is_dir() {
        return detect_dir(path);
    }
    if !path.exists() {
        let kernel = suffixed(path, "-kernel");
        if kernel.is_file() {
            let cmdline = read_cmdline(&suffixed(path, "-cmdline"))?;
            let squashfs = suffixed(path, "-squashfs.img");
            let erofs = suffixed(path, "-erofs.img");
            let initrd = suffixed(path, "-initrd.img");
            let iso = suffixed(path, ".iso");
            let optional = |suffix: &str| Some(suffixed(path, suffix)).filter(|p| p.is_file());
            let mode = if squashfs.is_file() {
                BootMode::Squashfs {
                    kernel,
                    squashfs,
                    initrd: optional("-squashfs-initrd.img"),
                    cmdline,
                }
            } else if erofs.is_file() {
                BootMode::Erofs {
                    kernel,
                    image: erofs,
                    initrd: optional("-erofs-initrd.img"),
                    cmdline,
                }
            } else if !initrd.is_file() && iso.is_file() {
                BootMode::KernelIso {
                    kernel,
                    iso,
                    initrd: optional("-iso-initrd.img"),
                    cmdline,
                }
            } else {
                BootMode::Kernel {
                    kernel,
                    initrd: initrd.is_file().then_some(initrd),
                    cmdline,
                }
            };
            return Ok(BootTarget {
                prefix: path.to_path_buf(),
                mode,
                uefi: false,
                arch: String::new(),
            });
        }
        return Err(RunError::NotFound {
            path: path.to_path_buf(),
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(stem) = name.strip_suffix(".iso") {
        let uefi = stem.ends_with("-efi") || stem.ends_with("-efi-initrd");
        return Ok(BootTarget {
            prefix: path.with_file_name(stem),
            mode: BootMode::Iso(path.to_path_buf()),
            uefi,
            arch: String::new(),
        });
    }
    if let Some(stem) = name.strip_suffix(".img.tar.gz") {
        return Ok(BootTarget {
            prefix: path.with_file_name(stem),
            mode: BootMode::GcpTar(path.to_path_buf()),
            uefi: false,
            arch: String::new(),
        });
    }
    if name.ends_with(".tar") {
        return Err(not_bootable_tar(path));
    }
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    Ok(BootTarget {
        prefix: path.with_file_name(stem),
        mode: BootMode::Disk {
            path: path.to_path_buf(),
            format: disk_format(path)?,
        },
        uefi: stem.ends_with("-efi"),
        arch: String::new(),
    })
}

/// Why a `.tar` output cannot be booted: an `rpi3` SD-card tree, or a root filesystem tar.
fn not_bootable_tar(path: &Path) -> RunError {
    let mut names = Vec::new();
    if let Ok(f) = fs::File::open(path) {
        if let Ok(entries) = tar::Archive::new(f).entries() {
            for e in entries.flatten().take(64) {
                if let Ok(p) = e.path() {
                    names.push(p.to_string_lossy().trim_start_matches("./").to_string());
                }
            }
        }
    }
    let message = if names
        .iter()
        .any(|n| n == "kernel.uimg" || n == "bootcode.bin")
    {
        "an rpi3 output: the files of a Raspberry Pi 3 SD card (its GPU firmware starts U-Boot, \
         which QEMU's emulated boards do not run from this tree), so it cannot boot on this \
         host; extract it onto a FAT32 SD card and boot a Raspberry Pi 3"
    } else {
        "a root filesystem tar (the tar or docker format), which has no boot loader: build a \
         bootable format (kernel+initrd, raw-efi, ...) to run it"
    };
    RunError::Image {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The QEMU block format of a disk image, from its magic bytes: qcow2 (`QFI\xfb`), VMDK
/// (`KDMV`), VHD (`conectix` at the start of a dynamic VHD or in the footer of a fixed one),
/// else raw. Stating the format keeps QEMU from probing a raw image (which it then refuses to
/// let the guest write sector 0 of) and from reading a fixed VHD's footer as disk data.
pub fn disk_format(path: &Path) -> Result<&'static str, RunError> {
    let mut f = fs::File::open(path).map_err(RunError::io(path))?;
    let len = f.metadata().map_err(RunError::io(path))?.len();
    let mut head = [0u8; 8];
    let n = read_up_to(&mut f, &mut head).map_err(RunError::io(path))?;
    let head = &head[..n];
    if head.starts_with(b"QFI\xfb") {
        return Ok("qcow2");
    }
    if head.starts_with(b"KDMV") {
        return Ok("vmdk");
    }
    if head.starts_with(b"conectix") {
        return Ok("vpc");
    }
    if len >= 512 {
        let mut foot = [0u8; 8];
        f.seek(SeekFrom::Start(len - 512))
            .map_err(RunError::io(path))?;
        let n = read_up_to(&mut f, &mut foot).map_err(RunError::io(path))?;
        if foot[..n] == *b"conectix" {
            return Ok("vpc");
        }
    }
    Ok("raw")
}

fn read_up_to(f: &mut fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Output files that can be booted, by preference: kernel outputs, ISOs, disks.
fn detect_dir(dir: &Path) -> Result<BootTarget, RunError> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(RunError::io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let kernels: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix("-kernel"))
        .collect();
    let images: Vec<&String> = names
        .iter()
        .filter(|n| {
            IMAGE_SUFFIXES.iter().any(|ext| n.ends_with(ext))
                && !n.ends_with("-initrd.img")
                && !n.ends_with("-squashfs.img")
                && !n.ends_with("-erofs.img")
        })
        .collect();
    match (kernels.as_slice(), images.as_slice()) {
        ([one], _) => detect(&dir.join(one)),
        ([], [one]) => detect(&dir.join(one)),
        ([], []) => Err(RunError::NotFound {
            path: dir.to_path_buf(),
        }),
        ([], many) => Err(RunError::Ambiguous {
            dir: dir.to_path_buf(),
            candidates: many
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
        (many, _) => Err(RunError::Ambiguous {
            dir: dir.to_path_buf(),
            candidates: many
                .iter()
                .map(|k| format!("{k}-kernel"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn suffixed(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn read_cmdline(path: &Path) -> Result<String, RunError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(RunError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path, content: &str) {
        fs::write(p, content).unwrap();
    }

    #[test]
    fn kernel_prefix_is_detected_with_cmdline_and_initrd() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("vm");
        touch(&suffixed(&p, "-kernel"), "k");
        touch(&suffixed(&p, "-initrd.img"), "i");
        touch(&suffixed(&p, "-cmdline"), "console=ttyS0\n");
        let t = detect(&p).unwrap();
        assert_eq!(t.prefix, p);
        assert_eq!(
            t.mode,
            BootMode::Kernel {
                kernel: suffixed(&p, "-kernel"),
                initrd: Some(suffixed(&p, "-initrd.img")),
                cmdline: "console=ttyS0".into()
            }
        );
        // The directory form finds the same prefix.
        assert_eq!(detect(d.path()).unwrap(), t);
    }

    #[test]
    fn squashfs_wins_over_initrd_and_iso_and_disks_are_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s");
        touch(&suffixed(&p, "-kernel"), "k");
        touch(&suffixed(&p, "-squashfs.img"), "s");
        assert!(matches!(
            detect(&p).unwrap().mode,
            BootMode::Squashfs { .. }
        ));
        let iso = d.path().join("x-efi.iso");
        touch(&iso, "");
        let t = detect(&iso).unwrap();
        assert_eq!(t.describe(), "CD-ROM, UEFI");
        assert_eq!(t.mode, BootMode::Iso(iso.clone()));
        assert!(t.uefi);
        assert_eq!(t.prefix, d.path().join("x-efi"));
        let disk = d.path().join("y-bios.img");
        touch(&disk, "");
        let t = detect(&disk).unwrap();
        assert_eq!(
            t.mode,
            BootMode::Disk {
                path: disk,
                format: "raw"
            }
        );
        assert!(!t.uefi);
    }

    #[test]
    fn missing_and_ambiguous_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let err = detect(&d.path().join("nothing")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        touch(&d.path().join("a-kernel"), "");
        touch(&d.path().join("b-kernel"), "");
        let err = detect(d.path()).unwrap_err();
        assert!(err.to_string().contains("a-kernel, b-kernel"), "{err}");
    }

    #[test]
    fn kernel_iso_and_gcp_are_detected() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        touch(&suffixed(&p, "-kernel"), "k");
        touch(&suffixed(&p, ".iso"), "i");
        assert_eq!(
            detect(&p).unwrap().mode,
            BootMode::KernelIso {
                kernel: suffixed(&p, "-kernel"),
                iso: suffixed(&p, ".iso"),
                initrd: None,
                cmdline: String::new()
            }
        );
        // With an initrd, the kernel+initrd output wins over the ISO.
        touch(&suffixed(&p, "-initrd.img"), "i");
        assert!(matches!(detect(&p).unwrap().mode, BootMode::Kernel { .. }));
        let gcp = d.path().join("g.img.tar.gz");
        touch(&gcp, "");
        let t = detect(&gcp).unwrap();
        assert_eq!(t.describe(), "gcp disk.raw");
        assert_eq!(t.mode, BootMode::GcpTar(gcp));
        assert_eq!(t.prefix, d.path().join("g"));
    }

    #[test]
    fn architecture_comes_from_the_artifact() {
        let mut bz = vec![0u8; 0x300];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert_eq!(kernel_arch(&bz), Some("amd64"));
        let mut image = vec![0u8; 0x100];
        image[0x38..0x3c].copy_from_slice(b"ARMd");
        assert_eq!(kernel_arch(&image), Some("arm64"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &image).unwrap();
        assert_eq!(kernel_arch(&gz.finish().unwrap()), Some("arm64"));
        assert_eq!(kernel_arch(b"nothing"), None);

        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a");
        fs::write(suffixed(&p, "-kernel"), &image).unwrap();
        fs::write(suffixed(&p, "-erofs.img"), b"").unwrap();
        let t = detect(&p).unwrap();
        assert_eq!(t.arch, "arm64");
        assert!(matches!(t.mode, BootMode::Erofs { .. }));
        assert!(t.describe().starts_with("kernel+erofs"), "{}", t.describe());
        // An EFI disk names its loader: BOOTAA64.EFI is arm64.
        let disk = d.path().join("x-efi.img");
        let mut bytes = vec![0u8; 3 << 20];
        bytes[(2 << 20) - 4..(2 << 20) + 7].copy_from_slice(b"BOOTAA64EFI");
        fs::write(&disk, bytes).unwrap();
        assert_eq!(detect(&disk).unwrap().arch, "arm64");
        // Tars are not bootable, and say what they are.
        let tarp = d.path().join("pi.tar");
        {
            let mut b = tar::Builder::new(fs::File::create(&tarp).unwrap());
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            b.append_data(&mut h, "./kernel.uimg", &[0u8][..]).unwrap();
            b.finish().unwrap();
        }
        let err = detect(&tarp).unwrap_err().to_string();
        assert!(
            err.contains("rpi3") && err.contains("cannot boot on this host"),
            "{err}"
        );
    }

    #[test]
    fn disk_formats_come_from_magic_bytes() {
        let d = tempfile::tempdir().unwrap();
        let cases: [(&str, Vec<u8>, &str); 5] = [
            ("a.qcow2", b"QFI\xfb\0\0\0\x03".to_vec(), "qcow2"),
            ("b.vmdk", b"KDMV\x01\0\0\0".to_vec(), "vmdk"),
            ("c.vhd", b"conectix\0\0".to_vec(), "vpc"),
            (
                "d.vhd",
                [vec![0u8; 1024], b"conectix".to_vec(), vec![0; 504]].concat(),
                "vpc",
            ),
            ("e.raw", vec![0u8; 4096], "raw"),
        ];
        for (name, bytes, want) in cases {
            let p = d.path().join(name);
            fs::write(&p, bytes).unwrap();
            assert_eq!(disk_format(&p).unwrap(), want, "{name}");
            assert!(matches!(
                detect(&p).unwrap().mode,
                BootMode::Disk { format, .. } if format == want
            ));
        }
    }
}
