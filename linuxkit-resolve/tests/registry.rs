//! Pulls through a real Debian `docker-registry` (one per test binary) holding the conformance
//! fixture images, and fault injection through a loopback proxy in front of it.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{cache_names, fixtures_dir, options, registry, Fault, FaultProxy, FIXTURES};
use linuxkit_oci::layout::OciLayout;
use linuxkit_oci::store::{ImageProvider, Platform, StoreError};
use linuxkit_resolve::{FailureKind, ResolveError, Resolver, RetryPolicy};
use sha2::{Digest as _, Sha256};

const BASE_DIGEST: &str = "sha256:ea89d2c896410da6e208d1a308f9bdc329b5b95d3ce283295a726c7baca7dac8";

fn amd64() -> Platform {
    Platform::linux("amd64")
}

fn sha256_file(p: &Path) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(fs::read(p).unwrap()))
    )
}

/// Names and root digests of a cache's index.json, and the blobs it holds.
fn snapshot(cache: &Path) -> (String, Vec<String>) {
    let index = fs::read_to_string(cache.join("index.json")).unwrap_or_default();
    let mut blobs: Vec<String> = fs::read_dir(cache.join("blobs/sha256"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    blobs.sort();
    (index, blobs)
}

/// Every blob in the cache hashes to its name and no temporary file is left.
fn assert_consistent(cache: &Path) {
    for e in fs::read_dir(cache.join("blobs/sha256")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        assert_eq!(
            sha256_file(&e.path()),
            format!("sha256:{name}"),
            "unverified blob in cache"
        );
    }
    let partial = fs::read_dir(cache.join(".partial"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(partial, 0, "temporary files left in {}", cache.display());
}

/// The fixture names as written in the conformance YAML, mapped to the test registry.
fn mirror_for(host: &str) -> Vec<String> {
    vec![format!("127.0.0.1:5000=http://{host}")]
}

#[test]
fn pulls_every_fixture_through_a_mirror_and_matches_the_layouts() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let mut opts = options(&cache);
    opts.mirrors = mirror_for(&reg.host());
    let r = Resolver::new(opts).unwrap();
    let refs: Vec<String> = FIXTURES
        .iter()
        .map(|n| format!("127.0.0.1:5000/fixture/{n}:v1"))
        .collect();
    r.prefetch(&refs).unwrap();
    for (name, reference) in FIXTURES.iter().zip(&refs) {
        let got = r.resolve(reference, &amd64()).unwrap();
        let want = OciLayout::open(fixtures_dir().join(name), true)
            .unwrap()
            .resolve(reference, &amd64())
            .unwrap();
        assert_eq!(got.manifest_digest, want.manifest_digest, "{name}");
        assert_eq!(got.root.digest, want.root.digest, "{name}");
        assert_eq!(got.config_raw, want.config_raw, "{name}");
        assert_eq!(got.layers.len(), want.layers.len(), "{name}");
        for l in &got.layers {
            assert!(l.verify, "cache layers are verified while they are read");
            assert_eq!(sha256_file(&l.path), l.digest, "{name}");
        }
    }
    // Cache names are LinuxKit's: the expanded reference, with both annotations.
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(cache.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        names.contains(&"127.0.0.1:5000/fixture/base:v1"),
        "{names:?}"
    );
    assert_eq!(names.len(), FIXTURES.len());
    assert_consistent(&cache);

    // Warm and offline: no network needed, same answer.
    let mut off = options(&cache);
    off.offline = true;
    let r2 = Resolver::new(off).unwrap();
    r2.prefetch(&refs).unwrap();
    let img = r2.resolve(&refs[1], &amd64()).unwrap();
    assert_eq!(img.manifest_digest, BASE_DIGEST);
}

#[test]
fn multiarch_selects_the_platform_or_names_the_available_ones() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let reference = format!("{}/fixture/multiarch:v1", reg.host());
    let r = Resolver::new(options(tmp.path())).unwrap();
    let img = r.resolve(&reference, &amd64()).unwrap();
    assert_eq!(img.config.architecture, "amd64");
    let arm = r.resolve(&reference, &Platform::linux("arm64")).unwrap();
    assert_eq!(arm.config.architecture, "arm64");
    assert_ne!(arm.manifest_digest, img.manifest_digest);
    let err = r
        .resolve(&reference, &Platform::linux("s390x"))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::NoPlatform { .. }),
        "unexpected error: {msg}"
    );
    assert!(
        msg.contains("linux/amd64") && msg.contains("linux/arm64"),
        "{msg}"
    );
    assert!(msg.contains("multiarch"), "{msg}");
}

