//! A/B system updates of LinuxKit images pulled from an OCI registry, with boot counting and
//! automatic rollback.
//!
//! A LinuxKit system runs from its initrd, so one whole version of a system is one Unified
//! Kernel Image (kernel, initrd and command line). An updatable disk's EFI System Partition
//! holds systemd-boot and up to two versions as Boot Loader Specification Type #2 entries;
//! a new version is installed with a boot counter and blessed once it is healthy.
//!
//! This library holds what the build, `cargo linuxkit push`, the DSL and the guest agent share:
//! - [`esp`]: the partition's layout (entry names with boot counters, `loader.conf`, the state
//!   file the agent keeps);
//! - [`artifact`]: the OCI artifact a version is pushed as (artifact type, layers,
//!   annotations), written by `push` and checked by the agent;
//! - [`settings`]: the agent's settings and their command line, which is the update service's
//!   `command` in a definition (so LinuxKit YAML expresses them with no new key).
//!
//! The agent itself is the `linuxkit-update` binary (feature `agent`, with its parts in
//! [`agent`]), which linuxkit-local's
//! build script builds static and embeds as the image `init:linuxkit-update`. [`SOURCE_DIR`]
//! lets it find this package's source.

#![forbid(unsafe_code)]

#[cfg(feature = "agent")]
pub mod agent;
pub mod artifact;
pub mod esp;
pub mod settings;

/// The directory of this package's source (with `Cargo.toml`).
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The package (and binary) name.
pub const PACKAGE: &str = env!("CARGO_PKG_NAME");
/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The image of the update agent, a local source embedded in cargo-linuxkit.
pub const IMAGE: &str = "init:linuxkit-update";
/// The agent binary's path inside its image.
pub const BINARY_PATH: &str = "/usr/bin/linuxkit-update";
/// The service name [`settings::Settings::service_name`] gives the agent by default.
pub const SERVICE_NAME: &str = "update";

/// Whether `image` (a container's image reference) is the update agent's.
pub fn is_agent_image(image: &str) -> bool {
    image == IMAGE
        || image
            .strip_prefix(IMAGE)
            .is_some_and(|rest| rest.starts_with('?'))
}
