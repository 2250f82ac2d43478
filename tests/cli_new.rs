//! cargo-linuxkit in a user's own repository: `cargo linuxkit new`, `init`, `import --add`,
//! from temporary directories outside this repository, through `cargo linuxkit` on PATH as a
//! user who ran `cargo install --path cargo-linuxkit` would.
//!
//! The commands are exactly those of the README's "In your own repository" section. Test
//! plumbing only adds environment: a private image cache (`LINUXKIT_CACHE`), TCG
//! (`LINUXKIT_QEMU_ACCEL`), and one `CARGO_TARGET_DIR` shared by the packages of this file so
//! `linuxkit-dsl` compiles once (which also checks that the tool honours `CARGO_TARGET_DIR`).

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cli_support::{bin, shared, text, workspace_root};

/// A temporary directory outside the repository (asserted).
fn outside() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    let repo = workspace_root().canonicalize().unwrap();
    assert!(
        !d.path().canonicalize().unwrap().starts_with(&repo),
        "{} is inside the repository",
        d.path().display()
    );
    d
}

/// Target directory shared by this file's packages.
fn shared_target() -> PathBuf {
    workspace_root().join("target").join("cli-new")
}

/// Runs `cargo linuxkit ARGS` (cargo finds `cargo-linuxkit` on PATH) in `dir`.
fn cargo_linuxkit(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    let bin_dir = bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = std::time::Instant::now();
    let out = Command::new(cargo)
        .arg("linuxkit")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("PATH", path)
        .env("LINUXKIT_CACHE", cache)
        .env("LINUXKIT_QEMU_ACCEL", "tcg")
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("LINUXKIT_MIRROR")
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .expect("cargo linuxkit runs");
    eprintln!(
        "cargo linuxkit {} ({:.1}s, {})",
        args.join(" "),
        started.elapsed().as_secs_f64(),
        out.status
    );
    out
}

fn ok(o: &Output) -> (String, String) {
    let (out, err) = text(o);
    assert!(
        o.status.success(),
        "failed: {}\nstdout:\n{out}\nstderr:\n{err}",
        o.status
    );
    (out, err)
}

fn dsl_path() -> String {
    workspace_root().join("linuxkit-dsl").display().to_string()
}

fn example(name: &str) -> PathBuf {
    shared()
        .join("reference")
        .join("linuxkit-examples")
        .join(name)
}

