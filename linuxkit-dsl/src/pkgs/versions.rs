//! Every image reference the catalogue pins, in one place.
//!
//! The tags are the ones LinuxKit's own example files use (upstream commit `3bf33c3a`), so a
//! definition written with [`crate::pkgs`] boots the same images as those files. Bumping a
//! package means changing its constant here (and the test in `linuxkit-dsl/tests/pkgs.rs` that
//! compares against upstream's examples); `cargo linuxkit update` / `lock` resolve these
//! references like any other, and [`ALL`] lists them for tools.

/// The LinuxKit kernel the examples boot.
pub const KERNEL: &str = "linuxkit/kernel:6.12.59";
/// The real-time (`PREEMPT_RT`) LinuxKit kernel of `platform-rt-for-vmware.yml`.
pub const KERNEL_RT: &str = "linuxkit/kernel:6.6.71-rt";
/// LinuxKit's init (PID 1, `/etc/init.d`, the onboot/onshutdown runner).
pub const INIT: &str = "linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a";
/// runc, which init uses for onboot and onshutdown containers.
pub const RUNC: &str = "linuxkit/runc:9442aa234715e751a16144f1d4ae3fd1a00fd492";
/// containerd, which runs the services.
pub const CONTAINERD: &str = "linuxkit/containerd:ba19f64efd3331a8fd0a33e00eabd14f6ee1780e";
/// CA certificates at `/etc/ssl`.
pub const CA_CERTIFICATES: &str =
    "linuxkit/ca-certificates:256f1950df59f2f209e9f0b81374177409eb11de";
/// Firmware blobs under `/lib/firmware`.
pub const FIRMWARE: &str = "linuxkit/firmware:68c2b29f28f2639020b9f8d55254d333498a30aa";
/// The in-memory log buffer started from init.
pub const MEMLOGD: &str = "linuxkit/memlogd:19b0fdec83dded95e0a2f97a8ca6868f5e83c401";
/// vpnkit's port-exposing userland proxy and iptables wrapper, installed on the host.
pub const VPNKIT_EXPOSE_PORT: &str =
    "linuxkit/vpnkit-expose-port:19c9fd4180d33c9b434fd73b1a3a7ab83cadbf30";

