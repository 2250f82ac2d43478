//! Output format names, as upstream spells them, and the files each one produces.

use std::fmt;
use std::str::FromStr;

use crate::OutputError;

/// One of LinuxKit's 20 output formats (`linuxkit build --format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `tar`: the root filesystem tar itself.
    Tar,
    /// `docker`: the tar plus a Dockerfile.
    Docker,
    /// `kernel+initrd`: `<name>-kernel`, `<name>-initrd.img`, `<name>-cmdline`.
    KernelInitrd,
    /// `tar-kernel-initrd`: `<name>-initrd.tar` holding kernel, initrd.img, cmdline, ucode.cpio.
    TarKernelInitrd,
    /// `kernel+squashfs`: kernel, cmdline and `<name>-squashfs.img` (plus the root loader
    /// `<name>-squashfs-initrd.img` when the kernel's drivers are modules).
    KernelSquashfs,
    /// `kernel+erofs`: kernel, cmdline and `<name>-erofs.img`.
    KernelErofs,
    /// `kernel+iso`: kernel, cmdline and `<name>.iso` (ISO 9660 root filesystem; plus the root
    /// loader `<name>-iso-initrd.img` when the kernel's drivers are modules).
    KernelIso,
    /// `iso-bios`: a BIOS-bootable hybrid ISO (`<name>.iso`).
    IsoBios,
    /// `iso-efi`: a UEFI-bootable ISO (`<name>-efi.iso`).
    IsoEfi,
    /// `iso-efi-initrd`: a UEFI-bootable ISO booting kernel+initrd (`<name>-efi-initrd.iso`).
    IsoEfiInitrd,
    /// `raw-bios`: a BIOS-bootable raw disk (`<name>-bios.img`).
    RawBios,
    /// `raw-efi`: a UEFI-bootable raw GPT disk (`<name>-efi.img`).
    RawEfi,
    /// `qcow2-bios`: a BIOS-bootable qcow2 disk (`<name>.qcow2`).
    Qcow2Bios,
    /// `qcow2-efi`: a UEFI-bootable qcow2 disk (`<name>-efi.qcow2`).
    Qcow2Efi,
    /// `vhd`: a fixed VHD (`<name>.vhd`).
    Vhd,
    /// `dynamic-vhd`: a dynamic VHD (`<name>.vhd`).
    DynamicVhd,
    /// `vmdk`: a VMware disk (`<name>.vmdk`).
    Vmdk,
    /// `gcp`: a Google Compute Engine image (`<name>.img.tar.gz`).
    Gcp,
    /// `aws`: a raw disk for AWS (`<name>.raw`).
    Aws,
    /// `rpi3`: a Raspberry Pi 3 tarball (`<name>.tar`).
    Rpi3,
}

impl Format {
    /// Every format, sorted by name (upstream's `OutputTypes()`).
    pub const ALL: [Format; 20] = [
        Format::Aws,
        Format::Docker,
        Format::DynamicVhd,
        Format::Gcp,
        Format::IsoBios,
        Format::IsoEfi,
        Format::IsoEfiInitrd,
        Format::KernelErofs,
        Format::KernelInitrd,
        Format::KernelIso,
        Format::KernelSquashfs,
        Format::Qcow2Bios,
        Format::Qcow2Efi,
        Format::RawBios,
        Format::RawEfi,
        Format::Rpi3,
        Format::Tar,
        Format::TarKernelInitrd,
        Format::Vhd,
        Format::Vmdk,
    ];

    /// The name upstream uses on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::Docker => "docker",
            Format::KernelInitrd => "kernel+initrd",
            Format::TarKernelInitrd => "tar-kernel-initrd",
            Format::KernelSquashfs => "kernel+squashfs",
            Format::KernelErofs => "kernel+erofs",
            Format::KernelIso => "kernel+iso",
            Format::IsoBios => "iso-bios",
            Format::IsoEfi => "iso-efi",
            Format::IsoEfiInitrd => "iso-efi-initrd",
            Format::RawBios => "raw-bios",
            Format::RawEfi => "raw-efi",
            Format::Qcow2Bios => "qcow2-bios",
            Format::Qcow2Efi => "qcow2-efi",
            Format::Vhd => "vhd",
            Format::DynamicVhd => "dynamic-vhd",
            Format::Vmdk => "vmdk",
            Format::Gcp => "gcp",
            Format::Aws => "aws",
            Format::Rpi3 => "rpi3",
        }
    }

    /// Whether the format is the tar stream itself (`tar`, `docker`), which `-o` can stream.
    pub fn is_streamable(self) -> bool {
        matches!(self, Format::Tar | Format::Docker)
    }

    /// The main artifact's file name for output base name `name` (the kernel and cmdline files
    /// of the `kernel+*` formats are `<name>-kernel` and `<name>-cmdline`).
    pub fn file_name(self, name: &str) -> String {
        match self {
            Format::Tar | Format::Rpi3 => format!("{name}.tar"),
            Format::Docker => format!("{name}.docker"),
            Format::KernelInitrd => format!("{name}-initrd.img"),
            Format::TarKernelInitrd => format!("{name}-initrd.tar"),
            Format::KernelSquashfs => format!("{name}-squashfs.img"),
            Format::KernelErofs => format!("{name}-erofs.img"),
            Format::KernelIso | Format::IsoBios => format!("{name}.iso"),
            Format::IsoEfi => format!("{name}-efi.iso"),
            Format::IsoEfiInitrd => format!("{name}-efi-initrd.iso"),
            Format::RawBios => format!("{name}-bios.img"),
            Format::RawEfi => format!("{name}-efi.img"),
            Format::Qcow2Bios => format!("{name}.qcow2"),
            Format::Qcow2Efi => format!("{name}-efi.qcow2"),
            Format::Vhd | Format::DynamicVhd => format!("{name}.vhd"),
            Format::Vmdk => format!("{name}.vmdk"),
            Format::Gcp => format!("{name}.img.tar.gz"),
            Format::Aws => format!("{name}.raw"),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = OutputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| OutputError::UnknownFormat(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_sorted() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().ok(), Some(f));
        }
        let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn unknown_names_use_upstreams_message() {
        for bad in ["raw", "qcow2", "iso", "KERNEL+INITRD"] {
            let err = bad.parse::<Format>().unwrap_err();
            assert_eq!(err.to_string(), format!("unknown format type {bad}"));
        }
    }
}
