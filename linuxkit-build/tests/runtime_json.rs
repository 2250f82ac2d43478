//! `runtime.json` is one type (`linuxkit_bundle::Runtime`) for the build that writes it and the
//! init that reads it: every `runtime.json` upstream LinuxKit wrote in the conformance corpus
//! reads back with it and is written again byte for byte, and what this build writes for a
//! container with every runtime field reads back equal.

use std::path::{Path, PathBuf};

use linuxkit_build::gojson;
use linuxkit_build::oci_config::{container_spec, IdMap};
use linuxkit_bundle::Runtime;

fn runtime_jsons(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            runtime_jsons(&p, out);
        } else if p.file_name().is_some_and(|n| n == "runtime.json") {
            out.push(p);
        }
    }
}

#[test]
fn upstreams_runtime_json_reads_and_writes_back_identically() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/cases");
    let mut files = Vec::new();
    runtime_jsons(&cases, &mut files);
    assert!(files.len() >= 20, "only {} runtime.json files", files.len());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let runtime: Runtime =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let again = gojson::to_vec_indent(&runtime).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&bytes),
            "{}",
            f.display()
        );
    }
}

#[test]
fn what_the_build_writes_the_init_reads() {
    let image = linuxkit_dsl::from_yaml_str(
        r#"
services:
  - name: everything
    image: alpine:3.21
    net: new
    runtime:
      cgroups: [a/b]
      mounts: [{destination: scratch, type: tmpfs, source: tmpfs, options: [size=1m],
                uidmappings: [{hostID: 1000, containerID: 0, size: 1}]}]
      mkdir: [/var/run/x]
      interfaces: [{name: veth0, add: veth, peer: veth1}, {name: eth1, createInRoot: true}]
      bindNS: {net: /run/netns/x, uts: /run/uts}
      namespace: custom
"#,
        "runtime.yml",
    )
    .unwrap();
    let c = &image.services[0];
    let config = linuxkit_oci::store::ImageConfigFile::default();
    let spec = container_spec(c, &config, &IdMap::default(), &[]).unwrap();
    let written = spec.runtime_json(
        "containers/services/everything",
        "containers/services/everything/lower",
    );
    let read: Runtime = serde_json::from_slice(&written).unwrap();
    assert_eq!(read.cgroups, ["a/b"]);
    assert_eq!(read.mkdir, ["/var/run/x"]);
    // The rootfs mounts come first, then the definition's.
    let last = read.mounts.last().unwrap();
    assert_eq!(last.destination, "scratch");
    // One mapping; its numbers decode as 0, as upstream's yaml.v3 decode of `hostID` does.
    assert_eq!(last.uid_mappings.len(), 1);
    assert_eq!(read.interfaces.len(), 2);
    assert!(read.interfaces[1].create_in_root);
    assert_eq!(
        read.bind_ns.paths().collect::<Vec<_>>(),
        [("net", "/run/netns/x"), ("uts", "/run/uts")]
    );
    assert_eq!(read.namespace, "custom");
    assert_eq!(gojson::to_vec_indent(&read).unwrap(), written);
}
