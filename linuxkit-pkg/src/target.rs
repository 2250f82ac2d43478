//! Rust targets of the architectures images are built for: `cargo:` sources and
//! `init:linuxkit-init` are compiled for the image's architecture, which needs that target's
//! standard library (`rustup target add <triple>`) and, across architectures, a C cross
//! toolchain for the linker and libseccomp.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::PkgError;

/// The Rust target triple of static binaries for OCI architecture `arch`.
pub fn rust_target(arch: &str) -> Option<&'static str> {
    match arch {
        "amd64" => Some("x86_64-unknown-linux-gnu"),
        "arm64" => Some("aarch64-unknown-linux-gnu"),
        "riscv64" => Some("riscv64gc-unknown-linux-gnu"),
        "s390x" => Some("s390x-unknown-linux-gnu"),
        _ => None,
    }
}

/// The GNU triple of Debian's cross toolchain and multiarch directory for `arch`.
fn gnu_triple(arch: &str) -> &'static str {
    match arch {
        "arm64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => "x86_64-linux-gnu",
    }
}

/// The OCI architecture of this machine.
pub fn host_arch() -> String {
    linuxkit_oci::store::Platform::host().architecture
}

/// The Rust targets whose standard library is installed (what `rustup target list --installed`
/// prints), read from the sysroot so it works without rustup too.
pub fn installed_targets() -> Vec<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return Vec::new();
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let Ok(rd) = std::fs::read_dir(sysroot.join("lib/rustlib")) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .flatten()
        .filter(|e| has_std(&e.path().join("lib")))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn has_std(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("libstd-") && n.ends_with(".rlib")
        })
    })
}

/// The Rust target to compile `what` for `arch`, or the error saying why it cannot be built
/// here (unknown architecture, or no standard library for it).
pub fn target_for(reference: &str, what: &str, arch: &str) -> Result<&'static str, PkgError> {
    let Some(triple) = rust_target(arch) else {
        return Err(PkgError::BadReference {
            reference: reference.to_string(),
            reason: format!("{what} cannot be built for architecture {arch}: no Rust target is known for it (amd64, arm64, riscv64, s390x are)"),
        });
    };
    let installed = installed_targets();
    if arch != host_arch() && !installed.iter().any(|t| t == triple) {
        return Err(PkgError::BadReference {
            reference: reference.to_string(),
            reason: format!(
                "{what} for {arch} must be compiled for the Rust target {triple}, whose standard \
                 library is not installed here (installed targets: {}): add it with `rustup \
                 target add {triple}` plus a C cross toolchain (Debian: gcc-{gnu}, and \
                 libseccomp-dev:{arch} for the init), or build on an {arch} machine, or use an \
                 {arch} image from a registry instead",
                if installed.is_empty() {
                    "none found".to_string()
                } else {
                    installed.join(", ")
                },
                gnu = gnu_triple(arch).replace('_', "-"),
            ),
        });
    }
    Ok(triple)
}

/// Environment for a cross build to `arch` (`triple`): Debian's cross linker and the target's
/// static libseccomp, unless already set.
pub fn cross_env(cmd: &mut Command, arch: &str, triple: &str) {
    if arch == host_arch() {
        return;
    }
    let var = format!(
        "CARGO_TARGET_{}_LINKER",
        triple.to_uppercase().replace('-', "_")
    );
    if std::env::var_os(&var).is_none() {
        cmd.env(&var, format!("{}-gcc", gnu_triple(arch)));
    }
    if std::env::var_os("LIBSECCOMP_LIB_PATH").is_none() {
        cmd.env(
            "LIBSECCOMP_LIB_PATH",
            format!("/usr/lib/{}", gnu_triple(arch)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_errors() {
        assert_eq!(rust_target("arm64"), Some("aarch64-unknown-linux-gnu"));
        assert_eq!(rust_target("mips"), None);
        let installed = installed_targets();
        assert!(
            installed.iter().any(|t| t.contains("linux")),
            "{installed:?}"
        );
        // The host's own target always builds.
        let host = host_arch();
        assert!(target_for("cargo:x", "cargo:x", &host).is_ok());
        let err = target_for("cargo:x", "cargo:x", "mips")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mips"), "{err}");
        // Without the aarch64 standard library (this machine), arm64 is refused, saying so.
        if host == "amd64" && !installed.iter().any(|t| t.starts_with("aarch64")) {
            let err = target_for("cargo:x", "cargo:x", "arm64")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("aarch64-unknown-linux-gnu")
                    && err.contains("not installed")
                    && err.contains("rustup target add"),
                "{err}"
            );
        }
    }
}
