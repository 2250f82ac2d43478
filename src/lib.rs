//! Shared pieces of the example image definitions in `examples/`.
//!
//! The examples are ordinary Cargo example targets; each one is an image definition that
//! `cargo linuxkit` evaluates. This library holds the definitions and what several of them
//! share, as a user of `linuxkit-dsl` would factor it:
//!
//! - [`base`]: pinned images, the kernel + init base, and the containers most images reuse.
//! - [`examples`]: LinuxKit's own `examples/*.yml`, one function each.

pub mod base;
pub mod examples;
