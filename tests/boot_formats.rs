//! Every bootable LinuxKit output format, built by `cargo linuxkit build` and booted by
//! `cargo linuxkit run --accel tcg` until a service prints its marker and the guest powers off.
//!
//! One small image (Debian's kernel through `kernel:host` with the disk and CD-ROM modules,
//! this workspace's `linuxkit-init`, and a busybox service from a `dir:` source that prints a
//! marker with the kernel command line and asks PID 1 to power off) is assembled once and
//! written in every format by three builds: formats that share a file name (`kernel+iso` and
//! `iso-bios` both write `<name>.iso`; `vhd` and `dynamic-vhd` both write `<name>.vhd`;
//! `kernel+initrd`, `kernel+squashfs`, `kernel+iso` and `kernel+erofs` share `<name>-kernel`) go to separate
//! directories. The boots are split over a few tests so that the test harness runs two VMs at a
//! time. Another test builds every format twice and compares the bytes.
//!
//! Needs qemu-system-x86, ovmf, linux-image-amd64, busybox-static, systemd-boot-efi, isolinux,
//! syslinux, mtools, qemu-utils (all installed by `scripts/setup`). Skipped only when CI is
//! unset and QEMU is missing.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cli_support::{busybox_system, run_in, run_tcg, text, workspace_root};
use linuxkit_testing::qemu_present;

const MARKER: &str = "BOOT-FORMATS-MARKER";

/// The build directories: `a` (most formats), `b` (`kernel+squashfs`, `dynamic-vhd`), `c`
/// (`kernel+iso`), with the formats each holds.
const BUILDS: [(&str, &str); 4] = [
    (
        "a",
        "kernel+initrd,iso-bios,iso-efi,iso-efi-initrd,raw-bios,raw-efi,qcow2-bios,qcow2-efi,vhd,vmdk,gcp,aws",
    ),
    ("b", "kernel+squashfs,dynamic-vhd"),
    ("c", "kernel+iso"),
    ("d", "kernel+erofs"),
];

/// What boots each format: the path given to `cargo linuxkit run` (relative to the fixture
/// directory), the root device the kernel command line must name, if any, and how
/// `cargo linuxkit run` must describe the boot path it detected.
type Boot = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);
/// Every bootable format.
const BOOTS: [Boot; 16] = [
    ("kernel+initrd", "a/fmt", None, "kernel+initrd"),
    (
        "kernel+erofs",
        "d/fmt",
        Some("root=/dev/sda"),
        "kernel+erofs",
    ),
    (
        "kernel+squashfs",
        "b/fmt",
        Some("root=/dev/sda"),
        "kernel+squashfs",
    ),
    ("kernel+iso", "c/fmt", Some("root=/dev/sr0"), "kernel+iso"),
    ("iso-bios", "a/fmt.iso", Some("root=/dev/sr0"), "CD-ROM"),
    (
        "iso-efi",
        "a/fmt-efi.iso",
        Some("root=/dev/sr0"),
        "CD-ROM, UEFI",
    ),
    (
        "iso-efi-initrd",
        "a/fmt-efi-initrd.iso",
        None,
        "CD-ROM, UEFI",
    ),
    ("raw-bios", "a/fmt-bios.img", None, "raw disk"),
    ("raw-efi", "a/fmt-efi.img", None, "raw disk, UEFI"),
    ("qcow2-bios", "a/fmt.qcow2", None, "qcow2 disk"),
    ("qcow2-efi", "a/fmt-efi.qcow2", None, "qcow2 disk, UEFI"),
    ("vhd", "a/fmt.vhd", None, "vpc disk"),
    ("dynamic-vhd", "b/fmt.vhd", None, "vpc disk"),
    ("vmdk", "a/fmt.vmdk", None, "vmdk disk"),
    ("gcp", "a/fmt.img.tar.gz", None, "gcp disk.raw"),
    ("aws", "a/fmt.raw", None, "raw disk"),
];

