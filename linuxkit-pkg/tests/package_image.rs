//! `cargo:` images from a small throwaway workspace: reproducible bytes, a content-hash tag
//! that follows the sources, the label from `[package.metadata.linuxkit.config]`, stamps, and
//! `dir:` images resolved through `LocalProvider`.

use std::fs;
use std::path::{Path, PathBuf};

use linuxkit_oci::layout::OciLayout;
use linuxkit_oci::store::{ImageProvider, Platform};
use linuxkit_pkg::package::{package_image, workspace_metadata, MOBY_CONFIG_LABEL};
use linuxkit_pkg::{prepare, LocalProvider, PrepareOptions};

const MANIFEST: &str = r#"[package]
name = "svc"
version = "0.1.0"
edition = "2021"

[workspace]

[package.metadata.linuxkit]
dirs = ["data"]

[package.metadata.linuxkit.config]
capabilities = ["CAP_NET_BIND_SERVICE"]
net = "host"
binds = ["/var/log:/var/log"]
"#;

/// A workspace with one std-only package `svc`.
fn fixture() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("src")).unwrap();
    fs::write(t.path().join("Cargo.toml"), MANIFEST).unwrap();
    fs::write(
        t.path().join("src/main.rs"),
        "fn main() { println!(\"svc up\"); }\n",
    )
    .unwrap();
    t
}

fn tag(ws: &Path) -> String {
    let meta = workspace_metadata(ws).unwrap();
    package_image(&meta, "cargo:svc", "svc", None).unwrap().tag
}

fn blobs(layout: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn opts(target: PathBuf, force: bool) -> PrepareOptions {
    PrepareOptions {
        offline: true,
        force,
        target_dir: Some(target),
        arch: None,
    }
}

#[test]
fn image_is_byte_identical_across_two_builds() {
    let ws = fixture();
    let refs = vec!["cargo:svc".to_string()];
    let out = tempfile::tempdir().unwrap();
    // Two separate cargo target dirs: two real compilations of the same sources.
    let a = prepare(
        &refs,
        ws.path(),
        &out.path().join("cache-a"),
        &opts(out.path().join("target-a"), true),
    )
    .unwrap();
    let b = prepare(
        &refs,
        ws.path(),
        &out.path().join("cache-b"),
        &opts(out.path().join("target-b"), true),
    )
    .unwrap();
    assert_eq!(a[0].manifest_digest, b[0].manifest_digest);
    assert_eq!(a[0].tag, b[0].tag);
    assert_eq!(
        blobs(&out.path().join("cache-a")),
        blobs(&out.path().join("cache-b"))
    );
    assert!(!a[0].fresh && !b[0].fresh);
}

#[test]
fn tag_changes_when_a_source_file_changes() {
    let ws = fixture();
    let original = tag(ws.path());
    assert_eq!(original.len(), 40);
    assert!(original.bytes().all(|b| b.is_ascii_hexdigit()));
    // Build output and hidden files are not sources.
    fs::create_dir_all(ws.path().join("target/x")).unwrap();
    fs::write(ws.path().join("target/x/junk"), "junk").unwrap();
    fs::write(ws.path().join(".hidden"), "x").unwrap();
    assert_eq!(tag(ws.path()), original);

    let main = ws.path().join("src/main.rs");
    fs::write(&main, "fn main() { println!(\"svc v2\"); }\n").unwrap();
    let changed = tag(ws.path());
    assert_ne!(changed, original);
    // A new file counts too.
    fs::write(ws.path().join("src/extra.rs"), "").unwrap();
    assert_ne!(tag(ws.path()), changed);
    fs::remove_file(ws.path().join("src/extra.rs")).unwrap();
    // So does the metadata.
    let manifest = ws.path().join("Cargo.toml");
    fs::write(
        &manifest,
        MANIFEST.replace("net = \"host\"", "net = \"new\""),
    )
    .unwrap();
    assert_ne!(tag(ws.path()), changed);
    fs::write(&manifest, MANIFEST).unwrap();
    // Back to the same sources: back to the same tag.
    fs::write(&main, "fn main() { println!(\"svc v2\"); }\n").unwrap();
    assert_eq!(tag(ws.path()), changed);
}

#[test]
fn label_matches_the_metadata_and_names_are_registered() {
    let ws = fixture();
    let out = tempfile::tempdir().unwrap();
    let cache = out.path().join("cache");
    let refs = vec!["cargo:svc".to_string()];
    let p = prepare(&refs, ws.path(), &cache, &opts(out.path().join("t"), false)).unwrap();
    let layout = OciLayout::open(&cache, true).unwrap();
    let img = layout
        .resolve("cargo:svc", &Platform::linux("amd64"))
        .unwrap();
    assert_eq!(img.manifest_digest, p[0].manifest_digest);
    let labels = img.config.config.labels.clone().unwrap_or_default();
    let label: serde_json::Value =
        serde_json::from_str(labels.get(MOBY_CONFIG_LABEL).expect("label")).unwrap();
    assert_eq!(
        label,
        serde_json::json!({
            "capabilities": ["CAP_NET_BIND_SERVICE"],
            "net": "host",
            "binds": ["/var/log:/var/log"],
        })
    );
    assert_eq!(
        img.config.config.entrypoint,
        Some(vec!["/usr/bin/svc".to_string()])
    );
    // The label is what linuxkit-build reads.
    let c = linuxkit_build::label::parse(labels.get(MOBY_CONFIG_LABEL).unwrap()).unwrap();
    assert_eq!(c.net.as_deref(), Some("host"));

    let mut tar = tar::Archive::new(img.layers[0].open_tar("cargo:svc").unwrap());
    let names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["data/", "usr/", "usr/bin/", "usr/bin/svc"]);

    // Also named <org>/<package>:<tag> (LinuxKit's expanded cache name).
    let name = p[0].name.clone().unwrap();
    assert_eq!(
        name,
        format!("linuxkit-local/svc:{}", p[0].tag.clone().unwrap())
    );
    let by_tag = layout
        .resolve(&format!("docker.io/{name}"), &Platform::linux("amd64"))
        .unwrap();
    assert_eq!(by_tag.manifest_digest, img.manifest_digest);

    // Unchanged inputs: fresh, same digest; a changed source: rebuilt, new digest.
    let again = prepare(&refs, ws.path(), &cache, &opts(out.path().join("t"), false)).unwrap();
    assert!(again[0].fresh);
    assert_eq!(again[0].manifest_digest, p[0].manifest_digest);
    fs::write(
        ws.path().join("src/main.rs"),
        "fn main() { println!(\"svc v2\"); }\n",
    )
    .unwrap();
    let rebuilt = prepare(&refs, ws.path(), &cache, &opts(out.path().join("t"), false)).unwrap();
    assert!(!rebuilt[0].fresh);
    assert_ne!(rebuilt[0].manifest_digest, p[0].manifest_digest);
    assert_ne!(rebuilt[0].tag, p[0].tag);
}

