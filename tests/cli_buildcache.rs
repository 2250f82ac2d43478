//! The registry build cache and initrd compression, end to end with the `cargo-linuxkit`
//! binary, real Debian `docker-registry`s on free loopback ports and the `hello` system of
//! this workspace (every image local: Debian's kernel, the embedded init, two `cargo:`
//! images):
//!
//! - runner A (its own image cache) builds `hello` and pushes to the build cache; runner B, with
//!   an empty cache, builds the same definition from it: zero pieces compressed, zero local
//!   images built, byte-identical artifacts;
//! - a registry that dies in the middle of the push, one that serves a corrupt blob (its storage
//!   damaged on disk) and one that is not there each leave a correct build and one warning;
//! - `cache push --registry` pushes cached images under a prefix;
//! - a zstd initrd of `hello` boots under TCG to the service's first line, and a kernel whose
//!   config lacks `CONFIG_RD_ZSTD` is refused, its config named, nothing written.

mod cli_support;

#[path = "../linuxkit-resolve/tests/common/mod.rs"]
mod fault_proxy;

mod boot_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cli_support::{run_in, sha256, start_registry, text, workspace_root, Registry, REGISTRY};
use serde_json::Value;

/// Runner A's build, shared by the tests: its registry (build cache `cache`), its image cache,
/// its artifacts and its JSON messages.
struct RunnerA {
    registry: Registry,
    tmp: tempfile::TempDir,
    cache: PathBuf,
    out: PathBuf,
    artifact: Value,
    pushed: Value,
}

const IMAGE: &str = "hello";
const FILES: [&str; 3] = ["hello-kernel", "hello-initrd.img", "hello-cmdline"];

fn registry_present() -> bool {
    linuxkit_testing::prerequisite(
        Path::new(REGISTRY).exists(),
        REGISTRY,
        "apt-get install docker-registry",
    )
}

/// The JSON messages of a `--message-format json` run with the given `reason`.
fn messages(stdout: &str, reason: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["reason"] == reason)
        .collect()
}

/// Builds `hello` with `--message-format json` into `out`, with image cache `cache` and extra
/// arguments; returns (linuxkit-artifact message, every stdout line, stderr).
fn build(cache: &Path, out: &Path, extra: &[&str]) -> (Value, String, String) {
    let cache_arg = cache.display().to_string();
    let out_arg = out.display().to_string();
    let mut args = vec![
        "--cache",
        &cache_arg,
        "--message-format",
        "json",
        "build",
        "--dir",
        &out_arg,
    ];
    args.extend_from_slice(extra);
    args.push(IMAGE);
    let o = run_in(&workspace_root(), &args);
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success(),
        "build {extra:?} failed:\n{stderr}\n{stdout}"
    );
    let artifact = messages(&stdout, "linuxkit-artifact")
        .pop()
        .unwrap_or_else(|| panic!("no linuxkit-artifact message:\n{stdout}"));
    (artifact, stdout, stderr)
}

fn runner_a() -> Option<&'static RunnerA> {
    static A: OnceLock<Option<RunnerA>> = OnceLock::new();
    A.get_or_init(|| {
        if !registry_present() {
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let registry = start_registry(tmp.path());
        let cache = tmp.path().join("cache-a");
        let out = tmp.path().join("out-a");
        let repo = format!("{}/cache", registry.addr);
        let (artifact, stdout, stderr) = build(&cache, &out, &["--cache-to", &repo]);
        let pushed = messages(&stdout, "build-cache-pushed")
            .pop()
            .unwrap_or_else(|| panic!("runner A pushed nothing:\n{stderr}\n{stdout}"));
        Some(RunnerA {
            registry,
            tmp,
            cache,
            out,
            artifact,
            pushed,
        })
    })
    .as_ref()
}

/// The sha256 of every artifact in `dir`.
fn digests(dir: &Path) -> BTreeMap<&'static str, String> {
    FILES
        .iter()
        .map(|f| {
            let p = dir.join(f);
            assert!(p.is_file(), "{} was not written", p.display());
            (*f, sha256(&p))
        })
        .collect()
}

fn count(v: &Value, section: &str, what: &str) -> u64 {
    v[section][what]
        .as_u64()
        .unwrap_or_else(|| panic!("no {section}.{what} in {v}"))
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect()
}

#[test]
fn runner_a_pushes_and_runner_b_builds_nothing_with_identical_artifacts() {
    let Some(a) = runner_a() else { return };
    // A did all the work and pushed all of it.
    let compressed = count(&a.artifact, "pieces", "compressed");
    let pieces = a.pushed["pieces"].as_u64().unwrap();
    assert!(pieces > 3, "{}", a.pushed);
    assert_eq!(
        compressed + count(&a.artifact, "pieces", "local"),
        pieces,
        "every piece A used is in the manifest: {} / {}",
        a.artifact,
        a.pushed
    );
    assert_eq!(a.pushed["local_images"], 4, "{}", a.pushed);

    // B: an empty image cache of its own, the build cache as its only help.
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = format!("{}/cache", a.registry.addr);
    let (b, _, stderr) = build(
        &tmp.path().join("cache-b"),
        &tmp.path().join("out-b"),
        &["--cache-from", &repo],
    );
    assert_eq!(count(&b, "pieces", "compressed"), 0, "{b}\n{stderr}");
    assert_eq!(count(&b, "pieces", "local"), 0, "{b}");
    assert_eq!(count(&b, "pieces", "fetched"), pieces, "{b}");
    assert_eq!(count(&b, "local_images", "built"), 0, "{b}\n{stderr}");
    assert_eq!(count(&b, "local_images", "fetched"), 4, "{b}");
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    assert_eq!(digests(&tmp.path().join("out-b")), digests(&a.out));
}