/// Writes the definition and its service directory under `dir`; returns the YAML path.
fn write_definition(dir: &Path) -> PathBuf {
    busybox_system(
        dir,
        "fmt",
        "overlay,ahci,sd_mod,sr_mod,isofs,squashfs,erofs,crc32c_generic",
        &format!("echo {MARKER} $(/bin/busybox cat /proc/cmdline); kill -USR2 1"),
    )
}

/// Builds the formats of [`BUILDS`] twice, into `<dir>/<sub>` and `<dir>/<sub>-again`, each
/// pair back to back.
fn build_all(dir: &Path, yaml: &Path) {
    for ((sub, formats), suffix) in BUILDS.iter().flat_map(|b| [(*b, ""), (*b, "-again")]) {
        let out = dir.join(format!("{sub}{suffix}"));
        let o = run_in(
            &workspace_root(),
            &[
                "build",
                "--offline",
                "--dir",
                &out.display().to_string(),
                "--format",
                formats,
                &yaml.display().to_string(),
            ],
        );
        assert!(o.status.success(), "build {formats}: {:?}", text(&o));
    }
}

/// Every format built twice, compared before anything boots.
struct Fixture {
    /// The first build's directories are under this.
    dir: PathBuf,
    /// Files of the second build compared with the first's.
    compared: usize,
    /// Files that differ.
    differ: Vec<String>,
}

/// The fixture with every format built (None: skip).
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            if !qemu_present() {
                return None;
            }
            let dir = workspace_root().join("target").join("boot-formats");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create target/boot-formats");
            let yaml = write_definition(&dir);
            let t = Instant::now();
            build_all(&dir, &yaml);
            eprintln!(
                "built every format twice in {:.1}s",
                t.elapsed().as_secs_f64()
            );
            // Compared before any VM opens the disks.
            let (compared, differ) = compare_builds(&dir);
            Some(Fixture {
                dir,
                compared,
                differ,
            })
        })
        .as_ref()
}

/// Compares every file of each `<sub>-again` directory with the first build's.
fn compare_builds(dir: &Path) -> (usize, Vec<String>) {
    let mut compared = 0;
    let mut differ = Vec::new();
    for (sub, _) in BUILDS {
        let again = dir.join(format!("{sub}-again"));
        let mut names: Vec<String> = std::fs::read_dir(&again)
            .expect("read build dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        for n in names {
            compared += 1;
            if !same_bytes(&dir.join(sub).join(&n), &again.join(&n)) {
                differ.push(format!("{sub}/{n}"));
            }
        }
    }
    (compared, differ)
}

/// Size in bytes of the files a format wrote (what it allocates on disk, for sparse ones, in
/// the second field).
fn sizes(paths: &[PathBuf]) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .fold((0, 0), |(l, b), m| (l + m.len(), b + m.blocks() * 512))
}

/// The files `format` wrote: the boot path itself, or for the `kernel+*` formats the files
/// next to the prefix.
fn files_of(dir: &Path, format: &str, path: &str) -> Vec<PathBuf> {
    let suffixes: &[&str] = match format {
        "kernel+initrd" => &["-kernel", "-cmdline", "-initrd.img"],
        "kernel+squashfs" => &[
            "-kernel",
            "-cmdline",
            "-squashfs.img",
            "-squashfs-initrd.img",
        ],
        "kernel+iso" => &["-kernel", "-cmdline", ".iso", "-iso-initrd.img"],
        "kernel+erofs" => &["-kernel", "-cmdline", "-erofs.img", "-erofs-initrd.img"],
        _ => &[""],
    };
    suffixes
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", dir.join(path).display())))
        .filter(|f| f.is_file())
        .collect()
}

