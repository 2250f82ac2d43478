//! What each container of an image may do, read from the configuration the build writes.
//!
//! [`audit`] resolves every onboot, onshutdown and service image exactly as [`build_tar`]
//! does and runs the same [`container_spec`] (label merged with the definition), then reads the
//! privileges off the resulting `config.json` structure: effective capabilities, the namespaces
//! the container shares with the host (those its spec does not create or join), host paths
//! bound writable, device access granted, read-only root, `noNewPrivileges`, seccomp (LinuxKit
//! writes no seccomp profile: every container runs unconfined) and the user. Being derived
//! from the very `config.json`, it cannot disagree with the build.
//!
//! [`build_tar`]: crate::build_tar

use linuxkit_dsl::testing::EffectiveContainer;
use linuxkit_dsl::{Container, Image};
use linuxkit_oci::store::{ImageProvider, Platform};
use serde::Serialize;

use crate::error::BuildError;
use crate::oci_config::{container_spec, ContainerSpec, IdMap, ALL_CAPABILITIES};
use crate::reference;

/// The namespaces of a Linux container, as the OCI spec names them, with the short names
/// shown to people.
const NAMESPACES: [(&str, &str); 7] = [
    ("cgroup", "cgroup"),
    ("ipc", "ipc"),
    ("mount", "mnt"),
    ("network", "net"),
    ("pid", "pid"),
    ("user", "user"),
    ("uts", "uts"),
];

/// The process's user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditUser {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
}

/// Capability sets of the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditCapabilities {
    /// Effective (as `config.json` lists them).
    pub effective: Vec<String>,
    /// Bounding: everything the process may hold (effective and ambient).
    pub bounding: Vec<String>,
    /// Ambient (kept across `execve` by non-root users).
    pub ambient: Vec<String>,
}

/// A host path bound into the container without `ro`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditBind {
    /// The host path (in the LinuxKit system's root).
    pub source: String,
    /// Where the container sees it.
    pub destination: String,
    /// The mount options.
    pub options: Vec<String>,
}

/// Access to devices the device cgroup allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditDevice {
    /// The device node created for it, or `*` for a rule over every device of `type`.
    pub path: String,
    /// `c`, `b`, or `a` (all).
    #[serde(rename = "type")]
    pub kind: String,
    /// Major number (`None`: any).
    pub major: Option<i64>,
    /// Minor number (`None`: any).
    pub minor: Option<i64>,
    /// `r`, `w`, `m` combined.
    pub access: String,
}

/// What one container may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerAudit {
    /// `onboot`, `onshutdown` or `services`.
    pub section: String,
    /// Index in its section.
    pub index: usize,
    /// The container name.
    pub name: String,
    /// The image reference as written.
    pub image: String,
    /// The user it runs as.
    pub user: AuditUser,
    /// Its capabilities.
    pub capabilities: AuditCapabilities,
    /// Namespaces it shares with the host (OCI names: `network`, `pid`, ...).
    pub host_namespaces: Vec<String>,
    /// Host paths it can write through bind mounts.
    pub writable_host_binds: Vec<AuditBind>,
    /// Devices it may access.
    pub devices: Vec<AuditDevice>,
    /// Its root filesystem is read-only.
    pub readonly_rootfs: bool,
    /// `noNewPrivileges` is set.
    pub no_new_privileges: bool,
    /// The seccomp profile: always `None`, LinuxKit writes none.
    pub seccomp: Option<String>,
}