#[test]
fn a_corrupt_blob_in_the_registry_is_compressed_here_with_one_warning() {
    let Some(a) = runner_a() else { return };
    // A registry of its own (its storage is damaged below), filled by A's fresh build: the
    // pieces of the last build are pushed again without rebuilding.
    let tmp = tempfile::tempdir().expect("tempdir");
    let registry = start_registry(tmp.path());
    let repo = format!("{}/cache", registry.addr);
    let (again, stdout, stderr) = build(&a.cache, &a.out, &["--cache-to", &repo]);
    assert_eq!(again["fresh"], true, "{again}");
    assert_eq!(
        messages(&stdout, "build-cache-pushed")[0]["pieces"],
        a.pushed["pieces"],
        "{stderr}"
    );

    // Damage one piece blob on disk: flip its last byte.
    let manifest = stored_manifest(tmp.path(), "cache", "hello-amd64");
    let piece = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let data = blob_file(tmp.path(), &piece);
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&data, bytes).unwrap();

    let (b, _, stderr) = build(
        &tmp.path().join("cache-b"),
        &tmp.path().join("out-b"),
        &["--cache-from", &repo],
    );
    assert_eq!(count(&b, "pieces", "compressed"), 1, "{b}\n{stderr}");
    assert_eq!(
        count(&b, "pieces", "fetched") + 1,
        a.pushed["pieces"].as_u64().unwrap(),
        "{b}"
    );
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(
        w[0].contains(&piece) && w[0].contains("compressed here"),
        "{stderr}"
    );
    assert_eq!(digests(&tmp.path().join("out-b")), digests(&a.out));
}

#[test]
fn a_registry_that_dies_mid_push_leaves_a_correct_build_and_one_warning() {
    let Some(a) = runner_a() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let registry = start_registry(tmp.path());
    let proxy = fault_proxy::FaultProxy::start(registry.addr.clone());
    // Uploads work for a while, then the registry is gone: every later upload request is
    // answered by a closed connection.
    proxy.add_after("/blobs/uploads/", fault_proxy::Fault::Close, 3, usize::MAX);
    let repo = format!("{}/cache", proxy.host());
    let out = tmp.path().join("out-c");
    let (c, stdout, stderr) = build(&a.cache, &out, &["--force", "--cache-to", &repo]);
    assert!(proxy.injected() > 0, "no fault was injected:\n{stderr}");
    assert!(
        messages(&stdout, "build-cache-pushed").is_empty(),
        "{stdout}"
    );
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(w[0].contains("push of `hello` failed"), "{stderr}");
    assert_eq!(c["fresh"], false, "{c}");
    assert_eq!(digests(&out), digests(&a.out));
}

#[test]
fn an_absent_registry_warns_once_and_the_build_does_the_work() {
    let Some(a) = runner_a() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = format!("127.0.0.1:{port}/cache");
    let (b, _, stderr) = build(
        &tmp.path().join("cache-b"),
        &tmp.path().join("out-b"),
        &["--cache-from", &repo, "--cache-to", &repo],
    );
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(w[0].contains(&repo), "{stderr}");
    assert_eq!(count(&b, "pieces", "fetched"), 0, "{b}");
    assert_eq!(count(&b, "local_images", "fetched"), 0, "{b}");
    assert_eq!(count(&b, "local_images", "built"), 4, "{b}");
    assert_eq!(digests(&tmp.path().join("out-b")), digests(&a.out));
}

