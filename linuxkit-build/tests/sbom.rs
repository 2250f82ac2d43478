//! The SBOM written into the image: where and how (upstream's entry), what it lists (images,
//! the OS packages read from their databases as they stream, the kernel release, the SBOMs
//! images carry as attestations), and the same bytes for the same inputs.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use linuxkit_build::gotar::{type_flag, Header, Reader};
use linuxkit_build::{build_tar, BuildOptions, SbomOptions, DEFAULT_MTIME};
use linuxkit_oci::attestation::{statement, write_attested_index, PREDICATE_SPDX};
use linuxkit_oci::layout::LayoutSet;
use linuxkit_oci::store::{media, Descriptor, Platform};
use linuxkit_oci::write::LayoutWriter;
use serde_json::{json, Value};

const DPKG_STATUS: &str = "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n";

/// A plain-tar layer of regular files.
fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Writes a one-layer image (with an SPDX attestation when `attest` is given) named `name`.
fn image(w: &LayoutWriter, name: &str, files: &[(&str, &[u8])], attest: Option<Value>) {
    let l = w.put_blob(&layer(files), media::OCI_LAYER_TAR).unwrap();
    let diff = l.digest.clone();
    let config = json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff]}});
    let c = w
        .put_blob(&serde_json::to_vec(&config).unwrap(), media::OCI_CONFIG)
        .unwrap();
    let m =
        json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "config": c, "layers": [l]});
    let mut md: Descriptor = w
        .put_blob(&serde_json::to_vec(&m).unwrap(), media::OCI_MANIFEST)
        .unwrap();
    md.platform = Some(Platform::linux("amd64"));
    let root = match attest {
        Some(doc) => {
            let st = statement(name, &md, PREDICATE_SPDX, doc);
            write_attested_index(w, &md, &st, PREDICATE_SPDX).unwrap()
        }
        None => md,
    };
    w.add_root(&root, name).unwrap();
}

fn images(local: &Path) -> LayoutSet {
    common::conformance_images(&[local])
}

fn attestation() -> Value {
    json!({
        "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "scan",
        "dataLicense": "CC0-1.0", "documentNamespace": "https://example.com/scan",
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: scanner"]},
        "documentDescribes": ["SPDXRef-app"],
        "packages": [{"SPDXID": "SPDXRef-app", "name": "app", "downloadLocation": "NOASSERTION",
                      "filesAnalyzed": false}],
        "files": [{"SPDXID": "SPDXRef-bin", "fileName": "/usr/bin/app",
                   "checksums": [{"algorithm": "SHA1", "checksumValue": "0000000000000000000000000000000000000000"}]}],
        "relationships": [{"spdxElementId": "SPDXRef-app", "relationshipType": "CONTAINS",
                           "relatedSpdxElement": "SPDXRef-bin"}]
    })
}

const YAML: &str = "kernel:\n  image: 127.0.0.1:5000/fixture/kernel:v1\ninit:\n  - 127.0.0.1:5000/fixture/init:v1\nonboot:\n  - name: deb\n    image: local/deb:1\nservices:\n  - name: apk\n    image: local/apk:1\n  - name: apk2\n    image: local/apk:1\n";

fn build(local: &Path, sbom: bool) -> Vec<(Header, Vec<u8>)> {
    let image: linuxkit_dsl::Image = serde_norway::from_str(YAML).unwrap();
    let mut opts = BuildOptions::new(Platform::linux("amd64"));
    opts.sbom = sbom.then(|| SbomOptions::new("fixture-system"));
    let mut out = Vec::new();
    build_tar(&image, &images(local), &opts, &mut out).unwrap();
    let mut r = Reader::new(out.as_slice());
    let mut entries = Vec::new();
    while let Some(h) = r.next_header().unwrap() {
        let mut data = Vec::new();
        r.data().read_to_end(&mut data).unwrap();
        entries.push((h, data));
    }
    entries
}

fn fixtures() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let w = LayoutWriter::create_or_open(t.path()).unwrap();
    image(
        &w,
        "local/deb:1",
        &[
            ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
            ("var/lib/dpkg/status", DPKG_STATUS.as_bytes()),
            (
                "var/lib/dpkg/status.d/tzdata",
                b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
            ),
        ],
        None,
    );
    image(
        &w,
        "local/apk:1",
        &[(
            "lib/apk/db/installed",
            b"P:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\n",
        )],
        Some(attestation()),
    );
    t
}

