//! The engine's typed errors. Each message names the file, target or image and says what to do.

use std::io;
use std::path::PathBuf;

/// Everything `cargo linuxkit` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is inconsistent (upstream's wording where it has one).
    #[error("{0}")]
    Usage(String),
    /// `cargo metadata` failed.
    #[error("cannot read the Cargo workspace: {0}")]
    Metadata(#[from] cargo_metadata::Error),
    /// A Rust definition was asked for outside any Cargo package.
    #[error("no Cargo.toml in {dir} or any parent directory: image definitions in Rust live in a Cargo package; run `cargo linuxkit new NAME` to create one, or `cargo linuxkit init` in an existing package (LinuxKit .yml files build anywhere)")]
    NoPackage {
        /// The directory searched from.
        dir: PathBuf,
    },
    /// `[package.metadata.linuxkit]` is malformed or names a missing target.
    #[error("{manifest}: [package.metadata.linuxkit] {message}")]
    Manifest {
        /// The package's Cargo.toml.
        manifest: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: io::Error,
    },
    /// `cargo build` of definition targets failed (cargo printed why).
    #[error(
        "could not build the definition targets of package `{package}` (see cargo's errors above)"
    )]
    CargoBuild {
        /// The package.
        package: String,
    },
    /// A definition target did not follow the evaluation protocol.
    #[error("definition target `{target}`: {message}")]
    Emit {
        /// The target name.
        target: String,
        /// What went wrong (its stderr, or the JSON error).
        message: String,
    },
    /// No image of this name in the workspace.
    #[error("no image named `{name}` in the workspace (available: {available}); a LinuxKit file must end in .yml or .yaml")]
    UnknownImage {
        /// The name asked for.
        name: String,
        /// The names that exist.
        available: String,
    },
    /// The workspace has no definition targets.
    #[error("no image definitions found: declare definition targets in Cargo.toml under [package.metadata.linuxkit] definitions = [\"...\"], or pass LinuxKit .yml files")]
    NoDefinitions,
    /// Problems were found and printed as diagnostics.
    #[error("{count} problem(s) found in {what}")]
    Problems {
        /// How many errors.
        count: usize,
        /// What was checked.
        what: String,
    },
    /// I/O on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Image resolution failed.
    #[error(transparent)]
    Resolve(Box<dyn std::error::Error + Send + Sync>),
    /// Assembly of the root filesystem failed.
    #[error("building image `{image}`: {source}")]
    Build {
        /// The image.
        image: String,
        /// The assembly error.
        source: Box<linuxkit_build::BuildError>,
    },
    /// Writing an output format failed.
    #[error("writing outputs of image `{image}`: {source}")]
    Output {
        /// The image.
        image: String,
        /// The output error.
        source: Box<linuxkit_output::OutputError>,
    },
    /// Booting failed.
    #[error(transparent)]
    Run(#[from] linuxkit_run::RunError),
    /// A Secure Boot key or certificate cannot be used.
    #[error(transparent)]
    SecureBoot(#[from] linuxkit_output::SecureBootError),
    /// Writing YAML failed.
    #[error(transparent)]
    Yaml(#[from] linuxkit_dsl::yaml::WriteError),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// Making a build's images available failed (preparing a local image, pulling, the cache):
/// shown as the error inside, as every resolution error.
impl From<linuxkit_pkg::FetchError> for Error {
    fn from(e: linuxkit_pkg::FetchError) -> Self {
        Error::Resolve(Box::new(e))
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