/// Applies sysctl settings at boot.
pub const SYSCTL: &str = "linuxkit/sysctl:43ac1d39da329c3567fcb9689e5ca99de6d169b6";
/// Applies sysfs settings at boot.
pub const SYSFS: &str = "linuxkit/sysfs:6d5bd933762f6b216744c711c6e876756cee9600";
/// Feeds the kernel entropy pool from the hardware random number generator.
pub const RNGD: &str = "linuxkit/rngd:984eb580ecb63986f07f626b61692a97aacd7198";
/// DHCP client.
pub const DHCPCD: &str = "linuxkit/dhcpcd:b87e9ececac55a65eaa592f4dd8b4e0c3009afdb";
/// Console login.
pub const GETTY: &str = "linuxkit/getty:a86d74c8f89be8956330c3b115b0b1f2e09ef6e0";
/// SSH server.
pub const SSHD: &str = "linuxkit/sshd:08e5d4a46603eff485d5d1b14001cc932a530858";
/// Cloud metadata and user data to `/run/config`.
pub const METADATA: &str = "linuxkit/metadata:4bbf406678d376e1ae9c9efae6ca2421f63fb4ff";
/// Mounts a block device (`mountie`).
pub const MOUNT: &str = "linuxkit/mount:bd1c3bb45e48e68e47a9456d1669f7119f855184";
/// Partitions and formats a disk.
pub const FORMAT: &str = "linuxkit/format:4f779c0b0d0ba145b7f03211b5cbf59fbbe12e54";
/// NTP daemon.
pub const OPENNTPD: &str = "linuxkit/openntpd:2508f1d040441457a0b3e75744878afdf61bc473";
/// iproute2 and the WireGuard tools.
pub const IP: &str = "linuxkit/ip:3c0676ee83a0dc739685be1253b8326f08581ef7";
/// Creates and enables a swap file.
pub const SWAP: &str = "linuxkit/swap:7e19e5e69370e82b90a110093441abbf5e70638b";
/// Sets up a dm-crypt encrypted device.
pub const DM_CRYPT: &str = "linuxkit/dm-crypt:27e016fa7c12d6cfce0d045a65b112c787f6dc3c";
/// Loads kernel modules.
pub const MODPROBE: &str = "linuxkit/modprobe:4248cdc3494779010e7e7488fc17b6fd45b73aeb";
/// Registers binfmt_misc handlers (QEMU user emulation).
pub const BINFMT: &str = "linuxkit/binfmt:4924dc6b9aa7e0bcc6fe8825c24471eac4684108";
/// ACPI event daemon (power button).
pub const ACPID: &str = "linuxkit/acpid:dbd30b25903bf17042c22171b729f94c4bd3d98d";
/// Container resource monitoring.
pub const CADVISOR: &str = "linuxkit/cadvisor:117b93de56bb9d4838ad61d22146572c4261f449";
/// Kernel log to the log stream.
pub const KMSG: &str = "linuxkit/kmsg:c4d8d509cf496faa21c184ae7fdff6fddc6e186d";
/// Writes memlogd's logs to rotated files in `/var/log`.
pub const LOGWRITE: &str = "linuxkit/logwrite:24e6a76c2d45a7679d4f53db9ea377373b543dc7";
/// Attaches a file to a loop device.
pub const LOSETUP: &str = "linuxkit/losetup:ba1b84df18e666b4b860c4c39fd4aedb228bee96";
/// Prometheus node exporter.
pub const NODE_EXPORTER: &str = "linuxkit/node_exporter:f334791f344bdf477317840e14cee57904fee95a";
/// VMware guest tools.
pub const OPEN_VM_TOOLS: &str = "linuxkit/open-vm-tools:ce668b7064e26dbb4767a9106aae8cb888a3a61c";
/// TPM software stack daemon (`tcsd`).
pub const TSS: &str = "linuxkit/tss:15e6d8a72e46089109985ee9a72dc457bf5c42b1";
/// Runs `fstrim` after Docker deletes images.
pub const TRIM_AFTER_DELETE: &str =
    "linuxkit/trim-after-delete:012784ce3bdd59d42799dbf6555fe6da972cc721";
/// VSOCK to Unix socket forwarder.
pub const VSUDD: &str = "linuxkit/vsudd:b227ed955d14720fcb99f0e1fbd69fbc1dea3106";
/// vpnkit's port forwarder over VSOCK.
pub const VPNKIT_FORWARDER: &str =
    "linuxkit/vpnkit-forwarder:d0bc6500a9dc97b4556bb4bda20160a294cc61a3";
/// Resynchronises the clock with the host after a suspend.
pub const HOST_TIMESYNC_DAEMON: &str =
    "linuxkit/host-timesync-daemon:288c5bf6d7cd40b76d7a2276435c3c011cb26e37";

/// One pinned package of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    /// LinuxKit's package name (`pkg/<name>` upstream, `kernel` for the kernel).
    pub package: &'static str,
    /// The catalogue function returning it (`crate::pkgs::<function>`).
    pub function: &'static str,
    /// The pinned image reference.
    pub reference: &'static str,
    /// Where it goes: the kernel, the init list or a container section.
    pub kind: Kind,
}

/// What a catalogue entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A kernel image (`Image::new(Kernel)`).
    Kernel,
    /// An init image (`Image::init`).
    Init,
    /// An onboot, onshutdown or service container.
    Container,
}

impl Pinned {
    /// The repository part of the reference (`linuxkit/getty`).
    pub fn repository(&self) -> &'static str {
        repository(self.reference)
    }

    /// The tag of the reference (`a86d74c8...`).
    pub fn tag(&self) -> &'static str {
        &self.reference[self.repository().len() + 1..]
    }
}

/// The repository of an image reference: everything before the tag or digest
/// (`linuxkit/getty:abc` -> `linuxkit/getty`, `localhost:5000/x@sha256:..` -> `localhost:5000/x`).
pub fn repository(reference: &str) -> &str {
    linuxkit_validate::split_reference(reference).0
}

