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
//!   `linuxkit_dsl::testing::Policy::require_pinned_or_locked`;
//! - [`Harness::audit`]: what each container may do once image labels are merged
//!   ([`ContainerAudit`], as `cargo linuxkit audit` shows it), for
//!   `linuxkit_dsl::testing::Policy::check_effective` and snapshots.
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

pub use harness::{locked_references, BootOptions, Harness, TestingError};
pub use linuxkit_build::audit::ContainerAudit;
pub use linuxkit_run::{Vm, VmError};

/// Whether a test's prerequisite is here. When it is not, the test should return early, after
/// this printed `SKIPPED: <what> is missing (<install>)`, except in CI (`CI` set), where a missing
/// prerequisite fails the test instead of skipping it. Every test with a prerequisite (QEMU, root,
/// a registry binary, a host tool) asks through this function.
pub fn prerequisite(present: bool, what: &str, install: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is required in CI ({install})"
        );
        eprintln!("SKIPPED: {what} is missing ({install})");
    }
    present
}

/// The path of program `name` on `PATH`, if it is there.
pub fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Whether `qemu-system-x86_64` is on `PATH` (a [`prerequisite`]).
pub fn qemu_present() -> bool {
    prerequisite(
        on_path("qemu-system-x86_64").is_some(),
        "qemu-system-x86_64",
        "apt-get install qemu-system-x86",
    )
}
