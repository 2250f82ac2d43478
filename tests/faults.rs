//! Faults around `cargo linuxkit build`, through the CLI binary: two processes sharing one
//! cache, a full disk and a read-only output directory mid-build, and SIGKILL at random points.
//! Earlier artifacts must survive every failure byte for byte, no partial file may take an
//! artifact's place, and `cache verify` must find the cache whole afterwards.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{bin, conformance_cache, run_in, sha256, shared, text};

const ARTIFACTS: [&str; 3] = ["vm-kernel", "vm-initrd.img", "vm-cmdline"];

/// A work directory with the `kernel-init` conformance definition.
fn work(dir: &Path) -> PathBuf {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(
        shared().join("conformance/cases/kernel-init/image.yml"),
        work.join("image.yml"),
    )
    .unwrap();
    work
}

fn build_args<'a>(cache: &'a str, outdir: &'a str) -> Vec<&'a str> {
    vec![
        "--cache",
        cache,
        "--offline",
        "build",
        "--force",
        "--dir",
        outdir,
        "--name",
        "vm",
        "image.yml",
    ]
}

fn hashes(outdir: &Path) -> Vec<String> {
    ARTIFACTS.iter().map(|f| sha256(&outdir.join(f))).collect()
}

fn verify(cache: &Path) {
    let o = run_in(
        cache.parent().unwrap(),
        &["--cache", cache.to_str().unwrap(), "cache", "verify"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "cache verify: {out}{err}");
    assert!(err.contains("Verified") && err.contains(": ok"), "{err}");
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !ARTIFACTS.contains(&n.as_str()) && n != "filler")
        // The incremental-build stamp is written atomically and is not an artifact.
        .filter(|n| !n.ends_with("linuxkit-stamp"))
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn two_processes_share_one_cache_at_once() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let images = shared().join("conformance/images");
    let mut fixtures: Vec<String> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    fixtures.sort();
    // Two imports of every fixture into one empty cache, at the same time.
    let import = |order_rev: bool| {
        let mut list = fixtures.clone();
        if order_rev {
            list.reverse();
        }
        let mut c = Command::new(bin());
        c.args(["--cache", cache.to_str().unwrap(), "cache", "import"])
            .args(&list)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let (a, b) = (import(false), import(true));
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "import: {:?}", text(&o));
    }
    verify(&cache);
    // Two builds reading it at the same time, into different directories.
    let work = work(d.path());
    let c = cache.display().to_string();
    let outs: Vec<PathBuf> = (0..2).map(|i| d.path().join(format!("out{i}"))).collect();
    let children: Vec<_> = outs
        .iter()
        .map(|o| {
            Command::new(bin())
                .args(build_args(&c, o.to_str().unwrap()))
                .current_dir(&work)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "build: {:?}", text(&o));
    }
    assert_eq!(hashes(&outs[0]), hashes(&outs[1]));
    verify(&cache);
}

/// A small tmpfs mounted for the test (root only), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        if !linuxkit_testing::prerequisite(
            is_root(),
            "root (to mount a small tmpfs)",
            "run as root",
        ) {
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !linuxkit_testing::prerequisite(
            ok,
            "permission to mount -t tmpfs",
            "run as root outside a restricted sandbox",
        ) {
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, opts: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {opts}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_or_read_only_output_fails_clearly_and_keeps_earlier_artifacts() {
    let d = tempfile::tempdir().unwrap();
    let cache = conformance_cache(d.path());
    let work = work(d.path());
    let outdir = d.path().join("out");
    let Some(fs) = Tmpfs::mount(&outdir, "4m") else {
        return;
    };
    let c = cache.display().to_string();
    let o = run_in(&work, &build_args(&c, outdir.to_str().unwrap()));
    assert!(o.status.success(), "{:?}", text(&o));
    let good = hashes(&outdir);

    // Full disk: fill what is left, then build again (forced: every artifact is rewritten).
    let filler = outdir.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let o = run_in(&work, &build_args(&c, outdir.to_str().unwrap()));
    let (_, err) = text(&o);
    assert!(
        !o.status.success(),
        "a build on a full disk succeeded: {err}"
    );
    assert!(
        err.contains("No space left on device") && err.contains("building image `image`"),
        "the error should say the disk is full and which image: {err}"
    );
    assert_eq!(hashes(&outdir), good, "earlier artifacts changed");
    assert!(leftovers(&outdir).is_empty(), "{:?}", leftovers(&outdir));

    // Read-only output directory.
    std::fs::remove_file(&filler).unwrap();
    fs.remount("ro");
    let o = run_in(&work, &build_args(&c, outdir.to_str().unwrap()));
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("Read-only file system") && err.contains(outdir.to_str().unwrap()),
        "{err}"
    );
    assert_eq!(hashes(&outdir), good);
    fs.remount("rw");
    verify(&cache);
}

/// A tiny xorshift generator: the delays differ from run to run; the seed is printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_points_never_leaves_a_partial_artifact_or_a_corrupt_cache() {
    let d = tempfile::tempdir().unwrap();
    let cache = conformance_cache(d.path());
    let work = work(d.path());
    let outdir = d.path().join("out");
    let c = cache.display().to_string();
    let args = build_args(&c, outdir.to_str().unwrap());
    let start = Instant::now();
    let o = run_in(&work, &args);
    let full = start.elapsed();
    assert!(o.status.success(), "{:?}", text(&o));
    let good = hashes(&outdir);

    let images = shared().join("conformance/images");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}, full build {full:?}");
    let mut rng = Rng(seed);
    let trials = 24;
    let mut completed = 0;
    for trial in 0..trials {
        // Odd trials kill an import into the shared cache (cache writes), even ones a build.
        let mut cmd = Command::new(bin());
        if trial % 2 == 1 {
            let _ = run_in(
                d.path(),
                &[
                    "--cache",
                    &c,
                    "cache",
                    "rm",
                    "127.0.0.1:5000/fixture/layered:v1",
                ],
            );
            cmd.args(["--cache", &c, "cache", "import"])
                .arg(images.join("layered"));
        } else {
            cmd.args(&args);
        }
        let mut child = cmd
            .current_dir(&work)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_micros(rng.next() % (full.as_micros() as u64 + 1));
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            completed += 1;
        }
        assert_eq!(
            hashes(&outdir),
            good,
            "trial {trial} (killed after {delay:?}): an artifact changed"
        );
        // SIGKILL leaves no chance to clean up: only hidden temporary files may remain,
        // never in an artifact's place.
        let left = leftovers(&outdir);
        assert!(
            left.iter().all(|n| n.starts_with('.')),
            "trial {trial}: {left:?}"
        );
        verify(&cache);
    }
    eprintln!("{trials} trials, {completed} finished before the kill");
    // Whatever was interrupted, the next build works and gives the same bytes.
    let o = run_in(
        d.path(),
        &[
            "--cache",
            &c,
            "cache",
            "import",
            images.join("layered").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let o = run_in(&work, &args);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(hashes(&outdir), good);
    verify(&cache);
}
