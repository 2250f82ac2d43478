//! Storage packages: formatting, mounting, swap, encryption and loop devices.

use std::fmt;

use crate::model::Container;
use crate::pkgs::{plain_wrapper, versions, wrapper, Size};

// ---------------------------------------------------------------------------------------------
// format

/// A filesystem [`Format::filesystem`] can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filesystem {
    /// ext4 (the default).
    Ext4,
    /// btrfs.
    Btrfs,
    /// XFS.
    Xfs,
}

impl Filesystem {
    /// Every filesystem the package supports.
    pub const ALL: [Filesystem; 3] = [Filesystem::Ext4, Filesystem::Btrfs, Filesystem::Xfs];

    /// The name the package takes (`ext4`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Filesystem::Ext4 => "ext4",
            Filesystem::Btrfs => "btrfs",
            Filesystem::Xfs => "xfs",
        }
    }

    /// The filesystem named `s`.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    #[cfg(feature = "codegen")]
    pub(crate) fn rust_expr(self) -> String {
        let v = match self {
            Filesystem::Ext4 => "Ext4",
            Filesystem::Btrfs => "Btrfs",
            Filesystem::Xfs => "Xfs",
        };
        format!("pkgs::Filesystem::{v}")
    }
}

impl fmt::Display for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A partition table type for [`Format::partition_table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionTable {
    /// An MBR ("DOS") table (the default).
    Dos,
    /// A GPT table.
    Gpt,
}

impl PartitionTable {
    /// The name the package takes (`dos`, `gpt`).
    pub const fn as_str(self) -> &'static str {
        match self {
            PartitionTable::Dos => "dos",
            PartitionTable::Gpt => "gpt",
        }
    }

    /// The table type named `s`.
    pub fn from_name(s: &str) -> Option<Self> {
        [PartitionTable::Dos, PartitionTable::Gpt]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    #[cfg(feature = "codegen")]
    pub(crate) fn rust_expr(self) -> String {
        match self {
            PartitionTable::Dos => "pkgs::PartitionTable::Dos".into(),
            PartitionTable::Gpt => "pkgs::PartitionTable::Gpt".into(),
        }
    }
}

/// [`format()`]: partitions and formats a disk.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Format {
    c: Container,
    force: bool,
    filesystem: Option<Filesystem>,
    label: Option<String>,
    partition_table: Option<PartitionTable>,
    verbose: bool,
    device: Option<String>,
}
wrapper!(Format);

/// Partitions and formats a disk at boot (onboot): by default the first disk without a
/// partition table gets one Linux partition filling it, formatted ext4. A disk that already
/// has a partition table is left alone, so data persists across boots (unless
/// [`Format::force`]). Follow it with [`mount`] to use the disk.
///
/// Label privileges: `CAP_SYS_ADMIN`, `CAP_MKNOD`, every block device, its own network and IPC
/// namespaces; binds the host's `/dev`.
pub fn format() -> Format {
    Format {
        c: Container::new("format", versions::FORMAT),
        force: false,
        filesystem: None,
        label: None,
        partition_table: None,
        verbose: false,
        device: None,
    }
}

impl Format {
    /// Creates this filesystem (`-type`; ext4 by default).
    #[track_caller]
    pub fn filesystem(mut self, filesystem: Filesystem) -> Self {
        self.filesystem = Some(filesystem);
        self.render()
    }

    /// Labels the filesystem (`-label`), so [`Mountie::label`] finds it.
    #[track_caller]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self.render()
    }

    /// Creates this partition table type (`-partition`; `dos` by default).
    #[track_caller]
    pub fn partition_table(mut self, table: PartitionTable) -> Self {
        self.partition_table = Some(table);
        self.render()
    }

    /// Formats only `device` (such as `/dev/sda`) instead of the first empty disk.
    #[track_caller]
    pub fn device(mut self, device: impl Into<String>) -> Self {
        self.device = Some(device.into());
        self.render()
    }

    /// Clears and recreates the partition of [`Format::device`] on every boot, even when it
    /// holds data (`-force`): a scratch disk.
    #[track_caller]
    pub fn force(mut self) -> Self {
        self.force = true;
        self.render()
    }

    /// Logs device detection and partitioning (`-verbose`).
    #[track_caller]
    pub fn verbose(mut self) -> Self {
        self.verbose = true;
        self.render()
    }

    #[track_caller]
    fn render(mut self) -> Self {
        let mut args = vec!["/usr/bin/format".to_string()];
        if self.force {
            args.push("-force".into());
        }
        if let Some(f) = self.filesystem {
            args.extend(["-type".into(), f.as_str().into()]);
        }
        if let Some(l) = &self.label {
            args.extend(["-label".into(), l.clone()]);
        }
        if let Some(p) = self.partition_table {
            args.extend(["-partition".into(), p.as_str().into()]);
        }
        if self.verbose {
            args.push("-verbose".into());
        }
        args.extend(self.device.clone());
        self.c = self.c.command(args);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// mount

/// [`mount()`]: mounts a block device (`mountie`).
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Mountie {
    c: Container,
    mount_point: String,
    label: Option<String>,
    uuid: Option<String>,
    device: Option<String>,
}
wrapper!(Mountie);

/// Mounts a disk at `mount_point` at boot (onboot): by default the first unmounted Linux
/// partition of the first disk; choose it with [`Mountie::label`], [`Mountie::uuid`] or
/// [`Mountie::device`]. The mount point is created; it must be under `/var` (the only place
/// whose mounts reach the host through the label's `rshared` bind) unless the container binds
/// more.
///
/// Label privileges: `CAP_SYS_ADMIN`, every block device, rootfs propagation `shared`, its own
/// network and IPC namespaces; binds the host's `/dev`, `/var` (`rshared,rbind`) and `/` at
/// `/hostroot`.
#[track_caller]
pub fn mount(mount_point: impl Into<String>) -> Mountie {
    Mountie {
        c: Container::new("mount", versions::MOUNT),
        mount_point: mount_point.into(),
        label: None,
        uuid: None,
        device: None,
    }
    .render()
}

impl Mountie {
    /// Mounts the partition with this filesystem label (`-label`, see [`Format::label`]).
    #[track_caller]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self.render()
    }

    /// Mounts the partition with this filesystem UUID (`-uuid`).
    #[track_caller]
    pub fn uuid(mut self, uuid: impl Into<String>) -> Self {
        self.uuid = Some(uuid.into());
        self.render()
    }

    /// Mounts this device, such as `/dev/sda1` or a [`DmCrypt::mapped_device`] (given as the
    /// first argument, as `mount` takes it).
    #[track_caller]
    pub fn device(mut self, device: impl Into<String>) -> Self {
        self.device = Some(device.into());
        self.render()
    }

    /// The mount point.
    pub fn mount_point(&self) -> &str {
        &self.mount_point
    }

    #[track_caller]
    fn render(mut self) -> Self {
        let mut args = vec!["/usr/bin/mountie".to_string()];
        if let Some(l) = &self.label {
            args.extend(["-label".into(), l.clone()]);
        }
        if let Some(u) = &self.uuid {
            args.extend(["-uuid".into(), u.clone()]);
        }
        args.extend(self.device.clone());
        args.push(self.mount_point.clone());
        self.c = self.c.command(args);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// swap

/// A condition for creating the swap file ([`Swap::condition`]): when it does not hold, no swap
/// file is made and the container exits successfully, or fails if the condition is
/// [`SwapCondition::required`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SwapCondition {
    kind: SwapConditionKind,
    required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SwapConditionKind {
    Mounted(String),
    MinSize(String, Size),
}

impl SwapCondition {
    /// `path` exists and is a mount point (an external disk is mounted there): `part:<path>`.
    pub fn mounted(path: impl Into<String>) -> Self {
        SwapCondition {
            kind: SwapConditionKind::Mounted(path.into()),
            required: false,
        }
    }

    /// The filesystem holding `path` is at least `size`: `partsize:<path>:<size>`.
    pub fn min_size(path: impl Into<String>, size: Size) -> Self {
        SwapCondition {
            kind: SwapConditionKind::MinSize(path.into(), size),
            required: false,
        }
    }

    /// Fails the container (instead of skipping the swap file) when the condition does not hold.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The `--condition` argument.
    pub fn as_arg(&self) -> String {
        let mut s = match &self.kind {
            SwapConditionKind::Mounted(p) => format!("part:{p}"),
            SwapConditionKind::MinSize(p, size) => format!("partsize:{p}:{size}"),
        };
        if self.required {
            s.push_str(":true");
        }
        s
    }

    /// The condition an argument writes (the inverse of [`SwapCondition::as_arg`]).
    pub fn from_arg(arg: &str) -> Option<Self> {
        let parts: Vec<&str> = arg.split(':').collect();
        let (condition, rest) = match parts.as_slice() {
            ["part", path, rest @ ..] => (SwapCondition::mounted(*path), rest),
            ["partsize", path, size, rest @ ..] => {
                (SwapCondition::min_size(*path, Size::parse(size)?), rest)
            }
            _ => return None,
        };
        let condition = match rest {
            [] => condition,
            ["true"] => condition.required(),
            _ => return None,
        };
        (condition.as_arg() == arg).then_some(condition)
    }

    #[cfg(feature = "codegen")]
    pub(crate) fn rust_expr(&self) -> String {
        let lit = crate::codegen::lit;
        let mut s = match &self.kind {
            SwapConditionKind::Mounted(p) => format!("pkgs::SwapCondition::mounted({})", lit(p)),
            SwapConditionKind::MinSize(p, size) => format!(
                "pkgs::SwapCondition::min_size({}, {})",
                lit(p),
                size.rust_expr()
            ),
        };
        if self.required {
            s.push_str(".required()");
        }
        s
    }
}

/// [`swap()`]: a swap file.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Swap {
    c: Container,
    path: String,
    size: Size,
    encrypt: bool,
    conditions: Vec<SwapCondition>,
    debug: bool,
}
wrapper!(Swap);

/// Creates a swap file of `size` at `path` and enables it, at boot (onboot). `path` must be
/// under `/var`, normally on a disk mounted with [`mount`] (a tmpfs `/var` cannot hold swap).
///
/// Label privileges: `CAP_SYS_ADMIN`, `CAP_MKNOD`, every device, its own network and IPC
/// namespaces; binds the host's `/dev` and `/var`.
#[track_caller]
pub fn swap(path: impl Into<String>, size: Size) -> Swap {
    Swap {
        c: Container::new("swap", versions::SWAP),
        path: path.into(),
        size,
        encrypt: false,
        conditions: Vec::new(),
        debug: false,
    }
    .render()
}

impl Swap {
    /// Encrypts the swap with a random key made at each boot (dm-crypt `plain` mode,
    /// `aes-cbc-essiv:sha256`, mapped at `/dev/mapper/swapfile`): `--encrypt`.
    #[track_caller]
    pub fn encrypt(mut self) -> Self {
        self.encrypt = true;
        self.render()
    }

    /// Creates the swap file only if `condition` holds (all conditions must): `--condition`.
    #[track_caller]
    pub fn condition(mut self, condition: SwapCondition) -> Self {
        self.conditions.push(condition);
        self.render()
    }

    /// Traces the script (`--debug`).
    #[track_caller]
    pub fn debug(mut self) -> Self {
        self.debug = true;
        self.render()
    }

    #[track_caller]
    fn render(mut self) -> Self {
        let mut args = vec![
            "/swap.sh".to_string(),
            "--path".into(),
            self.path.clone(),
            "--size".into(),
            self.size.to_string(),
        ];
        if self.encrypt {
            args.push("--encrypt".into());
        }
        for c in &self.conditions {
            args.extend(["--condition".into(), c.as_arg()]);
        }
        if self.debug {
            args.push("--debug".into());
        }
        self.c = self.c.command(args);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// dm-crypt

/// [`dm_crypt()`]: an encrypted block device.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct DmCrypt {
    c: Container,
    dm_name: String,
    device: String,
    luks: bool,
    key_file: Option<String>,
}
wrapper!(DmCrypt);

/// Maps `device` (such as `/dev/sda1` or a [`Losetup::loop_device`]) as the encrypted device
/// `/dev/mapper/<dm_name>` at boot (onboot), with the key in the host's `/etc/dm-crypt/key`
/// (a 32-byte `files` entry), cipher `aes-cbc-essiv:sha256`. An ext4 filesystem is created
/// on the mapped device when it has none; mount it with
/// `mount(..).device(crypt.mapped_device())`.
///
/// Label privileges: `CAP_SYS_ADMIN`, `CAP_MKNOD`, every device; binds the host's `/dev` and
/// `/etc/dm-crypt`.
#[track_caller]
pub fn dm_crypt(dm_name: impl Into<String>, device: impl Into<String>) -> DmCrypt {
    DmCrypt {
        c: Container::new("dm-crypt", versions::DM_CRYPT),
        dm_name: dm_name.into(),
        device: device.into(),
        luks: false,
        key_file: None,
    }
    .render()
}

impl DmCrypt {
    /// Uses LUKS (`-l`): the device gets a LUKS header on first use.
    #[track_caller]
    pub fn luks(mut self) -> Self {
        self.luks = true;
        self.render()
    }

    /// Reads the key from `file` (`-k`): a name relative to `/etc/dm-crypt`, or an absolute
    /// path (which the container must then bind).
    #[track_caller]
    pub fn key_file(mut self, file: impl Into<String>) -> Self {
        self.key_file = Some(file.into());
        self.render()
    }

    /// The decrypted device, `/dev/mapper/<dm_name>`.
    pub fn mapped_device(&self) -> String {
        format!("/dev/mapper/{}", self.dm_name)
    }

    #[track_caller]
    fn render(mut self) -> Self {
        let mut args = vec!["/usr/bin/crypto".to_string()];
        if self.luks {
            args.push("-l".into());
        }
        if let Some(k) = &self.key_file {
            args.extend(["-k".into(), k.clone()]);
        }
        args.extend([self.dm_name.clone(), self.device.clone()]);
        self.c = self.c.command(args);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// losetup

/// [`losetup()`]: a file as a loop device.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Losetup {
    c: Container,
    file: String,
    create: bool,
    size_mib: Option<u64>,
    loop_device: Option<String>,
}
wrapper!(Losetup);

/// Attaches `file` (under `/var`, usually on a mounted disk) to the loop device `/dev/loop0`
/// at boot (onboot), e.g. portable storage to encrypt with [`dm_crypt`]. Named `loop` as in
/// upstream's `dm-crypt-loop.yml`.
///
/// Label privileges: `CAP_SYS_ADMIN`, every block device; binds the host's `/dev` and `/var`.
#[track_caller]
pub fn losetup(file: impl Into<String>) -> Losetup {
    Losetup {
        c: Container::new("loop", versions::LOSETUP),
        file: file.into(),
        create: false,
        size_mib: None,
        loop_device: None,
    }
    .render()
}

impl Losetup {
    /// Creates the file, filled with zeros, when it does not exist (`--create`; 10 MiB unless
    /// [`Losetup::size_mib`]).
    #[track_caller]
    pub fn create(mut self) -> Self {
        self.create = true;
        self.render()
    }

    /// The size in MiB of a file [`Losetup::create`] makes (`--size`).
    #[track_caller]
    pub fn size_mib(mut self, mib: u64) -> Self {
        self.size_mib = Some(mib);
        self.render()
    }

    /// Uses this loop device instead of `/dev/loop0` (`--dev`).
    #[track_caller]
    pub fn device(mut self, device: impl Into<String>) -> Self {
        self.loop_device = Some(device.into());
        self.render()
    }

    /// The loop device the file is attached to (`/dev/loop0` unless [`Losetup::device`]).
    pub fn loop_device(&self) -> &str {
        self.loop_device.as_deref().unwrap_or("/dev/loop0")
    }

    #[track_caller]
    fn render(mut self) -> Self {
        let mut args = vec!["/usr/bin/loopy".to_string()];
        if self.create {
            args.push("--create".into());
        }
        if let Some(n) = self.size_mib {
            args.extend(["--size".into(), n.to_string()]);
        }
        if let Some(d) = &self.loop_device {
            args.extend(["--dev".into(), d.clone()]);
        }
        args.push(self.file.clone());
        self.c = self.c.command(args);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// trim-after-delete

plain_wrapper! {
    /// [`trim_after_delete()`]: TRIM after Docker deletes images.
    TrimAfterDelete
}

/// A service that watches Docker's events and runs `fstrim /var/lib/docker` after an image is
/// deleted, so a thin-provisioned virtual disk gives the space back to the host.
///
/// Label privileges: `CAP_SYS_ADMIN`; binds the host's `/var/run` and `/var/lib/docker`.
pub fn trim_after_delete() -> TrimAfterDelete {
    TrimAfterDelete {
        c: Container::new("trim-after-delete", versions::TRIM_AFTER_DELETE),
    }
}
