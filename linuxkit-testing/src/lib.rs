//! Test support for image definitions, from `cargo test`:
//!
//! - [`Harness::container_config`]: the exact `config.json` a container of a definition gets
//!   (its image resolved, the `org.mobyproject.config` label merged, as `linuxkit-build` writes
//!   it into the image), for snapshot tests;
//! - [`Harness::boot`]: builds the definition (local sources from the workspace, registry images
//!   through the LinuxKit cache), boots it in QEMU and returns a [`Vm`] whose serial console the
//!   test reads line by line ([`Vm::wait_for`]) and writes to ([`Vm::send`]); the VM is stopped
//!   when the [`Vm`] is dropped;
//! - [`locked_references`]: the references of a package's `linuxkit.lock`, for
//!   `linuxkit_dsl::testing::Policy::require_pinned_or_locked`.
//!
//! ```no_run
//! use std::time::Duration;
//! # fn hello() -> linuxkit_dsl::Image { unimplemented!() }
//! let harness = linuxkit_testing::Harness::new(env!("CARGO_MANIFEST_DIR"))?;
//! let mut vm = harness.boot(&hello(), "hello", &linuxkit_testing::BootOptions::default())?;
//! vm.wait_for("Serving HTTP", Duration::from_secs(120))?;
//! # Ok::<(), linuxkit_testing::TestingError>(())
//! ```
//!
//! Everything runs through the real pipeline crates (`linuxkit-pkg`, `linuxkit-build`,
//! `linuxkit-output`, `linuxkit-run`); artifacts go under `<target>/linuxkit-testing`.

#![forbid(unsafe_code)]

mod harness;
mod vm;

pub use harness::{locked_references, BootOptions, Harness, TestingError};
pub use vm::Vm;

/// Whether `qemu-system-x86_64` is on `PATH`. A boot test returns early when it is not, except
/// in CI (`CI` set), where a missing QEMU fails the test instead of skipping it.
pub fn qemu_present() -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|p| p.join("qemu-system-x86_64").is_file())
    });
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "qemu-system-x86_64 is required in CI (apt-get install qemu-system-x86)"
        );
        eprintln!("skipping: qemu-system-x86_64 not installed");
    }
    found
}
