//! The typed vocabulary of LinuxKit: capabilities, namespace modes, mount types, resource
//! limits and device types.
//!
//! The model ([`crate::model`]) stores these values as strings so that any LinuxKit file
//! round-trips unchanged; the builders ([`crate::builder`]) accept these types so that a
//! definition written in Rust is checked by the compiler and completed by rust-analyzer.

use std::fmt;
use std::str::FromStr;

/// A value that is not part of a typed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind}: {value}")]
pub struct UnknownName {
    /// What was being parsed (`capability`, `rlimit`, ...).
    pub kind: &'static str,
    /// The rejected text.
    pub value: String,
}

macro_rules! capabilities {
    ($($(#[doc = $doc:literal])* $variant:ident = $num:literal;)*) => {
        /// A Linux capability, in kernel numeric order (`CAP_CHOWN` = 0 .. `CAP_CHECKPOINT_RESTORE` = 40).
        ///
        /// LinuxKit writes capabilities as `CAP_` + the upper-case name; that is what
        /// [`Capability::as_str`] returns and what [`FromStr`] accepts (case-insensitive, the
        /// `CAP_` prefix optional). A container has **no** capabilities unless some are given.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Capability {
            $($(#[doc = $doc])* $variant = $num,)*
        }

        impl Capability {
            /// Every capability, in kernel numeric order (what `capabilities: [all]` expands to).
            pub const ALL: [Capability; 41] = [$(Capability::$variant,)*];

            /// The name LinuxKit uses, e.g. `"CAP_SYS_ADMIN"` (from
            /// [`linuxkit_validate::CAPABILITIES`], the one list of names, in the same order).
            pub const fn as_str(self) -> &'static str {
                linuxkit_validate::CAPABILITIES[self as usize]
            }

            /// The kernel's capability number.
            pub const fn number(self) -> u32 {
                self as u32
            }

            /// The Rust variant name, e.g. `"SysAdmin"` (used by the code generator).
            pub const fn variant_name(self) -> &'static str {
                match self { $(Capability::$variant => stringify!($variant),)* }
            }
        }
    };
}

capabilities! {
    /// Make arbitrary changes to file UIDs and GIDs (`CAP_CHOWN`).
    Chown = 0;
    /// Bypass file read, write and execute permission checks (`CAP_DAC_OVERRIDE`).
    DacOverride = 1;
    /// Bypass file read and directory read/execute permission checks (`CAP_DAC_READ_SEARCH`).
    DacReadSearch = 2;
    /// Bypass permission checks on operations that require the file owner's UID (`CAP_FOWNER`).
    Fowner = 3;
    /// Keep set-user/group-ID bits when a file is modified (`CAP_FSETID`).
    Fsetid = 4;
    /// Send signals to any process (`CAP_KILL`).
    Kill = 5;
    /// Make arbitrary manipulations of process GIDs (`CAP_SETGID`).
    Setgid = 6;
    /// Make arbitrary manipulations of process UIDs (`CAP_SETUID`).
    Setuid = 7;
    /// Modify the capability sets of the process (`CAP_SETPCAP`).
    Setpcap = 8;
    /// Set the immutable and append-only inode flags (`CAP_LINUX_IMMUTABLE`).
    LinuxImmutable = 9;
    /// Bind a socket to a port below 1024 (`CAP_NET_BIND_SERVICE`).
    NetBindService = 10;
    /// Unused: socket broadcasting and multicast listening (`CAP_NET_BROADCAST`).
    NetBroadcast = 11;
    /// Network administration: interfaces, routes, firewall, ... (`CAP_NET_ADMIN`).
    NetAdmin = 12;
    /// Use RAW and PACKET sockets (`CAP_NET_RAW`).
    NetRaw = 13;
    /// Lock memory (`mlock`, `mlockall`, `SHM_LOCK`) (`CAP_IPC_LOCK`).
    IpcLock = 14;
    /// Bypass permission checks on System V IPC objects (`CAP_IPC_OWNER`).
    IpcOwner = 15;
    /// Load and unload kernel modules (`CAP_SYS_MODULE`).
    SysModule = 16;
    /// Raw I/O: `iopl`, `ioperm`, `/dev/mem` (`CAP_SYS_RAWIO`).
    SysRawio = 17;
    /// Use `chroot` (`CAP_SYS_CHROOT`).
    SysChroot = 18;
    /// Trace arbitrary processes with `ptrace` (`CAP_SYS_PTRACE`).
    SysPtrace = 19;
    /// Use process accounting (`CAP_SYS_PACCT`).
    SysPacct = 20;
    /// A wide range of administration operations: mount, sethostname, ... (`CAP_SYS_ADMIN`).
    SysAdmin = 21;
    /// Reboot and load a new kernel (`CAP_SYS_BOOT`).
    SysBoot = 22;
    /// Raise nice values and set real-time scheduling (`CAP_SYS_NICE`).
    SysNice = 23;
    /// Override resource limits (`CAP_SYS_RESOURCE`).
    SysResource = 24;
    /// Set the system clock (`CAP_SYS_TIME`).
    SysTime = 25;
    /// Configure ttys (`vhangup`, privileged `ioctl`s) (`CAP_SYS_TTY_CONFIG`).
    SysTtyConfig = 26;
    /// Create special files with `mknod` (`CAP_MKNOD`).
    Mknod = 27;
    /// Establish leases on arbitrary files (`CAP_LEASE`).
    Lease = 28;
    /// Write records to the kernel audit log (`CAP_AUDIT_WRITE`).
    AuditWrite = 29;
    /// Configure kernel auditing (`CAP_AUDIT_CONTROL`).
    AuditControl = 30;
    /// Set file capabilities (`CAP_SETFCAP`).
    Setfcap = 31;
    /// Override Mandatory Access Control (`CAP_MAC_OVERRIDE`).
    MacOverride = 32;
    /// Configure Mandatory Access Control (`CAP_MAC_ADMIN`).
    MacAdmin = 33;
    /// Privileged `syslog` operations (`CAP_SYSLOG`).
    Syslog = 34;
    /// Trigger wake-ups of the system (`CAP_WAKE_ALARM`).
    WakeAlarm = 35;
    /// Block system suspend (`CAP_BLOCK_SUSPEND`).
    BlockSuspend = 36;
    /// Read the audit log through a multicast netlink socket (`CAP_AUDIT_READ`).
    AuditRead = 37;
    /// Privileged performance monitoring (`CAP_PERFMON`).
    Perfmon = 38;
    /// Privileged BPF operations (`CAP_BPF`).
    Bpf = 39;
    /// Checkpoint/restore operations (`CAP_CHECKPOINT_RESTORE`).
    CheckpointRestore = 40;
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = UnknownName;

    /// Parses `CAP_NET_ADMIN`, `cap_net_admin` or `NET_ADMIN`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        Capability::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == full)
            .ok_or_else(|| UnknownName {
                kind: "capability",
                value: s.to_string(),
            })
    }
}

