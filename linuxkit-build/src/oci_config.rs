//! Per-container `config.json` and `runtime.json`, exactly as upstream's `ConfigToOCI` and
//! `ImageBundle` write them (build spec §2).
//!
//! [`container_spec`] runs the three upstream steps in order: volume substitution on the YAML
//! entry (§2.14), the merge of image config, `org.mobyproject.config` label and YAML entry
//! (§2.1), and the conversion to an OCI runtime spec (§2.3-§2.10). [`ContainerSpec`] then
//! serialises byte-for-byte as Go does (§2.11, §2.12).

pub mod spec;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use linuxkit_dsl::{Container, Id, Image, Volume};
use linuxkit_oci::store::ImageConfigFile;

use crate::gojson;
use crate::label::{self, LabelError, MOBY_CONFIG_LABEL};
use spec::{
    BindNs, BlockIo, Capabilities, Cpu, Device, DeviceCgroup, IdMapping, Interface,
    InterfacePriority, Linux, Memory, Mount, Namespace, Network, Pids, Process, Resources, Rlimit,
    Root, Runtime, Spec, User, OCI_VERSION,
};

/// Errors of generating a container's OCI configuration, in upstream's wording.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Any error of [`container_spec`], naming the image as upstream does.
    #[error("failed to create OCI spec for {image}: {source}")]
    Spec {
        /// The image reference as written.
        image: String,
        /// What went wrong.
        source: Box<ConfigError>,
    },
    /// A volume substitution error, naming the image as upstream does.
    #[error("failed update image {image} from volumes: {source}")]
    Volumes {
        /// The image reference as written.
        image: String,
        /// What went wrong.
        source: Box<ConfigError>,
    },
    /// A bind names a volume that is not defined.
    #[error("volume {name} not found in onboot image bin {index}")]
    BindVolumeNotFound {
        /// The volume name.
        name: String,
        /// Index of the bind in its list.
        index: usize,
    },
    /// A bind mount names a volume that is not defined.
    #[error("volume {name} not found in onboot image mount {index}")]
    MountVolumeNotFound {
        /// The volume name.
        name: String,
        /// Index of the mount in its list.
        index: usize,
    },
    /// A read-only volume is bound read-write.
    #[error("volume {0} is read-only, but attempting to write into container read-write")]
    VolumeReadOnly(String),
    /// The image's `org.mobyproject.config` label is unusable.
    #[error(transparent)]
    Label(#[from] LabelError),
    /// A capability name is not one of the 41 known ones (`CAP_` and upper case required).
    #[error("unknown capability: {0}")]
    UnknownCapability(String),
    /// A tmpfs entry has more than one `:`.
    #[error("cannot parse tmpfs, too many ':': {0}")]
    TmpfsTooManyColons(String),
    /// A bind has no `:`.
    #[error("cannot parse bind, missing ':': {0}")]
    BindMissingColon(String),
    /// A bind has more than two `:`.
    #[error("cannot parse bind, too many ':': {0}")]
    BindTooManyColons(String),
    /// A mount has no type and none can be derived.
    #[error("mount for destination {0} is missing type")]
    MountMissingType(String),
    /// A mount has no destination and its type has no default one.
    #[error("mount type {0} is missing destination")]
    MountMissingDestination(String),
    /// An rlimit is not `name,soft,hard` (upstream prints the whole list).
    #[error("cannot parse rlimit: {0}")]
    RlimitSyntax(String),
    /// An rlimit name is unknown (upstream's message has an empty name).
    #[error("unknown limit: {0}")]
    UnknownLimit(String),
    /// An rlimit value is neither a number nor `unlimited`.
    #[error("cannot parse {value} as uint64: {reason}")]
    RlimitValue {
        /// The value.
        value: String,
        /// Go's `strconv` message.
        reason: String,
    },
    /// A device mode is not octal.
    #[error("cannot parse device mode as octal value: {0}")]
    DeviceMode(String),
    /// A uid/gid name is not the name of a container of this image.
    #[error("cannot find id: {0}")]
    IdNotFound(String),
    /// A reference could not be parsed (metadata).
    #[error("extract {what} image reference: {source}")]
    Reference {
        /// Which section (`kernel`, `init`, `on boot`, `on shutdown`, `service`).
        what: &'static str,
        /// Why.
        source: crate::reference::ReferenceError,
    },
    /// Metadata could not be serialised.
    #[error("cannot serialise metadata: {0}")]
    Metadata(String),
    /// Unknown `files[].metadata` kind.
    #[error("unsupported metadata type {0:?}: use \"yaml\" or \"json\"")]
    MetadataKind(String),
}

