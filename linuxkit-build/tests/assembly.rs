//! Targeted assembly tests on the conformance fixture images: behaviours the conformance cases
//! do not cover (`format: oci` volumes, the Dockerfile entry, error wording, streaming order).

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use linuxkit_build::gotar::{type_flag, Header, Reader};
use linuxkit_build::{build_tar, BuildOptions, PAX_LOCATION, PAX_SOURCE};
use linuxkit_oci::layout::LayoutSet;
use linuxkit_oci::store::Platform;

fn images() -> LayoutSet {
    common::conformance_images(&[])
}

fn build(yaml: &str, docker: bool) -> Result<Vec<(Header, Vec<u8>)>, String> {
    let image: linuxkit_dsl::Image = serde_norway::from_str(yaml).unwrap();
    let mut opts = BuildOptions::new(Platform::linux("amd64"));
    opts.docker = docker;
    let mut out = Vec::new();
    let report = build_tar(&image, &images(), &opts, &mut out).map_err(|e| e.to_string())?;
    assert_eq!(report.bytes, out.len() as u64);
    let mut r = Reader::new(out.as_slice());
    let mut entries = Vec::new();
    while let Some(h) = r.next_header().unwrap() {
        let mut data = Vec::new();
        r.data().read_to_end(&mut data).unwrap();
        entries.push((h, data));
    }
    assert_eq!(report.entries, entries.len() as u64);
    Ok(entries)
}

fn pax<'a>(h: &'a Header, k: &str) -> &'a str {
    std::str::from_utf8(h.pax.get(k.as_bytes()).map(Vec::as_slice).unwrap_or(b"-")).unwrap()
}

#[test]
fn oci_volume_stores_the_index_and_the_selected_platform() {
    let entries = build(
        "volumes:\n  - name: arm\n    image: 127.0.0.1:5000/fixture/multiarch:v1\n    format: oci\n    platforms: [linux/arm64]\n",
        false,
    )
    .unwrap();
    let names: Vec<String> = entries.iter().map(|(h, _)| h.name_lossy()).collect();
    let lower = "containers/volumes/arm/lower/";
    assert_eq!(
        names[..4],
        [
            "containers",
            "containers/volumes",
            "containers/volumes/arm",
            "containers/volumes/arm/lower"
        ]
    );
    assert_eq!(names[4], format!("{lower}oci-layout"));
    assert_eq!(names[5], format!("{lower}blobs/"));
    assert_eq!(names[6], format!("{lower}blobs/sha256/"));
    // config, one layer, the arm64 manifest, the index blob, index.json, tmp/, merged/
    assert_eq!(names.len(), 7 + 3 + 1 + 1 + 2);
    assert!(names[9].ends_with("f12570eb6f94116fec747b272b0c9f03e47e841c7c88c7a23e4191d0b9521567"));
    assert!(names[10].ends_with("cb3c5c7259b3ca8d3992d4e0c8d45b988afe736cfa45d0ad868fdef3fbe25bd2"));
    let mut blobs = BTreeMap::new();
    for (h, data) in &entries[7..11] {
        let name = h.name_lossy();
        let hex = name.rsplit('/').next().unwrap().to_string();
        assert_eq!(
            linuxkit_oci::digest::sha256_digest(data),
            format!("sha256:{hex}")
        );
        assert_eq!(h.mtime.unwrap().secs, 0, "layout entries carry no mtime");
        assert_eq!(pax(h, PAX_LOCATION), "volume[0]");
        blobs.insert(hex, data.clone());
    }
    let (index_hdr, index_json) = &entries[11];
    assert_eq!(index_hdr.name_lossy(), format!("{lower}index.json"));
    let index: serde_json::Value = serde_json::from_slice(index_json).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "127.0.0.1:5000/fixture/multiarch:v1"
    );
    assert_eq!(index["manifests"][0]["size"], 491);
    assert_eq!(
        entries[4].1,
        b"{\n\t\t\"imageLayoutVersion\": \"1.0.0\"\n\t}"
    );
    assert_eq!(names[12], "containers/volumes/arm/tmp/");
    assert_eq!(pax(&entries[12].0, PAX_SOURCE), "linuxkit.volumes");
}

