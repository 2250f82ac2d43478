use super::*;
use crate::model::*;
use crate::{Capability, Namespace, Rlimit};

/// `../shared/reference/linuxkit-examples` from the workspace root.
pub(crate) fn examples_dir() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    root.join("../shared/reference/linuxkit-examples")
}

fn base() -> Image {
    Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
        .init(["linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a"])
}

fn with(c: Container) -> Image {
    base().service(c)
}

fn svc() -> Container {
    Container::new("svc", "alpine:3.21")
}

/// The (path, message) of every problem.
fn found(image: &Image) -> Vec<(String, String)> {
    check(image)
        .into_iter()
        .map(|p| (p.path, p.message))
        .collect()
}

fn has(image: &Image, path: &str, message: &str) {
    let problems = check(image);
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(message) && !p.hint.is_empty()),
        "expected {path}: {message} in {problems:#?}"
    );
}

#[test]
fn upstream_examples_have_no_errors() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yml") {
            continue;
        }
        let mut text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // static-ip.yml has a comment line inside a block scalar that libyaml-based parsers
        // (upstream's among them) reject; the rest of the file is checked.
        if path.file_name().is_some_and(|n| n == "static-ip.yml") {
            text = text
                .lines()
                .filter(|l| !l.starts_with("#      domain"))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        let image = crate::from_yaml_str(&text, &path.display().to_string())
            .unwrap_or_else(|e| panic!("an upstream example does not parse: {e}"));
        let errors: Vec<_> = check(&image)
            .into_iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} upstream examples found");
}

#[test]
fn clean_image_has_no_problems() {
    let image = with(
        svc()
            .capability(Capability::NetAdmin)
            .bind("/etc/resolv.conf:/etc/resolv.conf:ro")
            .bind("data:/data")
            .tmpfs("/tmp:size=1m")
            .env("A=b")
            .rlimit(Rlimit::Nofile, 1024u64, 4096u64)
            .net(Namespace::New)
            .sysctl("net.ipv4.ip_forward", "1")
            .uid("svc"),
    )
    .volume(Volume::new("data"))
    .file(File::new("etc/x").contents("y").mode(0o644));
    assert_eq!(found(&image), vec![]);
}

#[test]
fn duplicate_service_names() {
    let image = with(svc()).service(svc());
    has(&image, "services[1].name", "duplicate service name: svc");
    // onboot names may repeat, as upstream allows.
    let image = base().onboot(svc()).onboot(svc());
    assert_eq!(found(&image), vec![]);
}

#[test]
fn volume_names() {
    let image = base()
        .volume(Volume::new("Data"))
        .volume(Volume::new("x"))
        .volume(Volume::new("x"));
    has(&image, "volumes[0].name", "invalid volume name: Data");
    has(&image, "volumes[2].name", "duplicate volume name: x");
    let image = base().volume(Volume::new("v").format("tar"));
    has(&image, "volumes[0].format", "volume format must be one of");
}

#[test]
fn binds_and_mounts_need_declared_volumes() {
    let image = with(svc().bind("data:/data").add_bind("other:/o:ro"));
    has(&image, "services[0].binds[0]", "volume data not found");
    has(&image, "services[0].binds.add[0]", "volume other not found");
    let image = with(svc().mount(Mount::bind("data", "/data"))).volume(Volume::new("x"));
    has(
        &image,
        "services[0].mounts[0].source",
        "volume data not found",
    );
}

#[test]
fn readonly_volume_bound_read_write() {
    let image =
        with(svc().bind("data:/data").bind("data:/ro:ro")).volume(Volume::new("data").readonly());
    assert_eq!(
        found(&image),
        vec![(
            "services[0].binds[0]".to_string(),
            "volume data is read-only, but attempting to write into container read-write"
                .to_string()
        )]
    );
    let image = with(svc().mount(Mount::bind("data", "/d").options(["rw", "rbind"])))
        .volume(Volume::new("data").readonly());
    has(&image, "services[0].mounts[0].source", "is read-only");
    // A read-only `mounts` bind of a volume passes the volume checks, and is warned about:
    // upstream keeps the volume name as the source, which runc cannot find.
    let image = with(svc().mount(Mount::bind("data", "/d").options(["ro", "rbind"])))
        .volume(Volume::new("data").readonly());
    assert_eq!(
        check(&image)
            .iter()
            .map(|p| (p.severity, p.path.as_str()))
            .collect::<Vec<_>>(),
        vec![(Severity::Warning, "services[0].mounts[0].source")]
    );
}

