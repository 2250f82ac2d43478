//! Every example builds to `tar`, offline, from fixture images: the Rust definitions of
//! `examples/` (built by name through the workspace) and upstream's example YAML files in
//! `../shared/reference/linuxkit-examples/`.
//!
//! The fixtures are made here, from Debian packages: every image an example names becomes an
//! OCI image under that exact name — kernels from the host's `linux-image-amd64` (bzImage plus
//! one module), everything else a busybox-static layer. They are imported into a
//! fresh cache, and each example is built with `--offline`; the tar must then hold the kernel,
//! a bundle with `config.json` for every container of the definition, and the init's files.
//!
//! `cargo linuxkit audit --message-format json` of the Rust examples is then snapshot-tested
//! (insta; the fixture images carry no labels, so it shows what the definitions grant) and
//! checked against the `config.json` files of the tars; `--deny` fails on an example that
//! breaks a rule, naming it, and passes one that does not.

mod cli_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cli_support::{bin, run_in, shared, tar_entry, text, workspace_root};
use linuxkit_dsl::Image;
use linuxkit_local::busybox::{busybox_layer, host_busybox};
use linuxkit_local::kernel::{write_kernel_image, KernelSource};
use linuxkit_local::{write_image, ImageConfig};
use linuxkit_oci::store::Platform;

/// Upstream example files that are not whole amd64 definitions.
const NOT_BUILT: &[(&str, &str)] = &[
    (
        "platform-equinixmetal.arm64.yml",
        "an arm64 fragment, merged with platform-equinixmetal.yml",
    ),
    (
        "static-ip.yml",
        "invalid YAML (a comment line at column 0 inside a block scalar; libyaml rejects it too)",
    ),
];

/// Image references of a definition.
fn references(img: &Image) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    if let Some(k) = &img.kernel {
        refs.insert(k.image.clone());
    }
    refs.extend(img.init.iter().cloned());
    for c in img
        .onboot
        .iter()
        .chain(&img.onshutdown)
        .chain(&img.services)
    {
        refs.insert(c.image.clone());
    }
    refs.extend(img.volumes.iter().filter_map(|v| v.image.clone()));
    refs
}

/// Tar entry names of `tar`.
fn tar_names(tar: &Path) -> BTreeSet<String> {
    let mut a = tar::Archive::new(fs::File::open(tar).expect("open tar"));
    a.entries()
        .expect("read tar")
        .map(|e| {
            let e = e.expect("tar entry");
            String::from_utf8_lossy(&e.path_bytes()).into_owned()
        })
        .collect()
}

/// Checks that the tar built from `img` has its kernel and one bundle per container.
fn assert_complete(label: &str, img: &Image, tar: &Path) {
    let names = tar_names(tar);
    let has = |n: &str| names.contains(n);
    if img.kernel.is_some() {
        assert!(has("boot/kernel"), "{label}: no boot/kernel");
    }
    for (i, c) in img.onboot.iter().enumerate() {
        let n = format!("containers/onboot/{:03}-{}/config.json", i, c.name);
        assert!(has(&n), "{label}: no {n}");
    }
    for (i, c) in img.onshutdown.iter().enumerate() {
        let n = format!("containers/onshutdown/{:03}-{}/config.json", i, c.name);
        assert!(has(&n), "{label}: no {n}");
    }
    for c in &img.services {
        let n = format!("containers/services/{}/config.json", c.name);
        assert!(has(&n), "{label}: no {n}");
    }
    if !img.init.is_empty() {
        // The init images are busybox fixtures, flattened at `/`.
        assert!(has("bin/busybox"), "{label}: the init images are missing");
    }
    // An optional file whose source is missing (e.g. `~/.ssh/id_rsa.pub`) is left out.
    for f in img.files.iter().filter(|f| !f.optional) {
        let p = f.path.trim_start_matches('/').trim_end_matches('/');
        assert!(
            names.contains(p) || names.contains(&format!("{p}/")),
            "{label}: file {p} missing"
        );
    }
}

/// Writes a fixture image for every reference into the OCI layout `dir`.
fn write_fixtures(dir: &Path, refs: &BTreeSet<String>, kernels: &BTreeSet<String>) {
    let busybox = host_busybox().expect("busybox-static is installed (scripts/setup)");
    let kernel = KernelSource::host().expect("linux-image-amd64 is installed (scripts/setup)");
    let layer = busybox_layer(&busybox).expect("busybox layer");
    let config = ImageConfig {
        cmd: Some(vec!["/bin/sh".into()]),
        ..ImageConfig::default()
    };
    let amd64 = Platform::linux("amd64");
    for r in refs {
        if kernels.contains(r) {
            write_kernel_image(dir, r, &kernel, &["virtio_net"]).expect("kernel fixture");
        } else {
            write_image(dir, r, &amd64, &config, &layer).expect("busybox fixture");
        }
    }
}

