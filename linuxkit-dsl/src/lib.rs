//! LinuxKit image definitions as typed Rust.
//!
//! - [`model`]: the image model, exactly LinuxKit's YAML schema (serde).

pub mod model;

pub use model::*;