impl From<Capability> for String {
    fn from(c: Capability) -> String {
        c.as_str().to_string()
    }
}

/// How a container gets one of its namespaces (`net`, `pid`, `ipc`, `uts`, `userns`).
///
/// LinuxKit interprets the string per field:
///
/// | field | unset / `""` | `host` / `root` | `new` | `none` | anything else |
/// |---|---|---|---|---|---|
/// | `net` | host | host | new | new (empty netns) | path |
/// | `pid` | **new** | host | new | path `none` | path |
/// | `ipc`, `uts`, `userns` | host | host | new | path `none` | path |
///
/// A path is a file such as `/run/netns/wg0` (created by another container's
/// `runtime.bindNS`); the container joins that namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// Share the host's namespace (`host`).
    Host,
    /// A fresh namespace (`new`).
    New,
    /// `none`: for `net` a fresh namespace with no interfaces; for the other fields upstream
    /// treats it as a path named `none`, so prefer [`Namespace::New`] there.
    None,
    /// Join the namespace bound at this path, e.g. `/run/netns/wg0`.
    Path(String),
}

impl Namespace {
    /// The string stored in the model (`host`, `new`, `none` or the path).
    pub fn as_str(&self) -> &str {
        match self {
            Namespace::Host => "host",
            Namespace::New => "new",
            Namespace::None => "none",
            Namespace::Path(p) => p,
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Namespace {
    /// `host`, `new` and `none` map to their variants; anything else is a path.
    fn from(s: &str) -> Self {
        match s {
            "host" => Namespace::Host,
            "new" => Namespace::New,
            "none" => Namespace::None,
            other => Namespace::Path(other.to_string()),
        }
    }
}

impl From<String> for Namespace {
    fn from(s: String) -> Self {
        Namespace::from(s.as_str())
    }
}

macro_rules! string_enum {
    (
        $(#[doc = $tdoc:literal])*
        $ty:ident, $kind:literal {
            $($(#[doc = $doc:literal])* $variant:ident => $s:literal,)*
        }
    ) => {
        $(#[doc = $tdoc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $ty {
            $($(#[doc = $doc])* $variant,)*
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant,)*];

            /// The string LinuxKit uses.
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $s,)* }
            }

            /// The Rust variant name (used by the code generator).
            pub const fn variant_name(self) -> &'static str {
                match self { $($ty::$variant => stringify!($variant),)* }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// A filesystem type for [`crate::Mount`] (the `type` key of a mount).
    ///
    /// With an empty type and a source of `mqueue`, `devpts`, `proc`, `sysfs` or `cgroup`,
    /// LinuxKit uses the source as the type; an empty destination takes the type's default
    /// mount point (`/proc`, `/dev/pts`, `/sys`, `/sys/fs/cgroup`, `/dev/mqueue`).
    MountType, "mount type" {
        /// A bind mount of `source` (a host path or a volume name).
        Bind => "bind",
        /// A recursive bind mount.
        Rbind => "rbind",
        /// A memory-backed filesystem.
        Tmpfs => "tmpfs",
        /// The process filesystem (default destination `/proc`).
        Proc => "proc",
        /// The sysfs filesystem (default destination `/sys`).
        Sysfs => "sysfs",
        /// Pseudo-terminals (default destination `/dev/pts`).
        Devpts => "devpts",
        /// POSIX message queues (default destination `/dev/mqueue`).
        Mqueue => "mqueue",
        /// cgroup v1 hierarchy (default destination `/sys/fs/cgroup`).
        Cgroup => "cgroup",
        /// The unified cgroup v2 hierarchy.
        Cgroup2 => "cgroup2",
        /// An overlay filesystem (`lowerdir=`, `upperdir=`, `workdir=` options).
        Overlay => "overlay",
        /// Kernel-managed device nodes.
        Devtmpfs => "devtmpfs",
        /// The security module filesystem.
        Securityfs => "securityfs",
        /// The kernel debug filesystem.
        Debugfs => "debugfs",
        /// The kernel tracing filesystem.
        Tracefs => "tracefs",
        /// The BPF filesystem.
        Bpf => "bpf",
        /// Huge pages.
        Hugetlbfs => "hugetlbfs",
        /// FUSE control filesystem.
        Fusectl => "fusectl",
        /// The configfs filesystem.
        Configfs => "configfs",
        /// Persistent storage of kernel crash logs.
        Pstore => "pstore",
        /// EFI variables.
        Efivarfs => "efivarfs",
        /// A squashfs image.
        Squashfs => "squashfs",
        /// ext4.
        Ext4 => "ext4",
        /// xfs.
        Xfs => "xfs",
        /// btrfs.
        Btrfs => "btrfs",
        /// FAT.
        Vfat => "vfat",
        /// ISO 9660.
        Iso9660 => "iso9660",
        /// Plan 9 (virtio 9p shares).
        NineP => "9p",
        /// virtio-fs shares.
        Virtiofs => "virtiofs",
        /// NFS.
        Nfs => "nfs",
    }
}

impl FromStr for MountType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MountType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "mount type",
                value: s.to_string(),
            })
    }
}

string_enum! {
    /// A process resource limit for `rlimits` (`name,soft,hard`).
    ///
    /// LinuxKit accepts the name in any case, with or without the `RLIMIT_` prefix; builders
    /// write the lower-case short form (`nofile`).
    Rlimit, "rlimit" {
        /// CPU time in seconds (`RLIMIT_CPU`).
        Cpu => "cpu",
        /// Largest file that may be created, in bytes (`RLIMIT_FSIZE`).
        Fsize => "fsize",
        /// Data segment size (`RLIMIT_DATA`).
        Data => "data",
        /// Stack size (`RLIMIT_STACK`).
        Stack => "stack",
        /// Core dump size (`RLIMIT_CORE`).
        Core => "core",
        /// Resident set size (`RLIMIT_RSS`, ignored by modern kernels).
        Rss => "rss",
        /// Number of processes of the real user id (`RLIMIT_NPROC`).
        Nproc => "nproc",
        /// Number of open file descriptors (`RLIMIT_NOFILE`).
        Nofile => "nofile",
        /// Locked memory in bytes (`RLIMIT_MEMLOCK`).
        Memlock => "memlock",
        /// Address space size (`RLIMIT_AS`).
        As => "as",
        /// File locks (`RLIMIT_LOCKS`).
        Locks => "locks",
        /// Queued signals (`RLIMIT_SIGPENDING`).
        Sigpending => "sigpending",
        /// Bytes in POSIX message queues (`RLIMIT_MSGQUEUE`).
        Msgqueue => "msgqueue",
        /// Ceiling of the nice value (`RLIMIT_NICE`).
        Nice => "nice",
        /// Ceiling of the real-time priority (`RLIMIT_RTPRIO`).
        Rtprio => "rtprio",
        /// Real-time CPU time in microseconds (`RLIMIT_RTTIME`).
        Rttime => "rttime",
    }
}

impl Rlimit {
    /// The kernel name, e.g. `RLIMIT_NOFILE`.
    pub fn kernel_name(self) -> String {
        format!("RLIMIT_{}", self.as_str().to_ascii_uppercase())
    }
}

impl FromStr for Rlimit {
    type Err = UnknownName;