#[test]
fn digest_pinned_and_docker_hub_mirror_references() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.mirrors = vec![
        format!("docker.io=http://{}", reg.host()),
        format!("127.0.0.1:5000=http://{}", reg.host()),
    ];
    let r = Resolver::new(opts).unwrap();
    // A pinned reference on an empty cache is pulled by digest and named as written.
    let pinned = format!("127.0.0.1:5000/fixture/base:v1@{BASE_DIGEST}");
    let img = r.resolve(&pinned, &amd64()).unwrap();
    assert_eq!(img.reference, pinned);
    assert_eq!(img.manifest_digest, BASE_DIGEST);
    // `fixture/base:v1` is docker.io/fixture/base:v1, served by the Docker Hub mirror.
    let img = r.resolve("fixture/base:v1", &amd64()).unwrap();
    assert_eq!(img.manifest_digest, BASE_DIGEST);
    let names = cache_names(&r);
    assert_eq!(
        names,
        vec![pinned.clone(), "docker.io/fixture/base:v1".to_string()]
    );
    // Like upstream's FindDescriptor, a pinned reference is found by digest under any name.
    let mut off = options(tmp.path());
    off.offline = true;
    let other = format!("other.example/x/y:z@{BASE_DIGEST}");
    let img = Resolver::new(off)
        .unwrap()
        .resolve(&other, &amd64())
        .unwrap();
    assert_eq!(img.manifest_digest, BASE_DIGEST);
    // A wrong pinned digest is a permanent failure naming the image; nothing is cached for it.
    let bad = format!("127.0.0.1:5000/fixture/base:v1@sha256:{}", "0".repeat(64));
    let before = snapshot(tmp.path());
    let err = r.resolve_image(&bad, &amd64()).unwrap_err();
    assert!(err.to_string().contains("fixture/base"), "{err}");
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn offline_names_the_missing_image() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.offline = true;
    let r = Resolver::new(opts).unwrap();
    let err = r.resolve_image("linuxkit/init:v9", &amd64()).unwrap_err();
    assert!(matches!(err, ResolveError::Offline { .. }), "{err}");
    assert!(err.to_string().contains("linuxkit/init:v9"), "{err}");
    let err = r
        .prefetch(&["alpine".to_string(), "busybox:1".to_string()])
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("alpine") && msg.contains("busybox:1"), "{msg}");
}

#[test]
fn always_pull_rechecks_a_changed_tag() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let tag = format!("{}/fixture/moving:v1", reg.host());
    // Publish base under the moving tag and cache it.
    let pusher_dir = tmp.path().join("pusher");
    let pusher = Resolver::new(options(&pusher_dir)).unwrap();
    pusher.cache().import(&fixtures_dir().join("base")).unwrap();
    pusher
        .cache()
        .import(&fixtures_dir().join("plain"))
        .unwrap();
    pusher
        .push("127.0.0.1:5000/fixture/base:v1", Some(&tag))
        .unwrap();
    let first = Resolver::new(options(&cache))
        .unwrap()
        .resolve(&tag, &amd64())
        .unwrap();
    assert_eq!(first.manifest_digest, BASE_DIGEST);
    // Move the tag; a cached resolve keeps the old image, always_pull sees the new one.
    pusher
        .push("127.0.0.1:5000/fixture/plain:v1", Some(&tag))
        .unwrap();
    let cached = Resolver::new(options(&cache))
        .unwrap()
        .resolve(&tag, &amd64())
        .unwrap();
    assert_eq!(cached.manifest_digest, BASE_DIGEST);
    let mut opts = options(&cache);
    opts.always_pull = true;
    let pulled = Resolver::new(opts)
        .unwrap()
        .resolve(&tag, &amd64())
        .unwrap();
    assert_ne!(pulled.manifest_digest, BASE_DIGEST);
    // The replaced root is gone: one entry for the name.
    let n = Resolver::new(options(&cache))
        .unwrap()
        .cache()
        .list()
        .unwrap()
        .into_iter()
        .filter(|e| e.name == tag)
        .count();
    assert_eq!(n, 1);
}