#[test]
fn image_references() {
    let image = Image::new(Kernel::new("Linuxkit/Kernel:6"))
        .init(["linuxkit/init:"])
        .onboot(Container::new("a", "UPPER/case"))
        .service(Container::new("b", ""))
        .volume(Volume::new("v").image("alpine:@bad"));
    has(&image, "kernel.image", "extract kernel image reference");
    has(&image, "init[0]", "extract init image reference");
    has(&image, "onboot[0].image", "extract on boot image reference");
    has(
        &image,
        "services[0].image",
        "extract service image reference: image reference is empty",
    );
    has(&image, "volumes[0].image", "extract volume image reference");
    has(
        &Image::new(Kernel::default()),
        "kernel",
        "kernel section has no image",
    );
}

#[test]
fn capabilities() {
    let image = with(
        svc()
            .capability_names(["CAP_SYS_ADMIN", "all"])
            .add_capability_names(["cap_net_admin"])
            .ambient_names(["CAP_FLY"]),
    );
    has(
        &image,
        "services[0].capabilities[1]",
        "unknown capability: all",
    );
    has(
        &image,
        "services[0].capabilities.add[0]",
        "unknown capability: cap_net_admin",
    );
    has(
        &image,
        "services[0].ambient[0]",
        "unknown capability: CAP_FLY",
    );
    for alone in ["all", "none", "ALL"] {
        assert_eq!(
            found(&with(svc().capability_names([alone]))),
            vec![],
            "{alone}"
        );
    }
}

#[test]
fn rlimits() {
    let image = with(svc().rlimits([
        "nofile,1",
        "files,1,2",
        "nofile,x,2",
        "RLIMIT_NOFILE, 1 ,unlimited",
    ]));
    has(
        &image,
        "services[0].rlimits[0]",
        "cannot parse rlimit: nofile,1 files,1,2",
    );
    has(&image, "services[0].rlimits[1]", "unknown limit: files");
    has(&image, "services[0].rlimits[2]", "cannot parse x as uint64");
    assert_eq!(check(&image).len(), 3, "{:#?}", check(&image));
}

#[test]
fn bind_and_tmpfs_syntax() {
    let image = with(
        svc()
            .bind("/a")
            .bind("/a:/b:ro:x")
            .bind("/a:b")
            .tmpfs("/t:a:b")
            .tmpfs("t"),
    );
    has(
        &image,
        "services[0].binds[0]",
        "cannot parse bind, missing ':': /a",
    );
    has(
        &image,
        "services[0].binds[1]",
        "cannot parse bind, too many ':': /a:/b:ro:x",
    );
    has(
        &image,
        "services[0].binds[2]",
        "bind destination is not absolute: b",
    );
    has(
        &image,
        "services[0].tmpfs[0]",
        "cannot parse tmpfs, too many ':': /t:a:b",
    );
    has(
        &image,
        "services[0].tmpfs[1]",
        "tmpfs destination is not absolute: t",
    );
}

#[test]
fn mounts() {
    let image = with(
        svc()
            .mount(Mount::default().destination("/x"))
            .mount(Mount::new(crate::MountType::Tmpfs))
            .mount(Mount::default().source("proc"))
            .mount(Mount::new(crate::MountType::Tmpfs).destination("rel")),
    );
    has(
        &image,
        "services[0].mounts[0]",
        "mount for destination /x is missing type",
    );
    has(
        &image,
        "services[0].mounts[1]",
        "mount type tmpfs is missing destination",
    );
    has(
        &image,
        "services[0].mounts[3].destination",
        "mount destination is not absolute: rel",
    );
    assert!(!found(&image)
        .iter()
        .any(|(p, _)| p.starts_with("services[0].mounts[2]")));
}

#[test]
fn env_cwd_paths_and_namespaces() {
    let image = with(
        svc()
            .env("NOVALUE")
            .cwd("relative")
            .masked_path("proc/kcore")
            .readonly_path("/ok")
            .net("netns0")
            .pid(Namespace::None),
    );
    has(
        &image,
        "services[0].env[0]",
        "environment variable has no '='",
    );
    has(&image, "services[0].cwd", "cwd must be an absolute path");
    has(&image, "services[0].maskedPaths[0]", "path is not absolute");
    has(
        &image,
        "services[0].net",
        "net namespace must be host, new or an absolute path: netns0",
    );
    let p = check(&image)
        .into_iter()
        .find(|p| p.path == "services[0].pid")
        .unwrap();
    assert_eq!(p.severity, Severity::Warning);
}

#[test]
fn uid_and_gid_names() {
    let image = base()
        .onboot(Container::new("setup", "alpine:3.21"))
        .service(
            svc()
                .uid("setup")
                .gid("root")
                .additional_gids([Id::Name("nobody".into()), Id::Num(-1)])
                .uid("100"),
        )
        .file(File::new("x").contents("").uid("setup").gid("ghost"));
    let problems = found(&image);
    assert!(
        problems.contains(&("services[0].uid".into(), "cannot find id: 100".into())),
        "{problems:?}"
    );
    assert!(problems.contains(&(
        "services[0].additionalGids[0]".into(),
        "cannot find id: nobody".into()
    )));
    assert!(problems.contains(&(
        "services[0].additionalGids[1]".into(),
        "uid or gid out of range: -1".into()
    )));
    assert!(problems.contains(&("files[0].gid".into(), "cannot find id: ghost".into())));
    assert_eq!(problems.len(), 4, "{problems:?}");
}

