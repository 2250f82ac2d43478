//! System packages: kernel settings, entropy, modules, power, time, logs and monitoring.

use crate::model::{Container, File};
use crate::pkgs::{plain_wrapper, versions, wrapper};

// ---------------------------------------------------------------------------------------------
// sysctl

/// [`sysctl()`]: applies sysctl settings once at boot.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Sysctl {
    c: Container,
}
wrapper!(Sysctl);

/// Applies sysctl settings at boot (onboot), from the `*.conf` files of `/etc/sysctl.d` in the
/// image: LinuxKit's defaults (Alpine's network hardening, larger limits for inotify, file
/// handles and connections, `kptr_restrict`, `dmesg_restrict`, no unprivileged BPF).
///
/// Label privileges: `CAP_SYS_ADMIN`, `CAP_NET_ADMIN`, the host's PID namespace, a read-only
/// root filesystem.
pub fn sysctl() -> Sysctl {
    Sysctl {
        c: Container::new("sysctl", versions::SYSCTL),
    }
}

impl Sysctl {
    /// Reads the settings from the `*.conf` files of `dir` on the host instead of the image's
    /// defaults (which are then not applied; copy the ones you need). `dir` (absolute) is bound
    /// read-only at the same path. Write the files with [`sysctl_file`].
    #[track_caller]
    pub fn config_dir(mut self, dir: impl Into<String>) -> Self {
        let dir = dir.into();
        self.c = self.c.add_bind(format!("{dir}:{dir}:ro")).command([
            "/usr/bin/sysctl",
            "-configDir",
            dir.as_str(),
        ]);
        self
    }
}

/// A sysctl settings file at `path` (such as `etc/sysctl.d/10-forward.conf`) with one
/// `key = value` line per setting, for [`Sysctl::config_dir`].
pub fn sysctl_file<I, K, V>(path: impl Into<String>, settings: I) -> File
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let text: String = settings
        .into_iter()
        .map(|(k, v)| format!("{} = {}\n", k.as_ref(), v.as_ref()))
        .collect();
    File::new(path).contents(text)
}

// ---------------------------------------------------------------------------------------------
// sysfs

plain_wrapper! {
    /// [`sysfs()`]: applies sysfs settings once at boot.
    Sysfs
}

/// Writes sysfs settings at boot (onboot), from the `*.conf` files of `/etc/sysfs.d` in the
/// image.
///
/// Label privileges: none beyond its own network and IPC namespaces.
pub fn sysfs() -> Sysfs {
    Sysfs {
        c: Container::new("sysfs", versions::SYSFS),
    }
}

// ---------------------------------------------------------------------------------------------
// rngd

/// [`rngd()`]: feeds the kernel entropy pool.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Rngd {
    c: Container,
}
wrapper!(Rngd);

/// The entropy daemon as a service: feeds the kernel's entropy pool from the CPU's hardware
/// random number generator (RDRAND, or the arm64 equivalent). Use [`Rngd::once`] in onboot to
/// seed the pool early.
///
/// Label privileges: `CAP_SYS_ADMIN`, a read-only root filesystem, its own network and IPC
/// namespaces, OOM score adjustment -800.
pub fn rngd() -> Rngd {
    Rngd {
        c: Container::new("rngd", versions::RNGD),
    }
}

