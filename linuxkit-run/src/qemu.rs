//! The QEMU machine: preparing a [`VmPlan`] (state directory, disks, firmware, PVH kernel), the
//! command line (a pure function of the plan's inputs), and running it under supervision.
//!
//! Supervision: SIGINT/SIGTERM/SIGHUP received while the VM runs are turned into a clean QEMU
//! quit (SIGTERM to QEMU, SIGKILL after a grace period), the terminal's settings are restored
//! afterwards (QEMU puts it in raw mode), and `--timeout` stops the VM the same way. The guest's
//! poweroff is QEMU exiting 0 (`-no-reboot` turns a reboot into an exit as well); a guest can
//! report a status through `isa-debug-exit` at port 0xf4 (QEMU exits with `value << 1 | 1`).

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::accel::{self, Chosen};
use crate::error::RunError;
use crate::kernel;
use crate::options::{Accel, DiskSpec, Networking, PortForward, Protocol, RunOptions};
use crate::target::{BootMode, BootTarget};

const OVMF_CODE: &[&str] = &[
    "/usr/share/OVMF/OVMF_CODE_4M.fd",
    "/usr/share/OVMF/OVMF_CODE.fd",
    "/usr/share/ovmf/OVMF.fd",
];

/// UEFI firmware of arm64 guests (Debian `qemu-efi-aarch64`: AAVMF, 64 MiB pflash images).
const AAVMF_CODE: &[&str] = &["/usr/share/AAVMF/AAVMF_CODE.fd"];

/// The QEMU system emulator, the Debian package that ships it, and the firmware (files and
/// package) for a guest of OCI architecture `arch`.
fn machine_for(
    arch: &str,
) -> (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
) {
    match arch {
        "arm64" => (
            "qemu-system-aarch64",
            "qemu-system-arm",
            AAVMF_CODE,
            "qemu-efi-aarch64",
        ),
        "s390x" => ("qemu-system-s390x", "qemu-system-misc", &[], "qemu-efi"),
        "riscv64" => ("qemu-system-riscv64", "qemu-system-misc", &[], "qemu-efi"),
        _ => ("qemu-system-x86_64", "qemu-system-x86", OVMF_CODE, "ovmf"),
    }
}

/// How the guest's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestStatus {
    /// The guest powered off (or rebooted, which `-no-reboot` turns into an exit).
    PoweredOff,
    /// The guest wrote `code` to the `isa-debug-exit` port.
    DebugExit(u32),
    /// QEMU itself failed with this exit code.
    QemuFailed(i32),
    /// QEMU was killed by a signal.
    Killed(i32),
    /// The `--timeout` expired and the VM was stopped.
    TimedOut,
    /// The user interrupted the run (ctrl-c) and the VM was stopped.
    Interrupted,
}

impl GuestStatus {
    /// The exit code `cargo linuxkit run` ends with: 0 for a poweroff, the guest's debug-exit
    /// code, QEMU's code, 124 for a timeout and 130 for an interrupt.
    pub fn exit_code(&self) -> i32 {
        match self {
            GuestStatus::PoweredOff => 0,
            GuestStatus::DebugExit(c) => (*c).min(255) as i32,
            GuestStatus::QemuFailed(c) => *c,
            GuestStatus::Killed(s) => 128 + s,
            GuestStatus::TimedOut => 124,
            GuestStatus::Interrupted => 130,
        }
    }
}

impl std::fmt::Display for GuestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestStatus::PoweredOff => write!(f, "guest powered off"),
            GuestStatus::DebugExit(c) => write!(f, "guest exited with status {c}"),
            GuestStatus::QemuFailed(c) => write!(f, "qemu failed with exit code {c}"),
            GuestStatus::Killed(s) => write!(f, "qemu was killed by signal {s}"),
            GuestStatus::TimedOut => write!(f, "timed out; the VM was stopped"),
            GuestStatus::Interrupted => write!(f, "interrupted; the VM was stopped"),
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// How it ended.
    pub status: GuestStatus,
    /// Wall-clock time from QEMU's start to its exit.
    pub elapsed: Duration,
}

/// A prepared VM: everything resolved, ready to start.
#[derive(Debug, Clone)]
pub struct VmPlan {
    /// The QEMU binary.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The accelerator chosen.
    pub accel: Chosen,
    /// The kernel QEMU loads, when it is a `vmlinux` extracted for PVH.
    pub pvh_kernel: Option<PathBuf>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Kill the VM after this long.
    pub timeout: Option<Duration>,
    /// A guest reboot restarts the guest (an updatable disk) instead of ending the run.
    pub reboot: bool,
}