impl ContainerAudit {
    /// Reads the privileges of the container `c` (`section[index]`) off its generated spec.
    pub fn of(section: &str, index: usize, c: &Container, spec: &ContainerSpec) -> Self {
        let s = &spec.spec;
        let process = s.process.as_ref();
        let caps = process.and_then(|p| p.capabilities.as_ref());
        let linux = s.linux.as_ref();
        let own: Vec<&str> = linux
            .map(|l| l.namespaces.iter().map(|n| n.kind.as_str()).collect())
            .unwrap_or_default();
        let host_namespaces = NAMESPACES
            .iter()
            .filter(|(kind, _)| !own.contains(kind))
            .map(|(kind, _)| kind.to_string())
            .collect();
        let writable_host_binds = s
            .mounts
            .iter()
            .filter(|m| {
                let bind =
                    m.kind == "bind" || m.options.iter().any(|o| o == "bind" || o == "rbind");
                bind && !m.options.iter().any(|o| o == "ro")
            })
            .map(|m| AuditBind {
                source: m.source.clone(),
                destination: m.destination.clone(),
                options: m.options.clone(),
            })
            .collect();
        let nodes = linux.map(|l| l.devices.as_slice()).unwrap_or_default();
        let devices = linux
            .and_then(|l| l.resources.as_ref())
            .map(|r| r.devices.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|d| d.allow)
            .map(|d| {
                let node = nodes.iter().find(|n| {
                    Some(n.major) == d.major && Some(n.minor) == d.minor && n.kind == d.kind
                });
                AuditDevice {
                    path: node.map_or_else(|| "*".to_string(), |n| n.path.clone()),
                    kind: if d.kind.is_empty() {
                        "a".into()
                    } else {
                        d.kind.clone()
                    },
                    major: d.major,
                    minor: d.minor,
                    access: d.access.clone(),
                }
            })
            .collect();
        ContainerAudit {
            section: section.to_string(),
            index,
            name: c.name.clone(),
            image: c.image.clone(),
            user: AuditUser {
                uid: process.map_or(0, |p| p.user.uid),
                gid: process.map_or(0, |p| p.user.gid),
                additional_gids: process
                    .map(|p| p.user.additional_gids.clone())
                    .unwrap_or_default(),
            },
            capabilities: AuditCapabilities {
                effective: caps.map(|c| c.effective.clone()).unwrap_or_default(),
                bounding: caps.map(|c| c.bounding.clone()).unwrap_or_default(),
                ambient: caps.map(|c| c.ambient.clone()).unwrap_or_default(),
            },
            host_namespaces,
            writable_host_binds,
            devices,
            readonly_rootfs: s.root.as_ref().is_some_and(|r| r.readonly),
            no_new_privileges: process.is_some_and(|p| p.no_new_privileges),
            seccomp: None,
        }
    }

    /// `section[index]`.
    pub fn path(&self) -> String {
        format!("{}[{}]", self.section, self.index)
    }

    /// The facts `linuxkit_dsl::testing::Policy::check_effective` reads.
    pub fn effective(&self) -> EffectiveContainer {
        EffectiveContainer {
            path: self.path(),
            name: self.name.clone(),
            image: self.image.clone(),
            capabilities: self.capabilities.bounding.clone(),
            host_network: self.host_namespaces.iter().any(|n| n == "network"),
            readonly_rootfs: self.readonly_rootfs,
        }
    }

    /// The short name of an OCI namespace kind (`network` -> `net`, `mount` -> `mnt`).
    pub fn short_namespace(kind: &str) -> &str {
        NAMESPACES
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(kind, |(_, s)| s)
    }

    /// The capabilities for people: `all` when every one is held, else the names without
    /// `CAP_`, `-` when none.
    pub fn capabilities_text(caps: &[String]) -> String {
        let mut distinct: Vec<&str> = caps.iter().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() == ALL_CAPABILITIES.len() {
            return "all".into();
        }
        if distinct.is_empty() {
            return "-".into();
        }
        distinct
            .iter()
            .map(|c| c.strip_prefix("CAP_").unwrap_or(c))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Every onboot, onshutdown and service container of `image`, its image resolved through
/// `images` for `platform`, audited from the spec the build writes into its `config.json`.
pub fn audit(
    image: &Image,
    images: &dyn ImageProvider,
    platform: &Platform,
) -> Result<Vec<ContainerAudit>, BuildError> {
    let ids = IdMap::for_image(image);
    let mut out = Vec::new();
    for (section, list) in [
        ("onboot", &image.onboot),
        ("onshutdown", &image.onshutdown),
        ("services", &image.services),
    ] {
        for (i, c) in list.iter().enumerate() {
            reference::canonical(&c.image).map_err(|source| BuildError::Reference {
                image: c.image.clone(),
                source,
            })?;
            let resolved =
                images
                    .resolve(&c.image, platform)
                    .map_err(|source| BuildError::Pull {
                        reference: c.image.clone(),
                        source,
                    })?;
            let spec = container_spec(c, &resolved.config, &ids, &image.volumes)?;
            out.push(ContainerAudit::of(section, i, c, &spec));
        }
    }
    Ok(out)
}