/// The 41 capabilities of `moby/sys/capability` v0.4.0 `ListKnown()`, in kernel order (one list,
/// shared with the compile-time and `check` validation).
pub use linuxkit_validate::CAPABILITIES as ALL_CAPABILITIES;

/// The rlimit names upstream accepts.
const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// uid/gid names to ids: the names of the image's containers. `onboot[0]` is 100, then the
/// following onboot, onshutdown and services entries in order; a duplicate name takes the later
/// id. Used for containers' `uid`/`gid`/`additionalGids` and for `files[].uid/gid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap(HashMap<String, u32>);

impl IdMap {
    /// The id map of a whole image definition.
    pub fn for_image(image: &Image) -> Self {
        let mut map = HashMap::new();
        let containers = image
            .onboot
            .iter()
            .chain(&image.onshutdown)
            .chain(&image.services);
        for (id, c) in (100u32..).zip(containers) {
            map.insert(c.name.clone(), id);
        }
        IdMap(map)
    }

    /// An id map from explicit pairs (tests, tools).
    pub fn from_pairs<I: IntoIterator<Item = (String, u32)>>(pairs: I) -> Self {
        IdMap(pairs.into_iter().collect())
    }

    /// Upstream's `IDNumeric`: unset, `""` and `root` are 0, a number is cast to `u32`, a name
    /// is looked up (a quoted number is a name, and fails unless a container has that name).
    pub fn resolve(&self, id: Option<&Id>) -> Result<u32, ConfigError> {
        match id {
            None => Ok(0),
            // Go's uint32(int) conversion wraps.
            Some(Id::Num(n)) => Ok(*n as u32),
            Some(Id::Name(name)) => {
                if name.is_empty() || name == "root" {
                    return Ok(0);
                }
                self.0
                    .get(name)
                    .copied()
                    .ok_or_else(|| ConfigError::IdNotFound(name.clone()))
            }
        }
    }
}

/// A container's generated OCI spec and merged runtime configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// The merged `readonly` (YAML over label): decides the bundle layout.
    pub readonly: bool,
    /// The OCI runtime spec (`config.json`).
    pub spec: Spec,
    /// The merged runtime configuration, without the generated rootfs mounts.
    pub runtime: Runtime,
}

impl ContainerSpec {
    /// `config.json`: Go `json.MarshalIndent` with a 4-space indent, HTML escaping, no trailing
    /// newline.
    pub fn config_json(&self) -> Vec<u8> {
        // Serialising these structs (string keys only) into a Vec cannot fail.
        gojson::to_vec_indent(&self.spec).expect("OCI spec serialises to JSON")
    }

    /// `runtime.json` for the bundle at `bundle` (e.g. `containers/onboot/000-x`, no leading
    /// slash) whose image root filesystem was extracted at `root` (its own `lower` or `rootfs`,
    /// or the path where the same image was extracted first), no leading slash.
    pub fn runtime_json(&self, bundle: &str, root: &str) -> Vec<u8> {
        let mut runtime = self.runtime.clone();
        runtime.mounts = rootfs_mounts(self.readonly, bundle, root);
        runtime.mounts.extend(self.runtime.mounts.iter().cloned());
        gojson::to_vec_indent(&runtime).expect("runtime config serialises to JSON")
    }
}