#[test]
fn oci_volume_platforms_must_all_be_in_the_index() {
    let err = build(
        "volumes:\n  - name: v\n    image: 127.0.0.1:5000/fixture/multiarch:v1\n    format: oci\n    platforms: [linux/amd64, linux/s390x]\n",
        false,
    )
    .unwrap_err();
    assert!(
        err.starts_with(
            "failed to build volume OCI v1 layout tarball from v: could not pull image"
        ) && err.ends_with("does not contain target platforms linux/s390x"),
        "{err}"
    );
}

#[test]
fn oci_volume_without_platforms_keeps_every_manifest_whatever_the_target() {
    let image: linuxkit_dsl::Image = serde_norway::from_str(
        "volumes:\n  - name: all\n    image: 127.0.0.1:5000/fixture/multiarch:v1\n    format: oci\n",
    )
    .unwrap();
    let mut out = Vec::new();
    // No s390x manifest: the index is still found and stored whole.
    let opts = BuildOptions::new(Platform::linux("s390x"));
    build_tar(&image, &images(), &opts, &mut out).unwrap();
    let mut r = Reader::new(out.as_slice());
    let mut names = Vec::new();
    while let Some(h) = r.next_header().unwrap() {
        names.push(h.name_lossy());
    }
    let manifests = [
        "5033bc6f1b20c16810fe83a77d06ad613e1c1d12c218b64eb4da9495299b2411",
        "f12570eb6f94116fec747b272b0c9f03e47e841c7c88c7a23e4191d0b9521567",
    ]
    .iter()
    .filter(|d| names.iter().any(|n| n.ends_with(*d)))
    .count();
    assert_eq!(manifests, 2, "amd64 and arm64 manifests");
}

#[test]
fn docker_format_appends_a_dockerfile_without_records() {
    let entries = build("files:\n  - path: etc/x\n    contents: y\n", true).unwrap();
    let (h, data) = entries.last().unwrap();
    assert_eq!(h.name, b"Dockerfile");
    assert!(h.pax.is_empty());
    assert_eq!(h.typeflag, type_flag::REG);
    assert!(String::from_utf8_lossy(data).contains("ENTRYPOINT [\"/bin/rc.init\"]"));
}

#[test]
fn missing_images_and_kernels_fail_with_upstream_wording() {
    let err = build("init:\n  - 127.0.0.1:5000/fixture/nosuch:v1\n", false).unwrap_err();
    assert!(
        err.starts_with("failed to build init tarball from 127.0.0.1:5000/fixture/nosuch:v1: could not pull image 127.0.0.1:5000/fixture/nosuch:v1:"),
        "{err}"
    );
    let err = build("kernel:\n  image: 127.0.0.1:5000/fixture/base:v1\n", false).unwrap_err();
    assert_eq!(err, "close error: did not find kernel in kernel image");
    let err = build(
        "kernel:\n  image: 127.0.0.1:5000/fixture/kernel:v1\n  tar: nosuch.tar\n",
        false,
    )
    .unwrap_err();
    assert_eq!(err, "close error: did not find kernel tar in kernel image");
    let err = build(
        "services:\n  - name: s\n    image: 127.0.0.1:5000/fixture/nosuch:v1\n",
        false,
    )
    .unwrap_err();
    assert!(
        err.starts_with("could not pull image 127.0.0.1:5000/fixture/nosuch:v1:"),
        "{err}"
    );
    let err = build("volumes:\n  - name: Bad\n", false).unwrap_err();
    assert_eq!(err, "invalid config: invalid volume name: Bad");
}

#[test]
fn multiarch_containers_use_the_requested_platform() {
    let entries = build(
        "onboot:\n  - name: m\n    image: 127.0.0.1:5000/fixture/multiarch:v1\n",
        false,
    )
    .unwrap();
    let names: Vec<String> = entries.iter().map(|(h, _)| h.name_lossy()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("lower/bin/arch-amd64")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with("arch-arm64")));
}

#[test]
fn output_file_is_replaced_only_by_a_successful_build() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.tar");
    std::fs::write(&path, b"previous").unwrap();
    let opts = BuildOptions::new(Platform::linux("amd64"));
    let bad: linuxkit_dsl::Image =
        serde_norway::from_str("init:\n  - 127.0.0.1:5000/fixture/nosuch:v1\n").unwrap();
    assert!(linuxkit_build::build_tar_to_path(&bad, &images(), &opts, &path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"previous");
    let good: linuxkit_dsl::Image =
        serde_norway::from_str("init:\n  - 127.0.0.1:5000/fixture/base:v1\n").unwrap();
    let report = linuxkit_build::build_tar_to_path(&good, &images(), &opts, &path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), report.bytes);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}