#[test]
fn every_example_builds_to_tar_from_fixture_images() {
    let root = workspace_root();
    let manifest = root.join("Cargo.toml");
    let manifest = manifest.to_str().expect("utf-8 path");

    // The Rust definitions, as the workspace lists them, with their models (via export).
    let o = run_in(&root, &["-q", "--manifest-path", manifest, "list"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let meta = fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let mut rust: BTreeMap<String, Image> = BTreeMap::new();
    for name in out.lines().filter_map(|l| l.split_whitespace().next()) {
        // Only this package's upstream-derived examples: the others use local sources,
        // built by the cli_pkg and boot tests.
        if !meta.contains(&format!("\"{name}\"")) {
            continue;
        }
        let o = run_in(&root, &["-q", "--manifest-path", manifest, "export", name]);
        let (yaml, err) = text(&o);
        assert!(o.status.success(), "export {name}: {err}");
        let img = linuxkit_dsl::from_yaml_str(&yaml, name)
            .unwrap_or_else(|e| panic!("exported {name} does not parse: {e}"));
        rust.insert(name.to_string(), img);
    }
    assert!(
        rust.len() >= 10,
        "expected the 10 Rust examples, got {rust:?}"
    );

    // Upstream's YAML examples.
    let dir = shared().join("reference/linuxkit-examples");
    let mut yaml: BTreeMap<PathBuf, Image> = BTreeMap::new();
    for e in fs::read_dir(&dir).expect("linuxkit-examples") {
        let p = e.expect("dir entry").path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".yml") || NOT_BUILT.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let mut s = String::new();
        fs::File::open(&p)
            .and_then(|mut f| f.read_to_string(&mut s))
            .expect("read example");
        let img = linuxkit_dsl::from_yaml_str(&s, &name)
            .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        yaml.insert(p, img);
    }
    assert!(
        yaml.len() >= 30,
        "expected upstream's examples in {}",
        dir.display()
    );

    let all: Vec<&Image> = rust.values().chain(yaml.values()).collect();
    let refs: BTreeSet<String> = all.iter().flat_map(|i| references(i)).collect();
    let kernels: BTreeSet<String> = all
        .iter()
        .filter_map(|i| i.kernel.as_ref().map(|k| k.image.clone()))
        .collect();
    let work = tempfile::tempdir().expect("tempdir");
    let layout = work.path().join("fixtures");
    write_fixtures(&layout, &refs, &kernels);
    let cache = work.path().join("cache");
    let cache = cache.to_str().expect("utf-8 path");
    let o = run_in(
        &root,
        &[
            "-q",
            "--cache",
            cache,
            "cache",
            "import",
            layout.to_str().expect("utf-8"),
        ],
    );
    assert!(o.status.success(), "cache import: {}", text(&o).1);

    let out_dir = work.path().join("out");
    let out = out_dir.to_str().expect("utf-8 path");
    for (name, img) in &rust {
        let o = run_in(
            &root,
            &[
                "-q",
                "--offline",
                "--cache",
                cache,
                "--manifest-path",
                manifest,
                "build",
                "--format",
                "tar",
                "--dir",
                out,
                name,
            ],
        );
        assert!(o.status.success(), "build {name}: {}", text(&o).1);
        assert_complete(name, img, &out_dir.join(format!("{name}.tar")));
    }
    audit_rust_examples(&root, manifest, cache, &out_dir, &rust);
    // File sources are read relative to the working directory and `~` (as upstream): give the
    // builds the files the examples expect a user to have.
    let cwd = work.path().join("cwd");
    let home = work.path().join("home");
    fs::create_dir_all(home.join(".ssh")).expect("mkdir");
    fs::create_dir_all(&cwd).expect("mkdir");
    fs::write(
        home.join(".ssh/id_rsa.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureKeyOnlyForTests test@example\n",
    )
    .expect("write key");
    fs::write(
        cwd.join("containerd-debug-runtime-config.toml"),
        "cliopts=\"--log-level debug\"\n",
    )
    .expect("write containerd config");
    for (path, img) in &yaml {
        let p = path.to_str().expect("utf-8 path");
        let o = Command::new(bin())
            .args([
                "-q",
                "--offline",
                "--cache",
                cache,
                "build",
                "--format",
                "tar",
                "--dir",
                out,
                p,
            ])
            .current_dir(&cwd)
            .env("HOME", &home)
            .stdin(Stdio::null())
            .output()
            .expect("cargo-linuxkit runs");
        assert!(o.status.success(), "build {p}: {}", text(&o).1);
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        assert_complete(p, img, &out_dir.join(format!("{stem}.tar")));
    }
}

/// `audit` of the Rust examples: a snapshot of its JSON, every container's facts as in the
/// `config.json` of the built tar, and `--deny` as a gate.
fn audit_rust_examples(
    root: &Path,
    manifest: &str,
    cache: &str,
    out_dir: &Path,
    rust: &BTreeMap<String, Image>,
) {
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "-q",
            "--offline",
            "--cache",
            cache,
            "--manifest-path",
            manifest,
            "--message-format",
            "json",
            "audit",
        ];
        args.extend_from_slice(extra);
        run_in(root, &args)
    };
    let names: Vec<&str> = rust.keys().map(String::as_str).collect();
    let o = audit(&names);
    let (out, err) = text(&o);
    assert!(o.status.success(), "audit: {err}");
    let messages: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON message per line"))
        .collect();
    let audits: Vec<&serde_json::Value> = messages
        .iter()
        .filter(|m| m["reason"] == "linuxkit-audit")
        .collect();
    assert_eq!(audits.len(), rust.len());
    let pretty = serde_json::to_string_pretty(&audits).expect("JSON");
    insta::assert_snapshot!("audit_of_the_rust_examples", pretty);

    for a in &audits {
        let name = a["image"].as_str().expect("image name");
        let tar = out_dir.join(format!("{name}.tar"));
        for c in a["containers"].as_array().expect("containers") {
            let section = c["section"].as_str().unwrap();
            let cname = c["name"].as_str().unwrap();
            let dir = if section == "services" {
                cname.to_string()
            } else {
                format!("{:03}-{cname}", c["index"].as_u64().unwrap())
            };
            let path = format!("containers/{section}/{dir}/config.json");
            let config = tar_entry(&tar, &path).unwrap_or_else(|| panic!("{name}: no {path}"));
            let config: serde_json::Value = serde_json::from_slice(&config).expect("config.json");
            assert_audit_matches(&format!("{name} {path}"), c, &config);
        }
    }

    // --deny: an example breaking a rule fails, each violation named; a clean one passes.
    let (bad, capability) = rust
        .iter()
        .find_map(|(n, img)| {
            img.onboot
                .iter()
                .chain(&img.services)
                .find_map(|c| c.capabilities.as_ref()?.first().cloned())
                .filter(|cap| cap.starts_with("CAP_"))
                .map(|cap| (n.clone(), cap))
        })
        .expect("an example grants a capability");
    let o = audit(&[bad.as_str(), "--deny", &capability]);
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "audit --deny {capability} of {bad}: {err}"
    );
    assert!(
        out.contains(&format!("has {capability} (forbidden unless allowed")),
        "{out}"
    );
    let clean = rust
        .iter()
        .find(|(_, img)| {
            img.onboot
                .iter()
                .chain(&img.services)
                .chain(&img.onshutdown)
                .all(|c| c.capabilities.is_none() && c.capabilities_add.is_none())
        })
        .map(|(n, _)| n.clone())
        .expect("an example without capabilities");
    let o = audit(&[clean.as_str(), "--deny", &capability]);
    assert!(o.status.success(), "audit of {clean}: {}", text(&o).1);
}