#[test]
fn sysctl_oom_propagation() {
    let image = with(
        svc()
            .sysctl("Net.IPv4", "1")
            .oom_score_adj(1001)
            .rootfs_propagation_str("sideways"),
    );
    has(
        &image,
        "services[0].sysctl.Net.IPv4",
        "sysctl key must be lowercase",
    );
    has(&image, "services[0].oomScoreAdj", "between -1000 and 1000");
    has(
        &image,
        "services[0].rootfsPropagation",
        "unknown rootfs propagation: sideways",
    );
}

#[test]
fn devices() {
    let image = with(
        svc()
            .device(Device::new("/dev/fuse", crate::DeviceType::Char, 10, 229))
            .device(Device::new("/dev/x", crate::DeviceType::Char, 1, 1).mode_str("0999"))
            .device(Device::all(crate::DeviceType::Block))
            .device(Device {
                path: "dev/y".into(),
                kind: "z".into(),
                mode: Some("0600".into()),
                ..Device::default()
            })
            .device(Device::new("/dev/p", crate::DeviceType::Fifo, 0, 0).mode(0o600)),
    );
    has(
        &image,
        "services[0].devices[0].mode",
        "cannot parse device mode as octal value",
    );
    has(
        &image,
        "services[0].devices[1].mode",
        "cannot parse device mode as octal value",
    );
    has(
        &image,
        "services[0].devices[3].type",
        "unknown device type: z",
    );
    has(
        &image,
        "services[0].devices[3].path",
        "device path is not absolute",
    );
    has(
        &image,
        "services[0].devices[4].type",
        "unknown device type: p",
    );
    assert!(!found(&image)
        .iter()
        .any(|(p, _)| p.starts_with("services[0].devices[2]")));
}

#[test]
fn file_entries() {
    let image = base()
        .file(File::new(""))
        .file(File::new("a").contents("x").mode_str("0x644"))
        .file(File::new("b"))
        .file(File::new("c").source("s").metadata_yaml())
        .file(File::new("d").metadata("toml"))
        .file(File::new("e").contents("x").metadata_json())
        .file(File::new("f").contents("x").source("s"))
        .file(File::new("g").directory().contents("x"))
        .file(File::new("h").symlink("/x"))
        .file(File::new("i").directory())
        .file(File::new("j").contents("x").optional());
    has(&image, "files[0].path", "did not specify path for file");
    has(
        &image,
        "files[1].mode",
        "cannot parse file mode as octal value",
    );
    has(&image, "files[2]", "contents of file (b) not specified");
    has(
        &image,
        "files[3]",
        "specified Source and Metadata for file: c",
    );
    has(
        &image,
        "files[4].metadata",
        "unsupported metadata type: toml",
    );
    has(
        &image,
        "files[5]",
        "specified Contents and Metadata for file: e",
    );
    has(
        &image,
        "files[6]",
        "specified Contents and Source for file: f",
    );
    has(&image, "files[7]", "directory with contents not allowed");
    has(
        &image,
        "files[10].optional",
        "only applies to files with a `source`",
    );
    let problems = found(&image);
    assert!(
        !problems
            .iter()
            .any(|(p, _)| p.starts_with("files[8]") || p.starts_with("files[9]")),
        "{problems:?}"
    );
}

#[test]
fn problems_display_and_severity() {
    let problems = check(&with(svc().bind("/a")));
    assert!(has_errors(&problems));
    assert_eq!(
        problems[0].to_string(),
        "error: cannot parse bind, missing ':': /a (at services[0].binds[0])"
    );
    assert!(!has_errors(&check(&base())));
}

#[test]
fn problems_map_to_yaml_positions() {
    let text = "\
services:
  - name: web
    image: nginx:1.27
    binds:
      - /etc/resolv.conf:/etc/resolv.conf
      - data:/data
    capabilities.add: [CAP_NET_BIND_SERVICE, CAP_FLY]
  - name: web
    image: nginx:1.27
";
    let image = crate::from_yaml_str(text, "web.yml").unwrap();
    let locator = crate::Locator::new(text, "web.yml").unwrap();
    let mut at: Vec<(usize, usize, String)> = check(&image)
        .into_iter()
        .map(|p| {
            let pos = locator
                .nearest(&p.path)
                .expect("every problem path is in the text");
            (pos.line, pos.column, p.message)
        })
        .collect();
    at.sort();
    assert_eq!(
        at,
        vec![
            (6, 9, "volume data not found".to_string()),
            (7, 46, "unknown capability: CAP_FLY".to_string()),
            (8, 5, "duplicate service name: web".to_string()),
        ]
    );
}