#[test]
fn cache_export_import_roundtrip_and_rm() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let reference = format!("{}/fixture/layered:v1", reg.host());
    let r = Resolver::new(options(&tmp.path().join("a"))).unwrap();
    let img = r.resolve(&reference, &amd64()).unwrap();
    let tar = tmp.path().join("layered.tar");
    r.cache()
        .export_oci(&reference, fs::File::create(&tar).unwrap())
        .unwrap();
    let tar2 = tmp.path().join("layered2.tar");
    r.cache()
        .export_oci(&reference, fs::File::create(&tar2).unwrap())
        .unwrap();
    assert_eq!(
        fs::read(&tar).unwrap(),
        fs::read(&tar2).unwrap(),
        "export is deterministic"
    );
    let b = Resolver::new(options(&tmp.path().join("b"))).unwrap();
    assert_eq!(b.cache().import(&tar).unwrap(), vec![reference.clone()]);
    let again = b.resolve(&reference, &amd64()).unwrap();
    assert_eq!(again.manifest_digest, img.manifest_digest);
    assert_eq!(
        b.cache().remove(std::slice::from_ref(&reference)).unwrap(),
        vec![reference.clone()]
    );
    assert!(b.cache().list().unwrap().is_empty());
    assert_eq!(
        snapshot(&tmp.path().join("b")).1.len(),
        0,
        "rm collects unused blobs"
    );
}

// ---- faults ----------------------------------------------------------------------------------

fn proxied(proxy: &FaultProxy, cache: &Path) -> Resolver {
    let mut opts = options(cache);
    opts.mirrors = mirror_for(&proxy.host());
    opts.timeout = Some(Duration::from_millis(700));
    opts.retry = RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
    };
    Resolver::new(opts).unwrap()
}

const PASSWD: &str = "127.0.0.1:5000/fixture/passwd:v1";

#[test]
fn server_errors_are_retried_then_succeed() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(reg.host());
    proxy.add("/manifests/", Fault::Status(503, "busy"), 2);
    proxy.add("/blobs/", Fault::Status(500, "oops"), 1);
    let r = proxied(&proxy, tmp.path());
    r.resolve(PASSWD, &amd64()).unwrap();
    assert_eq!(proxy.injected(), 3);
    assert_consistent(tmp.path());
}

#[test]
fn persistent_server_errors_fail_and_leave_the_cache_unchanged() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(reg.host());
    proxy.add("/blobs/", Fault::Status(502, "bad gateway"), 1000);
    let r = proxied(&proxy, tmp.path());
    let before = snapshot(tmp.path());
    let err = r.resolve_image(PASSWD, &amd64()).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Registry {
                kind: FailureKind::Transient,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(PASSWD) && msg.contains("502"), "{msg}");
    assert_eq!(snapshot(tmp.path()), before);
    assert_consistent(tmp.path());
}

#[test]
fn truncated_blob_is_retried() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(reg.host());
    proxy.add("/blobs/", Fault::Truncate, 2);
    let r = proxied(&proxy, tmp.path());
    let img = r.resolve(PASSWD, &amd64()).unwrap();
    assert_eq!(proxy.injected(), 2);
    assert_eq!(sha256_file(&img.layers[0].path), img.layers[0].digest);
    assert_consistent(tmp.path());
}

