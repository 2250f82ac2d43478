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

/// The BIOS formats (ISOLINUX, SYSLINUX) boot PCs only: they refuse any other architecture.
pub(crate) fn check_bios_arch(arch: &str, format: Format) -> Result<(), OutputError> {
    match arch {
        "amd64" | "x86_64" => Ok(()),
        other => Err(OutputError::Image {
            format: format.name().into(),
            message: format!(
                "{} boots through a PC BIOS (SYSLINUX/ISOLINUX), which {other} machines do not \
                 have: use an EFI format (raw-efi, qcow2-efi, iso-efi) or kernel+initrd",
                format.name()
            ),
        }),
    }
}

/// The OCI architecture of this machine.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A file of a Debian package for architecture `arch`: from this machine when the package is
/// installed for it (`host_path`; for packages that are Multi-Arch: same, or when `arch` is
/// this machine's), else from the package file in the package directories (see
/// `linuxkit_debian`).
fn arch_file(
    format: Format,
    arch: &str,
    host_path: &str,
    package: &str,
    host_ok: bool,
) -> Result<Vec<u8>, OutputError> {
    let p = Path::new(host_path);
    if host_ok && p.is_file() {
        return std::fs::read(p).map_err(|source| OutputError::Read {
            path: p.to_path_buf(),
            source,
        });
    }
    let deb_arch = linuxkit_debian::debian_arch(arch);
    let err = |e: linuxkit_debian::DebianError| OutputError::Image {
        format: format.name().into(),
        message: format!("{host_path} for {arch} is needed and not installed: {e}"),
    };
    let pkg = linuxkit_debian::find(package, deb_arch, false).map_err(err)?;
    let rel = host_path.trim_start_matches('/');
    let mut files = linuxkit_debian::Deb::open(&pkg.path)
        .read_files(&[rel])
        .map_err(err)?;
    Ok(files.pop().unwrap_or_default())
}

/// systemd's UKI stub for `arch` (`systemd-boot-efi`, Multi-Arch: same, so
/// `apt-get install systemd-boot-efi:arm64` installs it beside the amd64 one; or the package
/// file).
pub(crate) fn efi_stub(format: Format, arch: &str) -> Result<(String, Vec<u8>), OutputError> {
    let suffix = match arch {
        "amd64" | "x86_64" => "x64",
        "arm64" | "aarch64" => "aa64",
        "riscv64" => "riscv64",
        "386" => "ia32",
        other => {
            return Err(OutputError::Image {
                format: format.name().into(),
                message: format!("systemd-stub has no UKI stub for architecture {other}"),
            })
        }
    };
    let path = format!("/usr/lib/systemd/boot/efi/linux{suffix}.efi.stub");
    let bytes = arch_file(format, arch, &path, "systemd-boot-efi", true).map_err(|e| match e {
        OutputError::Image { .. } if arch == host_arch() => OutputError::MissingBootFile {
            path: PathBuf::from(&path),
            package: "systemd-boot-efi".into(),
            format: format.name().into(),
        },
        e => e,
    })?;
    Ok((path, bytes))
}

/// A static busybox for `arch`: this machine's (`busybox-static`) for its own architecture, else
/// `bin/busybox` of the `busybox-static` package file for `arch`.
pub(crate) fn busybox(format: Format, arch: &str) -> Result<Vec<u8>, OutputError> {
    if arch == host_arch() {
        return crate::rootloader::BUSYBOX.read(format);
    }
    arch_file(format, arch, "/bin/busybox", "busybox-static", false)
}
