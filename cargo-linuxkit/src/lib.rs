//! The `cargo linuxkit` engine.
//!
//! Data flows one way: definition -> resolution (`linuxkit-resolve`, verified image blobs)
//! -> assembly (`linuxkit-build`) -> output formats (`linuxkit-output`).
