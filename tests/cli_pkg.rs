//! `cargo linuxkit pkg build|push`: the `hello` package becomes a content-tagged image, is pushed
//! to a real Debian `docker-registry` on a free loopback port, and pulls back with the same digest
//! and with its SBOM attestation (its crates), which a build merges into the system's SBOM.

mod cli_support;

use std::path::Path;

use cli_support::{
    run_in, start_registry, tar_entry, text, validate_spdx, workspace_root, REGISTRY,
};

#[test]
fn pkg_build_tags_by_content_and_push_round_trips_through_a_registry() {
    if !linuxkit_testing::prerequisite(
        Path::new(REGISTRY).exists(),
        REGISTRY,
        "apt-get install docker-registry",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let cache_arg = cache.display().to_string();
    let ws = workspace_root();

    let o = run_in(&ws, &["--cache", &cache_arg, "pkg", "build", "hello"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "pkg build failed: {err}");
    let name = out.trim().to_string();
    let tag = name
        .strip_prefix("linuxkit-local/hello:")
        .unwrap_or_else(|| panic!("unexpected image name {name:?}"));
    assert_eq!(tag.len(), 40, "content-hash tag: {tag}");
    assert!(tag.chars().all(|c| c.is_ascii_hexdigit()), "hex tag: {tag}");

    // A second build with unchanged sources gives the same tag and does no work.
    let again = run_in(&ws, &["--cache", &cache_arg, "pkg", "build", "hello"]);
    let (out2, err2) = text(&again);
    assert!(again.status.success(), "second pkg build failed: {err2}");
    assert_eq!(out2.trim(), name);
    assert!(
        err2.contains("Fresh"),
        "second build should be fresh: {err2}"
    );

    let registry = start_registry(tmp.path());
    let o = run_in(
        &ws,
        &[
            "--cache",
            &cache_arg,
            "pkg",
            "push",
            "hello",
            "--registry",
            &registry.addr,
        ],
    );
    let (pushed, err) = text(&o);
    assert!(o.status.success(), "pkg push failed: {err}");
    let remote = format!("{}/{name}", registry.addr);
    assert_eq!(pushed.trim(), remote);

    // Pull it back into an empty cache: the same manifest digest as the local build.
    let cache2 = tmp.path().join("cache2");
    let cache2_arg = cache2.display().to_string();
    let o = run_in(&ws, &["--cache", &cache2_arg, "cache", "pull", &remote]);
    assert!(o.status.success(), "cache pull failed: {:?}", text(&o));
    let digest_of = |cache: &str, wanted: &str| -> String {
        let o = run_in(&ws, &["--cache", cache, "cache", "ls"]);
        let (ls, _) = text(&o);
        ls.lines()
            .find_map(|l| {
                let (n, d) = l.split_once(' ')?;
                (n == wanted).then(|| d.to_string())
            })
            .unwrap_or_else(|| panic!("{wanted} not in cache ls:\n{ls}"))
    };
    assert_eq!(
        digest_of(&cache2_arg, &remote),
        digest_of(&cache_arg, "cargo:hello")
    );

    // The image carries its crates as an SBOM attestation, which the pull fetched with it: a
    // build from the pulled image lists every crate of `hello` with its Cargo.lock checksum.
    let sys = tmp.path().join("sys");
    std::fs::create_dir(&sys).expect("mkdir");
    std::fs::write(
        sys.join("sys.yml"),
        format!("onboot:\n  - name: hello\n    image: {remote}\n"),
    )
    .expect("write yml");
    let o = run_in(
        &sys,
        &[
            "--offline",
            "--cache",
            &cache2_arg,
            "build",
            "-o",
            "sys.tar",
            "sys.yml",
        ],
    );
    assert!(
        o.status.success(),
        "build from the pulled image: {:?}",
        text(&o)
    );
    let doc = tar_entry(&sys.join("sys.tar"), "sbom.spdx.json").expect("an SBOM");
    if let Some(verdict) = validate_spdx(&doc) {
        verdict.unwrap_or_else(|e| panic!("pyspdxtools rejects the SBOM:\n{e}"));
    }
    let d: serde_json::Value = serde_json::from_slice(&doc).expect("JSON");
    let packages = d["packages"].as_array().expect("packages");
    let libc = packages
        .iter()
        .find(|p| p["name"] == "libc")
        .unwrap_or_else(|| panic!("no libc crate in {d:#}"));
    let lock = std::fs::read_to_string(ws.join("Cargo.lock")).expect("Cargo.lock");
    let sum = libc["checksums"][0]["checksumValue"]
        .as_str()
        .expect("a checksum");
    assert!(
        lock.contains(&format!(
            "name = \"libc\"\nversion = \"{}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{sum}\"",
            libc["versionInfo"].as_str().unwrap()
        )),
        "libc's checksum is Cargo.lock's: {libc}"
    );
    assert!(packages
        .iter()
        .any(|p| p["name"] == "hello" && p["primaryPackagePurpose"] == "APPLICATION"));
}
