//! The LinuxKit YAML corpus: every image definition that upstream LinuxKit builds and that this
//! repository can see goes through `check`, `export` (YAML -> model -> YAML) and `import` (YAML
//! -> Rust, compiled and run in a crate outside the workspace) and must come back meaning the
//! same. Files upstream refuses must be refused.
//!
//! The corpus is upstream's examples (`../shared/reference/linuxkit-examples`) and the
//! conformance inputs (`../shared/conformance/cases/*/image.yml`: a case whose `expected/`
//! holds `error.txt` was refused by upstream, the others were built). With `LINUXKIT_UPSTREAM_SRC` set to a
//! checkout of upstream's repository, every LinuxKit image YAML in it is added (its
//! `test/cases`, `docs`, `pkg`, `projects`, ...); CI has no such checkout, so that run is
//! done by hand (see `docs/yaml-rules.md`).
//!
//! What each file gives (ok, or its warnings) is pinned in `tests/snapshots/yaml_corpus.txt`:
//! a new refusal fails, and so does a new or a vanished warning. `LINUXKIT_BLESS=1` rewrites
//! the snapshot after an intended change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use linuxkit_dsl::emit::Document;
use linuxkit_dsl::{check, codegen, from_yaml_str, to_yaml_string, Image, Severity};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One YAML file of the corpus.
struct Entry {
    /// Where it is shown: `examples/sshd.yml`, `conformance/files`, `upstream:test/...`.
    name: String,
    text: String,
    /// Whether upstream builds it (or refuses it only for what an image label says, which
    /// `check` cannot see).
    upstream_builds: bool,
    /// Upstream refuses it for what an image's config label says: the build refuses it.
    label_refusal: bool,
}

impl Entry {
    /// Upstream builds it only with Docker: `@pkg:` templates build LinuxKit packages from
    /// their Dockerfiles, which cargo-linuxkit does not do (a documented difference).
    fn needs_docker(&self) -> bool {
        self.text.contains("@pkg:")
    }

    /// Whether this tool must accept it.
    fn accepted(&self) -> bool {
        self.upstream_builds && !self.label_refusal && !self.needs_docker()
    }
}

/// `static-ip.yml` has a comment line inside a block scalar that libyaml-based parsers
/// (upstream's included) reject. The file as it is belongs to the refused files; without the
/// line it is the example upstream means, and belongs to the accepted ones.
const STATIC_IP_BAD_LINE: &str = "#      domain";

fn examples() -> Vec<Entry> {
    let dir = root().join("../shared/reference/linuxkit-examples");
    let mut out = Vec::new();
    for path in yaml_files(&dir) {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = read(&path);
        if text.contains(STATIC_IP_BAD_LINE) {
            out.push(Entry {
                name: format!("examples/{file} (as it is)"),
                text: text.clone(),
                upstream_builds: false,
                label_refusal: false,
            });
            out.push(Entry {
                name: format!("examples/{file} (without the bad comment line)"),
                text: text
                    .lines()
                    .filter(|l| !l.starts_with(STATIC_IP_BAD_LINE))
                    .map(|l| format!("{l}\n"))
                    .collect(),
                upstream_builds: true,
                label_refusal: false,
            });
        } else {
            out.push(Entry {
                name: format!("examples/{file}"),
                text,
                upstream_builds: true,
                label_refusal: false,
            });
        }
    }
    assert!(
        out.len() >= 35,
        "only {} upstream examples found",
        out.len()
    );
    out
}

