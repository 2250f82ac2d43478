//! The LinuxKit image model: exactly the schema of a LinuxKit YAML file.
//!
//! Every optional field is an `Option` so that "unset" and "set to empty" stay distinct, as they
//! are in LinuxKit (an empty list in YAML overrides the image label's value). Field names follow
//! LinuxKit's YAML keys through serde renames, and unknown keys are rejected at every level.
//!
//! Values whose vocabulary LinuxKit treats as strings (capabilities, namespace modes, rlimits,
//! mount types) are stored as strings so that any LinuxKit file round-trips unchanged; the typed
//! vocabulary lives in [`crate::types`] and the builders in [`crate::builder`] accept it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole LinuxKit image definition (LinuxKit's `Moby` config).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// The kernel section; without it the output has no `boot/` content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Kernel>,
    /// Images unpacked at `/` in order (init, runc, containerd, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init: Vec<String>,
    /// Containers run once, in order, at boot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onboot: Vec<Container>,
    /// Containers run once, in order, at shutdown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onshutdown: Vec<Container>,
    /// Long-running containers; names must be unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Container>,
    /// Extra files, directories and symlinks added to the root filesystem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
    /// Named volumes that containers can bind or mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Legacy Docker Content Trust settings: accepted and ignored, as upstream does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
}

/// The `kernel` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// The kernel OCI image.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// The kernel command line, written verbatim to `boot/cmdline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// File name of the kernel binary at the image root (default `kernel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// Tarball inside the image unpacked at `/` (default `kernel.tar`; `none` or `""` disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<String>,
    /// Microcode cpio inside the image, prepended to the initrd (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucode: Option<String>,
}

/// An `onboot`, `onshutdown` or `services` entry: one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Container {
    /// Container name: directory name, container id and uid/gid name.
    pub name: String,
    /// OCI image reference.
    pub image: String,
    /// Capabilities; replaces the label's list and `capabilities.add`. `all` / `none` alone expand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// Capabilities appended to the image label's list.
    #[serde(
        default,
        rename = "capabilities.add",
        skip_serializing_if = "Option::is_none"
    )]
    pub capabilities_add: Option<Vec<String>>,
    /// Ambient capabilities (also added to the bounding set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambient: Option<Vec<String>>,
    /// Full OCI mount specifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    /// Bind mounts `src:dst[:opts]`; replaces the label's binds and `binds.add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binds: Option<Vec<String>>,
    /// Bind mounts appended to the image label's binds.
    #[serde(default, rename = "binds.add", skip_serializing_if = "Option::is_none")]
    pub binds_add: Option<Vec<String>>,
    /// Device nodes to create and allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    /// tmpfs mounts `dst[:opt,opt]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<Vec<String>>,
    /// Process arguments (default: the image's Entrypoint + Cmd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Process environment `KEY=value` (default: the image's Env).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Working directory (default: the image's WorkingDir, else `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Network namespace: `host` (default), `new`/`none`, or a namespace path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
    /// PID namespace: new by default; `host`, or a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// IPC namespace: host by default; `new`, or a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// UTS namespace: host by default; `new`, or a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// User namespace: host by default; `new`, or a path (experimental upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<String>,
    /// Hostname inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Read-only root filesystem (also changes the bundle layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly: Option<bool>,
    /// Paths masked inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_paths: Option<Vec<String>>,
    /// Paths made read-only inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_paths: Option<Vec<String>>,
    /// User id: a number, or the name of a container of this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<Id>,
    /// Group id: a number, or the name of a container of this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<Id>,
    /// Supplementary group ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_gids: Option<Vec<Id>>,
    /// Set the no_new_privs bit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_new_privileges: Option<bool>,
    /// OOM score adjustment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    /// Root filesystem mount propagation (`shared`, `rslave`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    /// cgroup path of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    /// OCI Linux resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Namespaced sysctls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysctl: Option<BTreeMap<String, String>>,
    /// Resource limits as `name,soft,hard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rlimits: Option<Vec<String>>,
    /// User namespace uid mappings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid_mappings: Option<Vec<IdMapping>>,
    /// User namespace gid mappings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid_mappings: Option<Vec<IdMapping>>,
    /// OCI annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Actions taken by init around the container (goes to `runtime.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
}

/// A uid or gid: a number, or a name resolved against the containers of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A numeric id.
    Num(i64),
    /// A container name (or `root` / `""` for 0).
    Name(String),
}

/// An OCI mount, as LinuxKit reads it from YAML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Mount point inside the container.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// Filesystem type.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Mount source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Mount options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// uid mappings of an idmapped mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidmappings: Option<Vec<IdMapping>>,
    /// gid mappings of an idmapped mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gidmappings: Option<Vec<IdMapping>>,
}

/// A user namespace id mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdMapping {
    /// First id on the host.
    #[serde(default, rename = "hostID", skip_serializing_if = "Option::is_none")]
    pub host_id: Option<i64>,
    /// First id in the container.
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<i64>,
    /// Number of ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// A device node made available to the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Device path, or `all` to allow every device of `type`.
    #[serde(default)]
    pub path: String,
    /// `c`, `b`, `u` or `p`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Major number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    /// Minor number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    /// File mode as an octal string, e.g. `"0666"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The subset of OCI `LinuxResources` that LinuxKit's schema allows.
