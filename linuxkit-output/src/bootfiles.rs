//! Bootloader and firmware files taken from the host's Debian packages.

use std::path::{Path, PathBuf};

use crate::{Format, OutputError};

/// A file some format needs, and the Debian package that ships it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BootFile {
    /// Candidate paths, first existing wins.
    pub paths: &'static [&'static str],
    /// The package to install.
    pub package: &'static str,
}

/// systemd's UKI stub (`systemd-boot-efi`).
pub(crate) const EFI_STUB: BootFile = BootFile {
    paths: &["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"],
    package: "systemd-boot-efi",
};

/// ISOLINUX boot image (`isolinux`).
pub(crate) const ISOLINUX_BIN: BootFile = BootFile {
    paths: &[
        "/usr/lib/ISOLINUX/isolinux.bin",
        "/usr/share/syslinux/isolinux.bin",
    ],
    package: "isolinux",
};

/// The hybrid MBR for ISOLINUX images (`isolinux`).
pub(crate) const ISOHDPFX: BootFile = BootFile {
    paths: &[
        "/usr/lib/ISOLINUX/isohdpfx.bin",
        "/usr/share/syslinux/isohdpfx.bin",
    ],
    package: "isolinux",
};

/// SYSLINUX's core module (`syslinux-common`).
pub(crate) const LDLINUX_C32: BootFile = BootFile {
    paths: &[
        "/usr/lib/syslinux/modules/bios/ldlinux.c32",
        "/usr/share/syslinux/ldlinux.c32",
    ],
    package: "syslinux-common",
};

impl BootFile {
    /// Finds the file, or says which package to install.
    pub(crate) fn find(&self, format: Format) -> Result<PathBuf, OutputError> {
        self.paths
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .map(Path::to_path_buf)
            .ok_or_else(|| OutputError::MissingBootFile {
                path: PathBuf::from(self.paths[0]),
                package: self.package.to_string(),
                format: format.name().to_string(),
            })
    }

    /// Reads the file.
    pub(crate) fn read(&self, format: Format) -> Result<Vec<u8>, OutputError> {
        let p = self.find(format)?;
        std::fs::read(&p).map_err(|source| OutputError::Read { path: p, source })
    }
}

/// Only x86_64 bootloaders are looked up so far.
pub(crate) fn check_arch(arch: &str, format: Format) -> Result<(), OutputError> {
    match arch {
        "amd64" | "x86_64" => Ok(()),
        other => Err(OutputError::Image {
            format: format.name().into(),
            message: format!("only amd64 is supported for this format, not {other}"),
        }),
    }
}
