//! The `linuxkit-init` image: the workspace's static PID 1 as an OCI image that a definition
//! names in `init:`.

use std::path::{Path, PathBuf};
use std::process::Command;

use linuxkit_oci::store::Platform;

use crate::busybox::add_busybox;
use crate::error::LocalError;
use crate::image::{write_image, ImageConfig, WrittenImage};
use crate::layer::Layer;

/// The Rust target the static init is built for.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The package of the init.
pub const PACKAGE: &str = "linuxkit-init";

/// Builds the static `linuxkit-init` (release, size-optimised, LTO, stripped, `crt-static`)
/// from the workspace at `workspace` into `target_dir` and returns the binary's path. A
/// separate target dir keeps the static flags from invalidating the normal build.
pub fn build_static_init(workspace: &Path, target_dir: &Path) -> Result<PathBuf, LocalError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            PACKAGE,
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", target_dir)
        // rust-lld (the default linker since Rust 1.90) relocates glibc's undefined weak
        // `__gmon_start__` in static-pie binaries, which then crash at start: use the system linker.
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C linker-features=-lld",
        )
        // libseccomp-sys links the shared library unless told otherwise; in a static-pie that
        // leaves unresolved dynamic references and the binary dies before main.
        .env("LIBSECCOMP_LINK_TYPE", "static")
        .env("LIBSECCOMP_LIB_PATH", libseccomp_dir())
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    let described = format!(
        "CARGO_TARGET_DIR={} RUSTFLAGS='-C target-feature=+crt-static -C linker-features=-lld' cargo build --release -p {PACKAGE} --target {TARGET}",
        target_dir.display()
    );
    let out = cmd.output().map_err(|e| LocalError::Tool {
        command: described.clone(),
        message: format!("cannot run {}: {e}", Path::new(&cargo).display()),
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(LocalError::Tool {
            command: described,
            message: format!(
                "{}\n{}\n(static builds need libseccomp-dev: apt-get install libseccomp-dev)",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        });
    }
    Ok(target_dir.join(TARGET).join("release").join(PACKAGE))
}

/// The directory holding `libseccomp.a` (Debian's multiarch path unless
/// `LIBSECCOMP_LIB_PATH` is set).
fn libseccomp_dir() -> std::ffi::OsString {
    std::env::var_os("LIBSECCOMP_LIB_PATH").unwrap_or_else(|| "/usr/lib/x86_64-linux-gnu".into())
}

/// The init layer: `init` (the binary), `sbin/init -> /init`, and with `busybox` a debugging
/// userland (`bin/busybox`, `bin/sh`, ...).
pub fn init_layer(init: &Path, busybox: Option<&Path>) -> Result<Layer, LocalError> {
    let mut l = Layer::new();
    l.file("init", 0o755, init)?;
    l.symlink("sbin/init", "/init")?;
    if let Some(bb) = busybox {
        add_busybox(&mut l, bb)?;
    }
    Ok(l)
}

/// Writes the init image named `reference` into the layout at `dir`.
pub fn write_init_image(
    dir: &Path,
    reference: &str,
    init: &Path,
    busybox: Option<&Path>,
) -> Result<WrittenImage, LocalError> {
    let layer = init_layer(init, busybox)?;
    write_image(
        dir,
        reference,
        &Platform::linux("amd64"),
        &ImageConfig::default(),
        &layer,
    )
}