#[test]
fn corrupt_blob_is_a_permanent_digest_error() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(reg.host());
    proxy.add("/blobs/", Fault::Corrupt, 1000);
    let r = proxied(&proxy, tmp.path());
    let before = snapshot(tmp.path());
    let err = r.resolve_image(PASSWD, &amd64()).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Registry {
                kind: FailureKind::DigestMismatch,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(PASSWD), "{err}");
    assert_eq!(snapshot(tmp.path()), before, "nothing cached");
    assert_consistent(tmp.path());
    // Not retried: one attempt per blob (config + one layer at most).
    assert!(
        proxy.injected() <= 2,
        "{} corrupt answers",
        proxy.injected()
    );
}

#[test]
fn slow_registry_times_out_and_is_retried() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(reg.host());
    proxy.add("/manifests/", Fault::Delay(Duration::from_millis(1500)), 1);
    let r = proxied(&proxy, tmp.path());
    r.resolve(PASSWD, &amd64()).unwrap();
    assert_eq!(proxy.injected(), 1);
    assert_consistent(tmp.path());
}

#[test]
fn unauthorized_fails_naming_the_reference() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(reg.host());
    proxy.add(
        "/v2/",
        Fault::Status(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        ),
        1000,
    );
    let r = proxied(&proxy, tmp.path());
    let before = snapshot(tmp.path());
    let err = r.resolve_image(PASSWD, &amd64()).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Registry {
                kind: FailureKind::Unauthorized,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(PASSWD), "{err}");
    assert!(err.to_string().contains("docker login"), "{err}");
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn missing_image_is_not_found() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let r = Resolver::new(options(tmp.path())).unwrap();
    let reference = format!("{}/fixture/nope:v1", reg.host());
    let err = r.resolve_image(&reference, &amd64()).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Registry {
                kind: FailureKind::NotFound,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("fixture/nope:v1"), "{err}");
}

#[test]
fn leftovers_of_a_killed_pull_are_ignored() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path();
    // A killed pull: a partial temp file, and a blob-sized file that never got renamed.
    fs::create_dir_all(cache.join(".partial")).unwrap();
    fs::write(cache.join(".partial/999999-1-0"), b"half a layer").unwrap();
    let r = Resolver::new(options(cache)).unwrap();
    let img = r
        .resolve(&format!("{}/fixture/plain:v1", reg.host()), &amd64())
        .unwrap();
    assert_eq!(sha256_file(&img.layers[0].path), img.layers[0].digest);
    // The stale temp file is left alone (it may belong to a live writer) but never used.
    assert!(cache.join(".partial/999999-1-0").exists());
}

#[test]
fn cache_pull_forces_a_check_and_adds_arch_names() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let r = Resolver::new(options(tmp.path())).unwrap();
    let multi = format!("{}/fixture/multiarch:v1", reg.host());
    let base = format!("{}/fixture/base:v1", reg.host());
    let names = r.pull(&[multi.clone(), base.clone()]).unwrap();
    assert_eq!(names, vec![multi.clone(), base.clone()]);
    let listed: Vec<(String, String)> = r
        .cache()
        .list()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.media_type))
        .collect();
    let arch = Platform::host().architecture;
    let multi_arch = format!("{multi}-{arch}");
    assert!(
        listed
            .iter()
            .any(|(n, m)| *n == multi_arch && m.contains("manifest")),
        "{listed:?}"
    );
    assert!(
        listed.iter().any(|(n, _)| *n == format!("{base}-{arch}")),
        "{listed:?}"
    );
    // The arch name resolves on its own, offline.
    let mut off = options(tmp.path());
    off.offline = true;
    let img = Resolver::new(off)
        .unwrap()
        .resolve(&multi_arch, &Platform::host())
        .unwrap();
    assert_eq!(img.config.architecture, arch);
}

#[tokio::test]
async fn resolves_from_inside_an_async_runtime() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let r = Resolver::new(options(tmp.path())).unwrap();
    // The resolver runs its own runtime on a helper thread instead of nesting block_on.
    let img = r
        .resolve(&format!("{}/fixture/labelled:v1", reg.host()), &amd64())
        .unwrap();
    assert!(img
        .config
        .config
        .labels
        .unwrap_or_default()
        .contains_key("org.mobyproject.config"));
}