/// The mounts `ImageBundle` prepends to the runtime mounts (build spec §2.12).
fn rootfs_mounts(readonly: bool, bundle: &str, root: &str) -> Vec<Mount> {
    let p = format!("/{}", bundle.trim_start_matches('/'));
    let root = format!("/{}", root.trim_start_matches('/'));
    if readonly {
        return vec![Mount {
            destination: format!("{p}/rootfs"),
            source: root,
            options: vec!["bind".into()],
            ..Mount::default()
        }];
    }
    vec![
        Mount {
            destination: format!("{p}/tmp"),
            kind: "tmpfs".into(),
            source: "tmpfs".into(),
            ..Mount::default()
        },
        Mount {
            destination: format!("{p}/tmp"),
            options: vec!["remount".into(), "private".into()],
            ..Mount::default()
        },
        Mount {
            destination: format!("{p}/rootfs"),
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={root}"),
                format!("upperdir={p}/tmp/upper"),
                format!("workdir={p}/tmp/work"),
            ],
            ..Mount::default()
        },
    ]
}

/// Volume substitution (§2.14), label merge and `ConfigToOCI` for one container entry.
///
/// `image` is the OCI image config of the entry's image for the target platform, `volumes` the
/// image definition's volumes.
pub fn container_spec(
    entry: &Container,
    image: &ImageConfigFile,
    ids: &IdMap,
    volumes: &[Volume],
) -> Result<ContainerSpec, ConfigError> {
    let entry = substitute_volumes(entry, volumes).map_err(|e| ConfigError::Volumes {
        image: entry.image.clone(),
        source: Box::new(e),
    })?;
    config_to_oci(&entry, image, ids).map_err(|e| ConfigError::Spec {
        image: entry.image.clone(),
        source: Box::new(e),
    })
}

/// Upstream's `updateMountsAndBindsFromVolumes`: binds (and `binds.add`) whose source is not an
/// absolute path name a volume and are rewritten to the volume's merged directory. Bind mounts
/// are checked the same way but, as upstream (loop-copy quirk), keep the bare volume name.
fn substitute_volumes(entry: &Container, volumes: &[Volume]) -> Result<Container, ConfigError> {
    let find = |name: &str| volumes.iter().find(|v| v.name == name);
    let mut out = entry.clone();
    if let Some(mounts) = &entry.mounts {
        for (i, m) in mounts.iter().enumerate() {
            if m.kind != "bind" || m.source.starts_with('/') {
                continue;
            }
            let vol = find(&m.source).ok_or_else(|| ConfigError::MountVolumeNotFound {
                name: m.source.clone(),
                index: i,
            })?;
            if vol.readonly {
                let first = m
                    .options
                    .iter()
                    .flatten()
                    .find(|o| *o == "rw" || *o == "ro");
                if first.map(String::as_str) != Some("ro") {
                    return Err(ConfigError::VolumeReadOnly(m.source.clone()));
                }
            }
        }
    }
    let substitute = |binds: &Vec<String>| -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::with_capacity(binds.len());
        for (i, bind) in binds.iter().enumerate() {
            let mut parts: Vec<&str> = bind.split(':').collect();
            if parts[0].starts_with('/') {
                out.push(bind.clone());
                continue;
            }
            let source = parts[0];
            let vol = find(source).ok_or_else(|| ConfigError::BindVolumeNotFound {
                name: source.to_string(),
                index: i,
            })?;
            if vol.readonly && parts.get(2) != Some(&"ro") {
                return Err(ConfigError::VolumeReadOnly(source.to_string()));
            }
            let merged = format!("/{}/{}/merged", linuxkit_bundle::VOLUMES, vol.name);
            parts[0] = &merged;
            out.push(parts.join(":"));
        }
        Ok(out)
    };
    if let Some(binds) = &entry.binds {
        out.binds = Some(substitute(binds)?);
    }
    if let Some(binds) = &entry.binds_add {
        out.binds_add = Some(substitute(binds)?);
    }
    Ok(out)
}