#[test]
fn cache_push_puts_cached_images_under_a_registry_prefix() {
    let Some(a) = runner_a() else { return };
    let cache = a.cache.display().to_string();
    let ws = workspace_root();
    // A's cache names the init image by its content tag (see `cache ls`).
    let o = run_in(&ws, &["--cache", &cache, "cache", "ls"]);
    let (ls, _) = text(&o);
    let init = ls
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, _)| n)
        .find(|n| n.contains("linuxkit-local/linuxkit-init:"))
        .unwrap_or_else(|| panic!("no init image in cache ls:\n{ls}"))
        .to_string();
    let prefix = format!("{}/mirror", a.registry.addr);
    let push = |extra: &[&str]| {
        let mut args = vec![
            "--cache",
            &cache,
            "--message-format",
            "json",
            "cache",
            "push",
            &init,
            "--registry",
            &prefix,
        ];
        args.extend_from_slice(extra);
        let o = run_in(&ws, &args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "cache push failed: {err}");
        messages(&out, "cache-pushed").pop().expect("cache-pushed")
    };
    let first = push(&[]);
    let remote = first["remote"].as_str().unwrap().to_string();
    let tag = init.rsplit_once(':').unwrap().1;
    assert_eq!(
        remote,
        format!("{prefix}/linuxkit-local/linuxkit-init:{tag}"),
        "{first}"
    );
    // Pushed once; a second push finds it there.
    assert!(first["skipped"] == false && push(&[])["skipped"] == true);
    // Pulled back into an empty cache: the same digest.
    let tmp = tempfile::tempdir().expect("tempdir");
    let other = tmp.path().join("cache").display().to_string();
    let o = run_in(&ws, &["--cache", &other, "cache", "pull", &remote]);
    assert!(o.status.success(), "cache pull failed: {:?}", text(&o));
    let o = run_in(&ws, &["--cache", &other, "cache", "ls"]);
    assert!(
        text(&o).0.contains(first["digest"].as_str().unwrap()),
        "{:?}",
        text(&o)
    );
    // A local source is not an image name: the error says what to push instead.
    let o = run_in(
        &ws,
        &[
            "--cache",
            &cache,
            "cache",
            "push",
            "cargo:hello",
            "--registry",
            &prefix,
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).1.contains("local image source"), "{:?}", text(&o));
    let _ = &a.tmp;
}

#[test]
fn a_zstd_initrd_boots_under_tcg() {
    let Some(qemu) = boot_support::qemu() else {
        return;
    };
    let _ = qemu;
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("out");
    let (z, _, stderr) = build(&cache, &out, &["--compression", "zstd"]);
    assert_eq!(z["compression"], "zstd", "{z}");
    assert!(warnings(&stderr).is_empty(), "{stderr}");
    let initrd = std::fs::read(out.join("hello-initrd.img")).unwrap();
    assert_eq!(initrd[..4], [0x28, 0xb5, 0x2f, 0xfd], "zstd frame magic");

    let kernel = out.join("hello-kernel");
    let vmlinux = linuxkit_run::kernel::pvh_kernel(&kernel, tmp.path())
        .expect("vmlinux")
        .unwrap_or(kernel);
    let cmdline = std::fs::read_to_string(out.join("hello-cmdline")).unwrap();
    let cmd = boot_support::qemu_command(&vmlinux, &out.join("hello-initrd.img"), &cmdline);
    let console = boot_support::run_qemu(cmd, 300, Some("Serving HTTP on"));
    assert!(
        console.find("Serving HTTP on").is_some(),
        "the hello service did not start from a zstd initrd; console:\n{}",
        console.text()
    );
}

#[test]
fn a_kernel_without_zstd_support_is_refused_with_its_config_named() {
    // The host's kernel, with a `config-<release>` next to it that lacks CONFIG_RD_ZSTD.
    let Some((bzimage, release)) = std::fs::read_dir("/boot").ok().and_then(|d| {
        d.flatten().find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let release = name.strip_prefix("vmlinuz-")?.to_string();
            Path::new("/lib/modules")
                .join(&release)
                .join("modules.dep")
                .is_file()
                .then(|| (e.path(), release))
        })
    }) else {
        linuxkit_testing::prerequisite(
            false,
            "a Debian kernel",
            "apt-get install linux-image-amd64",
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let kernel = tmp.path().join(format!("vmlinuz-{release}"));
    std::fs::copy(&bzimage, &kernel).unwrap();
    let config = tmp.path().join(format!("config-{release}"));
    std::fs::write(&config, "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n").unwrap();
    let yml = tmp.path().join("old.yml");
    std::fs::write(
        &yml,
        format!(
            "kernel:\n  image: \"kernel:{}\"\n  cmdline: \"console=ttyS0\"\ninit:\n  - init:linuxkit-init\n",
            kernel.display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let (cache, dir, file) = (
        tmp.path().join("cache").display().to_string(),
        out.display().to_string(),
        yml.display().to_string(),
    );
    let o = run_in(
        &workspace_root(),
        &[
            "--cache",
            &cache,
            "build",
            "--compression",
            "zstd",
            "--dir",
            &dir,
            &file,
        ],
    );
    let (_, stderr) = text(&o);
    assert!(!o.status.success(), "a zstd initrd was written:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "the kernel cannot unpack a zstd initrd: {} has `# CONFIG_RD_ZSTD is not set`",
            config.display()
        )),
        "{stderr}"
    );
    assert!(!out.join("old-initrd.img").exists() && !out.join("old-kernel").exists());
}

/// The manifest a `docker-registry` under `root` stores for `repo:tag`.
fn stored_manifest(root: &Path, repo: &str, tag: &str) -> Value {
    let link = root
        .join("data/docker/registry/v2/repositories")
        .join(repo)
        .join("_manifests/tags")
        .join(tag)
        .join("current/link");
    let digest =
        std::fs::read_to_string(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
    serde_json::from_slice(&std::fs::read(blob_file(root, digest.trim())).unwrap()).unwrap()
}

/// Where a `docker-registry` under `root` keeps the blob `digest`.
fn blob_file(root: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    root.join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}
