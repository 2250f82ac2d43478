//! Shared pieces of the example image definitions in `examples/`.
//!
//! The examples are ordinary Cargo example targets; each one is an image definition that
//! `cargo linuxkit` evaluates. This library holds what several of them share, as a user of
//! `linuxkit-dsl` would factor it.
