//! Errors of output generation. Each names the file or entry and, where possible, what to do.

use std::io;
use std::path::PathBuf;

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// An initrd compression other than gzip, zstd or none.
    #[error("unknown initrd compression {0}: use gzip, zstd or none")]
    UnknownCompression(String),
    /// The image's kernel cannot unpack an initrd compressed this way.
    #[error(
        "the kernel cannot unpack a {compression} initrd: {reason}; build with --compression gzip (or a kernel with {option}=y)"
    )]
    KernelCompression {
        /// The compression asked for.
        compression: String,
        /// The kernel option it needs.
        option: String,
        /// What says the kernel lacks it (its config, and where it was read).
        reason: String,
    },
    /// A format name that LinuxKit does not know (same message as upstream).
    #[error("unknown format type {0}")]
    UnknownFormat(String),
    /// A LinuxKit format this implementation cannot produce yet.
    #[error("format {0} is not supported by cargo-linuxkit yet")]
    Unsupported(String),
    /// The root filesystem tar could not be read or parsed.
    #[error("reading root filesystem tar {path}: {source}")]
    ReadTar {
        /// The tar.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// An input file (bootloader, firmware, scratch file) could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A tar entry whose type has no equivalent in the output (upstream: `cannot convert tar file`).
    #[error("{path}: entry {entry}: cannot convert tar file of type {kind} into {format}")]
    Unconvertible {
        /// The tar.
        path: PathBuf,
        /// The entry name.
        entry: String,
        /// The tar entry type.
        kind: String,
        /// The output format.
        format: String,
    },
    /// Writing an output (or its temporary file) failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The format needs a kernel but the image has none.
    #[error(
        "format {format} needs a kernel, but the root filesystem has no boot/kernel: add a `kernel:` section to the image"
    )]
    NoKernel {
        /// The format.
        format: String,
    },
    /// A bootloader or firmware file from a host package is missing.
    #[error(
        "{path} not found (needed for {format}): install it with `apt-get install -y {package}`"
    )]
    MissingBootFile {
        /// The file looked for.
        path: PathBuf,
        /// The Debian package that provides it.
        package: String,
        /// The format that needs it.
        format: String,
    },
    /// An external tool failed or is missing.
    #[error("{tool} failed while writing {format}: {message}")]
    Tool {
        /// The program.
        tool: String,
        /// The format.
        format: String,
        /// Its stderr or the spawn error.
        message: String,
    },
    /// Building a filesystem image (squashfs, ISO 9660, FAT, GPT) failed.
    #[error("building {format}: {message}")]
    Image {
        /// The format.
        format: String,
        /// What went wrong.
        message: String,
    },
    /// A Secure Boot key or certificate is unusable, or signing failed.
    #[error(transparent)]
    SecureBoot(#[from] crate::secureboot::SecureBootError),
}