/// Boots `format` through `cargo linuxkit run`; checks the marker, the root device on the
/// command line, and a clean poweroff. Returns the time from start to the marker.
fn boot(dir: &Path, format: &str) -> Duration {
    let (_, path, root, describe) = BOOTS.iter().find(|b| b.0 == format).expect("known format");
    let state = dir.join(format!("state-{format}"));
    let start = Instant::now();
    let mut cmd = run_tcg(&state, "none", Some(240));
    cmd.arg(dir.join(path))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let mut vm = linuxkit_testing::Vm::spawn(cmd).expect("cargo-linuxkit run starts");
    let marker = vm.wait_for(MARKER, Duration::from_secs(240));
    let marker_at = start.elapsed();
    let status = vm.wait_exit(Duration::from_secs(120));
    vm.shutdown();
    let err = vm.stderr().to_string();
    let console = vm.console_text();
    let tail: String = {
        let lines: Vec<&str> = console.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    let marker_line = match marker {
        Ok(line) => line,
        Err(e) => panic!("{format}: no marker from the service: {e}\nstderr: {err}"),
    };
    let status = status.unwrap_or_else(|e| panic!("{format}: {e}\nstderr: {err}"));
    if let Some(root) = root {
        assert!(
            marker_line.contains(root),
            "{format}: the kernel command line names {root}: {marker_line}"
        );
    }
    assert_eq!(status.code(), Some(0), "{format}: {err}\n{tail}");
    assert!(err.contains("guest powered off"), "{format}: {err}");
    assert!(
        err.contains(&format!("({describe}, tcg")),
        "{format} is booted as {describe}: {err}"
    );
    assert!(
        !console.contains("Kernel panic"),
        "{format}: the guest panicked\n{tail}"
    );
    marker_at
}

/// Boots each format in turn and prints its size and time to the marker.
fn boot_group(formats: &[&str]) {
    let Some(fixture) = fixture() else { return };
    let dir = fixture.dir.as_path();
    for f in formats {
        let path = BOOTS
            .iter()
            .find(|b| b.0 == *f)
            .map(|b| b.1)
            .expect("known format");
        let (len, alloc) = sizes(&files_of(dir, f, path));
        let t = boot(dir, f);
        eprintln!(
            "FORMAT {f:<16} {:>8.1} MiB ({:>6.1} MiB allocated)  marker after {:>5.1}s",
            len as f64 / 1048576.0,
            alloc as f64 / 1048576.0,
            t.as_secs_f64()
        );
    }
}

#[test]
fn boots_kernel_formats() {
    boot_group(&[
        "kernel+initrd",
        "kernel+squashfs",
        "kernel+iso",
        "kernel+erofs",
    ]);
}

#[test]
fn boots_bios_disks() {
    boot_group(&["raw-bios", "qcow2-bios", "aws", "gcp"]);
}

#[test]
fn boots_converted_disks() {
    boot_group(&["vhd", "dynamic-vhd", "vmdk"]);
}

#[test]
fn boots_isos() {
    boot_group(&["iso-bios", "iso-efi", "iso-efi-initrd"]);
}

#[test]
fn boots_efi_disks() {
    boot_group(&["raw-efi", "qcow2-efi"]);
}

/// Two builds of every format are byte-identical.
#[test]
fn every_format_builds_reproducibly() {
    let Some(f) = fixture() else { return };
    assert!(
        f.differ.is_empty(),
        "differ between two builds: {:?}",
        f.differ
    );
    // Every format's main file, plus kernels, cmdlines and initrds.
    assert!(f.compared >= 20, "compared only {} files", f.compared);
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    let (Ok(fa), Ok(fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    if fa.metadata().map(|m| m.len()).ok() != fb.metadata().map(|m| m.len()).ok() {
        return false;
    }
    let (mut ra, mut rb) = (
        BufReader::with_capacity(1 << 20, fa),
        BufReader::with_capacity(1 << 20, fb),
    );
    loop {
        let (ba, bb) = match (ra.fill_buf(), rb.fill_buf()) {
            (Ok(x), Ok(y)) => (x.to_vec(), y.to_vec()),
            _ => return false,
        };
        if ba.is_empty() || bb.is_empty() {
            return ba.is_empty() && bb.is_empty();
        }
        let n = ba.len().min(bb.len());
        if ba[..n] != bb[..n] {
            return false;
        }
        ra.consume(n);
        rb.consume(n);
    }
}
