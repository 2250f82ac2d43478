//! What to boot: boot-mode detection from a path, following upstream `linuxkit run qemu`.
//!
//! - `P` does not exist but `P-kernel` does: kernel boot with `P-initrd.img` and `P-cmdline`,
//!   or a squashfs boot when `P-squashfs.img` exists.
//! - `P` ends in `.iso`: CD-ROM boot (UEFI when the name ends in `-efi.iso` or
//!   `-efi-initrd.iso`).
//! - `P` is any other file: a disk image (UEFI when the name contains `-efi.`).
//! - `P` is a directory (an output directory of `cargo linuxkit build`): the one bootable output in
//!   it, kernel outputs first.

use std::fs;
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
        /// The contents of `<prefix>-cmdline`.
        cmdline: String,
    },
    /// Boot from an ISO image as a CD-ROM.
    Iso(PathBuf),
    /// Boot from a raw or qcow2 disk image.
    Disk(PathBuf),
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
}

/// Detects what `path` is and how to boot it.
pub fn detect(path: &Path) -> Result<BootTarget, RunError> {
    if path.is_dir() {
        return detect_dir(path);
    }
    if !path.exists() {
        let kernel = suffixed(path, "-kernel");
        if kernel.is_file() {
            let cmdline = read_cmdline(&suffixed(path, "-cmdline"))?;
            let squashfs = suffixed(path, "-squashfs.img");
            let mode = if squashfs.is_file() {
                BootMode::Squashfs {
                    kernel,
                    squashfs,
                    cmdline,
                }
            } else {
                let initrd = suffixed(path, "-initrd.img");
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
        });
    }
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    Ok(BootTarget {
        prefix: path.with_file_name(stem),
        mode: BootMode::Disk(path.to_path_buf()),
        uefi: stem.ends_with("-efi"),
    })
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
            [".iso", ".qcow2", ".img", ".raw", ".vhd", ".vmdk"]
                .iter()
                .any(|ext| n.ends_with(ext))
                && !n.ends_with("-initrd.img")
                && !n.ends_with("-squashfs.img")
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
        assert_eq!(t.mode, BootMode::Iso(iso.clone()));
        assert!(t.uefi);
        assert_eq!(t.prefix, d.path().join("x-efi"));
        let disk = d.path().join("y-bios.img");
        touch(&disk, "");
        let t = detect(&disk).unwrap();
        assert_eq!(t.mode, BootMode::Disk(disk));
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
}
