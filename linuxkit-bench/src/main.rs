//! `linuxkit-bench`: how the cost of `cargo linuxkit build` grows with the size of a definition.
//!
//! It writes a synthetic LinuxKit definition — a kernel image, an init image and `--services`
//! service images, `--rootfs-mb` MiB of root filesystem in all, in deterministic pseudo-random
//! content that compresses about 2:1 like binaries do — as OCI layouts, then runs the
//! `cargo-linuxkit` binary stage by stage, each stage a process of its own, and prints the wall
//! time and the peak resident memory (`ru_maxrss` from `wait4`) of every stage:
//!
//! | stage | what it does |
//! |---|---|
//! | `import` | `cache import` of every layout into a fresh cache (resolution input) |
//! | `tar` | `build --format tar` into an empty directory |
//! | `tar, no change` | the same build again (only checks) |
//! | `kernel+initrd` | `build --format kernel+initrd` into an empty directory |
//! | `kernel+initrd, no change` | the same again |
//! | `kernel+initrd, new dir` | the same images, another empty directory (member cache warm) |
//! | `kernel+initrd, 1 service changed` | one service image re-imported with new content, rebuilt in place |
//! | `kernel+initrd zstd` | `--compression zstd` into an empty directory (no zstd piece cached yet) |
//! | `kernel+initrd zstd, new dir` | the same again into another empty directory (pieces cached) |
//! | `push to registry` | images and a build with `--cache-to` to a loopback `docker-registry` |
//! | `fresh machine, no build cache` | an empty image cache: images pulled, every piece compressed |
//! | `fresh machine, warm registry` | an empty image cache with `--cache-from`: pieces fetched |
//! | `fresh machine, warm registry, zstd` | the same with zstd pieces |
//!
//! The registry stages need Debian's `docker-registry` (skipped without it, or with
//! `--no-registry`). With `--edit-loop`, it also measures the edit-compile-boot loop of a Rust
//! service: a package made by `cargo linuxkit new` (host kernel, the embedded init, one
//! `cargo:` service), its service's source edited, then `build` (the static binary and the
//! image) and `run` under TCG until the service's first line is on the console.
//!
//! Usage (release builds; the benchmark finds `cargo-linuxkit` next to itself):
//!
//! ```text
//! cargo build --release -p cargo-linuxkit -p linuxkit-bench
//! target/release/linuxkit-bench --services 3 --rootfs-mb 128 --runs 3
//! target/release/linuxkit-bench --sweep 32,128,512
//! ```

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use linuxkit_local::{write_image, ImageConfig, Layer};
use linuxkit_oci::store::Platform;

/// Command-line settings.
#[derive(Debug, Clone)]
struct Settings {
    services: usize,
    rootfs_mb: Vec<u64>,
    runs: usize,
    cli: PathBuf,
    keep: Option<PathBuf>,
    registry: bool,
    edit_loop: bool,
    dsl: PathBuf,
}

const USAGE: &str = "usage: linuxkit-bench [--services N] [--rootfs-mb MB | --sweep MB,MB,...] [--runs N] [--cli PATH] [--keep DIR] [--no-registry] [--edit-loop] [--dsl-path DIR]";

/// Debian's registry, for the registry stages.
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

