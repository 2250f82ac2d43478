//! `linuxkit.lock` end to end against a real Debian `docker-registry` on a free loopback port:
//! `build --locked` fails without a lockfile, `lock` pins the tag, a new image pushed under
//! the same tag does not change a locked build (even with `--pull`), `update` prints the bump
//! and the next build uses it, and `build --locked` fails once the definition names an image
//! the lockfile does not have.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use cargo_linuxkit::cli::GlobalArgs;
use cargo_linuxkit::config::Config;
use cli_support::{bin, start_registry, text, workspace_root, REGISTRY};
use linuxkit_local::image::{write_image, ImageConfig};
use linuxkit_local::layer::Layer;
use linuxkit_oci::store::Platform;

/// Writes a one-file image whose config carries `MARK=<mark>` into the publisher's cache and
/// pushes it to the registry under `reference`; returns its manifest digest.
fn publish(cache: &Path, reference: &str, mark: &str) -> String {
    let mut layer = Layer::new();
    layer
        .bytes("etc/mark", 0o644, format!("{mark}\n"))
        .expect("layer file");
    let config = ImageConfig {
        cmd: Some(vec!["/bin/true".into()]),
        env: Some(vec![format!("MARK={mark}")]),
        ..Default::default()
    };
    let written = write_image(cache, reference, &Platform::linux("amd64"), &config, &layer)
        .expect("write image");
    let cfg = Config::from_args(&GlobalArgs {
        quiet: true,
        cache: Some(cache.to_path_buf()),
        ..GlobalArgs::default()
    })
    .expect("config");
    let resolver =
        cargo_linuxkit::resolve::resolver(&cfg, Platform::linux("amd64"), false).expect("resolver");
    resolver.push(reference, None).expect("push to registry");
    written.manifest.digest.to_string()
}

/// A package with one definition target `img` whose services use `images`; `locked` opts in to
/// the compile-time lock check.
fn write_package(dir: &Path, images: &[&str], locked: bool) {
    let dsl = workspace_root().join("linuxkit-dsl");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"lk-lock-fixture\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nlinuxkit-dsl = {{ path = {:?} }}\n\n[[bin]]\nname = \"img\"\npath = \"src/main.rs\"\n\n\
             [workspace]\n\n[profile.dev.package.\"*\"]\nopt-level = 1\n\n\
             [package.metadata.linuxkit]\ndefinitions = [\"img\"]\nlocked = {locked}\n",
            dsl.display().to_string()
        ),
    )
    .expect("Cargo.toml");
    // The workspace's lock file pins the same versions, so the shared target dir is reused.
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock");
    }
    std::fs::create_dir_all(dir.join("src")).expect("src");
    let services: String = images
        .iter()
        .enumerate()
        .map(|(i, r)| format!("        .service(Container::new(\"svc{i}\", {r:?}))\n"))
        .collect();
    std::fs::write(
        dir.join("src/main.rs"),
        format!(
            "use linuxkit_dsl::{{Container, Image}};\n\n#[linuxkit_dsl::image]\nfn img() -> Image {{\n    \
             Image::default()\n{services}}}\n\nlinuxkit_dsl::main!(img);\n"
        ),
    )
    .expect("main.rs");
}

/// Runs `cargo-linuxkit --cache CACHE ARGS` in the fixture package (cargo offline, the
/// workspace's target dir).
fn cli(pkg: &Path, cache: &Path, args: &[&str]) -> Output {
    let start = Instant::now();
    let out = cli_timed(pkg, cache, args);
    eprintln!(
        "cargo-linuxkit {args:?}: {:.1}s",
        start.elapsed().as_secs_f64()
    );
    out
}

fn cli_timed(pkg: &Path, cache: &Path, args: &[&str]) -> Output {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Command::new(bin())
        .arg("--cache")
        .arg(cache)
        .args(args)
        .current_dir(pkg)
        .stdin(Stdio::null())
        .env_remove("LINUXKIT_MIRROR")
        .env_remove("LINUXKIT_CACHE")
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo-linuxkit runs")
}

fn ok(o: &Output, what: &str) -> String {
    let (_, err) = text(o);
    assert!(o.status.success(), "{what} failed:\n{err}");
    err
}

fn failed(o: &Output, what: &str) -> String {
    let (_, err) = text(o);
    assert!(!o.status.success(), "{what} should fail:\n{err}");
    err
}

/// The `MARK=` of the service's config.json inside a built tar.
fn mark_in(tar_path: &Path) -> String {
    let mut archive = tar::Archive::new(std::fs::File::open(tar_path).expect("open tar"));
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().expect("path").display().to_string();
        if path == "containers/services/svc0/config.json" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut entry, &mut s).expect("read config.json");
            let at = s.find("MARK=").expect("MARK= in config.json");
            return s[at + 5..].chars().take_while(|c| *c != '"').collect();
        }
    }
    panic!("no config.json of svc0 in {}", tar_path.display());
}