/// Resolved inputs of the command line; [`command_line`] is a pure function of them.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// The guest's OCI architecture (`amd64` when empty): `arm64` is QEMU's `virt` board with a
    /// Cortex-A57 under TCG and its disks on virtio-scsi.
    pub arch: String,
    /// Accelerator name.
    pub accel: String,
    /// vCPUs.
    pub cpus: u32,
    /// Memory in MiB.
    pub mem_mb: u64,
    /// Kernel to load with `-kernel`.
    pub kernel: Option<PathBuf>,
    /// Initrd.
    pub initrd: Option<PathBuf>,
    /// `-append`.
    pub cmdline: Option<String>,
    /// CD-ROM to boot from.
    pub cdrom: Option<PathBuf>,
    /// Disks: path and optional format, in index order.
    pub disks: Vec<(PathBuf, Option<String>)>,
    /// UEFI firmware code and the per-VM vars copy (`None` vars: `-bios`).
    pub uefi: Option<(PathBuf, Option<PathBuf>)>,
    /// User networking with these forwards; `None`: no network.
    pub net: Option<(String, Vec<PortForward>)>,
    /// The pid file.
    pub pidfile: Option<PathBuf>,
    /// Extra `-device` values.
    pub devices: Vec<String>,
    /// Show a window.
    pub gui: bool,
    /// Secure Boot: SMM on and the flash's secure mode (what OVMF's secure-boot build needs).
    pub secure_boot: bool,
    /// A guest reboot restarts the guest instead of ending the run (updatable disks).
    pub reboot: bool,
}

/// The QEMU arguments for `m`.
pub fn command_line(m: &Machine) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    machine_args(m, &mut a);
    firmware_and_kernel_args(m, &mut a);
    if m.arch == "arm64" {
        scsi_drive_args(m, &mut a);
    } else {
        pc_drive_args(m, &mut a);
    }
    network_args(m, &mut a);
    console_args(m, &mut a);
    a
}

/// The board, CPU, accelerator, size and the devices every guest gets (RNG, debug exit).
fn machine_args(m: &Machine, a: &mut Vec<OsString>) {
    let arm = m.arch == "arm64";
    let mut push = |s: &str| a.push(s.into());
    push("-machine");
    push(match (arm, m.secure_boot) {
        (true, _) => "virt",
        (false, true) => "q35,smm=on",
        (false, false) => "q35",
    });
    if m.secure_boot && !arm {
        push("-global");
        push("driver=cfi.pflash01,property=secure,value=on");
    }
    if arm {
        // What upstream runs: the host's CPU under KVM, a Cortex-A57 emulated otherwise.
        push("-cpu");
        push(if m.accel == "kvm" {
            "host"
        } else {
            "cortex-a57"
        });
    }
    push("-accel");
    push(&m.accel);
    push("-smp");
    push(&m.cpus.to_string());
    push("-m");
    push(&m.mem_mb.to_string());
    if !m.reboot {
        push("-no-reboot");
    }
    push("-object");
    push("rng-random,id=rng0,filename=/dev/urandom");
    push("-device");
    push("virtio-rng-pci,rng=rng0");
    if !arm {
        push("-device");
        push("isa-debug-exit,iobase=0xf4,iosize=0x04");
    }
}

/// The UEFI firmware (pflash pair or `-bios`) and the directly booted kernel, initrd and
/// command line.
fn firmware_and_kernel_args(m: &Machine, a: &mut Vec<OsString>) {
    if let Some((code, vars)) = &m.uefi {
        match vars {
            Some(vars) => {
                a.push("-drive".into());
                a.push(drive_arg(
                    "if=pflash,format=raw,unit=0,readonly=on,file=",
                    code,
                ));
                a.push("-drive".into());
                a.push(drive_arg("if=pflash,format=raw,unit=1,file=", vars));
            }
            None => {
                a.push("-bios".into());
                a.push(code.into());
            }
        }
    }
    if let Some(k) = &m.kernel {
        a.push("-kernel".into());
        a.push(k.into());
    }
    if let Some(i) = &m.initrd {
        a.push("-initrd".into());
        a.push(i.into());
    }
    if let Some(c) = &m.cmdline {
        a.push("-append".into());
        a.push(c.into());
    }
}

