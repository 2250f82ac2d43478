//! The error type of every fallible step of the init.

use std::path::PathBuf;

/// What went wrong while booting, running a container or shutting down.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was attempted.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was attempted (with the paths involved).
        what: String,
        /// The errno.
        source: nix::Error,
    },
    /// A bundle's JSON could not be read.
    #[error("cannot parse {path}: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// youki's libcontainer refused or failed an operation.
    #[error("container {id}: {what}: {source}")]
    Container {
        /// Container id.
        id: String,
        /// What was attempted.
        what: &'static str,
        /// libcontainer's error.
        source: Box<libcontainer::error::LibcontainerError>,
    },
}

/// Result alias of the init.
pub type Result<T, E = InitError> = std::result::Result<T, E>;

/// Adds a description to a nix error.
pub trait SysContext<T> {
    /// Wraps the errno with a description built lazily.
    fn sys(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn sys(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| InitError::Sys {
            what: what(),
            source,
        })
    }
}

/// Adds a path to an io error.
pub trait IoContext<T> {
    /// Wraps the io error with what was attempted and on which path.
    fn io(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| InitError::Io {
            what,
            path: path.into(),
            source,
        })
    }
}