#[test]
fn lock_pins_tags_update_bumps_them_and_locked_builds_fail_when_stale() {
    if !linuxkit_testing::prerequisite(
        Path::new(REGISTRY).exists(),
        REGISTRY,
        "apt-get install docker-registry",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let registry = start_registry(tmp.path());
    let publisher = tmp.path().join("publisher-cache");
    let reference = format!("{}/test/svc:stable", registry.addr);
    let v1 = publish(&publisher, &reference, "v1");

    let pkg = tmp.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg dir");
    write_package(&pkg, &[&reference], false);
    let cache = tmp.path().join("cache");
    let lockfile = pkg.join("linuxkit.lock");

    // Build the definition once (cargo adds the fixture to its Cargo.lock; `--locked` below
    // is passed on to cargo too).
    let err = ok(&cli(&pkg, &cache, &["list"]), "list");
    assert!(!lockfile.exists(), "{err}");

    // No lockfile: --locked refuses to build.
    let err = failed(
        &cli(&pkg, &cache, &["--locked", "build", "-o", "x.tar"]),
        "build --locked without a lockfile",
    );
    assert!(
        err.contains("linuxkit.lock is missing and --locked was passed")
            && err.contains("cargo linuxkit lock"),
        "{err}"
    );
    assert!(!pkg.join("x.tar").exists());

    // lock: the tag is pinned to the pushed manifest, with its platform.
    let err = ok(&cli(&pkg, &cache, &["lock"]), "lock");
    assert!(err.contains("Adding"), "{err}");
    let text1 = std::fs::read_to_string(&lockfile).expect("linuxkit.lock written");
    assert!(
        text1.contains(&format!(
            "[[image]]\nreference = \"{reference}\"\ndigest = \"{v1}\"\n\n[image.platforms]\n\"linux/amd64\" = \"{v1}\"\n"
        )),
        "{text1}"
    );
    // Locking again changes nothing, byte for byte.
    ok(&cli(&pkg, &cache, &["lock"]), "second lock");
    assert_eq!(std::fs::read_to_string(&lockfile).unwrap(), text1);

    // A new image under the same tag.
    let v2 = publish(&publisher, &reference, "v2");
    assert_ne!(v1, v2);

    // A locked build uses the locked digest, even when told to re-pull.
    ok(
        &cli(
            &pkg,
            &cache,
            &["--locked", "build", "--pull", "-o", "a.tar"],
        ),
        "build --locked",
    );
    assert_eq!(mark_in(&pkg.join("a.tar")), "v1");

    // update: the bump is printed as old -> new and written.
    let err = ok(&cli(&pkg, &cache, &["update"]), "update");
    let short = |d: &str| d[..19].to_string();
    assert!(
        err.contains(&format!(
            "Updating {reference} {} -> {}",
            short(&v1),
            short(&v2)
        )),
        "{err}"
    );
    let text2 = std::fs::read_to_string(&lockfile).unwrap();
    assert!(text2.contains(&format!("digest = \"{v2}\"")), "{text2}");
    assert!(!text2.contains(&v1), "{text2}");
    ok(
        &cli(&pkg, &cache, &["--locked", "build", "-o", "b.tar"]),
        "build after update",
    );
    assert_eq!(mark_in(&pkg.join("b.tar")), "v2");
    // Nothing left to update.
    let name = format!("{}/test/svc", registry.addr);
    let err = ok(&cli(&pkg, &cache, &["update", &name]), "update by name");
    assert!(err.contains("every image is up to date"), "{err}");
    let err = failed(
        &cli(&pkg, &cache, &["update", "test/svc"]),
        "update of an unused image",
    );
    assert!(
        err.contains("no definition uses an image `test/svc`"),
        "{err}"
    );

    // The definition now names an image the lockfile does not have: --locked fails.
    let other = format!("{}/test/svc:other", registry.addr);
    publish(&publisher, &other, "other");
    write_package(&pkg, &[&reference, &other], false);
    let err = failed(
        &cli(&pkg, &cache, &["--locked", "build", "-o", "c.tar"]),
        "build --locked with a stale lockfile",
    );
    assert!(
        err.contains("linuxkit.lock needs to be updated but --locked was passed")
            && err.contains(&other),
        "{err}"
    );
    assert!(!pkg.join("c.tar").exists());

    // Opting in to the compile-time check: the unlocked reference is a compile error on it.
    write_package(&pkg, &[&reference, &other], true);
    let err = failed(&cli(&pkg, &cache, &["list"]), "list of an unlocked package");
    assert!(
        err.contains(&format!(
            "error: image {other:?} is not in linuxkit.lock (this package sets [package.metadata.linuxkit] locked = true): run `cargo linuxkit lock`"
        )) && err.contains("src/main.rs:"),
        "{err}"
    );
    // `lock` compiles the definitions with the check off, then locks the new image...
    let err = ok(
        &cli(&pkg, &cache, &["lock"]),
        "lock of the opted-in package",
    );
    assert!(err.contains(&format!("Adding {other}")), "{err}");
    // ...and the package compiles (the lockfile is tracked: it changed, so rustc re-checks).
    ok(&cli(&pkg, &cache, &["list"]), "list after lock");
    // Editing only the lockfile recompiles the definitions: the check fails again.
    let text = std::fs::read_to_string(&lockfile).expect("read lockfile");
    let kept: Vec<&str> = text
        .split("\n[[image]]\n")
        .filter(|block| !block.contains(&format!("reference = {other:?}")))
        .collect();
    assert_eq!(kept.len(), 2, "{text}");
    std::fs::write(&lockfile, kept.join("\n[[image]]\n")).expect("write lockfile");
    let err = failed(
        &cli(&pkg, &cache, &["list"]),
        "list after removing a lock entry",
    );
    assert!(err.contains("is not in linuxkit.lock"), "{err}");
}
