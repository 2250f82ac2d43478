//! Errors of the QEMU runner.

use std::io;
use std::path::PathBuf;

/// Everything that can stop a VM from being started.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Nothing bootable was found at the path.
    #[error("boot disk image {path} does not exist (expected {path}-kernel, an .iso, a disk image, or a build output directory)")]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// A directory holds several bootable outputs and the choice is ambiguous.
    #[error("{dir} holds several bootable outputs ({candidates}); name one of them")]
    Ambiguous {
        /// The directory.
        dir: PathBuf,
        /// The prefixes found.
        candidates: String,
    },
    /// A required program is not installed.
    #[error("{program} not found in PATH; install the Debian package `{package}` (apt-get install {package})")]
    MissingProgram {
        /// The binary looked for.
        program: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// UEFI firmware is missing.
    #[error(
        "UEFI firmware {path} not found; install the Debian package `{package}` or pass --fw PATH"
    )]
    MissingFirmware {
        /// The firmware file looked for.
        path: PathBuf,
        /// The Debian package that ships it (`ovmf`, `qemu-efi-aarch64`).
        package: &'static str,
    },
    /// A command-line value could not be parsed.
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidOption {
        /// Which option.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A kernel could not be decompressed to `vmlinux`.
    #[error("kernel {path}: {reason}")]
    Kernel {
        /// The kernel file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `qemu-img create` failed.
    #[error("qemu-img could not create {path}: {message}")]
    DiskCreate {
        /// The disk file.
        path: PathBuf,
        /// qemu-img's message.
        message: String,
    },
    /// An image file is not what its name says.
    #[error("{path}: {message}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// I/O on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl RunError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> RunError {
        let path = path.into();
        move |source| RunError::Io { path, source }
    }
}