    /// Parses as LinuxKit does: trimmed, any case, `RLIMIT_` prefix optional.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let short = upper.strip_prefix("RLIMIT_").unwrap_or(&upper);
        Rlimit::ALL
            .iter()
            .copied()
            .find(|r| r.as_str().eq_ignore_ascii_case(short))
            .ok_or_else(|| UnknownName {
                kind: "rlimit",
                value: s.to_string(),
            })
    }
}

/// A soft or hard resource limit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RlimitValue {
    /// A number.
    Value(u64),
    /// No limit (`unlimited`, i.e. 2^64-1).
    Unlimited,
}

impl fmt::Display for RlimitValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RlimitValue::Value(v) => write!(f, "{v}"),
            RlimitValue::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl From<u64> for RlimitValue {
    fn from(v: u64) -> Self {
        RlimitValue::Value(v)
    }
}

impl From<u32> for RlimitValue {
    fn from(v: u32) -> Self {
        RlimitValue::Value(u64::from(v))
    }
}

impl FromStr for RlimitValue {
    type Err = String;
    /// Parses as LinuxKit does: trimmed, `unlimited` in any case, else a `u64`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(RlimitValue::Unlimited);
        }
        // Go's `strconv.ParseUint`, which upstream uses, takes no sign.
        if t.starts_with('+') {
            return Err(format!(
                "cannot parse {t} as uint64: invalid syntax (no sign allowed)"
            ));
        }
        t.parse::<u64>()
            .map(RlimitValue::Value)
            .map_err(|e| format!("cannot parse {t} as uint64: {e}"))
    }
}

