//! Shared by the `boot_*` tests: builds a bootable system from a LinuxKit YAML definition
//! with the real pipeline over local images, and boots it in QEMU capturing the console.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use linuxkit_local::busybox::{busybox_layer, host_busybox};
use linuxkit_local::image::{write_image, ImageConfig};
use linuxkit_local::init::{embedded_init, write_init_image};
use linuxkit_local::kernel::{write_kernel_image, KernelSource};
use linuxkit_oci::layout::{LayoutSet, OciLayout};
use linuxkit_oci::store::Platform;

/// The workspace root (this package's manifest directory).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Scratch space for boot tests, kept between runs (the extracted vmlinux is cached here).
pub fn cache_dir() -> PathBuf {
    let d = workspace().join("target").join("boot-tests");
    std::fs::create_dir_all(&d).expect("create target/boot-tests");
    d
}

/// QEMU, or None (the test is skipped) when it is missing and CI is unset.
pub fn qemu() -> Option<PathBuf> {
    linuxkit_testing::qemu_present()
        .then(|| linuxkit_testing::on_path("qemu-system-x86_64"))
        .flatten()
}

/// A built system ready to boot.
pub struct System {
    /// PVH vmlinux (or the bzImage when it cannot be extracted).
    pub kernel: PathBuf,
    /// The initrd.
    pub initrd: PathBuf,
    /// The kernel command line.
    pub cmdline: String,
    /// Size of the init image's binary.
    pub init_size: u64,
}

/// The references the definitions use.
pub const INIT_REF: &str = "linuxkit-local/init:test";
/// Kernel image reference.
pub const KERNEL_REF: &str = "linuxkit-local/kernel:test";
/// busybox service image reference.
pub const BUSYBOX_REF: &str = "linuxkit-local/busybox:test";

static IMAGES: OnceLock<(PathBuf, u64)> = OnceLock::new();
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Writes the embedded init, kernel and busybox images into a layout under
/// target/boot-tests (once per test process). Returns the layout and the init size.
pub fn local_images() -> (PathBuf, u64) {
    IMAGES
        .get_or_init(|| {
            let _g = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            let init = embedded_init().unwrap_or_else(|e| panic!("the embedded init: {e}"));
            let init_size = init.len() as u64;
            // One shared layout: the images are reproducible (same digests every run) and the
            // layout writer locks index.json, so concurrent test binaries can share it.
            let layout = cache_dir().join("layout");
            write_init_image(&layout, INIT_REF, init, None).expect("init image");
            let kernel = KernelSource::host()
                .expect("no /boot/vmlinuz-* with /lib/modules (apt-get install linux-image-amd64)");
            write_kernel_image(&layout, KERNEL_REF, &kernel, &["overlay", "veth"])
                .expect("kernel image");
            let bb =
                host_busybox().expect("no static /bin/busybox (apt-get install busybox-static)");
            let mut layer = busybox_layer(&bb).expect("busybox layer");
            for d in ["shared", "data", "proc", "sys", "dev", "tmp", "etc"] {
                layer.dir(d, 0o755).expect("dir");
            }
            let config = ImageConfig {
                cmd: Some(vec!["/bin/sh".into()]),
                env: Some(vec!["PATH=/bin".into()]),
                ..Default::default()
            };
            write_image(
                &layout,
                BUSYBOX_REF,
                &Platform::linux("amd64"),
                &config,
                &layer,
            )
            .expect("busybox image");
            (layout, init_size)
        })
        .clone()
}

/// Builds `definition` (LinuxKit YAML) into kernel + initrd under target/boot-tests/<name>.
/// None when the test must be skipped.
pub fn build_system(name: &str, definition: &str) -> Option<System> {
    qemu()?;
    let (layout, init_size) = local_images();
    let dir = cache_dir().join(name);
    std::fs::create_dir_all(&dir).expect("create system dir");
    let image = linuxkit_dsl::from_yaml_str(definition, &format!("{name}.yml"))
        .unwrap_or_else(|e| panic!("definition {name}: {e}"));
    let provider = LayoutSet::new(vec![OciLayout::open(&layout, true).expect("open layout")]);
    let mut opts = linuxkit_build::BuildOptions::new(Platform::linux("amd64"));
    opts.files_base = dir.clone();
    let tar_path = dir.join("rootfs.tar");
    let mut tar = std::fs::File::create(&tar_path).expect("create tar");
    linuxkit_build::build_tar(&image, &provider, &opts, &mut tar)
        .unwrap_or_else(|e| panic!("build {name}: {e}"));
    drop(tar);
    let initrd = dir.join("initrd.img");
    let mut out = std::fs::File::create(&initrd).expect("create initrd");
    let boot = linuxkit_output::tar_to_initrd(
        std::fs::File::open(&tar_path).expect("open tar"),
        &tar_path,
        &mut out,
        &initrd,
        linuxkit_output::Compression::default(),
    )
    .unwrap_or_else(|e| panic!("initrd {name}: {e}"));
    // Keep the kernel file (and so the cached vmlinux) unless its bytes change.
    let kernel = cache_dir().join("kernel");
    if std::fs::read(&kernel).ok().as_deref() != Some(boot.kernel.as_slice()) {
        std::fs::write(&kernel, &boot.kernel).expect("write kernel");
    }
    let kernel = linuxkit_run::kernel::pvh_kernel(&kernel, &cache_dir())
        .expect("extract vmlinux")
        .unwrap_or(kernel);
    Some(System {
        kernel,
        initrd,
        cmdline: boot.cmdline,
        init_size,
    })
}

