//! `linuxkit-init` is a binary: a static PID 1 for LinuxKit guests (see `src/main.rs`).
//!
//! This library exists so that a build script can find the source the init is built from:
//! cargo-linuxkit's `linuxkit-local` depends on it (without default features, so nothing heavy
//! is compiled) and builds the static binary from [`SOURCE_DIR`], then embeds it. That is how a
//! `cargo install`ed cargo-linuxkit carries `init:linuxkit-init` wherever it runs.

/// The directory holding this package's `Cargo.toml` and `src/`, as cargo compiled it.
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Every source directory the binary is built from: this package's, and that of
/// `linuxkit-bundle` (the runtime.json types). An embedder hashes them all for the init's tag.
pub const SOURCE_DIRS: [&str; 2] = [SOURCE_DIR, linuxkit_bundle::SOURCE_DIR];

/// The package name (also the binary's).
pub const PACKAGE: &str = env!("CARGO_PKG_NAME");

/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
