//! Compile-time checks for `linuxkit-dsl` image definitions.