string_enum! {
    /// The type of a device node in `devices` (and of a device cgroup rule).
    DeviceType, "device type" {
        /// A character device (`c`).
        Char => "c",
        /// A block device (`b`).
        Block => "b",
        /// An unbuffered character device (`u`).
        Unbuffered => "u",
        /// A FIFO (`p`).
        Fifo => "p",
        /// Every type (`a`; device cgroup rules only).
        All => "a",
    }
}

impl FromStr for DeviceType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "device type",
                value: s.to_string(),
            })
    }
}

string_enum! {
    /// Mount propagation of a container's root filesystem (`rootfsPropagation`).
    Propagation, "propagation" {
        /// `shared`.
        Shared => "shared",
        /// `slave`.
        Slave => "slave",
        /// `private`.
        Private => "private",
        /// `unbindable`.
        Unbindable => "unbindable",
        /// `rshared`: recursively shared.
        Rshared => "rshared",
        /// `rslave`: recursively slave.
        Rslave => "rslave",
        /// `rprivate`: recursively private.
        Rprivate => "rprivate",
        /// `runbindable`.
        Runbindable => "runbindable",
    }
}

impl FromStr for Propagation {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Propagation::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "propagation",
                value: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_in_kernel_order() {
        assert_eq!(Capability::ALL.len(), 41);
        for (i, c) in Capability::ALL.iter().enumerate() {
            assert_eq!(c.number() as usize, i, "{c}");
        }
        assert_eq!(Capability::ALL[0].as_str(), "CAP_CHOWN");
        assert_eq!(Capability::ALL[40].as_str(), "CAP_CHECKPOINT_RESTORE");
        assert_eq!(Capability::SysAdmin.as_str(), "CAP_SYS_ADMIN");
        // Each variant is named after the capability it stands for (`NetAdmin` is
        // `CAP_NET_ADMIN`): the names come from linuxkit-validate's list, by number.
        for c in Capability::ALL {
            let name = c.as_str().trim_start_matches("CAP_").replace('_', "");
            assert!(name.eq_ignore_ascii_case(c.variant_name()), "{c:?} is {c}");
        }
    }