fn parse_args() -> Result<Settings, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut s = Settings {
        services: 3,
        rootfs_mb: vec![128],
        runs: 1,
        cli: exe.with_file_name("cargo-linuxkit"),
        keep: None,
        registry: Path::new(REGISTRY_BIN).exists(),
        edit_loop: false,
        dsl: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .join("linuxkit-dsl"),
    };
    let mut args = std::env::args_os().skip(1);
    let value = |args: &mut dyn Iterator<Item = OsString>, flag: &str| {
        args.next()
            .map(|v| v.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
    };
    let number = |v: &str, flag: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("{flag}: {v:?} is not a number\n{USAGE}"))
    };
    while let Some(a) = args.next() {
        match a.to_string_lossy().as_ref() {
            "--services" => {
                s.services = number(&value(&mut args, "--services")?, "--services")? as usize
            }
            "--rootfs-mb" => {
                s.rootfs_mb = vec![number(&value(&mut args, "--rootfs-mb")?, "--rootfs-mb")?]
            }
            "--sweep" => {
                s.rootfs_mb = value(&mut args, "--sweep")?
                    .split(',')
                    .map(|v| number(v.trim(), "--sweep"))
                    .collect::<Result<_, _>>()?
            }
            "--runs" => s.runs = number(&value(&mut args, "--runs")?, "--runs")?.max(1) as usize,
            "--cli" => s.cli = PathBuf::from(value(&mut args, "--cli")?),
            "--keep" => s.keep = Some(PathBuf::from(value(&mut args, "--keep")?)),
            "--no-registry" => s.registry = false,
            "--edit-loop" => s.edit_loop = true,
            "--dsl-path" => s.dsl = PathBuf::from(value(&mut args, "--dsl-path")?),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if s.services == 0 {
        return Err("--services must be at least 1".into());
    }
    if !s.cli.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p cargo-linuxkit` or pass --cli PATH",
            s.cli.display()
        ));
    }
    Ok(s)
}

fn main() -> ExitCode {
    // The input is generated by a child process, so the memory that takes is not counted in
    // the stages (a child inherits its parent's peak RSS until exec).
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() == 6 && args[1] == "--generate-into" {
        let n = |i: usize| args[i].to_string_lossy().parse::<u64>().unwrap_or(0);
        return match generate(Path::new(&args[2]), n(3) as usize, n(4), n(5)) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("linuxkit-bench: generating the input: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("linuxkit-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One measured stage.
#[derive(Debug, Clone)]
struct Sample {
    stage: &'static str,
    wall: Duration,
    max_rss_kib: u64,
}

fn run(s: &Settings) -> Result<(), String> {
    let mut report = String::new();
    for &mb in &s.rootfs_mb {
        let mut runs: Vec<Vec<Sample>> = Vec::new();
        let mut sizes = String::new();
        for run in 0..s.runs {
            let tmp = tempfile::Builder::new()
                .prefix("linuxkit-bench")
                .tempdir()
                .map_err(|e| format!("temporary directory: {e}"))?;
            let work = match &s.keep {
                Some(k) => {
                    let d = k.join(format!("{mb}mb-run{run}"));
                    let _ = fs::remove_dir_all(&d);
                    fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                    d
                }
                None => tmp.path().to_path_buf(),
            };
            let def = generate_in_child(&work, s.services, mb << 20, 0)?;
            runs.push(measure(s, &work, &def, mb)?);
            if run == 0 {
                sizes = output_sizes(&work)?;
            }
        }
        let _ = writeln!(
            report,
            "\n## {} services, {mb} MiB root filesystem ({} run{})\n\n{sizes}\n| stage | wall (median) | peak RSS (max) |\n|---|---|---|",
            s.services,
            s.runs,
            if s.runs == 1 { "" } else { "s" }
        );
        for (i, first) in runs[0].iter().enumerate() {
            let mut walls: Vec<Duration> = runs.iter().map(|r| r[i].wall).collect();
            walls.sort();
            let rss = runs.iter().map(|r| r[i].max_rss_kib).max().unwrap_or(0);
            let _ = writeln!(
                report,
                "| {} | {:.3} s | {:.1} MiB |",
                first.stage,
                walls[walls.len() / 2].as_secs_f64(),
                rss as f64 / 1024.0
            );
        }
    }
    if s.edit_loop {
        report.push_str(&edit_loop(s)?);
    }
    println!("{report}");
    Ok(())
}

/// The synthetic definition on disk.
struct Definition {
    yaml: PathBuf,
    layouts: Vec<PathBuf>,
}

fn measure(s: &Settings, work: &Path, def: &Definition, mb: u64) -> Result<Vec<Sample>, String> {
    let cache = work.join("cache");
    let yml = def.yaml.as_os_str();
    let mut out = Vec::new();
    let mut import: Vec<OsString> = vec!["cache".into(), "import".into()];
    import.extend(def.layouts.iter().map(|p| p.clone().into_os_string()));
    out.push(stage(s, &cache, "import", &import)?);
    let build = |format: &str, dir: &str| -> Vec<OsString> {
        vec![
            "build".into(),
            "--format".into(),
            format.into(),
            "--dir".into(),
            work.join(dir).into_os_string(),
            yml.to_os_string(),
        ]
    };
    out.push(stage(s, &cache, "tar", &build("tar", "out-tar"))?);
    out.push(stage(
        s,
        &cache,
        "tar, no change",
        &build("tar", "out-tar"),
    )?);
    let ki = build("kernel+initrd", "out-ki");
    out.push(stage(s, &cache, "kernel+initrd", &ki)?);
    out.push(stage(s, &cache, "kernel+initrd, no change", &ki)?);
    out.push(stage(
        s,
        &cache,
        "kernel+initrd, new dir",
        &build("kernel+initrd", "out-ki2"),
    )?);
    // One service gets new content under the same reference.
    let changed = generate_in_child(&work.join("changed"), s.services, mb << 20, 1)?;
    let svc = changed
        .layouts
        .iter()
        .find(|p| p.ends_with("svc-0"))
        .ok_or("no svc-0 layout")?;
    let reimport: Vec<OsString> = vec!["cache".into(), "import".into(), svc.clone().into()];
    stage(s, &cache, "re-import", &reimport)?;
    out.push(stage(s, &cache, "kernel+initrd, 1 service changed", &ki)?);
    // zstd: no zstd piece is cached yet, then all are.
    let zstd = |dir: &str| -> Vec<OsString> {
        let mut a = build("kernel+initrd", dir);
        a.insert(1, "--compression".into());
        a.insert(2, "zstd".into());
        a
    };
    out.push(stage(s, &cache, "kernel+initrd zstd", &zstd("out-z"))?);
    out.push(stage(
        s,
        &cache,
        "kernel+initrd zstd, new dir",
        &zstd("out-z2"),
    )?);
    if s.registry {
        out.extend(registry_stages(s, work, def, &cache)?);
    }
    Ok(out)
}

/// A `docker-registry` on a free loopback port, stopped on drop.
struct LoopbackRegistry {
    child: std::process::Child,
    addr: String,
}

impl Drop for LoopbackRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path) -> Result<LoopbackRegistry, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("a free port: {e}"))?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        ),
    )
    .map_err(|e| format!("{}: {e}", config.display()))?;
    let child = Command::new(REGISTRY_BIN)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{REGISTRY_BIN}: {e}"))?;
    let reg = LoopbackRegistry { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&reg.addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!("{REGISTRY_BIN} did not listen on {}", reg.addr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(reg)
}

/// The registry stages: machine A pushes the images and its build to a loopback registry;
/// fresh machines (empty image caches) build from it.
fn registry_stages(
    s: &Settings,
    work: &Path,
    def: &Definition,
    cache: &Path,
) -> Result<Vec<Sample>, String> {
    let reg = start_registry(&work.join("registry"))?;
    let yml = def.yaml.as_os_str().to_os_string();
    let mirror = format!("bench.invalid=http://{}", reg.addr);
    let repo = format!("{}/cache", reg.addr);
    let build = |dir: &str, extra: &[&str]| -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["--mirror".into(), mirror.clone().into(), "build".into()];
        a.extend(extra.iter().map(OsString::from));
        a.extend([
            "--format".into(),
            "kernel+initrd".into(),
            "--dir".into(),
            work.join(dir).into_os_string(),
            yml.clone(),
        ]);
        a
    };
    // Machine A: the images under the names the mirror maps (`bench.invalid/synthetic/x`
    // -> `<registry>/synthetic/x`), then a build that pushes its pieces.
    let start = Instant::now();
    let mut push: Vec<OsString> = vec!["cache".into(), "push".into()];
    for l in &def.layouts {
        let name = l
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        push.push(format!("bench.invalid/synthetic/{name}:v1").into());
    }
    push.extend(["--registry".into(), reg.addr.clone().into()]);
    run_cli(s, cache, &push, true)?;
    let mut out = vec![stage_online(
        s,
        cache,
        "push to registry",
        &build("out-a", &["--cache-to", &repo]),
        start,
    )?];
    run_cli(
        s,
        cache,
        &build(
            "out-a-zstd",
            &["--compression", "zstd", "--cache-to", &repo],
        ),
        true,
    )?;
    let fresh = |name: &'static str, dir: &str, extra: &[&str]| -> Result<Sample, String> {
        let c = work.join(format!("cache-{dir}"));
        let _ = fs::remove_dir_all(&c);
        stage_online(s, &c, name, &build(dir, extra), Instant::now())
    };
    out.push(fresh("fresh machine, no build cache", "fresh", &[])?);
    out.push(fresh(
        "fresh machine, warm registry",
        "warm",
        &["--cache-from", &repo],
    )?);
    out.push(fresh(
        "fresh machine, warm registry, zstd",
        "warm-zstd",
        &["--compression", "zstd", "--cache-from", &repo],
    )?);
    drop(reg);
    Ok(out)
}

/// The CLI with `args` (online when `online`), its output discarded.
fn cli(s: &Settings, cache: &Path, args: &[OsString], online: bool) -> Command {
    let mut c = Command::new(&s.cli);
    c.arg("linuxkit").arg("--quiet");
    if !online {
        c.arg("--offline");
    }
    c.arg("--cache")
        .arg(cache)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

/// Runs the CLI (online when `online`), failing on a non-zero exit.
fn run_cli(s: &Settings, cache: &Path, args: &[OsString], online: bool) -> Result<(), String> {
    let status = cli(s, cache, args, online)
        .status()
        .map_err(|e| format!("{}: {e}", s.cli.display()))?;
    if !status.success() {
        return Err(format!("{args:?} failed ({status})"));
    }
    Ok(())
}

/// A measured stage that may use the network, its wall time counted from `start`.
fn stage_online(
    s: &Settings,
    cache: &Path,
    name: &'static str,
    args: &[OsString],
    start: Instant,
) -> Result<Sample, String> {
    timed_cli(s, cache, name, args, true, start)
}

/// Runs the CLI with `args` and returns its wall time from `start` and its peak RSS.
fn timed_cli(
    s: &Settings,
    cache: &Path,
    name: &'static str,
    args: &[OsString],
    online: bool,
    start: Instant,
) -> Result<Sample, String> {
    let child = cli(s, cache, args, online)
        .spawn()
        .map_err(|e| format!("{}: {e}", s.cli.display()))?;
    let (status, rusage) = wait4(child.id())?;
    let wall = start.elapsed();
    if !status.success() {
        return Err(format!("stage {name:?} failed ({status})"));
    }
    Ok(Sample {
        stage: name,
        wall,
        max_rss_kib: rusage.ru_maxrss.max(0) as u64,
    })
}

/// The edit-compile-boot loop of a Rust service (see the crate docs): a warm-up, then `runs`
/// edits, each timed from the edit to the service's first console line, split into `build`
/// and `run` (boot under TCG until that line).
fn edit_loop(s: &Settings) -> Result<String, String> {
    let tmp = tempfile::Builder::new()
        .prefix("linuxkit-bench-edit")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let pkg = tmp.path().join("editloop");
    let cache = tmp.path().join("cache");
    let cli = |dir: &Path, args: &[&OsStr]| -> Result<(), String> {
        let status = Command::new(&s.cli)
            .arg("linuxkit")
            .arg("--quiet")
            .arg("--cache")
            .arg(&cache)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .map_err(|e| format!("{}: {e}", s.cli.display()))?;
        if !status.success() {
            return Err(format!("cargo linuxkit {args:?} failed ({status})"));
        }
        Ok(())
    };
    cli(
        tmp.path(),
        &[
            OsStr::new("new"),
            pkg.as_os_str(),
            OsStr::new("--dsl-path"),
            s.dsl.as_os_str(),
        ],
    )?;
    let service = pkg.join("src/bin/greeter.rs");
    let original =
        fs::read_to_string(&service).map_err(|e| format!("{}: {e}", service.display()))?;
    let mut rows = Vec::new();
    // Run 0 warms up (dependencies compiled, local images built); it is not reported.
    for run in 0..=s.runs {
        let marker = format!("edit {run} of the greeting");
        let edited = original.replacen(
            "println!(\"Hello from",
            &format!("println!(\"{marker}: Hello from"),
            1,
        );
        if edited == original {
            return Err(format!("{}: no greeting to edit", service.display()));
        }
        fs::write(&service, &edited).map_err(|e| format!("{}: {e}", service.display()))?;
        let t0 = Instant::now();
        cli(&pkg, &[OsStr::new("build")])?;
        let built = t0.elapsed();
        let prefix = pkg.join("target/linuxkit/editloop");
        let first = boot_until(s, &pkg, &cache, &prefix, &marker)?;
        if run > 0 {
            rows.push((built, first, built + first));
        }
    }
    let median = |f: fn(&(Duration, Duration, Duration)) -> Duration| {
        let mut v: Vec<Duration> = rows.iter().map(f).collect();
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    Ok(format!(
        "\n## Edit a Rust service -> its first console line (TCG, {} run{})\n\n| part | wall (median) |\n|---|---|\n| `cargo linuxkit build` (static binary, image, initrd) | {:.2} s |\n| `cargo linuxkit run --accel tcg` to the first line | {:.2} s |\n| total | {:.2} s |\n",
        s.runs,
        if s.runs == 1 { "" } else { "s" },
        median(|r| r.0),
        median(|r| r.1),
        median(|r| r.2)
    ))
}

/// Boots `prefix` with `cargo linuxkit run --accel tcg` and returns the time until a console
/// line contains `marker` (the VM is then stopped).
fn boot_until(
    s: &Settings,
    pkg: &Path,
    cache: &Path,
    prefix: &Path,
    marker: &str,
) -> Result<Duration, String> {
    use std::io::BufRead;
    let t0 = Instant::now();
    let mut child = Command::new(&s.cli)
        .arg("linuxkit")
        .arg("--quiet")
        .arg("--cache")
        .arg(cache)
        .args(["run", "--accel", "tcg", "--timeout", "120"])
        .arg(prefix)
        .current_dir(pkg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", s.cli.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut found = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line.contains(marker) {
            found = Some(t0.elapsed());
            break;
        }
    }
    // The greeter powers the machine off by itself (and `run --timeout` would stop it).
    let deadline = Instant::now() + Duration::from_secs(150);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    found.ok_or_else(|| format!("{marker:?} never appeared on the console"))
}

/// Runs the CLI offline with `args` and returns its wall time and peak RSS.
fn stage(
    s: &Settings,
    cache: &Path,
    name: &'static str,
    args: &[OsString],
) -> Result<Sample, String> {
    timed_cli(s, cache, name, args, false, Instant::now())
}

/// Waits for `pid`, returning its exit status and its own resource usage.
fn wait4(pid: u32) -> Result<(std::process::ExitStatus, libc::rusage), String> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid for writes; `pid` is our own child.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r >= 0 {
            return Ok((std::process::ExitStatus::from_raw(status), usage));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(format!("wait4: {e}"));
        }
    }
}

fn output_sizes(work: &Path) -> Result<String, String> {
    let mut s = String::new();
    for dir in ["out-tar", "out-ki"] {
        let d = work.join(dir);
        let mut names: Vec<_> = fs::read_dir(&d)
            .map_err(|e| format!("{}: {e}", d.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = write!(
                s,
                "`{}` {:.1} MiB; ",
                e.file_name().to_string_lossy(),
                len as f64 / (1 << 20) as f64
            );
        }
    }
    Ok(s.trim_end_matches("; ").to_string())
}

/// Runs [`generate`] in a child process and returns what it wrote.
fn generate_in_child(
    dir: &Path,
    services: usize,
    total: u64,
    variant: u64,
) -> Result<Definition, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let status = Command::new(exe)
        .arg("--generate-into")
        .arg(dir)
        .arg(services.to_string())
        .arg(total.to_string())
        .arg(variant.to_string())
        .status()
        .map_err(|e| format!("generating the input: {e}"))?;
    if !status.success() {
        return Err(format!("generating the input failed ({status})"));
    }
    let mut layouts: Vec<PathBuf> = fs::read_dir(dir.join("layouts"))
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    layouts.sort();
    Ok(Definition {
        yaml: dir.join("bench.yml"),
        layouts,
    })
}

/// A deterministic xorshift generator: the same seed gives the same bytes on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// `len` bytes that compress, and cost to compress, about like executables: blocks of
    /// random bytes (15%) alternate with blocks of "instructions" drawn from a vocabulary of
    /// 1024 short random tokens, frequent ones more often.
    fn content(&mut self, len: usize) -> Vec<u8> {
        let mut vocab = Rng(0x5eed_0f70_6be5);
        let tokens: Vec<Vec<u8>> = (0..1024)
            .map(|_| {
                let n = 2 + (vocab.next() % 9) as usize;
                (0..n).map(|_| vocab.next() as u8).collect()
            })
            .collect();
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            let block = (len - out.len()).min(4096);
            let end = out.len() + block;
            if self.next() % 20 < 3 {
                while out.len() < end {
                    out.extend_from_slice(&self.next().to_le_bytes());
                }
            } else {
                while out.len() < end {
                    let r = self.next();
                    // Skewed choice: the product of two uniform picks favours small indexes.
                    let i = ((r & 0x3ff) * ((r >> 10) & 0x3ff)) >> 10;
                    out.extend_from_slice(&tokens[i as usize]);
                    if r >> 60 == 0 {
                        out.extend_from_slice(&(r >> 20).to_le_bytes()[..3]);
                    }
                }
            }
            out.truncate(end);
        }
        out
    }
}

/// Writes the images and the YAML of a definition with `total` bytes of root filesystem into
/// `dir`. A non-zero `variant` writes only the first service, with other content.
fn generate(dir: &Path, services: usize, total: u64, variant: u64) -> io::Result<Definition> {
    let files = dir.join("files");
    fs::create_dir_all(&files)?;
    let platform = Platform::linux("amd64");
    let kernel_bytes = (total / 10).max(1 << 20);
    let init_bytes = total / 2;
    let svc_bytes = (total - kernel_bytes.min(total) - init_bytes).max(1 << 20) / services as u64;
    let mut layouts = Vec::new();
    let mut write = |name: &str, seed: u64, bytes: u64, kernel: bool| -> io::Result<()> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let mut layer = Layer::new();
        let src = files.join(name);
        fs::create_dir_all(&src)?;
        let add = |layer: &mut Layer, path: &str, data: Vec<u8>| -> io::Result<()> {
            let f = src.join(path.replace('/', "_"));
            fs::write(&f, data)?;
            layer.file(path, 0o755, f).map_err(io::Error::other)?;
            Ok(())
        };
        if kernel {
            // The bzImage and a modules tar, as a LinuxKit kernel image has them.
            let k = bytes * 2 / 5;
            add(&mut layer, "kernel", rng.content(k as usize))?;
            let mut modules = tar::Builder::new(Vec::new());
            let mut left = bytes - k;
            let mut i = 0;
            while left > 0 {
                let n = left.min(200 << 10);
                let data = rng.content(n as usize);
                let mut h = tar::Header::new_gnu();
                h.set_size(n);
                h.set_mode(0o644);
                h.set_mtime(linuxkit_local::DEFAULT_MTIME);
                modules.append_data(
                    &mut h,
                    format!("lib/modules/6.1.0/kernel/m{i}.ko"),
                    data.as_slice(),
                )?;
                left -= n;
                i += 1;
            }
            add(&mut layer, "kernel.tar", modules.into_inner()?)?;
        } else {
            // One large binary (60%) and many small files, as a service image has them.
            let big = bytes * 3 / 5;
            add(&mut layer, "usr/bin/main", rng.content(big as usize))?;
            let mut left = bytes - big;
            let mut i = 0;
            while left > 0 {
                let n = left.min(4096 + rng.next() % (60 << 10));
                add(
                    &mut layer,
                    &format!("usr/lib/{}/f{i}", i % 16),
                    rng.content(n as usize),
                )?;
                left -= n;
                i += 1;
            }
        }
        let reference = format!("bench.invalid/synthetic/{name}:v1");
        let out = dir.join("layouts").join(name);
        write_image(&out, &reference, &platform, &ImageConfig::default(), &layer)
            .map_err(io::Error::other)?;
        layouts.push(out);
        Ok(())
    };
    if variant == 0 {
        write("kernel", 1, kernel_bytes, true)?;
        write("init", 2, init_bytes, false)?;
        for i in 0..services {
            write(&format!("svc-{i}"), 100 + i as u64, svc_bytes, false)?;
        }
    } else {
        // Only the first service, with other content.
        write("svc-0", 100 + variant * 1000, svc_bytes, false)?;
    }
    let mut yaml = String::from(
        "kernel:\n  image: bench.invalid/synthetic/kernel:v1\n  cmdline: \"console=ttyS0\"\ninit:\n  - bench.invalid/synthetic/init:v1\nservices:\n",
    );
    for i in 0..services {
        let _ = write!(
            yaml,
            "  - name: svc-{i}\n    image: bench.invalid/synthetic/svc-{i}:v1\n    command: [\"/usr/bin/main\"]\n"
        );
    }
    let path = dir.join("bench.yml");
    fs::write(&path, yaml)?;
    Ok(Definition {
        yaml: path,
        layouts,
    })
}
