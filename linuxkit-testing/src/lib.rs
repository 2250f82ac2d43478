//! Test support for image definitions (filled in below).