/// `Some(v)` of the YAML wins over the label's, else the default.
fn pick<'a, T>(label: &'a Option<T>, yaml: &'a Option<T>) -> Option<&'a T> {
    yaml.as_ref().or(label.as_ref())
}

/// Upstream's `assignStringEmpty`: a non-empty YAML string wins over the label's.
fn pick_nonempty<'a>(label: &'a Option<String>, yaml: &'a Option<String>) -> &'a str {
    match yaml.as_deref() {
        Some(s) if !s.is_empty() => s,
        _ => label.as_deref().unwrap_or(""),
    }
}

/// Upstream's `mergeStrings` (which never de-duplicates): `label` followed by `add`.
fn merge_strings(label: &Option<Vec<String>>, add: &Option<Vec<String>>) -> Vec<String> {
    let mut out = label.clone().unwrap_or_default();
    out.extend(add.iter().flatten().cloned());
    out
}

/// Expand a lone `all`/`none` (any case) and check every name.
fn expand_caps(mut caps: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if caps.len() == 1 {
        match caps[0].to_lowercase().as_str() {
            "none" => caps.clear(),
            "all" => caps = ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            _ => {}
        }
    }
    if let Some(bad) = caps
        .iter()
        .find(|c| !ALL_CAPABILITIES.contains(&c.as_str()))
    {
        return Err(ConfigError::UnknownCapability(bad.clone()));
    }
    Ok(caps)
}

/// Go `strconv.ParseUint(s, 10, 64)` with its error text.
fn parse_u64(s: &str) -> Result<u64, ConfigError> {
    let err = |reason: &str| ConfigError::RlimitValue {
        value: s.to_string(),
        reason: format!("strconv.ParseUint: parsing {}: {reason}", go_quote(s)),
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    s.parse::<u64>().map_err(|_| err("value out of range"))
}

/// Go `strconv.ParseInt(s, 8, 32)` with its error text.
fn parse_octal_i32(s: &str) -> Result<i32, ConfigError> {
    let err = |reason: &str| {
        ConfigError::DeviceMode(format!(
            "strconv.ParseInt: parsing {}: {reason}",
            go_quote(s)
        ))
    };
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(err("invalid syntax"));
    }
    let magnitude = i64::from_str_radix(digits, 8).map_err(|_| err("value out of range"))?;
    let value = if neg { -magnitude } else { magnitude };
    i32::try_from(value).map_err(|_| err("value out of range"))
}

/// Go's `%q` for the strings that appear in strconv errors (ASCII-safe subset).
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Go's `%s` of a `[]string`: `[a b c]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