impl Rngd {
    /// One-shot mode (`-1`): adds entropy once and exits, for onboot. Upstream's examples name
    /// that container `rngd1` (`.once().name("rngd1")`) next to the `rngd` service.
    #[track_caller]
    pub fn once(mut self) -> Self {
        self.c = self.c.command(["/sbin/rngd", "-1"]);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// binfmt

plain_wrapper! {
    /// [`binfmt()`]: registers binfmt_misc handlers.
    Binfmt
}

/// Registers QEMU user-mode emulators with the kernel's `binfmt_misc` at boot (onboot), so
/// binaries of other architectures run transparently (amd64 only upstream).
///
/// Label privileges: `CAP_SYS_ADMIN`, a read-only root filesystem, its own network and IPC
/// namespaces.
pub fn binfmt() -> Binfmt {
    Binfmt {
        c: Container::new("binfmt", versions::BINFMT),
    }
}

// ---------------------------------------------------------------------------------------------
// modprobe

/// [`modprobe()`]: loads kernel modules.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Modprobe {
    c: Container,
    modules: Vec<String>,
}
wrapper!(Modprobe);

/// Loads the kernel module `module` (and its dependencies) at boot (onboot), e.g. a NIC driver
/// the kernel has as a module. Add more with [`Modprobe::module`].
///
/// Label privileges: `CAP_SYS_MODULE`; binds the host's `/lib/modules` and `/sys`.
#[track_caller]
pub fn modprobe(module: impl Into<String>) -> Modprobe {
    Modprobe {
        c: Container::new("modprobe", versions::MODPROBE),
        modules: Vec::new(),
    }
    .module(module)
}

impl Modprobe {
    /// Loads one more module (`modprobe -a m1 m2 ..`).
    #[track_caller]
    pub fn module(mut self, module: impl Into<String>) -> Self {
        self.modules.push(module.into());
        let mut args = vec!["modprobe".to_string()];
        if self.modules.len() > 1 {
            args.push("-a".into());
        }
        args.extend(self.modules.iter().cloned());
        self.c = self.c.command(args);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// acpid

plain_wrapper! {
    /// [`acpid()`]: ACPI event daemon.
    Acpid
}

/// The ACPI event daemon as a service: shuts the machine down cleanly on a power-button event
/// (e.g. a hypervisor's "shut down").
///
/// Label privileges: the host's PID namespace; binds the host's `/dev`; access to every
/// character device of major 13 (input).
pub fn acpid() -> Acpid {
    Acpid {
        c: Container::new("acpid", versions::ACPID),
    }
}

// ---------------------------------------------------------------------------------------------
// openntpd

plain_wrapper! {
    /// [`openntpd()`]: NTP daemon.
    Openntpd
}

/// OpenNTPD as a service, keeping the clock synchronised; named `ntpd` as in upstream's
/// examples.
///
/// Label privileges: `CAP_SYS_TIME`, `CAP_SYS_NICE`, `CAP_SYS_CHROOT`, `CAP_SETUID`,
/// `CAP_SETGID`; binds the host's `/etc/resolv.conf`.
pub fn openntpd() -> Openntpd {
    Openntpd {
        c: Container::new("ntpd", versions::OPENNTPD),
    }
}

// ---------------------------------------------------------------------------------------------
// host-timesync-daemon

/// [`host_timesync_daemon()`]: clock resync after host sleep.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct HostTimesyncDaemon {
    c: Container,
}
wrapper!(HostTimesyncDaemon);

/// A service that listens on AF_VSOCK for the host's "I woke up" notification and then resets
/// the clock from the RTC (Docker for Mac, HyperKit). Listens on port `0xf3a4` by default.
///
/// Label privileges: `CAP_SYS_TIME`; binds the host's `/dev/rtc0`.
pub fn host_timesync_daemon() -> HostTimesyncDaemon {
    HostTimesyncDaemon {
        c: Container::new("host-timesync-daemon", versions::HOST_TIMESYNC_DAEMON),
    }
}

impl HostTimesyncDaemon {
    /// Listens on AF_VSOCK port `port` instead of `0xf3a4`.
    #[track_caller]
    pub fn vsock_port(mut self, port: u32) -> Self {
        self.c = self.c.command([
            "/usr/bin/host-timesync-daemon".to_string(),
            "-port".into(),
            format!("{port:#x}"),
        ]);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// kmsg

plain_wrapper! {
    /// [`kmsg()`]: the kernel log as a service log.
    Kmsg
}

/// A service that copies the kernel's log (`/dev/kmsg`) to its standard output, so kernel
/// messages join the service logs (and memlogd, see [`memlogd`](crate::pkgs::memlogd)).
///
/// Label privileges: `CAP_SYSLOG`; binds the host's `/dev/kmsg` and creates that device
/// (`c 1:11`).
pub fn kmsg() -> Kmsg {
    Kmsg {
        c: Container::new("kmsg", versions::KMSG),
    }
}

// ---------------------------------------------------------------------------------------------
// logwrite

/// [`logwrite()`]: memlogd's logs to rotated files.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Logwrite {
    c: Container,
    max_files: Option<u32>,
    max_size: Option<u64>,
}
wrapper!(Logwrite);

/// A service that streams the logs collected by [`memlogd`](crate::pkgs::memlogd) to files in
/// `/var/log`, rotated at 1 MiB with 10 files kept per log by default. Named
/// `write-and-rotate-logs` as in upstream's `logging.yml`.
///
/// Label privileges: none; binds the host's `/var/run` (memlogd's socket) and `/var/log`.
pub fn logwrite() -> Logwrite {
    Logwrite {
        c: Container::new("write-and-rotate-logs", versions::LOGWRITE),
        max_files: None,
        max_size: None,
    }
}

impl Logwrite {
    /// Keeps at most `n` rotated files per log (`-max-log-files`, default 10).
    #[track_caller]
    pub fn max_log_files(mut self, n: u32) -> Self {
        self.max_files = Some(n);
        self.render()
    }

