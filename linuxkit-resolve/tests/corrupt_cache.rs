//! A damaged cache against a real `docker-registry`: a truncated layer, a flipped byte in a layer
//! and in a manifest, a blob that index.json needs but is gone, a half-written index.json. Each
//! is found by `Cache::verify`, and a build's resolution repairs it by pulling again when online
//! or says what to do when offline.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::{options, registry};
use linuxkit_oci::store::{Platform, ResolvedImage};
use linuxkit_resolve::{Cache, Resolver};

const BASE: &str = "127.0.0.1:5000/fixture/base:v1";

fn amd64() -> Platform {
    Platform::linux("amd64")
}

/// A resolver on `cache` that maps the fixture registry to the test registry.
fn resolver(cache: &Path, offline: bool) -> Option<Resolver> {
    let reg = registry()?;
    let mut o = options(cache);
    o.mirrors = vec![format!("127.0.0.1:5000=http://{}", reg.host())];
    o.offline = offline;
    Some(Resolver::new(o).unwrap())
}

/// A cache holding `base`, pulled from the registry; `None` without a registry.
fn pulled() -> Option<(tempfile::TempDir, PathBuf, ResolvedImage)> {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let img = resolver(&cache, false)?
        .resolve_image(BASE, &amd64())
        .unwrap();
    Some((tmp, cache, img))
}

fn read_layers(img: &ResolvedImage) -> Result<u64, String> {
    let mut n = 0;
    for l in &img.layers {
        let mut r = l.open_tar(&img.reference).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        n += buf.len() as u64;
    }
    Ok(n)
}

fn problems(cache: &Path) -> Vec<String> {
    Cache::open(cache)
        .unwrap()
        .verify(false)
        .unwrap()
        .problems
        .into_iter()
        .map(|p| format!("{} [{}] fix: {}", p.what, p.images.join(","), p.fix))
        .collect()
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_healthy_cache_verifies() {
    let Some((_tmp, cache, _)) = pulled() else {
        return;
    };
    let report = Cache::open(&cache).unwrap().verify(false).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.blobs >= 3 && report.roots >= 1, "{report:?}");
}

#[test]
fn a_truncated_layer_is_found_and_pulled_again() {
    let Some((_tmp, cache, img)) = pulled() else {
        return;
    };
    let layer = &img.layers[0].path;
    let full = fs::read(layer).unwrap();
    fs::write(layer, &full[..full.len() / 2]).unwrap();
    let p = problems(&cache);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(img.layers[0].digest.as_str())
            && p[0].contains(BASE)
            && p[0].contains("damaged"),
        "{p:?}"
    );
    // Offline, the build says what happened and what to do.
    let err = resolver(&cache, true)
        .unwrap()
        .resolve_image(BASE, &amd64())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("was damaged") && err.contains("build again online"),
        "{err}"
    );
    // Online, it is pulled again and the cache is whole.
    let again = resolver(&cache, false)
        .unwrap()
        .resolve_image(BASE, &amd64())
        .unwrap();
    assert_eq!(fs::read(layer).unwrap(), full);
    read_layers(&again).unwrap();
    assert!(problems(&cache).is_empty());
}

#[test]
fn a_flipped_byte_in_a_layer_fails_the_read_and_repair_pulls_it_again() {
    let Some((_tmp, cache, img)) = pulled() else {
        return;
    };
    let layer = &img.layers[0].path;
    let good = fs::read(layer).unwrap();
    flip_byte(layer, good.len() / 2);
    // Same size: resolution cannot tell, reading the layer does.
    let r = resolver(&cache, true).unwrap();
    let img2 = r.resolve_image(BASE, &amd64()).unwrap();
    let err = read_layers(&img2).unwrap_err();
    assert!(
        err.contains(img.layers[0].digest.as_str()) && err.contains("cache verify --repair"),
        "{err}"
    );
    let p = problems(&cache);
    assert!(p.len() == 1 && p[0].contains("content hashes to"), "{p:?}");
    let report = Cache::open(&cache).unwrap().verify(true).unwrap();
    assert!(report.problems.iter().all(|p| p.repaired), "{report:?}");
    assert!(!layer.exists(), "the damaged blob is removed");
    let again = resolver(&cache, false)
        .unwrap()
        .resolve_image(BASE, &amd64())
        .unwrap();
    read_layers(&again).unwrap();
    assert_eq!(fs::read(layer).unwrap(), good);
    assert!(problems(&cache).is_empty());
}

#[test]
fn a_flipped_byte_in_the_manifest_is_pulled_again() {
    let Some((_tmp, cache, img)) = pulled() else {
        return;
    };
    let manifest = img.blob_path(&img.manifest_digest);
    let good = fs::read(&manifest).unwrap();
    flip_byte(&manifest, 10);
    assert_eq!(problems(&cache).len(), 1);
    let again = resolver(&cache, false)
        .unwrap()
        .resolve_image(BASE, &amd64())
        .unwrap();
    assert_eq!(again.manifest_digest, img.manifest_digest);
    assert_eq!(fs::read(&manifest).unwrap(), good);
    assert!(problems(&cache).is_empty());
}

#[test]
fn a_missing_blob_referenced_by_the_index_is_reported_and_pulled_again() {
    let Some((_tmp, cache, img)) = pulled() else {
        return;
    };
    let config = img.blob_path(&img.manifest.config.digest);
    fs::remove_file(&config).unwrap();
    let p = problems(&cache);
    assert!(
        p.len() == 1 && p[0].contains("is missing") && p[0].contains(BASE),
        "{p:?}"
    );
    resolver(&cache, false)
        .unwrap()
        .resolve_image(BASE, &amd64())
        .unwrap();
    assert!(config.is_file());
    assert!(problems(&cache).is_empty());
}

#[test]
fn a_half_written_index_is_reported_with_the_fix_and_repaired() {
    let Some((_tmp, cache, _)) = pulled() else {
        return;
    };
    let index = cache.join("index.json");
    let bytes = fs::read(&index).unwrap();
    fs::write(&index, &bytes[..bytes.len() / 2]).unwrap();
    let err = resolver(&cache, false)
        .unwrap()
        .resolve_image(BASE, &amd64())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("index.json cannot be read") && err.contains("cache verify --repair"),
        "{err}"
    );
    let p = problems(&cache);
    assert!(p.iter().any(|p| p.contains("index.json")), "{p:?}");
    let report = Cache::open(&cache).unwrap().verify(true).unwrap();
    assert!(report.problems.iter().any(|p| p.repaired), "{report:?}");
    assert!(cache.join("index.json.damaged").is_file());
    // The blobs stayed; the image is pulled again (reusing them) and the cache is whole.
    let img = resolver(&cache, false)
        .unwrap()
        .resolve_image(BASE, &amd64())
        .unwrap();
    read_layers(&img).unwrap();
    assert!(problems(&cache).is_empty(), "{:?}", problems(&cache));
}
