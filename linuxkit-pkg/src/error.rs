//! Errors of local image sources.

use std::path::PathBuf;

/// Why a local image could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PkgError {
    /// The reference has a local scheme but is malformed.
    #[error("invalid local image reference {reference:?}: {reason}")]
    BadReference {
        /// The reference as written.
        reference: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// No workspace package of that name.
    #[error("{reference}: no package {package:?} in the workspace at {workspace} (see `cargo metadata`)")]
    NoPackage {
        /// The reference as written.
        reference: String,
        /// The package name.
        package: String,
        /// The workspace root.
        workspace: PathBuf,
    },
    /// The package has no such binary target.
    #[error("{reference}: package {package:?} has no binary target {bin:?} (it has: {have})")]
    NoBinary {
        /// The reference as written.
        reference: String,
        /// The package.
        package: String,
        /// The binary asked for.
        bin: String,
        /// The binaries it has.
        have: String,
    },
    /// `[package.metadata.linuxkit]` is malformed.
    #[error("{manifest}: [package.metadata.linuxkit]: {reason}")]
    Metadata {
        /// The package's Cargo.toml.
        manifest: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `cargo metadata` failed.
    #[error("cargo metadata in {workspace}: {message}")]
    CargoMetadata {
        /// The workspace root.
        workspace: PathBuf,
        /// The error.
        message: String,
    },
    /// An external command (cargo) failed.
    #[error("{command} failed: {message}")]
    Tool {
        /// The command line.
        command: String,
        /// Exit status and the last lines of its output.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing the image failed.
    #[error("{reference}: {source}")]
    Local {
        /// The reference being built.
        reference: String,
        /// The underlying error.
        source: linuxkit_local::LocalError,
    },
    /// Naming the image in the cache layout failed.
    #[error("{reference}: {source}")]
    Layout {
        /// The reference being named.
        reference: String,
        /// The underlying error.
        source: linuxkit_oci::write::WriteError,
    },
    /// Resolving or pushing through linuxkit-resolve failed.
    #[error(transparent)]
    Resolve(#[from] Box<linuxkit_resolve::ResolveError>),
}

/// Adds the path to an io error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PkgError {
    let path = path.into();
    move |source| PkgError::Io { path, source }
}
