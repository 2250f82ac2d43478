//! Cold and warm resolution times against a local Debian `docker-registry`.
//!
//! `cargo run --release -p linuxkit-resolve --example resolve_bench`
//!
//! 1. The 11 conformance fixture images (`../shared/conformance/images`).
//! 2. A 20-image definition: the fixtures plus 9 generated images of ~1 MiB each.
//!
//! Cold = empty cache, everything pulled (prefetch, in parallel); warm = a new resolver on the
//! filled cache resolving every reference (what every rebuild does).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use linuxkit_oci::store::{media, ImageProvider, Manifest, Platform};
use linuxkit_resolve::{Resolver, ResolverOptions};

fn main() {
    let Some(reg) = common::registry() else {
        eprintln!("docker-registry is needed for this benchmark");
        std::process::exit(1);
    };
    let platform = Platform::linux("amd64");
    let fixtures: Vec<String> = common::FIXTURES
        .iter()
        .map(|n| format!("{}/fixture/{n}:v1", reg.host()))
        .collect();
    let mut twenty = fixtures.clone();
    twenty.extend(push_generated(reg, 9));
    assert_eq!(twenty.len(), 20);

    for (label, refs) in [
        ("conformance (11 images)", &fixtures),
        ("20-image definition", &twenty),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let opts = || ResolverOptions {
            cache_dir: Some(tmp.path().to_path_buf()),
            progress: linuxkit_resolve::ProgressMode::Quiet,
            docker_config: Some(tmp.path().join("none.json")),
            ..ResolverOptions::default()
        };
        let t = Instant::now();
        let r = Resolver::new(opts()).expect("resolver");
        r.prefetch(refs).expect("prefetch");
        for reference in refs.iter() {
            r.resolve(reference, &platform).expect("resolve");
        }
        let cold = t.elapsed();
        let bytes = dir_size(tmp.path());
        let mut warm = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r = Resolver::new(opts()).expect("resolver");
            r.prefetch(refs).expect("prefetch");
            for reference in refs.iter() {
                r.resolve(reference, &platform).expect("resolve");
            }
            warm.push(t.elapsed());
        }
        warm.sort();
        println!(
            "{label}: cold {:.1} ms ({:.0} KiB cached), warm median {:.2} ms (min {:.2}, max {:.2})",
            ms(cold),
            bytes as f64 / 1024.0,
            ms(warm[warm.len() / 2]),
            ms(warm[0]),
            ms(warm[warm.len() - 1]),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p.join("blobs/sha256")) {
        for e in rd.flatten() {
            n += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    n
}

/// Builds `count` images with one ~1 MiB gzip layer of pseudo-random bytes each and pushes
/// them as `bench/gen<i>:v1`.
fn push_generated(reg: &common::TestRegistry, count: usize) -> Vec<String> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = Resolver::new(common::options(tmp.path())).expect("resolver");
    let w = r.cache().writer();
    let mut out = Vec::new();
    for i in 0..count {
        let mut data = vec![0u8; 1 << 20];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1);
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, format!("data/gen{i}.bin"), &data[..])
            .expect("tar");
        let tar = tar.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        let layer = w
            .put_blob(&gz.finish().expect("gzip"), media::OCI_LAYER_GZIP)
            .expect("layer");
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/gen{i}"]}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let config = w
            .put_blob(config.as_bytes(), media::OCI_CONFIG)
            .expect("config");
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config,
            layers: vec![layer],
            annotations: None,
        };
        let raw = serde_json::to_vec(&manifest).expect("json");
        let desc = w.put_blob(&raw, media::OCI_MANIFEST).expect("manifest");
        let name = format!("{}/bench/gen{i}:v1", reg.host());
        w.add_root(&desc, &name).expect("root");
        r.push(&name, None).expect("push");
        out.push(name);
    }
    out
}
