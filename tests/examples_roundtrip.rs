//! The Rust example definitions against LinuxKit's own YAML files, and YAML -> Rust -> YAML
//! through the code generator.

use std::path::{Path, PathBuf};
use std::process::Command;

use linuxkit_dsl::emit::Document;
use linuxkit_dsl::{check, codegen, from_yaml_str, to_yaml_string, Image, Severity};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples_dir() -> PathBuf {
    workspace_root().join("../shared/reference/linuxkit-examples")
}

/// An upstream example's text. `static-ip.yml` has a comment line inside a block scalar that
/// libyaml-based parsers reject; the line is removed (see `examples::static_ip`).
fn upstream_text(name: &str) -> String {
    let path = examples_dir().join(format!("{name}.yml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if name == "static-ip" {
        text.lines()
            .filter(|l| !l.starts_with("#      domain"))
            .map(|l| format!("{l}\n"))
            .collect()
    } else {
        text
    }
}

fn upstream(name: &str) -> Image {
    from_yaml_str(&upstream_text(name), &format!("{name}.yml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn rust_definitions_equal_upstream_yaml() {
    for (name, definition) in linuxkit_workspace::examples::ALL {
        let image = definition();
        let expected = upstream(name);
        assert_eq!(
            image, expected,
            "{name}: the Rust definition differs from upstream's YAML"
        );
        // And through the YAML writer and parser.
        let yaml = to_yaml_string(&image).unwrap();
        let back = from_yaml_str(&yaml, name).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(back, expected, "{name}: YAML round trip");
    }
}

#[test]
fn rust_definitions_pass_checks() {
    for (name, definition) in linuxkit_workspace::examples::ALL {
        let problems = check(&definition());
        let errors: Vec<_> = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn every_example_target_is_declared() {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("definitions = "))
        .expect("[package.metadata.linuxkit] definitions");
    for (name, _) in linuxkit_workspace::examples::ALL {
        assert!(
            line.contains(&format!("\"{name}\"")),
            "{name} missing from {line}"
        );
        assert!(
            workspace_root()
                .join(format!("examples/{name}.rs"))
                .exists(),
            "{name}"
        );
        // A bin target (not an example): evaluating it links the DSL only.
        assert!(
            manifest.contains(&format!(
                "[[bin]]\nname = \"{name}\"\npath = \"examples/{name}.rs\""
            )),
            "{name} is not declared as a [[bin]] in Cargo.toml"
        );
    }
}

/// Every upstream example -> Rust (codegen) in one temporary crate -> run it -> the same models.
#[test]
fn codegen_round_trips_every_upstream_example() {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "yml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    assert!(names.len() >= 30, "{names:?}");
    let mut models: Vec<Image> = names.iter().map(|n| upstream(n)).collect();
    // Plus one image that sets every field of the schema.
    names.push("every-field".into());
    models.push(from_yaml_str(EVERY_FIELD, "every-field.yml").unwrap_or_else(|e| panic!("{e}")));

    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path();
    let dsl = workspace_root().join("linuxkit-dsl");
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"lk-codegen-roundtrip\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nlinuxkit-dsl = {{ path = {:?} }}\n\n[workspace]\n\n\
             [profile.dev.package.\"*\"]\nopt-level = 1\n",
            dsl.display().to_string()
        ),
    )
    .unwrap();
    // The workspace's lock file pins the same versions, so the shared target dir is reused.
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .unwrap();
    std::fs::create_dir(crate_dir.join("src")).unwrap();
    let mut main = String::from("#![allow(unused_imports)]\nuse linuxkit_dsl::*;\n\n");
    let mut fns = Vec::new();
    for (name, model) in names.iter().zip(&models) {
        let f = codegen::rust_ident(name);
        main.push_str(&codegen::to_rust_function(model, &f));
        main.push('\n');
        fns.push(f);
    }
    main.push_str(&format!("linuxkit_dsl::main!({});\n", fns.join(", ")));
    std::fs::write(crate_dir.join("src/main.rs"), &main).unwrap();

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = Command::new(&cargo)
        .args(["build", "--quiet", "--offline", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "generated code does not compile:\n{}\n--- src/main.rs ---\n{main}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(bin(&target, "lk-codegen-roundtrip"))
        .env("CARGO_LINUXKIT_EMIT", "json")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: Document = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(doc.images.len(), models.len());
    for ((name, model), def) in names.iter().zip(&models).zip(&doc.images) {
        assert_eq!(def.name, codegen::rust_ident(name).replace('_', "-"));
        assert_eq!(&def.image, model, "{name}: YAML -> Rust -> model differs");
        assert!(
            def.locations.get("services[0]").is_some() || model.services.is_empty(),
            "{name}"
        );
    }
}

fn bin(target: &Path, name: &str) -> PathBuf {
    target
        .join("debug")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// An image that sets every key of LinuxKit's schema, unset-vs-empty cases included.
const EVERY_FIELD: &str = r#"
kernel:
  image: linuxkit/kernel:6.12.59
  cmdline: "console=ttyS0"
  binary: bzImage
  tar: none
  ucode: intel-ucode.cpio
init: [linuxkit/init:1]
onboot:
  - name: first
    image: alpine:3.21
    capabilities: []
    capabilities.add: [CAP_NET_ADMIN, CAP_SYS_ADMIN]
    ambient: [CAP_SYS_TIME]
    binds: []
    binds.add: ["/a:/a:ro"]
    tmpfs: []
    env: []
    sysctl: {}
    annotations: {}
    mounts: []
    devices: []
    rlimits: []
onshutdown:
  - name: last
    image: busybox:latest
    capabilities: [none]
    readonly: false
    noNewPrivileges: false
services:
  - name: everything
    image: docker.io/library/alpine:3.21
    capabilities: [all]
    mounts:
      - type: cgroup
        options: ["rw"]
      - destination: /x
        type: weirdfs
        source: "src"
        uidmappings: [{hostID: 1000, containerID: 0, size: 1}]
        gidmappings: [{hostID: 1000}]
      - source: proc
    binds: ["/etc/resolv.conf:/etc/resolv.conf", "data:/data"]
    devices:
      - {path: /dev/fuse, type: c, major: 10, minor: 229, mode: "0666"}
      - {path: all, type: b}
      - {path: /dev/odd, type: x, mode: "666"}
    tmpfs: ["/tmp:size=1m"]
    command: ["/bin/sh", "-c", "echo \"hi\" && exit 0"]
    env: ["A=b", "MULTI=line\nvalue"]
    cwd: /srv
    net: none
    pid: host
    ipc: new
    uts: /run/uts
    userns: root
    hostname: box
    readonly: true
    maskedPaths: [/proc/kcore]
    readonlyPaths: []
    uid: 100
    gid: first
    additionalGids: [1, last]
    noNewPrivileges: true
    oomScoreAdj: -500
    rootfsPropagation: rshared
    cgroupsPath: /lk/everything
    resources:
      devices: [{allow: true, type: c, major: 1, minor: 3, access: rwm}]
      memory: {limit: 1000000, swappiness: 10, disableOOMKiller: true}
      cpu: {shares: 512, cpus: "0-1"}
      pids: {limit: 64}
      blockio: {weight: 100, throttleReadBpsDevice: [{major: 8, minor: 0, rate: 1048576}]}
      hugepageLimits: [{pageSize: 2MB, limit: 0}]
      network: {classID: 7, priorities: [{name: eth0, priority: 1}]}
    sysctl: {net.ipv4.ip_forward: "1"}
    rlimits: ["nofile,1024,4096", "RLIMIT_CORE,unlimited,unlimited"]
    uidMappings: [{hostID: 0, containerID: 0, size: 65536}]
    gidMappings: [{size: 1}]
    annotations: {org.example/key: value}
    runtime:
      cgroups: [a/b]
      mounts: [{destination: rootfs/x, type: bind, source: /x, options: [bind]}]
      mkdir: [/var/run/x]
      interfaces: [{name: veth0, add: veth, peer: veth1}, {name: eth1, createInRoot: true}]
      bindNS: {cgroup: /a, ipc: /b, mnt: /c, net: /d, pid: /e, user: /f, uts: /g}
      namespace: custom.linuxkit
files:
  - {path: etc/dir, directory: true, mode: "0755", uid: 0, gid: everything}
  - {path: etc/link, symlink: /etc/hosts}
  - {path: etc/text, contents: "line \"1\"\nline 2\n", mode: "644"}
  - {path: etc/src, source: ~/.ssh/id_rsa.pub, optional: true}
  - {path: etc/meta, metadata: json}
volumes:
  - {name: data, image: alpine:3.21, readonly: false, format: oci, platforms: [linux/amd64]}
  - {name: blank, format: filesystem}
  - {name: ro, readonly: true}
trust:
  image: [alpine]
  org: [linuxkit]
"#;
