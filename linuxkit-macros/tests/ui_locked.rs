//! The lockfile check of pinned definitions: in a package with `[package.metadata.linuxkit]
//! locked = true`, image references missing from its `linuxkit.lock` are compile errors on the
//! literal (`locked/fail`), and locked, local and digest references compile (`locked/pass`).
//!
//! trybuild compiles the files in a crate of its own, so `CARGO_LINUXKIT_PACKAGE_DIR` points
//! the macros at the fixture package `tests/locked` (its own test binary: the variable is
//! process-wide). Regenerate with `TRYBUILD=overwrite cargo test -p linuxkit-macros`.

#[test]
fn unlocked_references_are_compile_errors() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/locked");
    std::env::set_var("CARGO_LINUXKIT_PACKAGE_DIR", &fixture);
    let t = trybuild::TestCases::new();
    t.pass("tests/locked/pass/*.rs");
    t.compile_fail("tests/locked/fail/*.rs");
}
