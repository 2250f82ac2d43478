//! Errors of building local images.

use std::path::PathBuf;

/// Why a local image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing into the OCI layout failed.
    #[error("writing OCI layout: {0}")]
    Layout(#[from] linuxkit_oci::write::WriteError),
    /// A path given for the layer is not a clean relative path.
    #[error("invalid path {0:?} in image layer: use a relative path without `..`")]
    BadPath(String),
    /// A kernel module asked for is not in `modules.dep`.
    #[error("kernel module {module:?} is not in {dep}; check the name (see `modinfo {module}`)")]
    UnknownModule {
        /// The module name.
        module: String,
        /// The `modules.dep` file searched.
        dep: PathBuf,
    },
    /// A Debian package could not be found or read.
    #[error(transparent)]
    Debian(#[from] linuxkit_debian::DebianError),
    /// An external tool (cargo, depmod) failed.
    #[error("{command} failed: {message}")]
    Tool {
        /// The command line.
        command: String,
        /// Its status and last output lines, or why it could not start.
        message: String,
    },
}

/// Adds the path to an io error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LocalError {
    let path = path.into();
    move |source| LocalError::Io { path, source }
}