/// What the serial console printed.
pub struct Console {
    /// Lines with the time since QEMU started.
    pub lines: Vec<(Duration, String)>,
    /// QEMU exited by itself (poweroff) before the timeout.
    pub exited: bool,
}

impl Console {
    /// The whole console text.
    pub fn text(&self) -> String {
        self.lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }
    /// The first line containing `s`.
    pub fn find(&self, s: &str) -> Option<&str> {
        self.lines
            .iter()
            .map(|(_, l)| l.as_str())
            .find(|l| l.contains(s))
    }
    /// When the first line containing `s` appeared.
    pub fn time_of(&self, s: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|(_, l)| l.contains(s))
            .map(|(t, _)| *t)
    }
    /// How many lines contain `s`.
    pub fn count(&self, s: &str) -> usize {
        self.lines.iter().filter(|(_, l)| l.contains(s)).count()
    }
    /// Line index of the first line containing each of `marks` (panics on a missing one).
    pub fn positions(&self, marks: &[&str]) -> Vec<usize> {
        marks
            .iter()
            .map(|m| {
                self.lines
                    .iter()
                    .position(|(_, l)| l.contains(m))
                    .unwrap_or_else(|| panic!("{m:?} not on the console:\n{}", self.text()))
            })
            .collect()
    }
}

/// The QEMU command for `kernel` + `initrd` (TCG, one CPU, serial on stdout, no devices).
pub fn qemu_command(kernel: &Path, initrd: &Path, cmdline: &str) -> Command {
    let mut c = Command::new("qemu-system-x86_64");
    c.args([
        "-accel",
        "tcg",
        "-smp",
        "1",
        "-m",
        "1024",
        "-nodefaults",
        "-no-user-config",
    ])
    .args(["-display", "none", "-serial", "stdio", "-no-reboot"])
    .arg("-kernel")
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .arg("-append")
    .arg(cmdline)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    c
}

/// Boots `system`, returning the console once QEMU exits or `timeout_s` passes (then QEMU is
/// killed and `exited` is false).
pub fn boot(system: &System, timeout_s: u64) -> Console {
    boot_with(system, timeout_s, &[])
}

/// [`boot`] with extra QEMU arguments (such as `-icount`).
pub fn boot_with(system: &System, timeout_s: u64, qemu_args: &[&str]) -> Console {
    let mut cmdline = system.cmdline.clone();
    if !cmdline.contains("console=") {
        cmdline.push_str(" console=ttyS0");
    }
    let mut cmd = qemu_command(&system.kernel, &system.initrd, &cmdline);
    cmd.args(qemu_args);
    run_qemu(cmd, timeout_s, None)
}

/// Runs QEMU, collecting console lines (through [`linuxkit_testing::Vm`]); stops early
/// (killing QEMU) when a line contains `stop_at`. The timeout is extended while the console
/// makes progress (see `linuxkit_run::console`), so a loaded machine does not cut a boot short.
pub fn run_qemu(cmd: Command, timeout_s: u64, stop_at: Option<&str>) -> Console {
    let mut vm = linuxkit_testing::Vm::spawn(cmd).expect("start qemu-system-x86_64");
    let timeout = Duration::from_secs(timeout_s);
    let exited = match stop_at {
        Some(s) => {
            let _ = vm.wait_for(s, timeout);
            false
        }
        None => vm.wait_exit(timeout).is_ok(),
    };
    vm.shutdown();
    let lines = vm.timed_console().to_vec();
    if std::env::var_os("BOOT_TEST_VERBOSE").is_some() {
        for (t, l) in &lines {
            eprintln!("[{:7.3}] {l}", t.as_secs_f64());
        }
    }
    Console { lines, exited }
}
