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
//!
//! Usage (release builds; the benchmark finds `cargo-linuxkit` next to itself):
//!
//! ```text
//! cargo build --release -p cargo-linuxkit -p linuxkit-bench
//! target/release/linuxkit-bench --services 3 --rootfs-mb 128 --runs 3
//! target/release/linuxkit-bench --sweep 32,128,512
//! ```

use std::ffi::OsString;
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
}

const USAGE: &str = "usage: linuxkit-bench [--services N] [--rootfs-mb MB | --sweep MB,MB,...] [--runs N] [--cli PATH] [--keep DIR]";

fn parse_args() -> Result<Settings, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut s = Settings {
        services: 3,
        rootfs_mb: vec![128],
        runs: 1,
        cli: exe.with_file_name("cargo-linuxkit"),
        keep: None,
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
            let def = generate(&work, s.services, mb << 20, 0)
                .map_err(|e| format!("generating the input: {e}"))?;
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
    out.push(stage(s, &cache, "tar, no change", &build("tar", "out-tar"))?);
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
    let changed = generate(&work.join("changed"), s.services, mb << 20, 1)
        .map_err(|e| format!("generating the changed service: {e}"))?;
    let svc = changed
        .layouts
        .iter()
        .find(|p| p.ends_with("svc-0"))
        .ok_or("no svc-0 layout")?;
    let reimport: Vec<OsString> = vec!["cache".into(), "import".into(), svc.clone().into()];
    stage(s, &cache, "re-import", &reimport)?;
    out.push(stage(s, &cache, "kernel+initrd, 1 service changed", &ki)?);
    Ok(out)
}

/// Runs the CLI with `args` and returns its wall time and peak RSS.
fn stage(s: &Settings, cache: &Path, name: &'static str, args: &[OsString]) -> Result<Sample, String> {
    let start = Instant::now();
    let child = Command::new(&s.cli)
        .arg("linuxkit")
        .arg("--quiet")
        .arg("--offline")
        .arg("--cache")
        .arg(cache)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
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

    /// `len` bytes that compress about 2:1: blocks of random bytes alternate with blocks
    /// drawn from a four-symbol alphabet.
    fn content(&mut self, len: usize) -> Vec<u8> {
        const ALPHABET: [u8; 4] = *b"\0\x01\x48\x8b";
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let block = (len - out.len()).min(4096);
            let random = self.next() % 10 < 3;
            let mut word = 0u64;
            for i in 0..block {
                if i % 8 == 0 {
                    word = self.next();
                }
                let b = (word >> ((i % 8) * 8)) as u8;
                out.push(if random { b } else { ALPHABET[(b & 3) as usize] });
            }
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
