//! Compile-fail tests of every check (one `ui/*.rs` per check, with the expected `.stderr`),
//! and a definition that uses every macro correctly (`pass/*.rs`, compiled and run).
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p linuxkit-macros`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
