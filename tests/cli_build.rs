//! `cargo linuxkit build` of conformance cases from a cache filled by `cache import`:
//! upstream's bytes, reproducible, incremental, and failures keep the previous artifacts.

mod cli_support;

use std::path::Path;
use std::process::Command;

use cli_support::{conformance_cache, run_in, sha256, shared, text};

fn expected_sha(case: &str) -> String {
    let t = std::fs::read_to_string(
        shared().join(format!("conformance/cases/{case}/expected/tar.sha256")),
    )
    .unwrap();
    t.lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .unwrap()
        .to_string()
}

/// `build --no-sbom`, as upstream built the corpus (its SBOM has a random namespace).
fn build(case_dir: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
    let cache = cache.display().to_string();
    let mut args = vec!["--cache", &cache, "--offline", "build", "--no-sbom"];
    args.extend_from_slice(extra);
    args.push("image.yml");
    run_in(case_dir, &args)
}

#[test]
fn conformance_cases_match_upstream_and_rebuilds_are_fresh_and_identical() {
    let d = tempfile::tempdir().unwrap();
    let cache = conformance_cache(d.path());
    for case in ["kernel-init", "volumes", "files", "layered-whiteouts"] {
        let case_dir = shared().join("conformance/cases").join(case);
        let out = d.path().join(format!("{case}.tar"));
        let o = build(&case_dir, &cache, &["-o", out.to_str().unwrap()]);
        assert!(o.status.success(), "{case}: {:?}", text(&o));
        assert_eq!(
            sha256(&out),
            expected_sha(case),
            "{case}: tar differs from upstream"
        );
    }

    // Same inputs, forced rebuild: byte-identical; unforced: nothing to do.
    let case_dir = shared().join("conformance/cases/kernel-init");
    let out = d.path().join("kernel-init.tar");
    let first = std::fs::read(&out).unwrap();
    let o = build(&case_dir, &cache, &["--force", "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(std::fs::read(&out).unwrap(), first);
    let o = build(&case_dir, &cache, &["-o", out.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(err.contains("Fresh"), "second build should be fresh: {err}");
    assert!(!err.contains("Assembling"), "{err}");
}

#[test]
fn kernel_initrd_outputs_and_failed_build_keeps_previous_artifacts() {
    let d = tempfile::tempdir().unwrap();
    let cache = conformance_cache(d.path());
    let work = d.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let case = shared().join("conformance/cases/kernel-init/image.yml");
    std::fs::copy(&case, work.join("image.yml")).unwrap();
    let outdir = d.path().join("out/nested");
    let o = build(
        &work,
        &cache,
        &["--dir", outdir.to_str().unwrap(), "--name", "vm"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    for f in ["vm-kernel", "vm-initrd.img", "vm-cmdline"] {
        assert!(outdir.join(f).is_file(), "{f} missing");
    }
    let before: Vec<Vec<u8>> = ["vm-kernel", "vm-initrd.img", "vm-cmdline"]
        .iter()
        .map(|f| std::fs::read(outdir.join(f)).unwrap())
        .collect();

    // The cmdline changes but an image is missing from the (offline) cache: the build fails
    // and nothing in the output directory changes, no partial files are left.
    let yaml = std::fs::read_to_string(&case)
        .unwrap()
        .replace("page_poison=1", "page_poison=0")
        + "onboot:\n  - name: gone\n    image: 127.0.0.1:5000/fixture/missing:v1\n";
    std::fs::write(work.join("image.yml"), yaml).unwrap();
    let o = build(
        &work,
        &cache,
        &["--dir", outdir.to_str().unwrap(), "--name", "vm"],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("fixture/missing"),
        "error should name the image: {err}"
    );
    let after: Vec<Vec<u8>> = ["vm-kernel", "vm-initrd.img", "vm-cmdline"]
        .iter()
        .map(|f| std::fs::read(outdir.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
    let leftovers: Vec<String> = std::fs::read_dir(&outdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn usage_errors_follow_upstream() {
    let d = tempfile::tempdir().unwrap();
    let o = run_in(d.path(), &["build", "-f", "tar,kernel+initrd", "x.yml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o)
        .1
        .contains("format type tar must be the only format specified"));
    let o = run_in(d.path(), &["build", "-f", "iso", "x.yml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("unknown format type iso"));
}

/// `--arch arm64` picks the arm64 manifest of the conformance `multiarch` index for containers
/// (and `format: oci` volumes keep just that platform), where the default picks amd64.
#[test]
fn multiarch_conformance_image_resolves_for_arm64() {
    let d = tempfile::tempdir().unwrap();
    let cache = conformance_cache(d.path());
    let yaml = d.path().join("image.yml");
    std::fs::write(
        &yaml,
        "onboot:\n  - name: m\n    image: 127.0.0.1:5000/fixture/multiarch:v1\n\
         volumes:\n  - name: v\n    image: 127.0.0.1:5000/fixture/multiarch:v1\n    format: oci\n",
    )
    .unwrap();
    let entries = |arch: &str| -> Vec<(String, Vec<u8>)> {
        let out = d.path().join(format!("{arch}.tar"));
        let o = build(
            d.path(),
            &cache,
            &["--arch", arch, "-o", out.to_str().unwrap()],
        );
        assert!(o.status.success(), "{arch}: {:?}", text(&o));
        let mut v = Vec::new();
        for e in tar::Archive::new(std::fs::File::open(&out).unwrap())
            .entries()
            .unwrap()
        {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            v.push((name, data));
        }
        v
    };
    for (arch, other) in [("arm64", "amd64"), ("amd64", "arm64")] {
        let e = entries(arch);
        let has = |suffix: &str| e.iter().any(|(n, _)| n.ends_with(suffix));
        assert!(has(&format!("000-m/lower/bin/arch-{arch}")), "{arch}");
        assert!(
            !has(&format!("bin/arch-{other}")),
            "{arch}: no {other} files"
        );
        let txt = e
            .iter()
            .find(|(n, _)| n.ends_with("000-m/lower/arch.txt"))
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .unwrap_or_default();
        assert!(txt.contains(arch), "{arch}: arch.txt says {txt:?}");
        // The OCI volume's index.json lists only the selected platform's manifest.
        let index = e
            .iter()
            .find(|(n, _)| n.starts_with("containers/volumes/v/") || n.contains("volumes/v/"))
            .is_some();
        assert!(index, "{arch}: the volume is written");
    }
}

/// Sources compiled for the image (`init:linuxkit-init`, `cargo:`) need the target's Rust
/// standard library: without the aarch64 one (this machine) an arm64 build fails saying so;
/// `kernel:host` (an amd64 kernel) points to `kernel:debian`.
#[test]
fn arm64_local_sources_say_what_they_need() {
    let installed = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map(|o| {
            let root = String::from_utf8_lossy(&o.stdout).trim().to_string();
            std::path::Path::new(&root)
                .join("lib/rustlib/aarch64-unknown-linux-gnu")
                .exists()
        })
        .unwrap_or(false);
    let d = tempfile::tempdir().unwrap();
    for (yaml, want) in [
        (
            "init:\n  - init:linuxkit-init\n",
            &[
                "aarch64-unknown-linux-gnu",
                "not installed",
                "rustup target add",
            ][..],
        ),
        (
            "kernel:\n  image: kernel:host?modules=overlay\n",
            &["kernel:debian?arch=arm64"][..],
        ),
    ] {
        if installed && yaml.contains("init:") {
            continue;
        }
        let path = d.path().join("image.yml");
        std::fs::write(&path, yaml).unwrap();
        let out = d.path().join("out.tar");
        let o = run_in(
            &cli_support::workspace_root(),
            &[
                "build",
                "--offline",
                "--arch",
                "arm64",
                "-o",
                out.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
        );
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{yaml}: {err}");
        for w in want {
            assert!(err.contains(w), "{yaml}: {w:?} not in {err}");
        }
    }
}