fn default_mountpoint(kind: &str) -> &'static str {
    match kind {
        "proc" => "/proc",
        "devpts" => "/dev/pts",
        "sysfs" => "/sys",
        "cgroup" => "/sys/fs/cgroup",
        "mqueue" => "/dev/mqueue",
        _ => "",
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A model id mapping as upstream decodes it: yaml.v3 looks for `containerid`/`hostid`, which
/// the schema forbids, so both are always 0 (§1.15).
fn id_mapping(m: &linuxkit_dsl::IdMapping) -> IdMapping {
    IdMapping {
        container_id: 0,
        host_id: 0,
        size: m.size.unwrap_or(0) as u32,
    }
}

/// A model mount as a `specs.Mount` (runtime mounts keep their id mappings).
fn runtime_mount(m: &linuxkit_dsl::Mount) -> Mount {
    Mount {
        destination: m.destination.clone(),
        kind: m.kind.clone(),
        source: m.source.clone(),
        options: m.options.clone().unwrap_or_default(),
        uid_mappings: m.uidmappings.iter().flatten().map(id_mapping).collect(),
        gid_mappings: m.gidmappings.iter().flatten().map(id_mapping).collect(),
    }
}

/// The model's resources as upstream decodes them with yaml.v3 into `specs.LinuxResources`:
/// only keys that equal the lower-cased Go field name survive (§1.15).
pub(crate) fn resources_as_decoded(r: &linuxkit_dsl::Resources) -> Resources {
    Resources {
        devices: r
            .devices
            .iter()
            .flatten()
            .map(|d| DeviceCgroup {
                allow: d.allow,
                kind: d.kind.clone().unwrap_or_default(),
                major: d.major,
                minor: d.minor,
                access: d.access.clone().unwrap_or_default(),
            })
            .collect(),
        memory: r.memory.as_ref().map(|m| Memory {
            limit: m.limit,
            reservation: m.reservation,
            swap: m.swap,
            kernel: m.kernel,
            swappiness: m.swappiness,
        }),
        cpu: r.cpu.as_ref().map(|c| Cpu {
            shares: c.shares,
            quota: c.quota,
            period: c.period,
            cpus: c.cpus.clone().unwrap_or_default(),
            mems: c.mems.clone().unwrap_or_default(),
        }),
        pids: r.pids.as_ref().map(|p| Pids { limit: p.limit }),
        block_io: r.block_io.as_ref().map(|b| BlockIo { weight: b.weight }),
        network: r.network.as_ref().map(|n| Network {
            priorities: n
                .priorities
                .iter()
                .flatten()
                .map(|p| InterfacePriority {
                    name: p.name.clone(),
                    priority: p.priority,
                })
                .collect(),
        }),
    }
}

/// Upstream's `assignRuntime`: each field YAML over label over empty.
fn merge_runtime(
    label: Option<&linuxkit_dsl::Runtime>,
    yaml: Option<&linuxkit_dsl::Runtime>,
) -> Runtime {
    let empty = linuxkit_dsl::Runtime::default();
    let l = label.unwrap_or(&empty);
    let y = yaml.unwrap_or(&empty);
    let empty_ns = linuxkit_dsl::BindNs::default();
    let lb = l.bind_ns.as_ref().unwrap_or(&empty_ns);
    let yb = y.bind_ns.as_ref().unwrap_or(&empty_ns);
    let ns = |l: &Option<String>, y: &Option<String>| pick(l, y).cloned().unwrap_or_default();
    Runtime {
        cgroups: pick(&l.cgroups, &y.cgroups).cloned().unwrap_or_default(),
        mounts: pick(&l.mounts, &y.mounts)
            .map(|m| m.iter().map(runtime_mount).collect())
            .unwrap_or_default(),
        mkdir: pick(&l.mkdir, &y.mkdir).cloned().unwrap_or_default(),
        interfaces: pick(&l.interfaces, &y.interfaces)
            .map(|v| {
                v.iter()
                    .map(|i| Interface {
                        name: i.name.clone(),
                        add: i.add.clone(),
                        peer: i.peer.clone(),
                        create_in_root: i.create_in_root,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        bind_ns: BindNs {
            cgroup: ns(&lb.cgroup, &yb.cgroup),
            ipc: ns(&lb.ipc, &yb.ipc),
            mnt: ns(&lb.mnt, &yb.mnt),
            net: ns(&lb.net, &yb.net),
            pid: ns(&lb.pid, &yb.pid),
            user: ns(&lb.user, &yb.user),
            uts: ns(&lb.uts, &yb.uts),
        },
        namespace: ns(&l.namespace, &y.namespace),
    }
}

/// Upstream's `ConfigToOCI` (build spec §2.1-§2.10), after volume substitution.
fn config_to_oci(
    yaml: &Container,
    image: &ImageConfigFile,
    ids: &IdMap,
) -> Result<ContainerSpec, ConfigError> {
    let config = &image.config;
    let label_text = config
        .labels
        .as_ref()
        .and_then(|l| l.get(MOBY_CONFIG_LABEL))
        .map(String::as_str)
        .unwrap_or("");
    let label = if label_text.is_empty() {
        Container::default()
    } else {
        label::parse(label_text)?
    };

    // Process basics: YAML, else label, else image config.
    let args = match pick(&label.command, &yaml.command) {
        Some(c) => c.clone(),
        None => {
            let mut a = config.entrypoint.clone().unwrap_or_default();
            a.extend(config.cmd.iter().flatten().cloned());
            a
        }
    };
    let env = match pick(&label.env, &yaml.env) {
        Some(e) => e.clone(),
        None => config.env.clone().unwrap_or_default(),
    };
    let cwd = [
        yaml.cwd.as_deref(),
        label.cwd.as_deref(),
        config.working_dir.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find(|s| !s.is_empty())
    .unwrap_or("/")
    .to_string();

    let readonly = pick(&label.readonly, &yaml.readonly)
        .copied()
        .unwrap_or(false);

    let mounts = mounts(&label, yaml, readonly)?;

    let namespaces = namespaces(&label, yaml);

    let capabilities = capabilities(&label, yaml)?;
    let rlimits = rlimits(&label, yaml)?;
    // uid / gid / additionalGids through the container-name map.
    let uid = ids.resolve(pick(&label.uid, &yaml.uid))?;
    let gid = ids.resolve(pick(&label.gid, &yaml.gid))?;
    let additional_gids = pick(&label.additional_gids, &yaml.additional_gids)
        .into_iter()
        .flatten()
        .map(|g| ids.resolve(Some(g)))
        .collect::<Result<Vec<u32>, _>>()?;

    let (devices, resources) = devices(&label, yaml)?;

    let spec = Spec {
        version: OCI_VERSION.into(),
        process: Some(Process {
            terminal: false,
            user: User {
                uid,
                gid,
                additional_gids,
            },
            args,
            env,
            cwd,
            capabilities: Some(capabilities),
            rlimits,
            no_new_privileges: pick(&label.no_new_privileges, &yaml.no_new_privileges)
                .copied()
                .unwrap_or(false),
            oom_score_adj: pick(&label.oom_score_adj, &yaml.oom_score_adj).copied(),
        }),
        root: Some(Root {
            path: "rootfs".into(),
            readonly,
        }),
        hostname: pick_nonempty(&label.hostname, &yaml.hostname).to_string(),
        mounts,
        annotations: pick(&label.annotations, &yaml.annotations)
            .cloned()
            .unwrap_or_default(),
        linux: Some(Linux {
            uid_mappings: pick(&label.uid_mappings, &yaml.uid_mappings)
                .into_iter()
                .flatten()
                .map(id_mapping)
                .collect(),
            gid_mappings: pick(&label.gid_mappings, &yaml.gid_mappings)
                .into_iter()
                .flatten()
                .map(id_mapping)
                .collect(),
            sysctl: pick(&label.sysctl, &yaml.sysctl)
                .cloned()
                .unwrap_or_default(),
            resources: Some(resources),
            cgroups_path: pick(&label.cgroups_path, &yaml.cgroups_path)
                .cloned()
                .unwrap_or_default(),
            namespaces,
            devices,
            rootfs_propagation: pick(&label.rootfs_propagation, &yaml.rootfs_propagation)
                .cloned()
                .unwrap_or_default(),
            masked_paths: pick(&label.masked_paths, &yaml.masked_paths)
                .cloned()
                .unwrap_or_default(),
            readonly_paths: pick(&label.readonly_paths, &yaml.readonly_paths)
                .cloned()
                .unwrap_or_default(),
        }),
    };
    let runtime = merge_runtime(label.runtime.as_ref(), yaml.runtime.as_ref());
    Ok(ContainerSpec {
        readonly,
        spec,
        runtime,
    })
}

/// The container's mounts (§2.4): the defaults, then tmpfs, binds and mounts of the YAML or
/// label, keyed by destination (a later one replaces an earlier one), in destination order.
fn mounts(label: &Container, yaml: &Container, readonly: bool) -> Result<Vec<Mount>, ConfigError> {
    // Mounts, keyed by destination; later steps replace earlier ones.
    let mut mounts: BTreeMap<String, Mount> = BTreeMap::new();
    let mut add = |destination: &str, kind: &str, source: &str, options: Vec<String>| {
        mounts.insert(
            destination.to_string(),
            Mount {
                destination: destination.to_string(),
                kind: kind.to_string(),
                source: source.to_string(),
                options,
                ..Mount::default()
            },
        );
    };
    let mut dev_options = strings(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
    let mut sys_options = strings(&["nosuid", "noexec", "nodev"]);
    if readonly {
        dev_options.push("ro".into());
        sys_options.push("ro".into());
    }
    add(
        "/proc",
        "proc",
        "proc",
        strings(&["nosuid", "nodev", "noexec", "relatime"]),
    );
    add("/dev", "tmpfs", "tmpfs", dev_options);
    add(
        "/dev/pts",
        "devpts",
        "devpts",
        strings(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ]),
    );
    add("/sys", "sysfs", "sysfs", sys_options);
    add(
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        strings(&["nosuid", "noexec", "nodev", "relatime", "ro"]),
    );
    for t in pick(&label.tmpfs, &yaml.tmpfs).into_iter().flatten() {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 2 {
            return Err(ConfigError::TmpfsTooManyColons(t.clone()));
        }
        let options = match parts.get(1) {
            Some(o) => o.split(',').map(String::from).collect(),
            None => Vec::new(),
        };
        add(parts[0], "tmpfs", "tmpfs", options);
    }
    let binds = match &yaml.binds {
        Some(b) => b.clone(),
        None => merge_strings(&label.binds, &yaml.binds_add),
    };
    for b in &binds {
        let parts: Vec<&str> = b.split(':').collect();
        if parts.len() < 2 {
            return Err(ConfigError::BindMissingColon(b.clone()));
        }
        if parts.len() > 3 {
            return Err(ConfigError::BindTooManyColons(b.clone()));
        }
        let options = match parts.get(2) {
            Some(o) => {
                let mut v: Vec<String> = o.split(',').map(String::from).collect();
                v.push("rbind".into());
                v
            }
            None => strings(&["rw", "rbind", "rshared"]),
        };
        add(parts[1], "bind", parts[0], options);
    }
    for m in pick(&label.mounts, &yaml.mounts).into_iter().flatten() {
        let mut kind = m.kind.as_str();
        if kind.is_empty()
            && matches!(
                m.source.as_str(),
                "mqueue" | "devpts" | "proc" | "sysfs" | "cgroup"
            )
        {
            kind = &m.source;
        }
        if kind.is_empty() && m.destination == "/dev" {
            kind = "tmpfs";
        }
        if kind.is_empty() {
            return Err(ConfigError::MountMissingType(m.destination.clone()));
        }
        let source = if m.source.is_empty() { kind } else { &m.source };
        let destination = if m.destination.is_empty() {
            default_mountpoint(kind)
        } else {
            &m.destination
        };
        if destination.is_empty() {
            return Err(ConfigError::MountMissingDestination(kind.to_string()));
        }
        add(
            destination,
            kind,
            source,
            m.options.clone().unwrap_or_default(),
        );
    }
    Ok(mounts.into_values().collect())
}

/// The namespaces to create or join (§2.5), in upstream's fixed order: only the non-host ones,
/// then always mount.
fn namespaces(label: &Container, yaml: &Container) -> Vec<Namespace> {
    // Namespaces, in upstream's fixed order; only the non-host ones, then always mount.
    let mut namespaces = Vec::new();
    let mut push_ns = |kind: &str, path: &str| {
        namespaces.push(Namespace {
            kind: kind.into(),
            path: path.into(),
        })
    };
    let or_root = |s: &str| if s.is_empty() { "root" } else { s }.to_string();
    let net = or_root(pick_nonempty(&label.net, &yaml.net));
    if net != "host" && net != "root" {
        let path = if net == "none" || net == "new" {
            ""
        } else {
            &net
        };
        push_ns("network", path);
    }
    for (kind, value) in [
        ("ipc", or_root(pick_nonempty(&label.ipc, &yaml.ipc))),
        ("uts", or_root(pick_nonempty(&label.uts, &yaml.uts))),
        ("pid", pick_nonempty(&label.pid, &yaml.pid).to_string()),
        ("user", or_root(pick_nonempty(&label.userns, &yaml.userns))),
    ] {
        if value != "host" && value != "root" {
            let path = if value == "new" { "" } else { &value };
            push_ns(kind, path);
        }
    }
    push_ns("mount", "");
    namespaces
}

/// The process capabilities (§2.6): `capabilities` (or the label's plus `capabilities.add`)
/// effective, and with `ambient` bounding, inheritable and permitted.
fn capabilities(label: &Container, yaml: &Container) -> Result<Capabilities, ConfigError> {
    // Capabilities.
    let caps = match &yaml.capabilities {
        Some(c) => c.clone(),
        None => merge_strings(&label.capabilities, &yaml.capabilities_add),
    };
    let caps = expand_caps(caps)?;
    let ambient = expand_caps(
        pick(&label.ambient, &yaml.ambient)
            .cloned()
            .unwrap_or_default(),
    )?;
    let bounding: Vec<String> = caps
        .iter()
        .chain(&ambient)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Capabilities {
        bounding: bounding.clone(),
        effective: caps,
        inheritable: bounding.clone(),
        permitted: bounding,
        ambient,
    })
}

/// The rlimits (§2.7): `name,soft,hard`, names with or without `RLIMIT_`, `unlimited`.
fn rlimits(label: &Container, yaml: &Container) -> Result<Vec<Rlimit>, ConfigError> {
    // Rlimits.
    let rlimit_strings = pick(&label.rlimits, &yaml.rlimits)
        .cloned()
        .unwrap_or_default();
    let mut rlimits = Vec::new();
    for limit in &rlimit_strings {
        let parts: Vec<&str> = limit.splitn(3, ',').collect();
        if parts.len() != 3 {
            return Err(ConfigError::RlimitSyntax(go_list(&rlimit_strings)));
        }
        let mut name = parts[0].trim().to_uppercase();
        if !name.starts_with("RLIMIT_") {
            name = format!("RLIMIT_{name}");
        }
        let value = |s: &str| {
            let s = s.trim();
            if s.eq_ignore_ascii_case("unlimited") {
                Ok(u64::MAX)
            } else {
                parse_u64(s)
            }
        };
        let soft = value(parts[1])?;
        let hard = value(parts[2])?;
        if !RLIMITS.contains(&name.as_str()) {
            // QUIRK (§2.7): upstream prints the name before it was set, i.e. nothing.
            return Err(ConfigError::UnknownLimit(String::new()));
        }
        rlimits.push(Rlimit {
            kind: name,
            hard,
            soft,
        });
    }
    Ok(rlimits)
}

/// The devices to create and the cgroup resources (§2.9), with a device rule for each device
/// (`path: all` allows a whole type).
fn devices(label: &Container, yaml: &Container) -> Result<(Vec<Device>, Resources), ConfigError> {
    // Devices and resources.
    let mut resources = pick(&label.resources, &yaml.resources)
        .map(resources_as_decoded)
        .unwrap_or_default();
    let mut devices = Vec::new();
    for d in pick(&label.devices, &yaml.devices).into_iter().flatten() {
        if d.path == "all" {
            resources.devices.push(DeviceCgroup {
                allow: true,
                kind: d.kind.clone(),
                major: None,
                minor: None,
                access: "rwm".into(),
            });
            continue;
        }
        let mode = parse_octal_i32(d.mode.as_deref().unwrap_or(""))?;
        let device = Device {
            path: d.path.clone(),
            kind: d.kind.clone(),
            major: d.major.unwrap_or(0),
            minor: d.minor.unwrap_or(0),
            // os.FileMode(int64) keeps the low 32 bits.
            file_mode: Some(mode as u32),
        };
        resources.devices.push(DeviceCgroup {
            allow: true,
            kind: device.kind.clone(),
            major: Some(device.major),
            minor: Some(device.minor),
            access: "rwm".into(),
        });
        devices.push(device);
    }
    Ok((devices, resources))
}

#[cfg(test)]
mod tests;