/// An audited container (JSON) states what its `config.json` says.
fn assert_audit_matches(what: &str, a: &serde_json::Value, config: &serde_json::Value) {
    let p = &config["process"];
    let list = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
    assert_eq!(
        list(&a["capabilities"]["effective"]),
        list(&p["capabilities"]["effective"]),
        "{what}"
    );
    assert_eq!(
        list(&a["capabilities"]["bounding"]),
        list(&p["capabilities"]["bounding"]),
        "{what}"
    );
    assert_eq!(a["user"]["uid"], p["user"]["uid"], "{what}");
    assert_eq!(a["user"]["gid"], p["user"]["gid"], "{what}");
    assert_eq!(
        a["no_new_privileges"],
        p["noNewPrivileges"] == true,
        "{what}"
    );
    assert_eq!(
        a["readonly_rootfs"],
        config["root"]["readonly"] == true,
        "{what}"
    );
    let names = |v: Vec<serde_json::Value>| -> Vec<String> {
        v.iter()
            .map(|n| n.as_str().unwrap_or_default().to_string())
            .collect()
    };
    let own = names(
        list(&config["linux"]["namespaces"])
            .iter()
            .map(|n| n["type"].clone())
            .collect(),
    );
    let host = names(list(&a["host_namespaces"]));
    for ns in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        let shared = host.iter().any(|h| h == ns);
        assert_eq!(shared, !own.iter().any(|o| o == ns), "{what}: {ns}");
    }
    let writable: Vec<serde_json::Value> = list(&config["mounts"])
        .into_iter()
        .filter(|m| {
            let o: Vec<&str> = m["options"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            (m["type"] == "bind" || o.contains(&"bind") || o.contains(&"rbind"))
                && !o.contains(&"ro")
        })
        .map(|m| m["destination"].clone())
        .collect();
    let audited: Vec<serde_json::Value> = list(&a["writable_host_binds"])
        .iter()
        .map(|b| b["destination"].clone())
        .collect();
    assert_eq!(audited, writable, "{what}");
    assert!(config["linux"].get("seccomp").is_none(), "{what}");
    assert_eq!(a["seccomp"], serde_json::Value::Null, "{what}");
}
