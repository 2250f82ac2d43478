//! LinuxKit image definitions as typed Rust.
//!
//! - [`model`]: the image model, exactly LinuxKit's YAML schema (serde).
//! - [`types`]: the typed vocabulary (capabilities, namespaces, mount types, rlimits, ...).
//! - [`builder`]: fluent constructors for the model (`Image::new(..).service(..)`).
//! - [`location`]: where each item of a Rust definition was written (side table).
//! - [`yaml`]: LinuxKit YAML parsing (file:line:col errors), writing, merging, item locator.
//! - [`check`]: every check that needs no image contents, as [`Problem`]s with item paths.
//! - [`emit`]: the evaluation protocol of definition targets ([`main!`]).
//! - [`pkgs`]: the catalogue of LinuxKit's standard packages (`pkgs::getty().insecure()`).
//! - [`codegen`]: a model as idiomatic Rust builder code (`cargo linuxkit import`).
//! - [`testing`]: policies asserted on definitions from `cargo test`.
//! - [`update`]: A/B updates from a registry, [`Update`] (`.update(Update::from(..))`).
//! - Compile-time checks from `linuxkit-macros`, re-exported: `#[image]`, `image_ref!`,
//!   `path!`, `bind!`, `tmpfs!`, `mode!`, ...

#![forbid(unsafe_code)]

pub mod builder;
pub mod check;
#[cfg(feature = "codegen")]
pub mod codegen;
pub mod emit;
pub mod location;
pub mod model;
pub mod pkgs;
pub mod testing;
pub mod types;
pub mod update;
pub mod yaml;

pub use builder::{json_values, octal_mode_string};
pub use check::{check, Problem, Severity};
pub use linuxkit_macros::*;
pub use location::{Locations, SourceLocation};
pub use model::*;
pub use types::{
    Capability, DeviceType, MountType, Namespace, Propagation, Rlimit, RlimitValue, UnknownName,
};
pub use update::Update;
pub use yaml::{from_yaml_str, merge, to_yaml_string, Locator, Parsed, YamlError, YamlWarning};
