//! Shared helpers of the `cli_*` end-to-end tests: the `cargo-linuxkit` binary, built once
//! with cargo, and paths to the shared test data.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (this package's manifest directory).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` next to the workspace root.
pub fn shared() -> PathBuf {
    workspace_root()
        .parent()
        .expect("workspace root has a parent")
        .join("shared")
}

/// Path of the `cargo-linuxkit` binary, built with `cargo build -p cargo-linuxkit` on first use
/// (a dev-dependency's binaries are not built for another package's tests).
pub fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "cargo-linuxkit",
                "--bin",
                "cargo-linuxkit",
                "--message-format=json",
            ])
            .current_dir(workspace_root())
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "cargo build -p cargo-linuxkit failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"]["name"] == "cargo-linuxkit")
            .filter_map(|v| v["executable"].as_str().map(PathBuf::from))
            .next_back()
            .expect("cargo reported the cargo-linuxkit executable")
    })
}

/// `cargo-linuxkit ARGS` in `dir` with stdin closed, ready to run.
pub fn cmd_in(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("LINUXKIT_MIRROR")
        .env_remove("LINUXKIT_CACHE")
        .env_remove("LINUXKIT_DENY_WARNINGS");
    c
}

/// Runs `cargo-linuxkit ARGS` in `dir` with stdin closed.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    cmd_in(dir, args).output().expect("cargo-linuxkit runs")
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A cache populated with `cache import` of every conformance fixture image.
pub fn conformance_cache(dir: &Path) -> PathBuf {
    let cache = dir.join("cache");
    let images = shared().join("conformance/images");
    let mut args: Vec<String> = vec![
        "--cache".into(),
        cache.display().to_string(),
        "cache".into(),
        "import".into(),
    ];
    let mut names: Vec<PathBuf> = std::fs::read_dir(&images)
        .expect("conformance images")
        .map(|e| e.expect("dir entry").path())
        .collect();
    names.sort();
    args.extend(names.iter().map(|p| p.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_in(dir, &refs);
    assert!(o.status.success(), "cache import failed: {:?}", text(&o));
    cache
}

/// The sha256 hex of a file (with the `sha256sum` tool: the root package has no hash crate).
pub fn sha256(path: &Path) -> String {
    let o = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The Debian `docker-registry` binary (installed by scripts/setup).
pub const REGISTRY: &str = "/usr/bin/docker-registry";

/// A `docker-registry` process, killed on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a Debian `docker-registry` on a free loopback port, storing its data under `dir`.
pub fn start_registry(dir: &Path) -> Registry {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        ),
    )
    .expect("registry config");
    let child = Command::new(REGISTRY)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "docker-registry did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Registry { child, addr }
}

/// The contents of the entry `name` of the tar file `tar` (read in memory, never extracted).
pub fn tar_entry(tar: &Path, name: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut a = tar::Archive::new(std::fs::File::open(tar).ok()?);
    for e in a.entries().ok()? {
        let mut e = e.ok()?;
        if e.path_bytes().as_ref() == name.as_bytes() {
            let mut data = Vec::new();
            e.read_to_end(&mut data).ok()?;
            return Some(data);
        }
    }
    None
}

/// `pyspdxtools` (PyPI `spdx-tools`, installed by scripts/setup into `~/.local/bin`), as a
/// test prerequisite.
pub fn pyspdxtools() -> Option<PathBuf> {
    let found = linuxkit_testing::on_path("pyspdxtools").or_else(|| {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".local/bin/pyspdxtools"))
            .filter(|p| p.is_file())
    });
    linuxkit_testing::prerequisite(
        found.is_some(),
        "pyspdxtools",
        "./scripts/setup (pip install --user spdx-tools)",
    )
    .then(|| found.unwrap_or_default())
}

/// Validates the SPDX document `doc` with `pyspdxtools -i` (SPDX 2.3 schema and semantics);
/// `None` when the tool is missing outside CI, else its verdict with its output.
pub fn validate_spdx(doc: &[u8]) -> Option<Result<(), String>> {
    let tool = pyspdxtools()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sbom.spdx.json");
    std::fs::write(&file, doc).expect("write sbom");
    let o = Command::new(tool)
        .arg("-i")
        .arg(&file)
        .output()
        .expect("pyspdxtools runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Some(if o.status.success() && !out.contains("ERROR") {
        Ok(())
    } else {
        Err(out)
    })
}

/// Writes `<dir>/<name>.yml`, a system of the host's kernel (with `modules`) and our init whose
/// one service, a busybox copied from the host into `<dir>/svc`, runs `sh -c SCRIPT` with the
/// right to signal init (`kill -USR2 1` powers off). Returns the YAML path.
pub fn busybox_system(dir: &Path, name: &str, modules: &str, script: &str) -> PathBuf {
    let svc = dir.join("svc");
    std::fs::create_dir_all(svc.join("bin")).expect("create svc/bin");
    std::fs::copy("/bin/busybox", svc.join("bin/busybox"))
        .expect("copy /bin/busybox (apt-get install busybox-static)");
    let yaml = format!(
        r#"kernel:
  image: kernel:host?modules={modules}
  cmdline: "console=ttyS0 panic=-1"
init:
  - init:linuxkit-init
services:
  - name: marker
    image: dir:{svc}
    pid: host
    env: ["PATH=/bin"]
    capabilities: [CAP_KILL]
    command: ["/bin/busybox", "sh", "-c", "{script}"]
"#,
        svc = svc.display()
    );
    let path = dir.join(format!("{name}.yml"));
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// `cargo-linuxkit run` under TCG with 512 MiB, `--networking networking`, QEMU stopped after
/// `timeout_s` when given, its state in `state`; the image and I/O are the caller's.
pub fn run_tcg(state: &Path, networking: &str, timeout_s: Option<u32>) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["run", "--accel", "tcg", "--mem", "512"])
        .args(["--networking", networking]);
    if let Some(t) = timeout_s {
        cmd.args(["--timeout", &t.to_string()]);
    }
    cmd.arg("--state").arg(state);
    cmd
}