fn conformance() -> Vec<Entry> {
    let dir = root().join("../shared/conformance/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let mut out = Vec::new();
    for case in cases {
        let expected = case.join("expected");
        assert!(expected.is_dir(), "{}: no expected/", case.display());
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        // Refused because of what the image's config label says: only the build, which reads
        // the label, can refuse it (linuxkit-build/tests/conformance.rs checks that it does).
        let label_refusal = name == "err-bad-label-capability";
        out.push(Entry {
            name: format!("conformance/{name}"),
            text: read(&case.join("image.yml")),
            upstream_builds: !expected.join("error.txt").is_file() || label_refusal,
            label_refusal,
        });
    }
    assert!(out.len() >= 19, "only {} conformance cases", out.len());
    out
}

/// Every LinuxKit image definition in an upstream checkout: YAML files whose top-level keys
/// are LinuxKit's, with a kernel, init, onboot or services section. Upstream's own test cases
/// that are built to fail (`test.sh` greps for a build error) are refused files.
fn upstream_checkout(src: &Path) -> Vec<Entry> {
    const KEYS: [&str; 8] = [
        "kernel",
        "init",
        "onboot",
        "onshutdown",
        "services",
        "files",
        "volumes",
        "trust",
    ];
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let n = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && n != "vendor" && !n.starts_with('.') {
                stack.push(p);
            } else if (n.ends_with(".yml") || n.ends_with(".yaml") || n.ends_with(".md"))
                && n != "build.yml"
            {
                files.push(p);
            }
        }
    }
    files.sort();
    // Whole files, and the fenced YAML blocks of Markdown documents.
    let mut texts = Vec::new();
    for path in files {
        let rel = path.strip_prefix(src).unwrap().display().to_string();
        let text = read(&path);
        if rel.ends_with(".md") {
            let mut block: Option<String> = None;
            let mut n = 0;
            for line in text.lines() {
                match &mut block {
                    None if line.trim_start().starts_with("```yaml")
                        || line.trim_start().starts_with("```yml") =>
                    {
                        block = Some(String::new())
                    }
                    Some(b) if line.trim_start().starts_with("```") => {
                        n += 1;
                        texts.push((format!("{rel} (block {n})"), std::mem::take(b)));
                        block = None;
                    }
                    Some(b) => {
                        b.push_str(line);
                        b.push('\n');
                    }
                    None => {}
                }
            }
        } else {
            texts.push((rel, text));
        }
    }
    for (rel, text) in texts {
        let top: Vec<String> = match serde_norway::from_str::<serde_norway::Value>(&text) {
            Ok(serde_norway::Value::Mapping(m)) => m
                .keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            // Not a mapping, or YAML that does not parse: a LinuxKit image only when it looks
            // like one (upstream's static-ip.yml does not parse, see above).
            _ => text
                .lines()
                .filter(|l| !l.starts_with([' ', '#', '-', '\t']) && l.contains(':'))
                .filter_map(|l| l.split(':').next().map(str::to_string))
                .collect(),
        };
        let is_image = !top.is_empty()
            && top.iter().all(|k| KEYS.contains(&k.as_str()))
            && top
                .iter()
                .any(|k| ["kernel", "init", "onboot", "services"].contains(&k.as_str()));
        if !is_image {
            continue;
        }
        // Upstream's own tests of refused YAML (their test.sh expects the build to fail), a file
        // its schema refuses (`image` is required in every container), a documentation
        // fragment whose volumes are declared elsewhere (upstream: `volume volA not found`),
        // and documentation examples with placeholder tags (`linuxkit/ip:<hash>` is no
        // reference upstream can parse).
        let refused = [
            "test/cases/000_build/070_volumes/002_rw_on_ro/test.yml",
            "test/cases/000_build/091_validate_linuxkit_yaml/linuxkit.yml",
            "projects/clear-containers/clear-containers.yml",
            "docs/yaml.md (block 4)",
        ]
        .contains(&rel.as_str())
            || text.contains(":<hash>");
        out.push(Entry {
            name: format!("upstream:{rel}"),
            upstream_builds: !refused && !text.contains(STATIC_IP_BAD_LINE),
            label_refusal: false,
            text,
        });
    }
    out
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    v.sort();
    v
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn corpus() -> Vec<Entry> {
    let mut all = examples();
    all.extend(conformance());
    if let Some(src) = std::env::var_os("LINUXKIT_UPSTREAM_SRC") {
        all.extend(upstream_checkout(Path::new(&src)));
    }
    all
}

/// What `check` says of a file, one line per problem (`ok` when nothing).
fn outcome(entry: &Entry) -> Result<(Image, Vec<String>), String> {
    let image = from_yaml_str(&entry.text, &entry.name).map_err(|e| e.to_string())?;
    let problems = check(&image);
    let errors: Vec<String> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    let warnings = problems
        .iter()
        .map(|p| format!("warning {}: {}", p.path, p.message))
        .collect();
    Ok((image, warnings))
}