    /// Rotates a log file when it reaches `bytes` (`-max-log-size`, default 1 MiB).
    #[track_caller]
    pub fn max_log_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self.render()
    }

    #[track_caller]
    fn render(mut self) -> Self {
        let mut args = vec!["/usr/bin/logwrite".to_string()];
        if let Some(n) = self.max_files {
            args.extend(["-max-log-files".into(), n.to_string()]);
        }
        if let Some(n) = self.max_size {
            args.extend(["-max-log-size".into(), n.to_string()]);
        }
        self.c = self.c.command(args);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Monitoring and guest agents

plain_wrapper! {
    /// [`cadvisor()`]: container monitoring.
    Cadvisor
}

/// cAdvisor as a service: resource usage of the Docker containers on the machine, on port
/// 8080. Waits for Docker's socket first, so run it with a Docker service.
///
/// Label privileges: **all capabilities**, the host's PID namespace; binds the host's
/// `/var/lib/docker` (read-only), `/var/run`, `/sys` (read-only) and `/etc/resolv.conf`
/// (read-only).
pub fn cadvisor() -> Cadvisor {
    Cadvisor {
        c: Container::new("cadvisor", versions::CADVISOR),
    }
}

plain_wrapper! {
    /// [`node_exporter()`]: Prometheus node metrics.
    NodeExporter
}

/// Prometheus' node exporter as a service: the host's metrics on port 9100, reading the host's
/// `/proc`, `/sys` and root filesystem through binds.
///
/// Label privileges: **all capabilities**, the host's PID namespace; binds the host's `/proc`
/// at `/host/proc`, `/sys` at `/host/sys` and `/` at `/rootfs`.
pub fn node_exporter() -> NodeExporter {
    NodeExporter {
        c: Container::new("node_exporter", versions::NODE_EXPORTER),
    }
}

plain_wrapper! {
    /// [`open_vm_tools()`]: VMware guest agent.
    OpenVmTools
}

/// VMware's guest tools (`vmtoolsd`) as a service: guest information and clean power
/// operations from vSphere / Workstation (amd64 only upstream).
///
/// Label privileges: `CAP_SYS_BOOT`, the host's PID namespace.
pub fn open_vm_tools() -> OpenVmTools {
    OpenVmTools {
        c: Container::new("open-vm-tools", versions::OPEN_VM_TOOLS),
    }
}

plain_wrapper! {
    /// [`tss()`]: TPM software stack daemon.
    Tss
}

/// The TrouSerS TPM 1.2 daemon (`tcsd`) as a service, giving programs access to the machine's
/// TPM (amd64 only upstream).
///
/// Label privileges: **all capabilities**, the host's PID and network namespaces; binds the
/// host's `/dev`.
pub fn tss() -> Tss {
    Tss {
        c: Container::new("tss", versions::TSS),
    }
}