/// Disks and CD-ROM of an arm64 guest: `virt` has no IDE or AHCI, so they go on virtio-scsi,
/// where the guest names them sda, sdb, ... and sr0 as on a PC.
fn scsi_drive_args(m: &Machine, a: &mut Vec<OsString>) {
    if !m.disks.is_empty() || m.cdrom.is_some() {
        a.push("-device".into());
        a.push("virtio-scsi-pci,id=scsi0".into());
    }
    for (i, (path, format)) in m.disks.iter().enumerate() {
        let mut d = OsString::from("file=");
        d.push(escape_commas(path));
        if let Some(f) = format {
            d.push(format!(",format={f}"));
        }
        d.push(format!(",if=none,id=hd{i}"));
        a.push("-drive".into());
        a.push(d);
        a.push("-device".into());
        a.push(format!("scsi-hd,drive=hd{i},bus=scsi0.0,scsi-id={i}").into());
    }
    if let Some(iso) = &m.cdrom {
        let mut d = OsString::from("file=");
        d.push(escape_commas(iso));
        d.push(",format=raw,if=none,id=cd0,media=cdrom,readonly=on");
        a.push("-drive".into());
        a.push(d);
        a.push("-device".into());
        a.push(
            format!(
                "scsi-cd,drive=cd0,bus=scsi0.0,scsi-id={}{}",
                m.disks.len(),
                if m.kernel.is_none() {
                    ",bootindex=0"
                } else {
                    ""
                }
            )
            .into(),
        );
    }
}

/// Disks and CD-ROM of a PC guest, on IDE by index.
fn pc_drive_args(m: &Machine, a: &mut Vec<OsString>) {
    for (i, (path, format)) in m.disks.iter().enumerate() {
        // With a CD-ROM (index 2), disk indices 2 and above move up by one.
        let index = if m.cdrom.is_some() && i >= 2 {
            i + 1
        } else {
            i
        };
        let mut d = OsString::from("file=");
        d.push(escape_commas(path));
        if let Some(f) = format {
            d.push(format!(",format={f}"));
        }
        d.push(format!(",index={index},media=disk"));
        a.push("-drive".into());
        a.push(d);
    }
    if let Some(iso) = &m.cdrom {
        a.push("-cdrom".into());
        a.push(iso.into());
        // With -kernel the CD-ROM is the root file system, not what the firmware boots.
        if m.kernel.is_none() {
            a.push("-boot".into());
            a.push("d".into());
        }
    }
}

/// User networking with its port forwards, or no network.
fn network_args(m: &Machine, a: &mut Vec<OsString>) {
    match &m.net {
        None => {
            a.push("-net".into());
            a.push("none".into());
        }
        Some((mac, ports)) => {
            a.push("-device".into());
            a.push(format!("virtio-net-pci,netdev=t0,mac={mac},romfile=").into());
            let mut netdev = String::from("user,id=t0");
            for p in ports {
                let proto = match p.protocol {
                    Protocol::Tcp => "tcp",
                    Protocol::Udp => "udp",
                };
                netdev.push_str(&format!(",hostfwd={proto}::{}-:{}", p.host, p.guest));
            }
            a.push("-netdev".into());
            a.push(netdev.into());
        }
    }
}

/// The pid file, the extra devices, and the serial console on the terminal unless a window
/// is asked for.
fn console_args(m: &Machine, a: &mut Vec<OsString>) {
    if let Some(p) = &m.pidfile {
        a.push("-pidfile".into());
        a.push(p.into());
    }
    for d in &m.devices {
        a.push("-device".into());
        a.push(d.into());
    }
    if !m.gui {
        a.push("-nographic".into());
    }
}

fn drive_arg(prefix: &str, path: &Path) -> OsString {
    let mut s = OsString::from(prefix);
    s.push(escape_commas(path));
    s
}

/// QEMU option values escape `,` by doubling it.
fn escape_commas(path: &Path) -> OsString {
    let s = path.as_os_str().to_string_lossy();
    if s.contains(',') {
        s.replace(',', ",,").into()
    } else {
        path.as_os_str().to_os_string()
    }
}