/// The model of a LinuxKit YAML text, for comparisons.
fn model(yaml: &str, what: &str) -> linuxkit_dsl::Image {
    linuxkit_dsl::yaml::from_yaml_str(yaml, what).unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

#[test]
fn new_package_builds_and_boots() {
    if !linuxkit_testing::qemu_present() {
        return;
    }
    let d = outside();
    let cache = d.path().join("cache");
    let dsl = dsl_path();
    ok(&cargo_linuxkit(
        d.path(),
        &cache,
        &["new", "myos", "--dsl-path", &dsl],
    ));
    let pkg = d.path().join("myos");
    for f in [
        "Cargo.toml",
        "src/main.rs",
        "src/bin/greeter.rs",
        ".gitignore",
        "README.md",
    ] {
        assert!(pkg.join(f).is_file(), "new did not write {f}");
    }
    let manifest = std::fs::read_to_string(pkg.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[package.metadata.linuxkit]\ndefinitions = [\"myos\"]"),
        "{manifest}"
    );
    let readme = std::fs::read_to_string(pkg.join("README.md")).unwrap();
    assert!(readme.contains("cargo linuxkit run myos"), "{readme}");

    let (_, err) = ok(&cargo_linuxkit(&pkg, &cache, &["build"]));
    assert!(err.contains("Finished `myos` (kernel+initrd)"), "{err}");
    for f in ["myos-kernel", "myos-initrd.img", "myos-cmdline"] {
        assert!(
            shared_target().join("linuxkit").join(f).is_file(),
            "no {f}: {err}"
        );
    }
    // The init came from the tool, named by its content tag.
    let ls = ok(&cargo_linuxkit(&pkg, &cache, &["cache", "ls"])).0;
    assert!(ls.contains("linuxkit-local/linuxkit-init:"), "{ls}");

    let run = cargo_linuxkit(&pkg, &cache, &["run", "myos", "--timeout", "240"]);
    let (out, err) = text(&run);
    assert!(
        run.status.success(),
        "run failed ({}):\n{out}\n{err}",
        run.status
    );
    assert!(
        out.contains("greeter: Hello from myos!"),
        "no greeting:\n{out}"
    );
    assert!(
        out.contains("linuxkit-init: powering off"),
        "no clean poweroff:\n{out}"
    );
    assert!(!out.contains("Kernel panic"), "{out}");
    assert!(err.contains("guest powered off"), "{err}");
}

#[test]
fn new_from_yaml_exports_the_yaml() {
    let d = outside();
    let cache = d.path().join("cache");
    let yml = example("sshd.yml");
    let dsl = dsl_path();
    ok(&cargo_linuxkit(
        d.path(),
        &cache,
        &[
            "new",
            "sshd-os",
            "--from",
            yml.to_str().unwrap(),
            "--dsl-path",
            &dsl,
        ],
    ));
    let pkg = d.path().join("sshd-os");
    assert!(
        !pkg.join("src/bin/greeter.rs").exists(),
        "--from adds no service"
    );
    let (exported, _) = ok(&cargo_linuxkit(&pkg, &cache, &["export", "sshd-os"]));
    let original = std::fs::read_to_string(&yml).unwrap();
    assert_eq!(
        model(&exported, "export"),
        model(&original, "sshd.yml"),
        "export of the imported package differs from sshd.yml:\n{exported}"
    );
}

#[test]
fn init_and_import_add_in_an_existing_package() {
    let d = outside();
    let cache = d.path().join("cache");
    let app = d.path().join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    let original = "# my app\n[package]\nname = \"app\"\nversion = \"1.2.3\"\nedition = \"2021\"\n\n[dependencies]\n";
    std::fs::write(app.join("Cargo.toml"), original).unwrap();
    std::fs::write(app.join("src/main.rs"), "fn main() {}\n").unwrap();
    let dsl = dsl_path();

    let (_, err) = ok(&cargo_linuxkit(&app, &cache, &["init", "--dsl-path", &dsl]));
    assert!(err.contains("app-image"), "{err}");
    assert_eq!(
        std::fs::read_to_string(app.join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    let getty = example("getty.yml");
    ok(&cargo_linuxkit(
        &app,
        &cache,
        &["import", getty.to_str().unwrap(), "--add"],
    ));
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(
        manifest.starts_with("# my app\n[package]\n"),
        "formatting lost:\n{manifest}"
    );
    assert!(
        manifest.contains("definitions = [\"app-image\", \"getty\"]"),
        "{manifest}"
    );

    let (list, _) = ok(&cargo_linuxkit(&app, &cache, &["list"]));
    assert!(
        list.contains("app-image") && list.contains("getty"),
        "{list}"
    );
    let (exported, _) = ok(&cargo_linuxkit(&app, &cache, &["export", "getty"]));
    assert_eq!(
        model(&exported, "export"),
        model(&std::fs::read_to_string(&getty).unwrap(), "getty.yml")
    );
    ok(&cargo_linuxkit(&app, &cache, &["check", "app-image"]));

    // Warnings of a Rust definition, and `deny-warnings = true` in the package's metadata.
    let rel = app.join("rel.yml");
    std::fs::write(
        &rel,
        "services:\n  - name: s\n    image: alpine:3.21\n    mounts:\n      - {type: tmpfs, source: tmpfs, destination: scratch}\n",
    )
    .unwrap();
    ok(&cargo_linuxkit(
        &app,
        &cache,
        &["import", rel.to_str().unwrap(), "--add"],
    ));
    let (_, err) = ok(&cargo_linuxkit(&app, &cache, &["check", "rel"]));
    assert!(
        err.contains("warning: mount destination is not absolute: scratch"),
        "{err}"
    );
    let with_deny = std::fs::read_to_string(app.join("Cargo.toml"))
        .unwrap()
        .replace(
            "[package.metadata.linuxkit]\n",
            "[package.metadata.linuxkit]\ndeny-warnings = true\n",
        );
    std::fs::write(app.join("Cargo.toml"), &with_deny).unwrap();
    let denied = cargo_linuxkit(&app, &cache, &["check", "rel"]);
    let (_, err) = text(&denied);
    assert!(!denied.status.success(), "{err}");
    assert!(
        err.contains("error: mount destination is not absolute: scratch")
            && err.contains("denied by --deny-warnings"),
        "{err}"
    );
    std::fs::write(app.join("Cargo.toml"), &manifest).unwrap();
    std::fs::remove_file(app.join("src/bin/rel.rs")).unwrap();

    // Nothing is overwritten, and the error names the files.
    let before = std::fs::read(app.join("src/bin/app-image.rs")).unwrap();
    let again = cargo_linuxkit(&app, &cache, &["init", "--dsl-path", &dsl]);
    let (_, err) = text(&again);
    assert!(!again.status.success());
    assert!(
        err.contains("refusing to overwrite") && err.contains("src/bin/app-image.rs"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(app.join("src/bin/app-image.rs")).unwrap(),
        before
    );
    let again = cargo_linuxkit(&app, &cache, &["import", getty.to_str().unwrap(), "--add"]);
    let (_, err) = text(&again);
    assert!(
        !again.status.success() && err.contains("src/bin/getty.rs"),
        "{err}"
    );
    let again = cargo_linuxkit(d.path(), &cache, &["new", "app", "--dsl-path", &dsl]);
    let (_, err) = text(&again);
    assert!(
        !again.status.success() && err.contains("`app` already exists"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("Cargo.toml")).unwrap(),
        manifest
    );
}

#[test]
fn outside_a_package_rust_definitions_are_refused_and_yaml_works() {
    let d = outside();
    let cache = d.path().join("cache");
    let o = cargo_linuxkit(d.path(), &cache, &["build", "myos"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no Cargo.toml in")
            && err.contains("cargo linuxkit new")
            && err.contains("cargo linuxkit init"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let yml = example("minimal.yml");
    ok(&cargo_linuxkit(
        d.path(),
        &cache,
        &["check", yml.to_str().unwrap()],
    ));
    let o = cargo_linuxkit(d.path(), &cache, &["init"]);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("no Cargo.toml here"),
        "{err}"
    );
    let o = cargo_linuxkit(d.path(), &cache, &["new", "fn"]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("Rust keyword"), "{err}");
}
