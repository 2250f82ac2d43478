//! Ports of upstream's `moby/config_test.go` and unit tests of the generation rules.

use std::collections::BTreeMap;

use linuxkit_dsl::{Container, Id, Volume};
use linuxkit_oci::store::{ContainerConfig, ImageConfigFile};

use super::*;

fn entry(name: &str) -> Container {
    Container {
        name: name.into(),
        image: "testimage".into(),
        ..Container::default()
    }
}

fn image_with_label(label: &str) -> ImageConfigFile {
    let mut labels = BTreeMap::new();
    labels.insert(MOBY_CONFIG_LABEL.to_string(), label.to_string());
    ImageConfigFile {
        config: ContainerConfig {
            labels: Some(labels),
            ..ContainerConfig::default()
        },
        ..ImageConfigFile::default()
    }
}

fn caps(spec: &ContainerSpec) -> &Capabilities {
    spec.spec
        .process
        .as_ref()
        .and_then(|p| p.capabilities.as_ref())
        .unwrap()
}

// TestOverrides: YAML capabilities replace the label's; the label's cwd applies.
#[test]
fn overrides() {
    let mut yaml = entry("test");
    yaml.capabilities = Some(vec!["CAP_SYS_ADMIN".into()]);
    let image = image_with_label(r#"{"capabilities":["CAP_SYS_CHROOT"],"cwd":"/label/directory"}"#);
    let spec = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap();
    assert_eq!(caps(&spec).bounding, vec!["CAP_SYS_ADMIN".to_string()]);
    assert_eq!(spec.spec.process.as_ref().unwrap().cwd, "/label/directory");
}

// TestInvalidCap: an unknown capability in the label is an error naming the image.
#[test]
fn invalid_cap() {
    let image = image_with_label(r#"{"capabilities":["NOT_A_CAP"]}"#);
    let err = container_spec(&entry("test"), &image, &IdMap::default(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to create OCI spec for testimage: unknown capability: NOT_A_CAP"
    );
}

// TestIdMap: a named uid resolves through the map, a numeric gid is used as is.
#[test]
fn id_map() {
    let ids = IdMap::from_pairs([("test".to_string(), 199)]);
    let mut yaml = entry("test");
    yaml.uid = Some(Id::Name("test".into()));
    yaml.gid = Some(Id::Num(76));
    let spec = container_spec(&yaml, &image_with_label("{}"), &ids, &[]).unwrap();
    let user = &spec.spec.process.as_ref().unwrap().user;
    assert_eq!((user.uid, user.gid), (199, 76));
}

#[test]
fn id_map_for_image_counts_from_100_and_later_duplicates_win() {
    let image = linuxkit_dsl::Image {
        onboot: vec![entry("a"), entry("b")],
        onshutdown: vec![entry("c")],
        services: vec![entry("a"), entry("d")],
        ..Default::default()
    };
    let ids = IdMap::for_image(&image);
    let r = |s: &str| ids.resolve(Some(&Id::Name(s.into())));
    assert_eq!(r("a").unwrap(), 103);
    assert_eq!(r("b").unwrap(), 101);
    assert_eq!(r("c").unwrap(), 102);
    assert_eq!(r("d").unwrap(), 104);
    assert_eq!(r("root").unwrap(), 0);
    assert_eq!(r("").unwrap(), 0);
    assert_eq!(ids.resolve(None).unwrap(), 0);
    assert_eq!(r("100").unwrap_err().to_string(), "cannot find id: 100");
}

#[test]
fn defaults_match_the_spec_example() {
    let image = ImageConfigFile {
        config: ContainerConfig {
            cmd: Some(vec!["/bin/sh".into()]),
            env: Some(vec!["PATH=/bin".into()]),
            ..ContainerConfig::default()
        },
        ..ImageConfigFile::default()
    };
    let spec = container_spec(&entry("test"), &image, &IdMap::default(), &[]).unwrap();
    let compact: serde_json::Value = serde_json::from_slice(&spec.config_json()).unwrap();
    assert_eq!(
        compact.to_string(),
        concat!(
            r#"{"linux":{"namespaces":[{"type":"pid"},{"type":"mount"}],"resources":{}},"mounts":["#,
            r#"{"destination":"/dev","options":["nosuid","strictatime","mode=755","size=65536k"],"source":"tmpfs","type":"tmpfs"},"#,
            r#"{"destination":"/dev/pts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"],"source":"devpts","type":"devpts"},"#,
            r#"{"destination":"/proc","options":["nosuid","nodev","noexec","relatime"],"source":"proc","type":"proc"},"#,
            r#"{"destination":"/sys","options":["nosuid","noexec","nodev"],"source":"sysfs","type":"sysfs"},"#,
            r#"{"destination":"/sys/fs/cgroup","options":["nosuid","noexec","nodev","relatime","ro"],"source":"cgroup","type":"cgroup"}],"#,
            r#""ociVersion":"1.2.1","process":{"args":["/bin/sh"],"capabilities":{},"cwd":"/","env":["PATH=/bin"],"user":{"gid":0,"uid":0}},"root":{"path":"rootfs"}}"#
        )
    );
    // Key order is Go's struct order.
    let text = String::from_utf8(spec.config_json()).unwrap();
    assert!(text.starts_with("{\n    \"ociVersion\": \"1.2.1\",\n    \"process\": {"));
    assert!(!text.ends_with('\n'));
}

#[test]
fn caps_all_none_duplicates_and_ambient() {
    let image = image_with_label("{}");
    let mut yaml = entry("x");
    yaml.capabilities = Some(vec!["ALL".into()]);
    let spec = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap();
    assert_eq!(caps(&spec).effective.len(), 41);
    assert_eq!(caps(&spec).effective[0], "CAP_CHOWN");
    assert_eq!(caps(&spec).bounding[0], "CAP_AUDIT_CONTROL");

    yaml.capabilities = Some(vec![
        "CAP_SYS_ADMIN".into(),
        "CAP_CHOWN".into(),
        "CAP_SYS_ADMIN".into(),
    ]);
    yaml.ambient = Some(vec!["CAP_NET_RAW".into()]);
    let spec = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap();
    assert_eq!(
        caps(&spec).effective,
        ["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_SYS_ADMIN"]
    );
    assert_eq!(
        caps(&spec).bounding,
        ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]
    );

    yaml.capabilities = Some(vec!["all".into(), "CAP_CHOWN".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err.to_string().ends_with("unknown capability: all"));
}

#[test]
fn bind_and_tmpfs_errors() {
    let image = image_with_label("{}");
    let mut yaml = entry("x");
    yaml.binds = Some(vec!["/nocolon".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("cannot parse bind, missing ':': /nocolon"));
    yaml.binds = Some(vec!["/a:/b:ro:x".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("cannot parse bind, too many ':': /a:/b:ro:x"));
    yaml.binds = None;
    yaml.tmpfs = Some(vec!["/a:b:c".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("cannot parse tmpfs, too many ':': /a:b:c"));
}

#[test]
fn rlimit_errors_keep_upstream_wording() {
    let image = image_with_label("{}");
    let mut yaml = entry("x");
    yaml.rlimits = Some(vec!["nofile,1".into(), "core,0,0".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("cannot parse rlimit: [nofile,1 core,0,0]"));
    yaml.rlimits = Some(vec!["bogus,1,2".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err.to_string().ends_with("unknown limit: "));
    yaml.rlimits = Some(vec!["nofile,x,2".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err
        .to_string()
        .ends_with(r#"cannot parse x as uint64: strconv.ParseUint: parsing "x": invalid syntax"#));
}

#[test]
fn device_mode_must_be_octal() {
    let image = image_with_label("{}");
    let mut yaml = entry("x");
    yaml.devices = Some(vec![linuxkit_dsl::Device {
        path: "/dev/x".into(),
        kind: "c".into(),
        major: Some(1),
        minor: Some(2),
        mode: Some("0689".into()),
    }]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err.to_string().ends_with(
        r#"cannot parse device mode as octal value: strconv.ParseInt: parsing "0689": invalid syntax"#
    ));
}

#[test]
fn mounts_errors() {
    let image = image_with_label("{}");
    let mut yaml = entry("x");
    yaml.mounts = Some(vec![linuxkit_dsl::Mount {
        destination: "/x".into(),
        ..Default::default()
    }]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("mount for destination /x is missing type"));
    yaml.mounts = Some(vec![linuxkit_dsl::Mount {
        kind: "tmpfs".into(),
        ..Default::default()
    }]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &[]).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("mount type tmpfs is missing destination"));
}

#[test]
fn volumes_are_substituted_in_binds_only() {
    let vols = vec![
        Volume {
            name: "data".into(),
            ..Default::default()
        },
        Volume {
            name: "ro".into(),
            readonly: true,
            ..Default::default()
        },
    ];
    let image = image_with_label("{}");
    let mut yaml = entry("x");
    yaml.binds = Some(vec!["data:/d".into(), "ro:/r:ro".into()]);
    let spec = container_spec(&yaml, &image, &IdMap::default(), &vols).unwrap();
    let src: Vec<&str> = spec.spec.mounts.iter().map(|m| m.source.as_str()).collect();
    assert!(src.contains(&"/containers/volumes/data/merged"));
    assert!(src.contains(&"/containers/volumes/ro/merged"));

    yaml.binds = Some(vec!["ro:/r".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &vols).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed update image testimage from volumes: volume ro is read-only, but attempting to write into container read-write"
    );
    yaml.binds = Some(vec!["missing:/r".into()]);
    let err = container_spec(&yaml, &image, &IdMap::default(), &vols).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("volume missing not found in onboot image bin 0"));
}

#[test]
fn label_name_is_rejected_through_container_spec() {
    let image = image_with_label(r#"{"name":"x"}"#);
    let err = container_spec(&entry("x"), &image, &IdMap::default(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to create OCI spec for testimage: name cannot be set in metadata label"
    );
}

#[test]
fn runtime_json_layouts() {
    let spec =
        container_spec(&entry("x"), &image_with_label("{}"), &IdMap::default(), &[]).unwrap();
    let text = String::from_utf8(
        spec.runtime_json("containers/onboot/000-x", "containers/onboot/000-x/lower"),
    )
    .unwrap();
    assert!(text.contains("\"lowerdir=/containers/onboot/000-x/lower\""));
    assert!(text.ends_with("\"namespace\": \"\"\n}"));
    let mut yaml = entry("x");
    yaml.readonly = Some(true);
    let spec = container_spec(&yaml, &image_with_label("{}"), &IdMap::default(), &[]).unwrap();
    let text = String::from_utf8(
        spec.runtime_json("containers/services/x", "containers/onboot/000-a/lower"),
    )
    .unwrap();
    assert!(text.contains("\"source\": \"/containers/onboot/000-a/lower\""));
}