#[test]
fn the_sbom_is_the_last_entry_lists_everything_and_is_reproducible() {
    let t = fixtures();
    let entries = build(t.path(), true);
    let (h, doc) = entries.last().unwrap();
    assert_eq!(h.name_lossy(), "sbom.spdx.json");
    assert_eq!(h.typeflag, type_flag::REG);
    assert_eq!(h.mode, 0o644);
    assert_eq!(h.mtime.unwrap().secs, DEFAULT_MTIME as i64);
    assert!(
        h.pax.is_empty(),
        "upstream writes no LINUXKIT records on it"
    );

    let again = build(t.path(), true);
    assert_eq!(
        again.last().unwrap().1,
        *doc,
        "same inputs, same SBOM bytes"
    );

    let d: Value = serde_json::from_slice(doc).unwrap();
    assert_eq!(d["name"], "fixture-system");
    assert_eq!(d["creationInfo"]["created"], "2017-04-18T16:30:00Z");
    let packages = d["packages"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = packages
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p))
        .collect();
    // One package per image; the service image used twice is one package, both locations.
    for r in [
        "127.0.0.1:5000/fixture/kernel:v1",
        "127.0.0.1:5000/fixture/init:v1",
        "local/deb:1",
    ] {
        assert_eq!(by_name[r]["primaryPackagePurpose"], "CONTAINER", "{r}");
    }
    let apk_image = by_name["local/apk:1"];
    assert!(
        apk_image["comment"]
            .as_str()
            .unwrap()
            .ends_with("used as services[0], services[1]"),
        "{apk_image}"
    );
    assert_eq!(
        by_name["127.0.0.1:5000/fixture/kernel:v1"]["externalRefs"][0]["referenceLocator"]
            .as_str()
            .unwrap()
            .split('?')
            .nth(1),
        Some("repository_url=127.0.0.1:5000/fixture/kernel&tag=v1")
    );
    // The kernel release, from the kernel tar's lib/modules/<release>.
    assert_eq!(by_name["linux"]["versionInfo"], "6.1.0-fixture");
    // dpkg (status and status.d; removed packages left out) and apk databases.
    assert_eq!(
        by_name["base-files"]["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12"
    );
    assert!(by_name.contains_key("tzdata"));
    assert!(!by_name.contains_key("gone"));
    assert_eq!(by_name["busybox"]["licenseDeclared"], "GPL-2.0-only");
    // The attestation is merged: its package, its file under the service's root.
    let app = by_name["app"];
    assert!(app["SPDXID"].as_str().unwrap().ends_with("-app"));
    assert_ne!(app["SPDXID"], "SPDXRef-app");
    assert_eq!(
        d["files"][0]["fileName"],
        "./containers/services/apk/lower/usr/bin/app"
    );
    let rels = d["relationships"].as_array().unwrap();
    assert!(rels
        .iter()
        .any(|r| r["spdxElementId"] == apk_image["SPDXID"]
            && r["relationshipType"] == "CONTAINS"
            && r["relatedSpdxElement"] == app["SPDXID"]));
    // Every relationship names elements of the document.
    let ids: std::collections::BTreeSet<&str> = packages
        .iter()
        .chain(d["files"].as_array().unwrap())
        .map(|p| p["SPDXID"].as_str().unwrap())
        .chain(["SPDXRef-DOCUMENT"])
        .collect();
    for r in rels {
        for k in ["spdxElementId", "relatedSpdxElement"] {
            assert!(ids.contains(r[k].as_str().unwrap()), "{r}");
        }
    }
}

#[test]
fn without_sbom_the_stream_is_unchanged_but_for_the_entry() {
    let t = fixtures();
    let with = build(t.path(), true);
    let without = build(t.path(), false);
    assert_eq!(with.len(), without.len() + 1);
    assert!(without
        .iter()
        .all(|(h, _)| h.name_lossy() != "sbom.spdx.json"));
    for ((a, x), (b, y)) in with.iter().zip(&without) {
        assert_eq!((a.name_lossy(), x), (b.name_lossy(), y));
    }
}