/// Finds `program` in PATH.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Prepares everything a run needs: finds QEMU, chooses the accelerator, creates the state
/// directory and missing disks, copies the UEFI vars, extracts a PVH kernel under TCG.
pub fn prepare(target: &BootTarget, opts: &RunOptions) -> Result<VmPlan, RunError> {
    let arch = guest_arch(target)?;
    let native = arch == crate::target::host_arch();
    let (system, system_package, firmware, firmware_package) = machine_for(&arch);
    let program = match &opts.qemu {
        Some(p) => p.clone(),
        None => find_in_path(system).ok_or(RunError::MissingProgram {
            program: system.into(),
            package: system_package,
        })?,
    };
    let accel = choose_accel(&opts.accel, native, &program);
    let state_dir = opts.state_dir.clone().unwrap_or_else(|| {
        let mut s = target.prefix.as_os_str().to_os_string();
        s.push("-state");
        PathBuf::from(s)
    });
    fs::create_dir_all(&state_dir).map_err(RunError::io(&state_dir))?;

    let mut m = Machine {
        arch: arch.clone(),
        accel: accel.qemu_name().to_string(),
        cpus: opts.cpus.max(1),
        mem_mb: opts.mem_mb,
        pidfile: Some(state_dir.join("qemu.pid")),
        devices: opts.devices.clone(),
        gui: opts.gui,
        ..Machine::default()
    };
    let pvh = opts.pvh && accel == Chosen::Tcg && arch == "amd64";
    let pvh_kernel = boot_artifacts(&target.mode, pvh, &state_dir, &mut m)?;
    extra_disks(&opts.disks, &state_dir, &mut m.disks)?;
    if let Some(cert) = &opts.secure_boot {
        m.uefi = Some(secure_boot_firmware(cert, opts, &arch, &state_dir)?);
        m.secure_boot = true;
    } else if opts.uefi.unwrap_or(target.uefi) {
        m.uefi = Some(uefi_firmware(
            opts.firmware.as_deref(),
            &state_dir,
            firmware,
            firmware_package,
        )?);
    }
    m.net = network(opts, &state_dir)?;
    Ok(VmPlan {
        program,
        args: command_line(&m),
        accel,
        pvh_kernel,
        state_dir,
        timeout: opts.timeout,
        reboot: m.reboot,
    })
}

/// The guest's architecture (this machine's when the artifact does not tell), refused when
/// it is neither native nor one QEMU emulates here.
fn guest_arch(target: &BootTarget) -> Result<String, RunError> {
    let arch = if target.arch.is_empty() {
        crate::target::host_arch()
    } else {
        target.arch.clone()
    };
    let native = arch == crate::target::host_arch();
    if !native && !matches!(arch.as_str(), "amd64" | "arm64") {
        return Err(RunError::Image {
            path: target.prefix.clone(),
            message: format!(
                "an {arch} output cannot boot on this host: cargo linuxkit run emulates amd64 \
                 and arm64 guests only"
            ),
        });
    }
    Ok(arch)
}

/// The accelerator: the one asked for, else KVM when it really works for a native guest.
fn choose_accel(asked: &Accel, native: bool, program: &Path) -> Chosen {
    match asked {
        Accel::Kvm => Chosen::Kvm,
        Accel::Tcg => Chosen::Tcg,
        Accel::Other(s) => Chosen::Other(s.clone()),
        // Another architecture is always emulated.
        Accel::Auto if !native => Chosen::Tcg,
        Accel::Auto => {
            if accel::kvm_works(program) {
                Chosen::Kvm
            } else {
                Chosen::Tcg
            }
        }
    }
}

/// Fills `m` with what the artifact boots (kernel, initrd, command line, root disk or
/// CD-ROM); returns the `vmlinux` extracted for a PVH boot when `pvh` allows one.
fn boot_artifacts(
    mode: &BootMode,
    pvh: bool,
    state_dir: &Path,
    m: &mut Machine,
) -> Result<Option<PathBuf>, RunError> {
    let mut pvh_kernel = None;
    let mut direct_kernel = |k: &Path| -> Result<PathBuf, RunError> {
        if pvh {
            if let Some(v) = kernel::pvh_kernel(k, state_dir)? {
                pvh_kernel = Some(v.clone());
                return Ok(v);
            }
        }
        Ok(k.to_path_buf())
    };
    match mode {
        BootMode::Kernel {
            kernel,
            initrd,
            cmdline,
        } => {
            m.kernel = Some(direct_kernel(kernel)?);
            m.initrd = initrd.clone();
            m.cmdline = Some(cmdline.clone());
        }
        BootMode::Squashfs {
            kernel,
            squashfs,
            initrd,
            cmdline,
        } => {
            m.kernel = Some(direct_kernel(kernel)?);
            m.initrd = initrd.clone();
            m.cmdline = Some(format!("{cmdline} root=/dev/sda").trim().to_string());
            m.disks.push((squashfs.clone(), Some("raw".into())));
        }
        BootMode::Erofs {
            kernel,
            image,
            initrd,
            cmdline,
        } => {
            m.kernel = Some(direct_kernel(kernel)?);
            m.initrd = initrd.clone();
            m.cmdline = Some(with_root(cmdline, "/dev/sda"));
            m.disks.push((image.clone(), Some("raw".into())));
        }
        BootMode::KernelIso {
            kernel,
            iso,
            initrd,
            cmdline,
        } => {
            m.kernel = Some(direct_kernel(kernel)?);
            m.initrd = initrd.clone();
            m.cmdline = Some(with_root(cmdline, "/dev/sr0"));
            m.cdrom = Some(iso.clone());
        }
        BootMode::Iso(iso) => m.cdrom = Some(iso.clone()),
        BootMode::Disk { path, format } => {
            m.reboot = crate::updatable::updatable_disk(path, format);
            m.disks.push((path.clone(), Some(format.to_string())))
        }
        BootMode::GcpTar(tarball) => {
            let raw = unpack_gcp(tarball, state_dir)?;
            m.disks.push((raw, Some("raw".into())));
        }
    }
    Ok(pvh_kernel)
}

