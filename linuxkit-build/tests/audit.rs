//! `audit` on the conformance fixtures whose labels grant privileges: what the label and the
//! YAML merge to, and that it is what the build's `config.json` says.

mod common;

use std::io::Read;

use linuxkit_build::audit::{audit, ContainerAudit};
use linuxkit_build::gotar::Reader;
use linuxkit_build::{build_tar, BuildOptions};
use linuxkit_dsl::testing::Policy;
use linuxkit_dsl::Capability;
use linuxkit_oci::layout::LayoutSet;
use linuxkit_oci::store::Platform;
use serde_json::Value;

fn images() -> LayoutSet {
    common::conformance_images(&[])
}

const YAML: &str = r#"
onboot:
  - name: labelled
    image: 127.0.0.1:5000/fixture/labelled:v1
    capabilities.add: [CAP_SYS_BOOT]
services:
  - name: privileged
    image: 127.0.0.1:5000/fixture/privileged:v1
  - name: plain
    image: 127.0.0.1:5000/fixture/plain:v1
    capabilities: [CAP_NET_BIND_SERVICE]
    net: new
    binds: ["/data:/data", "/etc/ssl:/etc/ssl:ro"]
    readonly: true
"#;

fn configs(image: &linuxkit_dsl::Image) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    build_tar(
        image,
        &images(),
        &BuildOptions::new(Platform::linux("amd64")),
        &mut out,
    )
    .unwrap();
    let mut r = Reader::new(out.as_slice());
    let mut configs = Vec::new();
    while let Some(h) = r.next_header().unwrap() {
        let mut data = Vec::new();
        r.data().read_to_end(&mut data).unwrap();
        let name = h.name_lossy();
        if name.ends_with("/config.json") {
            configs.push((name, serde_json::from_slice(&data).unwrap()));
        }
    }
    configs
}

/// The audit's facts, read again from a config.json.
fn agrees(a: &ContainerAudit, config: &Value) {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let p = &config["process"];
    assert_eq!(
        a.capabilities.effective,
        strings(&p["capabilities"]["effective"])
    );
    assert_eq!(
        a.capabilities.bounding,
        strings(&p["capabilities"]["bounding"])
    );
    assert_eq!(a.user.uid, p["user"]["uid"].as_u64().unwrap() as u32);
    assert_eq!(a.no_new_privileges, p["noNewPrivileges"] == true);
    assert_eq!(a.readonly_rootfs, config["root"]["readonly"] == true);
    let own: Vec<String> = config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_string())
        .collect();
    for ns in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert_eq!(
            a.host_namespaces.iter().any(|h| h == ns),
            !own.iter().any(|o| o == ns),
            "{}: {ns}",
            a.name
        );
    }
    let writable: Vec<String> = config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            let o = strings(&m["options"]);
            (m["type"] == "bind" || o.iter().any(|x| x == "rbind" || x == "bind"))
                && !o.iter().any(|x| x == "ro")
        })
        .map(|m| m["destination"].as_str().unwrap().to_string())
        .collect();
    let audited: Vec<String> = a
        .writable_host_binds
        .iter()
        .map(|b| b.destination.clone())
        .collect();
    assert_eq!(audited, writable, "{}", a.name);
    assert!(config["linux"].get("seccomp").is_none());
    assert_eq!(a.seccomp, None);
}

#[test]
fn labels_and_yaml_merge_as_in_config_json() {
    let image: linuxkit_dsl::Image = serde_norway::from_str(YAML).unwrap();
    let audits = audit(&image, &images(), &Platform::linux("amd64")).unwrap();
    let names: Vec<String> = audits.iter().map(ContainerAudit::path).collect();
    assert_eq!(names, ["onboot[0]", "services[0]", "services[1]"]);

    let labelled = &audits[0];
    // The label's capabilities plus the YAML's capabilities.add, the label's ambient one.
    assert_eq!(
        labelled.capabilities.effective,
        [
            "CAP_NET_ADMIN",
            "CAP_SYS_ADMIN",
            "CAP_NET_RAW",
            "CAP_SYS_BOOT"
        ]
    );
    assert_eq!(labelled.capabilities.ambient, ["CAP_NET_RAW"]);
    assert_eq!(labelled.host_namespaces, ["cgroup", "pid", "user"]);
    assert_eq!(
        (
            labelled.user.uid,
            labelled.user.gid,
            labelled.user.additional_gids.clone()
        ),
        (1, 2, vec![3, 4])
    );
    assert!(labelled.readonly_rootfs && labelled.no_new_privileges);
    let binds: Vec<&str> = labelled
        .writable_host_binds
        .iter()
        .map(|b| b.source.as_str())
        .collect();
    // The label's own `binds.add` is not read (upstream merges the YAML's), its :ro bind is
    // not writable.
    assert_eq!(binds, ["/var/log"]);
    let devices: Vec<(&str, &str)> = labelled
        .devices
        .iter()
        .map(|d| (d.path.as_str(), d.kind.as_str()))
        .collect();
    assert_eq!(devices, [("/dev/null", "c"), ("*", "b")]);

    let privileged = &audits[1];
    assert_eq!(
        ContainerAudit::capabilities_text(&privileged.capabilities.effective),
        "all"
    );
    assert_eq!(
        privileged.host_namespaces,
        ["cgroup", "ipc", "network", "pid", "user", "uts"]
    );
    assert_eq!(privileged.writable_host_binds[0].source, "/dev");

    let plain = &audits[2];
    assert_eq!(
        ContainerAudit::capabilities_text(&plain.capabilities.effective),
        "NET_BIND_SERVICE"
    );
    assert!(!plain.host_namespaces.iter().any(|n| n == "network"));
    assert_eq!(
        plain.writable_host_binds.len(),
        1,
        "the :ro bind is not writable"
    );

    // The same facts as the config.json files the build writes.
    let configs = configs(&image);
    assert_eq!(configs.len(), 3);
    for (a, (name, config)) in audits.iter().zip(&configs) {
        assert!(name.contains(&a.name), "{name} vs {}", a.name);
        agrees(a, config);
    }

    // The policy rules on the merged facts: the label's CAP_SYS_ADMIN and host networking.
    let effective: Vec<_> = audits.iter().map(ContainerAudit::effective).collect();
    let v: Vec<String> = Policy::new()
        .forbid_capability(Capability::SysAdmin)
        .host_network_only(Vec::<String>::new())
        .check_effective(&image, &effective)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        v,
        [
            "onboot[0] `labelled`: has CAP_SYS_ADMIN (forbidden unless allowed for this container)",
            "services[0] `privileged`: has CAP_SYS_ADMIN (forbidden unless allowed for this container)",
            "services[0] `privileged`: shares the host network namespace (net: host)",
        ]
    );
    assert!(
        Policy::new()
            .forbid_capability(Capability::SysAdmin)
            .check(&image)
            .is_empty(),
        "the definition alone does not show the label's grants"
    );
}