/// Every file upstream builds is accepted (warnings allowed), every file it refuses is
/// refused, and the list of files with their warnings matches the snapshot.
#[test]
fn upstream_accepted_files_are_accepted() {
    let upstream = std::env::var_os("LINUXKIT_UPSTREAM_SRC").is_some();
    let mut listing = BTreeMap::new();
    let mut wrong = Vec::new();
    for entry in corpus() {
        let got = outcome(&entry);
        let line = match (&got, entry.upstream_builds) {
            (Ok(_), true) if entry.label_refusal => {
                "checks clean; upstream and our build refuse its image label".to_string()
            }
            (Err(e), true) if entry.needs_docker() && e.contains("@pkg:") => {
                format!("refused (upstream builds its @pkg: templates with Docker): {e}")
            }
            (Ok((_, w)), true) if w.is_empty() => "builds: ok".to_string(),
            (Ok((_, w)), true) => format!("builds: {}", w.join(" | ")),
            (Err(e), false) => format!("refused (as upstream): {e}"),
            (Ok(_), false) => {
                wrong.push(format!("{}: upstream refuses it, we accept it", entry.name));
                "ACCEPTED, upstream refuses".into()
            }
            (Err(e), true) => {
                wrong.push(format!(
                    "{}: upstream builds it, we refuse it: {e}",
                    entry.name
                ));
                format!("REFUSED, upstream builds it: {e}")
            }
        };
        listing.insert(entry.name, line);
    }
    let text: String = listing
        .iter()
        .map(|(name, line)| format!("{name}\n    {line}\n"))
        .collect();
    println!("{text}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let snapshot = root().join(if upstream {
        "tests/snapshots/yaml_corpus_upstream.txt"
    } else {
        "tests/snapshots/yaml_corpus.txt"
    });
    if std::env::var_os("LINUXKIT_BLESS").is_some() {
        std::fs::write(&snapshot, &text).unwrap();
    }
    let pinned = std::fs::read_to_string(&snapshot).unwrap_or_default();
    assert!(
        pinned == text,
        "what the corpus gives differs from {} (LINUXKIT_BLESS=1 rewrites it after an intended change):\n{}",
        snapshot.display(),
        diff(&pinned, &text)
    );
}

fn diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut out = String::new();
    for l in &old {
        if !new.contains(l) {
            out.push_str(&format!("- {l}\n"));
        }
    }
    for l in &new {
        if !old.contains(l) {
            out.push_str(&format!("+ {l}\n"));
        }
    }
    out
}

/// `export` (the YAML writer) gives back a file that means the same.
#[test]
fn export_means_the_same() {
    for entry in corpus().into_iter().filter(Entry::accepted) {
        let image = from_yaml_str(&entry.text, &entry.name).unwrap_or_else(|e| panic!("{e}"));
        let yaml = to_yaml_string(&image).unwrap();
        let back = from_yaml_str(&yaml, &entry.name).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(
            back, image,
            "{}: export changed the meaning:\n{yaml}",
            entry.name
        );
    }
}

/// `import` (the code generator) of every accepted file, plus one image that sets every field,
/// compiled in one crate outside the workspace and run: the same models come back.
#[test]
fn import_into_a_crate_outside_the_workspace_means_the_same() {
    let mut names = Vec::new();
    let mut models = Vec::new();
    for entry in corpus().into_iter().filter(Entry::accepted) {
        let image = from_yaml_str(&entry.text, &entry.name).unwrap_or_else(|e| panic!("{e}"));
        names.push(entry.name);
        models.push(image);
    }
    names.push("every-field".into());
    models.push(from_yaml_str(EVERY_FIELD, "every-field.yml").unwrap_or_else(|e| panic!("{e}")));
    // Unique function names, in order.
    let fns: Vec<String> = (0..names.len()).map(|i| format!("image_{i}")).collect();

    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path();
    let dsl = root().join("linuxkit-dsl");
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"lk-corpus-import\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nlinuxkit-dsl = {{ path = {:?} }}\n\n[workspace]\n\n\
             [profile.dev.package.\"*\"]\nopt-level = 1\n",
            dsl.display().to_string()
        ),
    )
    .unwrap();
    // The workspace's lock file pins the same versions, so the shared target dir is reused.
    std::fs::copy(root().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    std::fs::create_dir(crate_dir.join("src")).unwrap();
    let mut main = String::from("#![allow(unused_imports)]\nuse linuxkit_dsl::*;\n\n");
    for (f, model) in fns.iter().zip(&models) {
        main.push_str(&codegen::to_rust_function(model, f));
        main.push('\n');
    }
    main.push_str(&format!("linuxkit_dsl::main!({});\n", fns.join(", ")));
    std::fs::write(crate_dir.join("src/main.rs"), &main).unwrap();

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
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
    let run = Command::new(target.join("debug/lk-corpus-import"))
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
        assert_eq!(&def.image, model, "{name}: YAML -> Rust -> model differs");
        assert!(
            def.locations.get("services[0]").is_some() || model.services.is_empty(),
            "{name}: no source location for services[0]"
        );
    }
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
