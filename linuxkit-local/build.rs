//! Builds the static `linuxkit-init` from the source this crate was built with and embeds it.
//!
//! The source is found through the `linuxkit-init` build-dependency (its `SOURCE_DIR`): in this
//! repository that is `linuxkit-init/`, for a crate from crates.io it is the registry copy that
//! cargo downloaded with this crate. The binary is built once per target directory into
//! `<target>/linuxkit-init-static` (a nested `cargo build` with its own flags, incremental
//! afterwards), copied to `OUT_DIR` and included by `src/init.rs`. Its content tag is a hash of
//! the init's sources and version, so the same release has the same tag wherever it is built.
//!
//! `LINUXKIT_INIT_BINARY=/path/to/static/linuxkit-init` embeds a prebuilt binary instead (for
//! packagers, or a target the host cannot build for); its tag is then the hash of its bytes.
//!
//! The root loader's dm-verity step, `linuxkit-verity`, is built and embedded the same way
//! from the `linuxkit-verity` source (`LINUXKIT_VERITY_BINARY` embeds a prebuilt one), and so
//! is the A/B update agent, `linuxkit-update` (`LINUXKIT_UPDATE_BINARY`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let source = PathBuf::from(linuxkit_init::SOURCE_DIR);
    let target = env::var("TARGET").expect("TARGET");
    let arch = match target.split('-').next() {
        Some("x86_64") => "amd64",
        Some("aarch64") => "arm64",
        Some("riscv64gc") => "riscv64",
        Some("s390x") => "s390x",
        Some(other) => other,
        None => "unknown",
    };
    println!("cargo:rerun-if-env-changed=LINUXKIT_INIT_BINARY");
    println!("cargo:rerun-if-env-changed=LINUXKIT_VERITY_BINARY");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LIB_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    let verity_source = PathBuf::from(linuxkit_verity::SOURCE_DIR);
    for p in ["src", "Cargo.toml", "Cargo.lock", "../Cargo.lock"] {
        for p in [source.join(p), verity_source.join(p)] {
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    for dir in &linuxkit_init::SOURCE_DIRS[1..] {
        println!("cargo:rerun-if-changed={dir}/src");
    }
    let embedded = out.join("linuxkit-init");
    let (tag, note) = if let Some(bin) = env::var_os("LINUXKIT_INIT_BINARY") {
        let bytes =
            fs::read(&bin).unwrap_or_else(|e| fail(&format!("LINUXKIT_INIT_BINARY={bin:?}: {e}")));
        fs::write(&embedded, &bytes).unwrap_or_else(|e| fail(&format!("{embedded:?}: {e}")));
        (
            hex::encode(Sha256::digest(&bytes))[..40].to_string(),
            format!("prebuilt {}", Path::new(&bin).display()),
        )
    } else if env::var_os("DOCS_RS").is_some() {
        // docs.rs builds offline without libseccomp: documentation only, no init.
        fs::write(&embedded, b"").unwrap_or_else(|e| fail(&format!("{embedded:?}: {e}")));
        (String::new(), "none (documentation build)".to_string())
    } else {
        let built = build(&source, linuxkit_init::PACKAGE, &target, &out);
        fs::copy(&built, &embedded)
            .unwrap_or_else(|e| fail(&format!("copying {built:?} to {embedded:?}: {e}")));
        (
            source_tag(&source),
            format!("built from {}", source.display()),
        )
    };
    let meta = format!(
        "/// Content tag of the embedded init.\npub const TAG: &str = {tag:?};\n\
         /// OCI architecture of the embedded init.\npub const ARCH: &str = {arch:?};\n\
         /// Rust target of the embedded init.\npub const RUST_TARGET: &str = {target:?};\n\
         /// Where the embedded init came from.\npub const ORIGIN: &str = {note:?};\n\
         /// The init's source directory this crate was built with (to build it for another \
         /// architecture).\npub const SOURCE_DIR: &str = {source:?};\n"
    );
    fs::write(out.join("init_meta.rs"), meta).unwrap_or_else(|e| fail(&e.to_string()));

    build_update_agent(&out, &target);

    let verity = out.join("linuxkit-verity");
    if let Some(bin) = env::var_os("LINUXKIT_VERITY_BINARY") {
        fs::copy(&bin, &verity)
            .unwrap_or_else(|e| fail(&format!("LINUXKIT_VERITY_BINARY={bin:?}: {e}")));
    } else if env::var_os("DOCS_RS").is_some() {
        fs::write(&verity, b"").unwrap_or_else(|e| fail(&format!("{verity:?}: {e}")));
    } else {
        let built = build(&verity_source, linuxkit_verity::PACKAGE, &target, &out);
        fs::copy(&built, &verity)
            .unwrap_or_else(|e| fail(&format!("copying {built:?} to {verity:?}: {e}")));
    }
}

/// The A/B update agent, `linuxkit-update`, built static from the `linuxkit-update` source and
/// embedded like the init (`LINUXKIT_UPDATE_BINARY` embeds a prebuilt one). Its image's tag is
/// the hash of the binary, computed at run time.
fn build_update_agent(out: &Path, target: &str) {
    println!("cargo:rerun-if-env-changed=LINUXKIT_UPDATE_BINARY");
    let source = PathBuf::from(linuxkit_update::SOURCE_DIR);
    // Its own source, and in this repository the sources of the workspace crates it links.
    for p in [
        source.join("src"),
        source.join("Cargo.toml"),
        source.join("../linuxkit-resolve/src"),
        source.join("../linuxkit-oci/src"),
        source.join("../linuxkit-bundle/src"),
    ] {
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    let agent = out.join("linuxkit-update");
    if let Some(bin) = env::var_os("LINUXKIT_UPDATE_BINARY") {
        fs::copy(&bin, &agent)
            .unwrap_or_else(|e| fail(&format!("LINUXKIT_UPDATE_BINARY={bin:?}: {e}")));
    } else if env::var_os("DOCS_RS").is_some() {
        fs::write(&agent, b"").unwrap_or_else(|e| fail(&format!("{agent:?}: {e}")));
    } else {
        let built = build(&source, linuxkit_update::PACKAGE, target, out);
        fs::copy(&built, &agent)
            .unwrap_or_else(|e| fail(&format!("copying {built:?} to {agent:?}: {e}")));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!(
        "error: building the embedded guest binaries (linuxkit-init, linuxkit-verity, linuxkit-update): {msg}"
    );
    std::process::exit(1);
}

/// SHA-256 over the package name, version and every file under the `src/` of each source
/// directory the init is built from (in order; files sorted, with paths relative to their
/// directory, so a registry copy `linuxkit-init-0.1.0/` gives the same tag as a checkout).
fn source_tag(source: &Path) -> String {
    let mut h = Sha256::new();
    h.update(linuxkit_init::PACKAGE.as_bytes());
    h.update([0]);
    h.update(linuxkit_init::VERSION.as_bytes());
    h.update([0]);
    let dirs = std::iter::once(source.to_path_buf())
        .chain(linuxkit_init::SOURCE_DIRS[1..].iter().map(PathBuf::from));
    for (i, dir) in dirs.enumerate() {
        let mut files = Vec::new();
        collect(&dir.join("src"), &mut files);
        files.sort();
        // The first directory hashes as it always did (paths `src/...`); later ones are
        // numbered.
        if i > 0 {
            h.update(format!("source {i}").as_bytes());
            h.update([0]);
        }
        for f in files {
            let rel = f.strip_prefix(&dir).unwrap_or(&f);
            h.update(rel.to_string_lossy().as_bytes());
            h.update([0]);
            let data = fs::read(&f).unwrap_or_else(|e| fail(&format!("{f:?}: {e}")));
            h.update((data.len() as u64).to_le_bytes());
            h.update(&data);
        }
    }
    hex::encode(h.finalize())[..40].to_string()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `<target>/linuxkit-init-static`: OUT_DIR is `<target>[/<triple>]/<profile>/build/<pkg>/out`.
fn nested_target_dir(out: &Path) -> PathBuf {
    out.ancestors()
        .nth(4)
        .map(|t| t.join("linuxkit-init-static"))
        .unwrap_or_else(|| out.join("linuxkit-init-static"))
}

/// Builds binary `package` of the package at `source` static, for `target`.
fn build(source: &Path, package: &str, target: &str, out: &Path) -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = nested_target_dir(out);
    let manifest = source.join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--release", "--bin", package, "--target", target])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        // rust-lld (the default linker since Rust 1.90) mis-relocates glibc's undefined weak
        // `__gmon_start__` in static-pie binaries, which then crash at start: use the system
        // linker.
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C linker-features=-lld",
        )
        // libseccomp-sys links the shared library unless told otherwise; in a static-pie that
        // leaves unresolved dynamic references and the binary dies before main.
        .env("LIBSECCOMP_LINK_TYPE", "static")
        .env(
            "LIBSECCOMP_LIB_PATH",
            env::var_os("LIBSECCOMP_LIB_PATH").unwrap_or_else(|| libseccomp_dir(target).into()),
        )
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_TERM_COLOR", "never");
    // The outer build's settings must not leak into the nested one (clippy's wrapper, the
    // outer target and flags).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "__CARGO_FIX_PLZ",
    ] {
        cmd.env_remove(var);
    }
    if source.join("Cargo.lock").exists() || source.join("../Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    let described = format!(
        "cargo build --release --bin {package} --target {target} --manifest-path {}",
        manifest.display()
    );
    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {described}: {e}")));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        fail(&format!(
            "{described} (CARGO_TARGET_DIR={}) failed with {}:\n{}\n\
             The init is a static binary: it needs a C toolchain and the static libseccomp \
             (Debian: apt-get install build-essential libseccomp-dev). To embed a prebuilt \
             static init instead, set LINUXKIT_INIT_BINARY=/path/to/linuxkit-init.",
            target_dir.display(),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    target_dir.join(target).join("release").join(package)
}

/// Debian's multiarch directory of `libseccomp.a` for `target`.
fn libseccomp_dir(target: &str) -> String {
    let multiarch = match target.split('-').next() {
        Some("aarch64") => "aarch64-linux-gnu",
        Some("riscv64gc") => "riscv64-linux-gnu",
        Some("s390x") => "s390x-linux-gnu",
        _ => "x86_64-linux-gnu",
    };
    format!("/usr/lib/{multiarch}")
}