///
/// All schema keys are accepted and round-trip; note that upstream silently drops several
/// camelCase keys when generating `config.json` (see the build spec §1.15).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    /// Device cgroup rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceCgroup>>,
    /// Memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// CPU limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// PID limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    /// Block IO limits.
    #[serde(default, rename = "blockio", skip_serializing_if = "Option::is_none")]
    pub block_io: Option<BlockIo>,
    /// Hugepage limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hugepage_limits: Option<Vec<HugepageLimit>>,
    /// Network class and priorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// A device cgroup rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCgroup {
    /// Allow (true) or deny (false).
    #[serde(default)]
    pub allow: bool,
    /// Device type `a`, `c` or `b`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Major number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    /// Minor number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    /// Access `rwm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

/// Memory limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Memory {
    /// Limit in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Soft limit in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    /// Memory plus swap limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    /// Kernel memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    /// Kernel TCP buffer limit.
    #[serde(default, rename = "kernelTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_tcp: Option<i64>,
    /// Swappiness 0..100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
    /// Disable the OOM killer.
    #[serde(
        default,
        rename = "disableOOMKiller",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_oom_killer: Option<bool>,
}

/// CPU limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cpu {
    /// Relative CPU weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// CFS quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    /// CFS period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Realtime runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_runtime: Option<i64>,
    /// Realtime period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_period: Option<u64>,
    /// CPUs to use, e.g. `0-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// Memory nodes to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
}

/// PID limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pids {
    /// Maximum number of tasks.
    #[serde(default)]
    pub limit: i64,
}

/// Block IO limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlockIo {
    /// Weight 10..1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Leaf weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    /// Per-device weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_device: Option<Vec<serde_json::Value>>,
    /// Per-device read bytes/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_read_bps_device: Option<Vec<serde_json::Value>>,
    /// Per-device write bytes/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_write_bps_device: Option<Vec<serde_json::Value>>,
    /// Per-device read IO/s.
    #[serde(
        default,
        rename = "throttleReadIOPSDevice",
        skip_serializing_if = "Option::is_none"
    )]
    pub throttle_read_iops_device: Option<Vec<serde_json::Value>>,
    /// Per-device write IO/s.
    #[serde(
        default,
        rename = "throttleWriteIOPSDevice",
        skip_serializing_if = "Option::is_none"
    )]
    pub throttle_write_iops_device: Option<Vec<serde_json::Value>>,
}

/// A hugepage limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HugepageLimit {
    /// Page size, e.g. `2MB`.
    #[serde(default)]
    pub page_size: String,
    /// Limit in bytes.
    #[serde(default)]
    pub limit: u64,
}

/// Network class and priorities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Network {
    /// net_cls class id.
    #[serde(default, rename = "classID", skip_serializing_if = "Option::is_none")]
    pub class_id: Option<u32>,
    /// net_prio priorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priorities: Option<Vec<InterfacePriority>>,
}

/// A net_prio interface priority.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfacePriority {
    /// Interface name.
    #[serde(default)]
    pub name: String,
    /// Priority.
    #[serde(default)]
    pub priority: u32,
}

/// Actions init takes around a container; serialised to `runtime.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// cgroups to create before the container starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups: Option<Vec<String>>,
    /// Mounts made in the root namespace before the container is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    /// Directories to create (relative means relative to the rootfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mkdir: Option<Vec<String>>,
    /// Network interfaces to create or move into the container's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<Interface>>,
    /// Bind the container's namespaces to these paths.
    #[serde(default, rename = "bindNS", skip_serializing_if = "Option::is_none")]
    pub bind_ns: Option<BindNs>,
    /// containerd namespace for services (default `services.linuxkit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A network interface created or moved into a container's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Interface {
    /// Interface name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Type of interface to add (e.g. `veth`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub add: String,
    /// Peer name for a veth pair.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub peer: String,
    /// Create the interface in the root namespace and move it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_in_root: bool,
}

/// Paths at which a container's namespaces are bind-mounted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindNs {
    /// cgroup namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// IPC namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// Mount namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnt: Option<String>,
    /// Network namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
    /// PID namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// User namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// UTS namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
}

/// A `files` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Destination path (a single leading `/` is stripped).
    #[serde(default)]
    pub path: String,
    /// Create a directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub directory: bool,
    /// Create a symlink with this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
    /// Inline contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    /// Host file to copy (`~/` expands to the home directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `yaml` or `json`: a serialisation of the final config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// With `source`: skip the entry if the file does not exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// Octal mode string (default `0600`, directories `0700`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Owner: a number or a container name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<Id>,
    /// Group: a number or a container name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<Id>,
}

/// A `volumes` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Volume name (`^[a-z0-9_-]*$`, unique).
    #[serde(default)]
    pub name: String,
    /// Image whose contents fill the volume; none gives a blank volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Every bind or mount of the volume must be read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    /// `filesystem` (default) or `oci`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Platforms stored for `format: oci`, e.g. `linux/amd64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Vec<String>>,
}

/// Legacy `trust` section (ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// Images to verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Vec<String>>,
    /// Organisations to verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Vec<String>>,
}