/// Appends the `--disk` disks to `disks`, creating the missing ones (unnamed ones in the state
/// directory as `disk.img`, `disk1.img`, ...).
fn extra_disks(
    specs: &[DiskSpec],
    state_dir: &Path,
    disks: &mut Vec<(PathBuf, Option<String>)>,
) -> Result<(), RunError> {
    let mut unnamed = 0;
    for spec in specs {
        let path = match &spec.path {
            Some(p) => p.clone(),
            None => {
                let name = if unnamed == 0 {
                    "disk.img".to_string()
                } else {
                    format!("disk{unnamed}.img")
                };
                unnamed += 1;
                state_dir.join(name)
            }
        };
        let format = if path.exists() {
            spec.format.clone()
        } else {
            let size = spec.size_mb.ok_or_else(|| RunError::DiskCreate {
                path: path.clone(),
                message: "the file does not exist; give a size (size=N[M|G]) to create it".into(),
            })?;
            let format = spec.format.clone().unwrap_or_else(|| "qcow2".into());
            create_disk(&path, &format, size)?;
            Some(format)
        };
        disks.push((path, format));
    }
    Ok(())
}

/// OVMF's secure-boot firmware and a vars file enrolling `cert`, for `--secure-boot`.
fn secure_boot_firmware(
    cert: &[u8],
    opts: &RunOptions,
    arch: &str,
    state_dir: &Path,
) -> Result<(PathBuf, Option<PathBuf>), RunError> {
    if opts.uefi == Some(false) {
        return Err(RunError::InvalidOption {
            what: "firmware",
            value: "--secure-boot without UEFI".into(),
            reason: "Secure Boot is a UEFI feature; drop the option that turns UEFI off".into(),
        });
    }
    if arch == "arm64" {
        return Err(RunError::InvalidOption {
            what: "firmware",
            value: "--secure-boot for an arm64 image".into(),
            reason: "Secure Boot runs use OVMF's secure-boot firmware, which is amd64 only; boot the arm64 image without --secure-boot".into(),
        });
    }
    let code = crate::secureboot::firmware(opts.firmware.as_deref())?;
    let vars = crate::secureboot::write_vars(cert, state_dir)?;
    Ok((code, Some(vars)))
}

/// User networking (the VM's MAC and the published ports), or none.
fn network(
    opts: &RunOptions,
    state_dir: &Path,
) -> Result<Option<(String, Vec<PortForward>)>, RunError> {
    if opts.networking == Networking::User {
        Ok(Some((mac_address(state_dir)?, opts.publish.clone())))
    } else if !opts.publish.is_empty() {
        Err(RunError::InvalidOption {
            what: "publish",
            value: format!("{} port(s)", opts.publish.len()),
            reason: "publishing ports requires user-mode networking".into(),
        })
    } else {
        Ok(None)
    }
}

/// Appends `root=<dev>` unless the command line names a root already.
fn with_root(cmdline: &str, dev: &str) -> String {
    if cmdline.split_whitespace().any(|w| w.starts_with("root=")) {
        cmdline.to_string()
    } else {
        format!("{cmdline} root={dev}").trim().to_string()
    }
}