    #[test]
    fn capability_parsing() {
        assert_eq!(
            "CAP_NET_ADMIN".parse::<Capability>(),
            Ok(Capability::NetAdmin)
        );
        assert_eq!("net_admin".parse::<Capability>(), Ok(Capability::NetAdmin));
        assert!("CAP_FLY".parse::<Capability>().is_err());
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
        }
    }

    #[test]
    fn namespace_strings() {
        assert_eq!(Namespace::from("new"), Namespace::New);
        assert_eq!(
            Namespace::from("/run/netns/wg0"),
            Namespace::Path("/run/netns/wg0".into())
        );
        assert_eq!(Namespace::None.as_str(), "none");
    }

    #[test]
    fn rlimit_parsing() {
        assert_eq!("RLIMIT_NOFILE".parse::<Rlimit>(), Ok(Rlimit::Nofile));
        assert_eq!(" nofile ".parse::<Rlimit>(), Ok(Rlimit::Nofile));
        assert_eq!(Rlimit::ALL.len(), 16);
        assert_eq!(Rlimit::Rttime.kernel_name(), "RLIMIT_RTTIME");
        assert!("files".parse::<Rlimit>().is_err());
        assert_eq!(
            "Unlimited".parse::<RlimitValue>(),
            Ok(RlimitValue::Unlimited)
        );
        assert!("-1".parse::<RlimitValue>().is_err());
    }

    #[test]
    fn mount_and_device_types() {
        assert_eq!("cgroup2".parse::<MountType>(), Ok(MountType::Cgroup2));
        assert_eq!(MountType::NineP.as_str(), "9p");
        assert_eq!("c".parse::<DeviceType>(), Ok(DeviceType::Char));
    }
}