#[test]
fn bad_metadata_and_unknown_packages_are_reported() {
    let ws = fixture();
    fs::write(
        ws.path().join("Cargo.toml"),
        MANIFEST.replace("net = \"host\"", "nett = \"host\""),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let cache = out.path().join("cache");
    let o = opts(out.path().join("t"), false);
    let e = prepare(&["cargo:svc".to_string()], ws.path(), &cache, &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Cargo.toml") && e.contains("nett"), "{e}");
    let e = prepare(&["cargo:nosuch".to_string()], ws.path(), &cache, &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no package \"nosuch\""), "{e}");
    let e = prepare(&["cargo:svc.other".to_string()], ws.path(), &cache, &o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no binary target \"other\"") && e.contains("svc"),
        "{e}"
    );
}

/// An `ImageProvider` that knows nothing (stands for the registry resolver).
struct Nothing;

impl ImageProvider for Nothing {
    fn resolve(
        &self,
        reference: &str,
        _: &Platform,
    ) -> Result<linuxkit_oci::store::ResolvedImage, linuxkit_oci::store::StoreError> {
        Err(linuxkit_oci::store::StoreError::NotFound {
            reference: reference.to_string(),
            location: "nowhere".to_string(),
        })
    }
}

#[test]
fn dir_images_resolve_through_the_local_provider() {
    let ws = tempfile::tempdir().unwrap();
    fs::create_dir_all(ws.path().join("rootfs/etc")).unwrap();
    fs::write(ws.path().join("rootfs/etc/motd"), "hi\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let cache = out.path().join("cache");
    let refs = vec!["dir:rootfs".to_string(), "alpine:3.20".to_string()];
    let o = opts(out.path().join("t"), false);
    let p = prepare(&refs, ws.path(), &cache, &o).unwrap();
    assert_eq!(p.len(), 1, "only local references are prepared");
    let provider = LocalProvider::new(&cache, &Nothing).unwrap();
    let img = provider
        .resolve("dir:rootfs", &Platform::linux("amd64"))
        .unwrap();
    let mut tar = tar::Archive::new(img.layers[0].open_tar("dir:rootfs").unwrap());
    let names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["etc/", "etc/motd"]);
    let e = provider
        .resolve("alpine:3.20", &Platform::linux("amd64"))
        .unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
    // Changed content: a new image.
    assert!(prepare(&refs, ws.path(), &cache, &o).unwrap()[0].fresh);
    fs::write(ws.path().join("rootfs/etc/motd"), "changed\n").unwrap();
    let q = prepare(&refs, ws.path(), &cache, &o).unwrap();
    assert!(!q[0].fresh);
    assert_ne!(q[0].manifest_digest, p[0].manifest_digest);
}
