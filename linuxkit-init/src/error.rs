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
    /// A route netlink request (runtime.json `interfaces`) failed.
    #[error("{what}: {source}")]
    Netlink {
        /// What was attempted.
        what: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
    /// youki's libcontainer refused or failed an operation.
    #[error("container {id}: {what}: {}", chain(source.as_ref()))]
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

/// An error and its sources, `: `-separated (libcontainer's top-level messages are terse,
/// such as `oci spec error`; the cause is in the chain).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_name_the_cause() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "config.json missing");
        let outer = InitError::Io {
            what: "read",
            path: "/containers/x".into(),
            source: inner,
        };
        assert_eq!(chain(&outer), "read /containers/x: config.json missing");
    }
}
