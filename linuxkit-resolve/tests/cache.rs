//! Cache management without a registry: import of layouts, OCI archives (plain and gzip'd) and
//! docker-save archives, offline resolution from them, export, rm, clean.

mod common;

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::Path;

use common::{cache_names, fixtures_dir, options};
use linuxkit_oci::store::{ImageProvider, Platform};
use linuxkit_resolve::{Resolver, ResolverOptions};

fn offline(cache: &Path) -> ResolverOptions {
    let mut o = options(cache);
    o.offline = true;
    o
}

fn tar_dir(dir: &Path, out: impl std::io::Write) {
    let mut t = tar::Builder::new(out);
    t.append_path_with_name(dir.join("oci-layout"), "oci-layout")
        .unwrap();
    t.append_path_with_name(dir.join("index.json"), "index.json")
        .unwrap();
    t.append_dir_all("blobs", dir.join("blobs")).unwrap();
    t.into_inner().unwrap().flush().unwrap();
}

#[test]
fn import_layout_dir_registers_containerd_names_like_upstream() {
    let tmp = tempfile::tempdir().unwrap();
    let r = Resolver::new(offline(tmp.path())).unwrap();
    let names = r.cache().import(&fixtures_dir().join("base")).unwrap();
    let pinned = "127.0.0.1:5000/fixture/base:v1@sha256:ea89d2c896410da6e208d1a308f9bdc329b5b95d3ce283295a726c7baca7dac8";
    assert_eq!(names, vec!["127.0.0.1:5000/fixture/base:v1", pinned]);
    for n in &names {
        let img = r.resolve(n, &Platform::linux("amd64")).unwrap();
        // The layer is readable as a tar stream from the cache.
        let mut tar = tar::Archive::new(img.layers[0].open_tar(n).unwrap());
        assert!(tar.entries().unwrap().count() > 3);
    }
    let listed = cache_names(&r);
    assert_eq!(listed, names);
}

#[test]
fn import_oci_archives_plain_and_gzip() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("multiarch.tar");
    tar_dir(
        &fixtures_dir().join("multiarch"),
        fs::File::create(&plain).unwrap(),
    );
    let gz = tmp.path().join("init.tar.gz");
    tar_dir(
        &fixtures_dir().join("init"),
        flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast()),
    );
    let r = Resolver::new(offline(&tmp.path().join("cache"))).unwrap();
    assert_eq!(
        r.cache().import(&plain).unwrap(),
        vec!["127.0.0.1:5000/fixture/multiarch:v1"]
    );
    assert_eq!(
        r.cache().import(&gz).unwrap(),
        vec!["127.0.0.1:5000/fixture/init:v1"]
    );
    let arm = r
        .resolve(
            "127.0.0.1:5000/fixture/multiarch:v1",
            &Platform::linux("arm64"),
        )
        .unwrap();
    assert_eq!(arm.config.architecture, "arm64");
    r.resolve("127.0.0.1:5000/fixture/init:v1", &Platform::linux("amd64"))
        .unwrap();
}

#[test]
fn import_rejects_a_corrupt_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    copy_dir(&fixtures_dir().join("plain"), &layout);
    // Corrupt the largest blob (a layer).
    let mut blobs: Vec<_> = fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    blobs.sort_by_key(|p| fs::metadata(p).unwrap().len());
    let victim = blobs.last().unwrap().clone();
    let mut bytes = fs::read(&victim).unwrap();
    bytes[10] ^= 1;
    fs::write(&victim, bytes).unwrap();
    let cache = tmp.path().join("cache");
    let r = Resolver::new(offline(&cache)).unwrap();
    let err = r.cache().import(&layout).unwrap_err().to_string();
    assert!(err.contains("does not match"), "{err}");
    assert!(r.cache().list().unwrap().is_empty());
    assert!(!cache
        .join("blobs/sha256")
        .join(victim.file_name().unwrap())
        .exists());
}

#[test]
fn import_docker_save_archive() {
    let tmp = tempfile::tempdir().unwrap();
    // A docker-save archive: manifest.json, a config, one uncompressed layer.
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(5);
    h.set_mode(0o755);
    h.set_cksum();
    layer
        .append_data(&mut h, "bin/hello", &b"hello"[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/hello"]}}"#;
    let manifest =
        br#"[{"Config":"cfg.json","RepoTags":["hello:test"],"Layers":["l1/layer.tar"]}]"#;
    let archive = tmp.path().join("save.tar");
    let mut t = tar::Builder::new(fs::File::create(&archive).unwrap());
    for (name, data) in [
        ("cfg.json", &config[..]),
        ("l1/layer.tar", &layer[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, data).unwrap();
    }
    t.into_inner().unwrap().flush().unwrap();
    let r = Resolver::new(offline(&tmp.path().join("cache"))).unwrap();
    assert_eq!(
        r.cache().import(&archive).unwrap(),
        vec!["docker.io/library/hello:test"]
    );
    let img = r.resolve("hello:test", &Platform::linux("amd64")).unwrap();
    assert_eq!(img.config.config.cmd, Some(vec!["/bin/hello".to_string()]));
    let mut entries = tar::Archive::new(img.layers[0].open_tar("hello:test").unwrap());
    let mut e = entries.entries().unwrap().next().unwrap().unwrap();
    let mut s = String::new();
    e.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello");
}

#[test]
fn export_rm_and_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let r = Resolver::new(offline(&cache)).unwrap();
    r.cache().import(&fixtures_dir().join("passwd")).unwrap();
    r.cache().import(&fixtures_dir().join("plain")).unwrap();
    let mut out = Vec::new();
    r.cache()
        .export_oci("127.0.0.1:5000/fixture/passwd:v1", &mut out)
        .unwrap();
    let mut names: Vec<String> = tar::Archive::new(&out[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
        .collect();
    names.retain(|n| !(n.starts_with("blobs/sha256/") && n.len() > "blobs/sha256/".len()));
    assert_eq!(
        names,
        vec!["blobs/", "blobs/sha256/", "index.json", "oci-layout"]
    );
    let err = r
        .cache()
        .export_oci("nope:v1", &mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("nope:v1"), "{err}");

    let removed = r
        .cache()
        .remove(&["127.0.0.1:5000/fixture/passwd:v1".to_string()])
        .unwrap();
    assert_eq!(removed, vec!["127.0.0.1:5000/fixture/passwd:v1"]);
    // plain stays resolvable after the unused blobs were collected.
    r.resolve("127.0.0.1:5000/fixture/plain:v1", &Platform::linux("amd64"))
        .unwrap();
    let err = r
        .resolve_image(
            "127.0.0.1:5000/fixture/passwd:v1",
            &Platform::linux("amd64"),
        )
        .unwrap_err();
    assert!(err.to_string().contains("offline"), "{err}");
    r.cache().clone().clean().unwrap();
    assert!(!cache.exists());
}

#[test]
fn concurrent_writers_keep_one_root_per_name() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let r = Resolver::new(offline(&cache)).unwrap();
                r.cache().import(&fixtures_dir().join("base")).unwrap();
                r.cache().import(&fixtures_dir().join("layered")).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let r = Resolver::new(offline(&cache)).unwrap();
    let names = cache_names(&r);
    assert_eq!(names.len(), 3, "{names:?}");
    r.resolve(
        "127.0.0.1:5000/fixture/layered:v1",
        &Platform::linux("amd64"),
    )
    .unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}
