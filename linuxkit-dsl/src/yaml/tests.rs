use super::*;
use crate::{Capability, Container, File, Volume};

fn parse_err(text: &str) -> YamlError {
    match from_yaml_str(text, "test.yml") {
        Err(e) => e,
        Ok(image) => panic!("expected an error, parsed {image:?}"),
    }
}

#[test]
fn malformed_yaml_has_position() {
    let e = parse_err("kernel:\n  image: a\n cmdline: b\n");
    assert_eq!(e.file, "test.yml");
    assert_eq!((e.line, e.column), (3, 2), "{e}");
    assert!(!e.hint.is_empty());
    assert!(
        e.to_string()
            .starts_with("test.yml:3:2: did not find expected key"),
        "{e}"
    );
}

#[test]
fn wrong_type_has_position_and_hint() {
    let e = parse_err("services:\n  - name: a\n    image: b\n    command: /bin/sh\n");
    assert_eq!((e.line, e.column), (4, 14));
    assert!(
        e.message.contains("services[0].command: invalid type"),
        "{}",
        e.message
    );
    assert!(e.hint.contains("list"), "{}", e.hint);
}

#[test]
fn unknown_top_level_key_names_key_and_allowed_keys() {
    let e = parse_err("kernel:\n  image: k\nservice:\n  - name: a\n");
    assert_eq!((e.line, e.column), (3, 1));
    assert!(
        e.message.contains("unknown field `service`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("`services`"), "{}", e.message);
    assert!(e.hint.contains("did you mean `services`?"), "{}", e.hint);
}

#[test]
fn unknown_nested_key_names_key_and_allowed_keys() {
    let e = parse_err("onboot:\n  - name: a\n    image: b\n    capabilites: [CAP_SYS_ADMIN]\n");
    assert_eq!((e.line, e.column), (4, 5));
    assert!(
        e.message
            .starts_with("onboot[0]: unknown field `capabilites`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("`capabilities.add`"));
    assert!(
        e.hint.contains("did you mean `capabilities`?"),
        "{}",
        e.hint
    );
    let e = parse_err(
        "services:\n  - name: a\n    image: b\n    runtime:\n      bindNS:\n        network: /x\n",
    );
    assert_eq!((e.line, e.column), (6, 9));
    assert!(
        e.message.contains("unknown field `network`"),
        "{}",
        e.message
    );
}

#[test]
fn missing_name_or_image() {
    let e = parse_err("services:\n  - image: alpine\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("missing field `name`"));
    assert!(e.hint.contains("`name` and `image`"));
    let e = parse_err("onboot:\n  - name: a\n");
    assert!(e.message.contains("missing field `image`"), "{}", e.message);
}

#[test]
fn empty_document_is_an_error_but_empty_mapping_is_not() {
    for text in ["", "\n", "# only a comment\n"] {
        let e = parse_err(text);
        assert!(e.message.contains("empty document"), "{e}");
        assert_eq!((e.line, e.column), (1, 1));
    }
    assert_eq!(from_yaml_str("{}", "t").unwrap(), Image::default());
}

#[test]
fn unquoted_mode_is_rejected_like_the_schema() {
    let e = parse_err("files:\n  - path: a\n    contents: x\n    mode: 0644\n");
    assert_eq!((e.line, e.column), (4, 11));
    assert!(e.message.contains("files[0].mode"), "{}", e.message);
    assert!(e.hint.contains("\"0644\""));
    assert!(from_yaml_str(
        "files:\n  - path: a\n    contents: x\n    mode: \"0644\"\n",
        "t"
    )
    .is_ok());
}

#[test]
fn trust_is_accepted() {
    let image = from_yaml_str("trust:\n  org: [linuxkit]\n", "t").unwrap();
    assert_eq!(image.trust.unwrap().org, Some(vec!["linuxkit".to_string()]));
}

#[test]
fn unset_and_empty_stay_distinct_through_yaml() {
    let image = Image::default().service(
        Container::new("a", "alpine:3.21")
            .capabilities([])
            .binds([] as [&str; 0])
            .command(["sh"])
            .set_readonly(false),
    );
    let text = to_yaml_string(&image).unwrap();
    assert!(text.contains("capabilities: []"), "{text}");
    assert!(text.contains("binds: []"), "{text}");
    assert!(!text.contains("env"), "{text}");
    assert!(text.contains("readonly: false"), "{text}");
    let back = from_yaml_str(&text, "t").unwrap();
    assert_eq!(back, image);
    let c = &back.services[0];
    assert_eq!(c.capabilities, Some(vec![]));
    assert_eq!(c.env, None);
    assert_eq!(c.binds_add, None);
}

#[test]
fn merge_follows_append_config() {
    let a = Image::new(
        Kernel::new("k:1")
            .cmdline("console=ttyS0")
            .ucode("intel.cpio"),
    )
    .init(["init:1"])
    .service(Container::new("getty", "getty:1"))
    .volume(Volume::new("data"));
    let b = Image::default()
        .kernel(Kernel {
            tar: Some(String::new()),
            ucode: Some(String::new()),
            cmdline: Some(String::new()),
            ..Kernel::default()
        })
        .init(["runc:1"])
        .service(Container::new("sshd", "sshd:1").capability(Capability::NetBindService))
        .file(File::new("etc/x").contents("y"));
    let (m, origins) = merge_with_origins(vec![a, b]);
    let k = m.kernel.clone().unwrap();
    assert_eq!(k.image, "k:1", "an empty image does not override");
    assert_eq!(
        k.cmdline.as_deref(),
        Some("console=ttyS0"),
        "an empty cmdline does not override"
    );
    assert_eq!(
        k.tar.as_deref(),
        Some(""),
        "tar overrides when set, even empty"
    );
    assert_eq!(
        k.ucode.as_deref(),
        Some(""),
        "ucode overrides when set, even empty"
    );
    assert_eq!(m.init, vec!["init:1", "runc:1"]);
    assert_eq!(
        m.services
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["getty", "sshd"]
    );
    assert_eq!(m.volumes.len(), 1);
    assert_eq!(m.files.len(), 1);
    assert_eq!(
        origins.origin("services[1].binds[0]"),
        Some((1, "services[0].binds[0]".into()))
    );
    assert_eq!(
        origins.origin("services[0]"),
        Some((0, "services[0]".into()))
    );
    assert_eq!(
        origins.origin("volumes[0].name"),
        Some((0, "volumes[0].name".into()))
    );
    assert_eq!(
        origins.origin("kernel.cmdline"),
        Some((1, "kernel.cmdline".into()))
    );
    assert_eq!(merge(vec![]), Image::default());
    // Duplicate services across files are reported by check, as upstream re-checks them.
    let dup = merge(vec![
        m.clone(),
        Image::default().service(Container::new("getty", "getty:2")),
    ]);
    assert!(crate::check(&dup)
        .iter()
        .any(|p| p.message == "duplicate service name: getty"));
}

#[test]
fn locator_maps_item_paths() {
    let text = "\
kernel:
  image: k
  cmdline: \"c\"
services:
  - name: a
    image: b
  - name: c
    image: d
    binds:
      - /x:/x
      - /y:/y
    capabilities.add: [CAP_SYS_ADMIN]
    sysctl:
      net.ipv4.ip_forward: 1
";
    let l = Locator::new(text, "t.yml").unwrap();
    let at = |p: &str| l.get(p).map(|p| (p.line, p.column));
    assert_eq!(at("kernel"), Some((1, 1)));
    assert_eq!(at("kernel.cmdline"), Some((3, 3)));
    assert_eq!(at("services[0]"), Some((5, 5)));
    assert_eq!(at("services[1]"), Some((7, 5)));
    assert_eq!(at("services[1].binds[1]"), Some((11, 9)));
    assert_eq!(at("services[1].capabilities.add[0]"), Some((12, 24)));
    assert_eq!(at("services[1].sysctl.net.ipv4.ip_forward"), Some((14, 7)));
    assert_eq!(at("services[1].env"), None);
    assert_eq!(l.nearest("services[1].env").map(|p| p.line), Some(7));
    assert_eq!(l.nearest("services[1].binds[1]").map(|p| p.line), Some(11));
    assert_eq!(l.nearest("files[0]"), None);
}

#[test]
fn parent_paths() {
    assert_eq!(
        parent_path("services[2].binds[0]"),
        Some("services[2].binds")
    );
    assert_eq!(parent_path("services[2].binds"), Some("services[2]"));
    assert_eq!(parent_path("services[2]"), Some("services"));
    assert_eq!(parent_path("services"), None);
}

#[test]
fn every_upstream_example_parses_or_is_reported() {
    let dir = crate::check::tests::examples_dir();
    let mut parsed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        match from_yaml_str(&text, name) {
            Ok(image) => {
                parsed += 1;
                // The writer's output parses back to the same model.
                let again = from_yaml_str(&to_yaml_string(&image).unwrap(), name).unwrap();
                assert_eq!(again, image, "{name}");
                Locator::new(&text, name).unwrap();
            }
            Err(e) => {
                // static-ip.yml has a comment line inside a block scalar, which libyaml (and
                // PyYAML) reject: the error must point at it.
                assert_eq!(name, "static-ip.yml", "{e}");
                assert_eq!(e.line, 28, "{e}");
            }
        }
    }
    assert!(parsed >= 30, "{parsed}");
}
