//! The container bundle layout a LinuxKit image shares between its build and its init.
//!
//! - Where things are: [`ONBOOT`], [`SERVICES`], [`ONSHUTDOWN`], [`VOLUMES`] (paths in the
//!   image root, without the leading `/`), [`ROOTFS`].
//! - [`status`]: the init's service status file, which the update agent reads.
//! - [`modules`]: kernel module names and `modules.dep`, read by the build, the init and the
//!   update agent.
//! - `runtime.json`: [`Runtime`] with its [`Mount`]s (`specs.Mount`, also used in
//!   `config.json`), [`Interface`]s and [`BindNs`]. Serialised, the fields come in upstream's
//!   order with upstream's omissions (Go's `encoding/json` of LinuxKit's `Runtime` after
//!   `ConfigToOCI`, which fills every field), so the build writes upstream's bytes;
//!   deserialised, unknown fields are ignored and `null` or missing values read as empty,
//!   because an init must start images built by any LinuxKit version.

#![forbid(unsafe_code)]

pub mod modules;
pub mod status;

use serde::{Deserialize, Deserializer, Serialize};

/// The directory holding this package's source, as cargo compiled it: the embedded init's
/// content tag covers it, since the init is built from it too.
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The onboot bundles, run once in order (`000-name`, `001-name`, ...).
pub const ONBOOT: &str = "containers/onboot";
/// The service bundles, started together and kept running.
pub const SERVICES: &str = "containers/services";
/// The onshutdown bundles, run in order at poweroff.
pub const ONSHUTDOWN: &str = "containers/onshutdown";
/// The volumes (`<name>/lower`, `<name>/tmp`, `<name>/merged`).
pub const VOLUMES: &str = "containers/volumes";
/// A bundle's root filesystem, below the bundle directory.
pub const ROOTFS: &str = "rootfs";

/// A `null` (or missing) value as the type's default, as Go's decoder leaves a nil slice.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// LinuxKit's `Runtime`: what the init does around a container (`runtime.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    /// cgroups to create (relative to the cgroup root).
    #[serde(deserialize_with = "nullable")]
    pub cgroups: Vec<String>,
    /// Mounts made before the container is created (the root filesystem's first). A relative
    /// destination is relative to the bundle's `rootfs`.
    #[serde(deserialize_with = "nullable")]
    pub mounts: Vec<Mount>,
    /// Directories to create (relative ones under the bundle's `rootfs`).
    #[serde(deserialize_with = "nullable")]
    pub mkdir: Vec<String>,
    /// Network interfaces to create or move into the container.
    #[serde(deserialize_with = "nullable")]
    pub interfaces: Vec<Interface>,
    /// Paths to bind the container's namespaces to.
    #[serde(rename = "bindNS", deserialize_with = "nullable")]
    pub bind_ns: BindNs,
    /// containerd namespace.
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
}

/// `specs.Mount` (OCI runtime spec), as in `config.json` and `runtime.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mount {
    /// Mount point.
    #[serde(deserialize_with = "nullable")]
    pub destination: String,
    /// Filesystem type (empty for binds and remounts).
    #[serde(
        rename = "type",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub kind: String,
    /// Source.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub source: String,
    /// Options.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub options: Vec<String>,
    /// uid mappings (only ever set in `runtime.json` mounts).
    #[serde(
        rename = "uidMappings",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub uid_mappings: Vec<IdMapping>,
    /// gid mappings (only ever set in `runtime.json` mounts).
    #[serde(
        rename = "gidMappings",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nullable"
    )]
    pub gid_mappings: Vec<IdMapping>,
}

/// `specs.LinuxIDMapping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdMapping {
    /// First id in the container.
    #[serde(rename = "containerID")]
    pub container_id: u32,
    /// First id on the host.
    #[serde(rename = "hostID")]
    pub host_id: u32,
    /// Number of ids.
    pub size: u32,
}

/// A `runtime.interfaces` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    /// Interface name.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub name: String,
    /// Type to create (`veth`, `wireguard`, ...); empty to move an existing interface.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub add: String,
    /// veth peer.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub peer: String,
    /// Create in the root namespace, then move into the container's.
    #[serde(rename = "createInRoot")]
    pub create_in_root: bool,
}

/// `runtime.bindNS`: every key is written, `""` when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BindNs {
    /// cgroup namespace.
    #[serde(deserialize_with = "nullable")]
    pub cgroup: String,
    /// IPC namespace.
    #[serde(deserialize_with = "nullable")]
    pub ipc: String,
    /// Mount namespace.
    #[serde(deserialize_with = "nullable")]
    pub mnt: String,
    /// Network namespace.
    #[serde(deserialize_with = "nullable")]
    pub net: String,
    /// PID namespace.
    #[serde(deserialize_with = "nullable")]
    pub pid: String,
    /// User namespace.
    #[serde(deserialize_with = "nullable")]
    pub user: String,
    /// UTS namespace.
    #[serde(deserialize_with = "nullable")]
    pub uts: String,
}

impl BindNs {
    /// The non-empty binds as (namespace type, path): `("net", "/run/netns/wg0")`.
    pub fn paths(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("cgroup", &self.cgroup),
            ("ipc", &self.ipc),
            ("mnt", &self.mnt),
            ("net", &self.net),
            ("pid", &self.pid),
            ("user", &self.user),
            ("uts", &self.uts),
        ]
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(ns, p)| (ns, p.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_reading() {
        let r: Runtime = serde_json::from_str(
            r#"{"mounts": null, "bindNS": {"net": "/run/netns/x", "pid": null}, "extra": 1,
                "interfaces": [{"name": "eth0", "createInRoot": true}]}"#,
        )
        .unwrap();
        assert!(r.mounts.is_empty() && r.cgroups.is_empty());
        assert_eq!(
            r.bind_ns.paths().collect::<Vec<_>>(),
            [("net", "/run/netns/x")]
        );
        assert_eq!(r.interfaces[0].name, "eth0");
        assert!(r.interfaces[0].create_in_root);
        let empty: Runtime = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Runtime::default());
    }

    #[test]
    fn written_in_upstreams_order_with_its_omissions() {
        let r = Runtime {
            mounts: vec![Mount {
                destination: "/x".into(),
                options: vec!["bind".into()],
                ..Mount::default()
            }],
            ..Runtime::default()
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"cgroups":[],"mounts":[{"destination":"/x","options":["bind"]}],"mkdir":[],"interfaces":[],"bindNS":{"cgroup":"","ipc":"","mnt":"","net":"","pid":"","user":"","uts":""},"namespace":""}"#
        );
        let back: Runtime = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
