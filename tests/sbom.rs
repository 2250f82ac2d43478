//! `cargo linuxkit build` writes `sbom.spdx.json` into the image, offline, from fixture images
//! made here from Debian packages: the host's kernel (`linux-image-amd64`), a busybox init, and
//! a service image whose layer is the `busybox-static` package (its binary, its dpkg status
//! paragraph from this machine's database, the machine's os-release). The SBOM validates with
//! `pyspdxtools`, two builds give the same bytes, it lists the dpkg package with the version
//! dpkg reports and the kernel's release, and `--no-sbom` leaves it out.

mod cli_support;

use std::path::Path;
use std::process::Command;

use cli_support::{run_in, tar_entry, text, validate_spdx};
use linuxkit_local::busybox::{busybox_layer, host_busybox};
use linuxkit_local::kernel::{write_kernel_image, KernelSource};
use linuxkit_local::{write_image, ImageConfig, Layer};
use linuxkit_oci::store::Platform;
use serde_json::Value;

const PACKAGE: &str = "busybox-static";

fn dpkg_query(args: &[&str]) -> String {
    let o = Command::new("dpkg-query")
        .args(args)
        .output()
        .expect("dpkg-query runs (a Debian machine)");
    assert!(o.status.success(), "dpkg-query {args:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The fixture layout: kernel, init, and the Debian-package service image.
fn fixtures(dir: &Path) -> KernelSource {
    let busybox = host_busybox().expect("busybox-static is installed (scripts/setup)");
    let kernel = KernelSource::host().expect("linux-image-amd64 is installed (scripts/setup)");
    let amd64 = Platform::linux("amd64");
    write_kernel_image(dir, "sbom/kernel:1", &kernel, &["virtio_net"]).expect("kernel fixture");
    let init = busybox_layer(&busybox).expect("busybox layer");
    write_image(dir, "sbom/init:1", &amd64, &ImageConfig::default(), &init).expect("init");

    let mut l = Layer::new();
    for d in ["bin", "etc", "var", "var/lib", "var/lib/dpkg"] {
        l.dir(d, 0o755).unwrap();
    }
    l.file("bin/busybox", 0o755, busybox).unwrap();
    let status = dpkg_query(&["-s", PACKAGE]);
    l.bytes("var/lib/dpkg/status", 0o644, status.as_bytes())
        .unwrap();
    let release = std::fs::read("/etc/os-release").expect("/etc/os-release");
    l.bytes("etc/os-release", 0o644, release).unwrap();
    let config = ImageConfig {
        cmd: Some(vec!["/bin/busybox".into(), "true".into()]),
        ..ImageConfig::default()
    };
    write_image(dir, "sbom/debian-busybox:1", &amd64, &config, &l).expect("service fixture");
    kernel
}

const YAML: &str = "kernel:\n  image: sbom/kernel:1\n  cmdline: console=ttyS0\ninit:\n  - sbom/init:1\nservices:\n  - name: bb\n    image: sbom/debian-busybox:1\n";

#[test]
fn the_sbom_validates_is_reproducible_and_lists_dpkg_packages_and_the_kernel() {
    let work = tempfile::tempdir().expect("tempdir");
    let layout = work.path().join("fixtures");
    let kernel = fixtures(&layout);
    let cache = work.path().join("cache");
    let cache = cache.to_str().expect("utf-8");
    let o = run_in(
        work.path(),
        &[
            "-q",
            "--cache",
            cache,
            "cache",
            "import",
            layout.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "cache import: {}", text(&o).1);
    std::fs::write(work.path().join("system.yml"), YAML).unwrap();
    let build = |out: &str, extra: &[&str]| {
        let mut args = vec!["-q", "--offline", "--cache", cache, "build", "--force"];
        args.extend_from_slice(extra);
        args.extend(["-o", out, "system.yml"]);
        let o = run_in(work.path(), &args);
        assert!(o.status.success(), "build {extra:?}: {}", text(&o).1);
        work.path().join(out)
    };

    let a = build("a.tar", &[]);
    let b = build("b.tar", &[]);
    let doc = tar_entry(&a, "sbom.spdx.json").expect("sbom.spdx.json at the root of the image");
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "two builds: the same tar, SBOM included"
    );
    if let Some(verdict) = validate_spdx(&doc) {
        verdict.unwrap_or_else(|e| panic!("pyspdxtools rejects the SBOM:\n{e}"));
    }

    let d: Value = serde_json::from_slice(&doc).unwrap();
    let packages = d["packages"].as_array().unwrap();
    let find = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name} in the SBOM"))
    };
    let version = dpkg_query(&["-W", "-f", "${Version}", PACKAGE]);
    let bb = find(PACKAGE);
    assert_eq!(bb["versionInfo"], version.as_str());
    let purl = bb["externalRefs"][0]["referenceLocator"].as_str().unwrap();
    assert!(
        purl.starts_with(&format!("pkg:deb/debian/{PACKAGE}@")) && purl.contains("arch=amd64"),
        "{purl}"
    );
    assert_eq!(find("linux")["versionInfo"], kernel.version.as_str());
    assert_eq!(find("system")["primaryPackagePurpose"], "OPERATING-SYSTEM");
    for r in ["sbom/kernel:1", "sbom/init:1", "sbom/debian-busybox:1"] {
        assert_eq!(find(r)["checksums"][0]["algorithm"], "SHA256", "{r}");
    }

    // --no-sbom: no SBOM; --sbom-output: another path.
    let c = build("c.tar", &["--no-sbom"]);
    assert_eq!(tar_entry(&c, "sbom.spdx.json"), None);
    let e = build("e.tar", &["--sbom-output", "/usr/share/sbom.json"]);
    assert_eq!(tar_entry(&e, "usr/share/sbom.json"), Some(doc));
}