#[test]
fn concurrent_resolves_of_one_image_pull_it_once() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(reg.host());
    // Count manifest requests by injecting a harmless zero delay on each.
    proxy.add("/manifests/", Fault::Delay(Duration::ZERO), 1000);
    let r = proxied(&proxy, tmp.path());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| r.resolve(PASSWD, &amd64()).unwrap());
        }
    });
    assert_eq!(proxy.injected(), 1, "one manifest fetch for four callers");
    assert_eq!(r.cache().list().unwrap().len(), 1);
}

#[test]
fn offline_names_a_missing_platform() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let reference = format!("{}/fixture/multiarch:v1", reg.host());
    Resolver::new(options(tmp.path()))
        .unwrap()
        .resolve(&reference, &amd64())
        .unwrap();
    let mut off = options(tmp.path());
    off.offline = true;
    let err = Resolver::new(off)
        .unwrap()
        .resolve_image(&reference, &Platform::linux("arm64"))
        .unwrap_err();
    assert!(matches!(err, ResolveError::OfflinePlatform { .. }), "{err}");
    assert!(err.to_string().contains("linux/arm64"), "{err}");
}

#[test]
fn cache_pull_offline_succeeds_when_cached_and_names_a_missing_image() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = format!("{}/fixture/base:v1", reg.host());
    let plain = format!("{}/fixture/plain:v1", reg.host());
    // `plain` only through a build-style resolve: no `<name>-<arch>` root yet.
    let online = Resolver::new(options(tmp.path())).unwrap();
    online.pull(std::slice::from_ref(&base)).unwrap();
    online.resolve_image(&plain, &Platform::host()).unwrap();
    let mut off = options(tmp.path());
    off.offline = true;
    // No registry is asked: a mirror that refuses every connection would fail any request.
    off.mirrors = vec![format!("{}=http://127.0.0.1:1", reg.host())];
    let r = Resolver::new(off).unwrap();
    let names = r.pull(&[base.clone(), plain.clone()]).unwrap();
    assert_eq!(names, vec![base.clone(), plain.clone()]);
    let arch = Platform::host().architecture;
    let listed = cache_names(&r);
    assert!(listed.contains(&format!("{plain}-{arch}")), "{listed:?}");
    // Pulling again offline changes nothing.
    let before = snapshot(tmp.path());
    r.pull(std::slice::from_ref(&base)).unwrap();
    assert_eq!(snapshot(tmp.path()), before);

    let missing = format!("{}/fixture/layered:v1", reg.host());
    let err = r.pull(&[base.clone(), missing.clone()]).unwrap_err();
    assert!(matches!(err, ResolveError::OfflinePull { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&missing) && msg.contains("not in the cache"),
        "{msg}"
    );
    assert!(msg.contains("without --offline"), "{msg}");
    assert_eq!(
        snapshot(tmp.path()),
        before,
        "a failed offline pull writes nothing"
    );
    assert_eq!(r.retries(), 0);
}

#[test]
fn unknown_registry_host_fails_at_once_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = options(tmp.path());
    opts.retry = RetryPolicy {
        attempts: 4,
        initial_backoff: Duration::from_millis(10),
    };
    let r = Resolver::new(opts).unwrap();
    let reference = "nonexistent-registry.invalid/foo/bar:1";
    let err = r.resolve_image(reference, &amd64()).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Registry {
                kind: FailureKind::UnknownHost,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("nonexistent-registry.invalid") && msg.contains(reference),
        "{msg}"
    );
    assert!(
        msg.contains("--offline") && msg.contains("--mirror"),
        "{msg}"
    );
    assert_eq!(r.retries(), 0, "a DNS failure is not retried: {msg}");
    // `cache pull` goes through the same path.
    let err = r.pull(&[reference.to_string()]).unwrap_err();
    assert!(err.to_string().contains("--offline"), "{err}");
    assert_eq!(r.retries(), 0);
}

#[test]
fn transient_failures_are_counted_as_retries() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(reg.host());
    proxy.add("/manifests/", Fault::Status(503, "busy"), 2);
    let r = proxied(&proxy, tmp.path());
    r.resolve(PASSWD, &amd64()).unwrap();
    assert_eq!(r.retries(), 2);
}
