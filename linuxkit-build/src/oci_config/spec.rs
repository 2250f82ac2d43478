//! The OCI runtime-spec v1.2.1 structures LinuxKit fills in, and LinuxKit's `runtime.json`.
//!
//! These mirror the Go structs of `github.com/opencontainers/runtime-spec/specs-go` v1.2.1
//! field for field in the subset LinuxKit sets: the field order is the JSON key order, and
//! `omitempty` is `skip_serializing_if`. They are hand-written rather than taken from the
//! `oci-spec` crate because that crate keeps capabilities in a `HashSet`, which loses the order
//! and the duplicates that LinuxKit writes in `effective`, and because its builders fill in
//! defaults LinuxKit does not write.

use std::collections::BTreeMap;

use serde::Serialize;

/// `specs.Mount`, `specs.LinuxIDMapping` and LinuxKit's `Runtime` (written as `runtime.json`
/// after the rootfs mounts are prepended) are shared with the init.
pub use linuxkit_bundle::{BindNs, IdMapping, Interface, Mount, Runtime};

fn is_false(b: &bool) -> bool {
    !*b
}

/// The OCI runtime specification version LinuxKit vendors.
pub const OCI_VERSION: &str = "1.2.1";

/// `specs.Spec`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    /// `ociVersion`.
    #[serde(rename = "ociVersion")]
    pub version: String,
    /// The container process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// The root filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    /// Hostname.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Mounts, sorted by destination.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Linux-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
}

/// `specs.Process`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Process {
    /// Allocate a terminal (always false in LinuxKit).
    #[serde(skip_serializing_if = "is_false")]
    pub terminal: bool,
    /// User and groups.
    pub user: User,
    /// Arguments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Capabilities (always present, at least `{}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Resource limits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    /// Set no_new_privs.
    #[serde(rename = "noNewPrivileges", skip_serializing_if = "is_false")]
    pub no_new_privileges: bool,
    /// OOM score adjustment.
    #[serde(rename = "oomScoreAdj", skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
}

/// `specs.User`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    #[serde(rename = "additionalGids", skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

/// `specs.LinuxCapabilities`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Bounding set (sorted, unique).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bounding: Vec<String>,
    /// Effective set (as configured: order and duplicates kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub effective: Vec<String>,
    /// Inheritable set (same as bounding).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inheritable: Vec<String>,
    /// Permitted set (same as bounding).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permitted: Vec<String>,
    /// Ambient set (as configured).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ambient: Vec<String>,
}

/// `specs.POSIXRlimit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rlimit {
    /// `RLIMIT_*`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Hard limit.
    pub hard: u64,
    /// Soft limit.
    pub soft: u64,
}

/// `specs.Root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Root {
    /// Always `rootfs`.
    pub path: String,
    /// Read-only root.
    #[serde(skip_serializing_if = "is_false")]
    pub readonly: bool,
}

/// `specs.Linux`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Linux {
    /// User namespace uid mappings.
    #[serde(rename = "uidMappings", skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    /// User namespace gid mappings.
    #[serde(rename = "gidMappings", skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    /// Namespaced sysctls.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    /// Resources (always present, at least `{}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// cgroup path.
    #[serde(rename = "cgroupsPath", skip_serializing_if = "String::is_empty")]
    pub cgroups_path: String,
    /// Namespaces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    /// Device nodes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// Root propagation.
    #[serde(rename = "rootfsPropagation", skip_serializing_if = "String::is_empty")]
    pub rootfs_propagation: String,
    /// Masked paths.
    #[serde(rename = "maskedPaths", skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    /// Read-only paths.
    #[serde(rename = "readonlyPaths", skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
}

/// `specs.LinuxNamespace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespace {
    /// `network`, `ipc`, `uts`, `pid`, `user`, `mount`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Path of an existing namespace to join.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// `specs.LinuxDevice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Device path.
    pub path: String,
    /// Device type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// File mode (decimal in JSON).
    #[serde(rename = "fileMode", skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
}

/// `specs.LinuxResources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    /// Device cgroup rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceCgroup>,
    /// Memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// PIDs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    /// Block IO.
    #[serde(rename = "blockIO", skip_serializing_if = "Option::is_none")]
    pub block_io: Option<BlockIo>,
    /// Network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// `specs.LinuxDeviceCgroup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceCgroup {
    /// Allow or deny.
    pub allow: bool,
    /// Device type.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Major number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    /// Minor number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    /// Access `rwm`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub access: String,
}

/// `specs.LinuxMemory` (the keys LinuxKit can actually decode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// Limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Reservation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    /// Swap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    /// Kernel memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    /// Swappiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
}

/// `specs.LinuxCPU` (the keys LinuxKit can actually decode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cpu {
    /// Shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// Quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    /// Period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// CPU list.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cpus: String,
    /// Memory nodes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mems: String,
}

/// `specs.LinuxPids`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pids {
    /// Limit (always written).
    pub limit: i64,
}

/// `specs.LinuxBlockIO` (the keys LinuxKit can actually decode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockIo {
    /// Weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
}

/// `specs.LinuxNetwork` (the keys LinuxKit can actually decode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    /// net_prio priorities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<InterfacePriority>,
}

/// `specs.LinuxInterfacePriority`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterfacePriority {
    /// Interface.
    pub name: String,
    /// Priority.
    pub priority: u32,
}