/// Unpacks `disk.raw` from a `gcp` tarball into `<state>/disk.raw` (again only when the tarball
/// is newer than the unpacked disk), writing a temporary file that is renamed when complete.
fn unpack_gcp(tarball: &Path, state_dir: &Path) -> Result<PathBuf, RunError> {
    let raw = state_dir.join("disk.raw");
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(disk), Some(tar)) = (mtime(&raw), mtime(tarball)) {
        if disk >= tar {
            return Ok(raw);
        }
    }
    let bad = |message: String| RunError::Image {
        path: tarball.to_path_buf(),
        message,
    };
    let file = fs::File::open(tarball).map_err(RunError::io(tarball))?;
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a gzip'd tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading the tar: {e}")))?;
        let is_disk = entry
            .path()
            .map(|p| p.as_ref() == Path::new("disk.raw"))
            .unwrap_or(false);
        if !is_disk {
            continue;
        }
        let tmp = state_dir.join("disk.raw.tmp");
        let mut out = fs::File::create(&tmp).map_err(RunError::io(&tmp))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| bad(format!("unpacking disk.raw: {e}")))?;
        fs::rename(&tmp, &raw).map_err(RunError::io(&raw))?;
        return Ok(raw);
    }
    Err(bad(
        "no disk.raw in the archive (a gcp image holds one)".into()
    ))
}