const fn pin(
    package: &'static str,
    function: &'static str,
    reference: &'static str,
    kind: Kind,
) -> Pinned {
    Pinned {
        package,
        function,
        reference,
        kind,
    }
}

/// Every pinned reference of the catalogue: the kernels, the init images, then the containers.
pub const ALL: [Pinned; 36] = [
    pin("kernel", "kernel", KERNEL, Kind::Kernel),
    pin("kernel", "kernel_rt", KERNEL_RT, Kind::Kernel),
    pin("init", "init", INIT, Kind::Init),
    pin("runc", "runc", RUNC, Kind::Init),
    pin("containerd", "containerd", CONTAINERD, Kind::Init),
    pin(
        "ca-certificates",
        "ca_certificates",
        CA_CERTIFICATES,
        Kind::Init,
    ),
    pin("firmware", "firmware", FIRMWARE, Kind::Init),
    pin("memlogd", "memlogd", MEMLOGD, Kind::Init),
    pin(
        "vpnkit-expose-port",
        "vpnkit_expose_port",
        VPNKIT_EXPOSE_PORT,
        Kind::Init,
    ),
    pin("sysctl", "sysctl", SYSCTL, Kind::Container),
    pin("sysfs", "sysfs", SYSFS, Kind::Container),
    pin("rngd", "rngd", RNGD, Kind::Container),
    pin("dhcpcd", "dhcpcd", DHCPCD, Kind::Container),
    pin("getty", "getty", GETTY, Kind::Container),
    pin("sshd", "sshd", SSHD, Kind::Container),
    pin("metadata", "metadata", METADATA, Kind::Container),
    pin("mount", "mount", MOUNT, Kind::Container),
    pin("format", "format", FORMAT, Kind::Container),
    pin("openntpd", "openntpd", OPENNTPD, Kind::Container),
    pin("ip", "ip", IP, Kind::Container),
    pin("swap", "swap", SWAP, Kind::Container),
    pin("dm-crypt", "dm_crypt", DM_CRYPT, Kind::Container),
    pin("modprobe", "modprobe", MODPROBE, Kind::Container),
    pin("binfmt", "binfmt", BINFMT, Kind::Container),
    pin("acpid", "acpid", ACPID, Kind::Container),
    pin("cadvisor", "cadvisor", CADVISOR, Kind::Container),
    pin("kmsg", "kmsg", KMSG, Kind::Container),
    pin("logwrite", "logwrite", LOGWRITE, Kind::Container),
    pin("losetup", "losetup", LOSETUP, Kind::Container),
    pin(
        "node_exporter",
        "node_exporter",
        NODE_EXPORTER,
        Kind::Container,
    ),
    pin(
        "open-vm-tools",
        "open_vm_tools",
        OPEN_VM_TOOLS,
        Kind::Container,
    ),
    pin("tss", "tss", TSS, Kind::Container),
    pin(
        "trim-after-delete",
        "trim_after_delete",
        TRIM_AFTER_DELETE,
        Kind::Container,
    ),
    pin("vsudd", "vsudd", VSUDD, Kind::Container),
    pin(
        "vpnkit-forwarder",
        "vpnkit_forwarder",
        VPNKIT_FORWARDER,
        Kind::Container,
    ),
    pin(
        "host-timesync-daemon",
        "host_timesync_daemon",
        HOST_TIMESYNC_DAEMON,
        Kind::Container,
    ),
];

/// The catalogue entry whose pinned reference is exactly `reference`.
pub fn find_reference(reference: &str) -> Option<&'static Pinned> {
    ALL.iter().find(|p| p.reference == reference)
}

/// The catalogue entry for the repository of `reference` (any tag), if there is one.
/// For the kernel the plain [`KERNEL`] entry is returned unless the reference is exactly
/// another kernel entry.
pub fn find_repository(reference: &str) -> Option<&'static Pinned> {
    find_reference(reference).or_else(|| {
        let repo = repository(reference);
        ALL.iter().find(|p| p.repository() == repo)
    })
}