fn create_disk(path: &Path, format: &str, size_mb: u64) -> Result<(), RunError> {
    let qemu_img = find_in_path("qemu-img").ok_or(RunError::MissingProgram {
        program: "qemu-img".into(),
        package: "qemu-utils",
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(RunError::io(dir))?;
    }
    let out = Command::new(qemu_img)
        .args(["create", "-q", "-f", format])
        .arg(path)
        .arg(format!("{size_mb}M"))
        .output()
        .map_err(RunError::io("qemu-img"))?;
    if !out.status.success() {
        return Err(RunError::DiskCreate {
            path: path.to_path_buf(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// The firmware code file and a per-VM copy of its vars template in the state directory.
fn uefi_firmware(
    given: Option<&Path>,
    state_dir: &Path,
    candidates: &[&str],
    package: &'static str,
) -> Result<(PathBuf, Option<PathBuf>), RunError> {
    let code = match given {
        Some(p) if p.is_file() => p.to_path_buf(),
        Some(p) => {
            return Err(RunError::MissingFirmware {
                path: p.to_path_buf(),
                package,
            })
        }
        None => candidates
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| RunError::MissingFirmware {
                path: PathBuf::from(candidates.first().copied().unwrap_or("UEFI firmware")),
                package,
            })?,
    };
    let name = code
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains("CODE") {
        return Ok((code, None));
    }
    let template = code.with_file_name(name.replace("CODE", "VARS"));
    if !template.is_file() {
        return Ok((code, None));
    }
    let vars = state_dir.join(template.file_name().unwrap_or_default());
    if !vars.is_file() {
        fs::copy(&template, &vars).map_err(RunError::io(&vars))?;
    }
    Ok((code, Some(vars)))
}

/// The VM's MAC address: locally administered, random once, kept in `<state>/mac-addr`.
fn mac_address(state_dir: &Path) -> Result<String, RunError> {
    let file = state_dir.join("mac-addr");
    if let Ok(s) = fs::read_to_string(&file) {
        let s = s.trim();
        if s.len() == 17 {
            return Ok(s.to_string());
        }
    }
    let mut b = [0u8; 5];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(RunError::io("/dev/urandom"))?;
    let mac = format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    );
    fs::write(&file, format!("{mac}\n")).map_err(RunError::io(&file))?;
    Ok(mac)
}

static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    SIGNALLED.store(sig, Ordering::SeqCst);
}

/// Restores signal dispositions and terminal settings when dropped.
struct Guard {
    old: Vec<(nix::sys::signal::Signal, nix::sys::signal::SigAction)>,
    termios: Option<nix::sys::termios::Termios>,
}

impl Guard {
    fn install() -> Guard {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        SIGNALLED.store(0, Ordering::SeqCst);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        let mut old = Vec::new();
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
            if let Ok(prev) = unsafe { sigaction(sig, &action) } {
                old.push((sig, prev));
            }
        }
        let termios = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
        Guard { old, termios }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(t) = &self.termios {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
        for (sig, prev) in &self.old {
            // SAFETY: restores the disposition that was in place before `install`.
            let _ = unsafe { nix::sys::signal::sigaction(*sig, prev) };
        }
    }
}

impl VmPlan {
    /// Starts QEMU with the console on this terminal and waits for the guest to stop.
    pub fn run(&self) -> Result<RunOutcome, RunError> {
        let guard = Guard::install();
        let start = Instant::now();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::inherit())
            .spawn()
            .map_err(RunError::io(&self.program))?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let mut stopping: Option<(Instant, GuestStatus)> = None;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {}
                Err(e) => {
                    return Err(RunError::Io {
                        path: self.program.clone(),
                        source: e,
                    })
                }
            }
            let reason = if SIGNALLED.load(Ordering::SeqCst) != 0 {
                Some(GuestStatus::Interrupted)
            } else if self.timeout.is_some_and(|t| start.elapsed() >= t) {
                Some(GuestStatus::TimedOut)
            } else {
                None
            };
            match (&stopping, reason) {
                (None, Some(r)) => {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                    stopping = Some((Instant::now(), r));
                }
                (Some((since, _)), _) if since.elapsed() > Duration::from_secs(5) => {
                    let _ = child.kill();
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(guard);
        let elapsed = start.elapsed();
        let status = match (stopping, status.code(), status.signal()) {
            (Some((_, why)), _, _) => why,
            (None, Some(0), _) => GuestStatus::PoweredOff,
            (None, Some(c), _) if c >= 3 && c % 2 == 1 => GuestStatus::DebugExit((c >> 1) as u32),
            (None, Some(c), _) => GuestStatus::QemuFailed(c),
            (None, None, Some(s)) => GuestStatus::Killed(s),
            (None, None, None) => GuestStatus::QemuFailed(-1),
        };
        Ok(RunOutcome { status, elapsed })
    }
}

/// Prepares and runs `target` with `opts`.
pub fn run(target: &BootTarget, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    prepare(target, opts)?.run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(m: &Machine) -> Vec<String> {
        command_line(m)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn kernel_boot_command_line() {
        let m = Machine {
            accel: "tcg".into(),
            cpus: 1,
            mem_mb: 512,
            kernel: Some("/o/vm-kernel".into()),
            initrd: Some("/o/vm-initrd.img".into()),
            cmdline: Some("console=ttyS0".into()),
            net: Some((
                "02:00:00:00:00:01".into(),
                vec!["2222:22".parse().unwrap(), "53:53/udp".parse().unwrap()],
            )),
            ..Machine::default()
        };
        let a = args(&m).join(" ");
        assert!(
            a.starts_with("-machine q35 -accel tcg -smp 1 -m 512 -no-reboot"),
            "{a}"
        );
        assert!(a.contains("-kernel /o/vm-kernel -initrd /o/vm-initrd.img -append console=ttyS0"));
        assert!(a.contains("-netdev user,id=t0,hostfwd=tcp::2222-:22,hostfwd=udp::53-:53"));
        assert!(a.contains("isa-debug-exit,iobase=0xf4"));
        assert!(a.ends_with("-nographic"));
    }

    #[test]
    fn iso_boot_skips_cdrom_index_and_uses_pflash() {
        let m = Machine {
            accel: "kvm".into(),
            cpus: 2,
            mem_mb: 1024,
            cdrom: Some("/o/x-efi.iso".into()),
            disks: vec![
                ("/d/a,b.img".into(), None),
                ("/d/b.qcow2".into(), Some("qcow2".into())),
                ("/d/c.img".into(), Some("raw".into())),
            ],
            uefi: Some(("/fw/CODE.fd".into(), Some("/s/VARS.fd".into()))),
            ..Machine::default()
        };
        let a = args(&m);
        assert!(a.contains(&"file=/d/a,,b.img,index=0,media=disk".to_string()));
        assert!(a.contains(&"file=/d/c.img,format=raw,index=3,media=disk".to_string()));
        assert!(a.contains(&"if=pflash,format=raw,unit=1,file=/s/VARS.fd".to_string()));
        let j = a.join(" ");
        assert!(j.contains("-cdrom /o/x-efi.iso -boot d"));
        assert!(j.contains("-net none"));
    }

    #[test]
    fn arm64_guests_get_virt_a57_and_scsi_disks() {
        let m = Machine {
            arch: "arm64".into(),
            accel: "tcg".into(),
            cpus: 1,
            mem_mb: 512,
            kernel: Some("/o/k".into()),
            disks: vec![("/o/k-erofs.img".into(), Some("raw".into()))],
            uefi: Some((
                "/usr/share/AAVMF/AAVMF_CODE.fd".into(),
                Some("/s/AAVMF_VARS.fd".into()),
            )),
            ..Machine::default()
        };
        let j = args(&m).join(" ");
        assert!(
            j.starts_with("-machine virt -cpu cortex-a57 -accel tcg"),
            "{j}"
        );
        assert!(!j.contains("isa-debug-exit"), "{j}");
        assert!(j.contains("-device virtio-scsi-pci,id=scsi0"), "{j}");
        assert!(
            j.contains(
                "-drive file=/o/k-erofs.img,format=raw,if=none,id=hd0 -device scsi-hd,drive=hd0"
            ),
            "{j}"
        );
        assert!(!j.contains("index=0,media=disk"), "{j}");
        assert!(j.contains("unit=1,file=/s/AAVMF_VARS.fd"), "{j}");
        // A missing AAVMF names its package.
        let d = tempfile::tempdir().unwrap();
        let err = uefi_firmware(
            None,
            d.path(),
            &["/nonexistent/AAVMF_CODE.fd"],
            "qemu-efi-aarch64",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("qemu-efi-aarch64"), "{err}");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(GuestStatus::PoweredOff.exit_code(), 0);
        assert_eq!(GuestStatus::DebugExit(3).exit_code(), 3);
        assert_eq!(GuestStatus::TimedOut.exit_code(), 124);
        assert_eq!(GuestStatus::Interrupted.exit_code(), 130);
    }

    #[test]
    fn missing_qemu_names_the_package() {
        let d = tempfile::tempdir().unwrap();
        let target = BootTarget {
            prefix: d.path().join("vm"),
            mode: BootMode::Iso(d.path().join("vm.iso")),
            uefi: true,
            arch: String::new(),
        };
        let opts = RunOptions {
            firmware: Some(d.path().join("nope.fd")),
            qemu: Some("/bin/true".into()),
            accel: Accel::Tcg,
            ..RunOptions::default()
        };
        let err = prepare(&target, &opts).unwrap_err().to_string();
        assert!(err.contains("ovmf"), "{err}");
        // State directory defaults to <prefix>-state and the MAC is persisted there.
        let opts = RunOptions {
            qemu: Some("/bin/true".into()),
            accel: Accel::Tcg,
            uefi: Some(false),
            ..RunOptions::default()
        };
        let plan = prepare(&target, &opts).unwrap();
        assert_eq!(plan.state_dir, d.path().join("vm-state"));
        let mac = fs::read_to_string(d.path().join("vm-state/mac-addr")).unwrap();
        assert!(mac.starts_with("02:"));
        let plan2 = prepare(&target, &opts).unwrap();
        assert_eq!(plan.args, plan2.args);
    }

    #[test]
    fn gcp_tarball_is_unpacked_into_the_state_directory() {
        let d = tempfile::tempdir().unwrap();
        let tarball = d.path().join("g.img.tar.gz");
        {
            let gz = flate2::write::GzEncoder::new(
                fs::File::create(&tarball).unwrap(),
                flate2::Compression::fast(),
            );
            let mut b = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(1024);
            h.set_mode(0o644);
            b.append_data(&mut h, "disk.raw", &[7u8; 1024][..]).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        let target = crate::target::detect(&tarball).unwrap();
        let opts = RunOptions {
            qemu: Some("/bin/true".into()),
            accel: Accel::Tcg,
            networking: Networking::None,
            ..RunOptions::default()
        };
        let plan = prepare(&target, &opts).unwrap();
        let raw = d.path().join("g-state/disk.raw");
        assert_eq!(fs::read(&raw).unwrap(), vec![7u8; 1024]);
        let want = format!("file={},format=raw,index=0,media=disk", raw.display());
        assert!(
            plan.args.iter().any(|a| a.to_string_lossy() == want),
            "{:?}",
            plan.args
        );

        // A tarball without disk.raw is an error naming the file.
        let bad = d.path().join("b.img.tar.gz");
        {
            let gz = flate2::write::GzEncoder::new(
                fs::File::create(&bad).unwrap(),
                flate2::Compression::fast(),
            );
            let mut b = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            b.append_data(&mut h, "other", &[0u8][..]).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        let err = prepare(&crate::target::detect(&bad).unwrap(), &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no disk.raw"), "{err}");
    }

    #[test]
    fn kernel_iso_boot_adds_root_and_no_boot_order() {
        let m = Machine {
            accel: "tcg".into(),
            cpus: 1,
            mem_mb: 256,
            kernel: Some("/o/k".into()),
            cmdline: Some(with_root("console=ttyS0", "/dev/sr0")),
            cdrom: Some("/o/k.iso".into()),
            ..Machine::default()
        };
        let j = args(&m).join(" ");
        assert!(j.contains("-append console=ttyS0 root=/dev/sr0"), "{j}");
        assert!(
            j.contains("-cdrom /o/k.iso") && !j.contains("-boot d"),
            "{j}"
        );
        assert_eq!(with_root("root=/dev/sdb x", "/dev/sr0"), "root=/dev/sdb x");
    }
}
