//! `runtime.json`: what LinuxKit does around a container in the root namespace — mounts (the
//! rootfs overlay or bind first), directories, cgroups before it is created; namespace binds
//! and interfaces after; and the volume overlays at boot.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use crate::error::{InitError, IoContext, Result, SysContext};
use crate::mountopts;
use crate::netlink::Rtnl;
use crate::{error, info};

/// `runtime.json` as `linuxkit build` writes it (LinuxKit's `Runtime`), read leniently —
/// unknown fields ignored, `null` as empty — because PID 1 must boot images built by any
/// LinuxKit version. The type is the one the build serialises (`linuxkit-bundle`).
pub use linuxkit_bundle::{Interface, Mount, Runtime};

/// Reads `<bundle>/runtime.json` (a missing file means an empty runtime).
pub fn load(bundle: &Path) -> Result<Runtime> {
    let path = bundle.join("runtime.json");
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| InitError::Json { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Runtime::default()),
        Err(e) => Err(InitError::Io {
            what: "read",
            path,
            source: e,
        }),
    }
}

/// Where a `runtime.json` path lands: an absolute path as it is, a relative one under the
/// container's root `<bundle>/rootfs` (as LinuxKit's `prepareFilesystem` does).
pub fn resolve_path(bundle: &Path, path: &str) -> PathBuf {
    if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        bundle.join(linuxkit_bundle::ROOTFS).join(path)
    }
}

/// Mounts, then `mkdir`, then cgroups (LinuxKit's `prepareFilesystem`). Relative mount
/// destinations and directories are relative to the container's root (see [`resolve_path`]).
pub fn prepare_filesystem(bundle: &Path, rt: &Runtime) -> Result<()> {
    for m in &rt.mounts {
        do_mount(m, &resolve_path(bundle, &m.destination))?;
    }
    for dir in &rt.mkdir {
        let dir = resolve_path(bundle, dir);
        fs::create_dir_all(&dir).io("mkdir", &dir)?;
    }
    for cg in &rt.cgroups {
        let path = Path::new("/sys/fs/cgroup").join(cg.trim_start_matches('/'));
        fs::create_dir_all(&path).io("create cgroup", &path)?;
    }
    Ok(())
}

/// One `runtime.json` mount on `target` (its destination, resolved): creates the mount point
/// and any `upperdir=`/`workdir=` paths, mounts, then applies propagation flags.
pub fn do_mount(m: &Mount, target: &Path) -> Result<()> {
    let options = &m.options;
    let opts = mountopts::parse(options);
    fs::create_dir_all(target).io("create mount point", target)?;
    for o in options {
        if let Some(dir) = o
            .strip_prefix("upperdir=")
            .or_else(|| o.strip_prefix("workdir="))
        {
            fs::create_dir_all(dir).io("create overlay directory", dir)?;
        }
    }
    let src = (!m.source.is_empty()).then_some(m.source.as_str());
    let fstype = (!m.kind.is_empty()).then_some(m.kind.as_str());
    if let Some(t) = fstype.filter(|t| !matches!(*t, "bind" | "tmpfs" | "proc" | "sysfs")) {
        crate::modules::ensure_filesystem(t);
    }
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    // A pure propagation change (no flags, no type, no source) needs only the second call.
    if !(opts.flags.is_empty() && src.is_none() && fstype.is_none()) {
        mount(src, target, fstype, opts.flags, data).sys(|| {
            format!(
                "mount {} ({}) on {} with {:?}",
                m.source,
                m.kind,
                target.display(),
                options
            )
        })?;
    }
    if !opts.propagation.is_empty() {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            opts.propagation,
            None::<&str>,
        )
        .sys(|| format!("set propagation of {}", target.display()))?;
    }
    Ok(())
}

/// After `create`, before `start` (LinuxKit's `prepareProcess`): sets up `interfaces` in the
/// container's network namespace, then bind-mounts `/proc/<pid>/ns/<type>` onto each
/// non-empty `bindNS` path.
pub fn prepare_process(rt: &Runtime, pid: i32) -> Result<()> {
    if !rt.interfaces.is_empty() {
        let mut rtnl = Rtnl::open().map_err(|source| InitError::Netlink {
            what: "open a route netlink socket".into(),
            source,
        })?;
        for iface in &rt.interfaces {
            interface(&mut rtnl, iface, pid)?;
        }
    }
    for (ns, path) in rt.bind_ns.paths() {
        bind_ns(pid, ns, Path::new(path))?;
    }
    Ok(())
}

fn bind_ns(pid: i32, ns: &str, path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).io("create", parent)?;
    }
    if !path.exists() {
        fs::write(path, b"").io("create namespace bind target", path)?;
    }
    let src = PathBuf::from(format!("/proc/{pid}/ns/{ns}"));
    mount(
        Some(&src),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .sys(|| format!("bind {} on {}", src.display(), path.display()))
}

/// What LinuxKit does for one `interfaces` entry: with `add` (implied `veth` when `peer` is
/// set), create the link — a veth pair, or with `createInRoot`, in the root namespace and then
/// move it; otherwise directly in the container's namespace. Without `add`, move the existing
/// interface `name` into the container. The veth's `peer` stays in the root namespace.
fn interface(rtnl: &mut Rtnl, iface: &Interface, pid: i32) -> Result<()> {
    let name = iface.name.as_str();
    let nl = |what: String| move |source| InitError::Netlink { what, source };
    if name.is_empty() {
        return Err(InitError::Netlink {
            what: "runtime.json interface without a name".into(),
            source: std::io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    let pid_u = pid.unsigned_abs();
    let kind = if iface.add.is_empty() && !iface.peer.is_empty() {
        "veth"
    } else {
        iface.add.as_str()
    };
    let in_root = iface.create_in_root || kind == "veth";
    if !kind.is_empty() {
        if kind == "veth" && iface.peer.is_empty() {
            return Err(InitError::Netlink {
                what: format!("veth {name} needs a peer"),
                source: std::io::Error::from_raw_os_error(libc::EINVAL),
            });
        }
        let peer = (kind == "veth").then_some(iface.peer.as_str());
        let target = (!in_root).then_some(pid_u);
        let mut added = rtnl.add(name, kind, peer, target);
        // The kernel cannot load the driver itself (no modprobe helper): load it, retry.
        if added
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::EOPNOTSUPP))
            && crate::modules::with(|m| m.load(kind))
        {
            added = rtnl.add(name, kind, peer, target);
        }
        added.map_err(nl(format!("create interface {name} of type {kind}")))?;
        info!("created interface {name} type {kind}");
        if !in_root {
            return Ok(());
        }
    }
    let index = rtnl
        .index_of(name)
        .map_err(nl(format!("find interface {name}")))?;
    rtnl.move_to_pid(index, pid_u).map_err(nl(format!(
        "move interface {name} into the namespace of pid {pid}"
    )))?;
    info!("moved interface {name} to pid {pid}");
    Ok(())
}

/// Sets up every `/containers/volumes/<v>` that has `lower` and `merged`: a tmpfs on `tmp`
/// with `upper` and `work`, and an overlay on `merged` (read-only when there is no `tmp`).
pub fn volumes(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    dirs.sort();
    for v in dirs {
        let (lower, tmp, merged) = (v.join("lower"), v.join("tmp"), v.join("merged"));
        if !lower.is_dir() || !merged.is_dir() {
            continue;
        }
        crate::modules::ensure_filesystem("overlay");
        let result = if tmp.is_dir() {
            mount(
                Some("tmpfs"),
                &tmp,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .sys(|| format!("mount tmpfs on {}", tmp.display()))
            .and_then(|()| {
                fs::create_dir_all(tmp.join("upper")).io("create", tmp.join("upper"))?;
                fs::create_dir_all(tmp.join("work")).io("create", tmp.join("work"))?;
                let data = format!(
                    "lowerdir={},upperdir={},workdir={}",
                    lower.display(),
                    tmp.join("upper").display(),
                    tmp.join("work").display()
                );
                mount(
                    Some("overlay"),
                    &merged,
                    Some("overlay"),
                    MsFlags::empty(),
                    Some(data.as_str()),
                )
                .sys(|| format!("mount overlay on {}", merged.display()))
            })
        } else {
            let data = format!("lowerdir={}", lower.display());
            mount(
                Some("overlay"),
                &merged,
                Some("overlay"),
                MsFlags::MS_RDONLY,
                Some(data.as_str()),
            )
            .sys(|| format!("mount overlay on {}", merged.display()))
        };
        match result {
            Ok(()) => info!(
                "volume {} ready",
                v.file_name().unwrap_or_default().to_string_lossy()
            ),
            Err(e) => error!("volume {}: {e}", v.display()),
        }
    }
}

/// Fixes up `<bundle>/config.json` before the container is created, rewriting the file when
/// anything changed: bind mounts whose source is a bare volume name point at that volume's
/// `merged` directory under `volumes_root`, a relative mount destination becomes absolute
/// (see [`absolute_destinations`]), and a process environment without `PATH` gets
/// containerd's default one (see [`default_path`]).
///
/// `linuxkit build` substitutes volume names only in the YAML's `binds`; binds that come from
/// an image's `org.mobyproject.config` label (and `mounts` of type `bind`) keep the bare name,
/// which libcontainer cannot bind (`failed to prepare rootfs`). A relative source that names no
/// volume is left alone.
pub fn resolve_volume_binds(bundle: &Path, volumes_root: &Path) -> Result<()> {
    let path = bundle.join("config.json");
    let bytes = fs::read(&path).io("read", &path)?;
    // Nothing to do (the common case) is decided without parsing the spec.
    if !volumes_root.is_dir() && contains(&bytes, b"\"PATH=") && !has_relative_destination(&bytes) {
        return Ok(());
    }
    let mut spec: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| InitError::Json {
            path: path.clone(),
            source,
        })?;
    let binds = rewrite_volume_binds(&mut spec, |name| {
        let dir = volumes_root.join(name);
        dir.is_dir().then(|| dir.join("merged"))
    });
    let relative = absolute_destinations(&mut spec);
    let env = default_path(&mut spec);
    if binds || relative || env {
        let out = serde_json::to_vec(&spec).map_err(|source| InitError::Json {
            path: path.clone(),
            source,
        })?;
        fs::write(&path, out).io("write", &path)?;
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether the JSON text has a `"destination"` value that does not start with `/` (a cheap
/// test that spares parsing the spec in the common case).
fn has_relative_destination(json: &[u8]) -> bool {
    const KEY: &[u8] = b"\"destination\"";
    let mut rest = json;
    while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = &rest[at + KEY.len()..];
        let value = rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b':' | b'"'))
            .map(|i| rest[i]);
        if value != Some(b'/') {
            return true;
        }
    }
    false
}

/// Makes every relative mount destination of the spec absolute by putting `/` in front, as
/// runc does (with its deprecation warning: a relative destination is relative to the
/// container's root). LinuxKit YAML may say `destination: writeable-host-etc`; libcontainer
/// wants absolute paths. Returns whether the spec changed.
fn absolute_destinations(spec: &mut serde_json::Value) -> bool {
    let Some(mounts) = spec.get_mut("mounts").and_then(|m| m.as_array_mut()) else {
        return false;
    };
    let mut changed = false;
    for m in mounts {
        let Some(dest) = m.get("destination").and_then(|d| d.as_str()) else {
            continue;
        };
        if dest.starts_with('/') {
            continue;
        }
        info!("mount destination {dest} is not absolute: mounting it at /{dest}, as runc does");
        m["destination"] = serde_json::Value::String(format!("/{dest}"));
        changed = true;
    }
    changed
}

/// containerd's default `PATH` for Linux containers (`oci.WithDefaultPathEnv`).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Adds [`DEFAULT_PATH`] to `process.env` when it has no `PATH`: libcontainer looks the
/// command up in the container's `PATH` only, and an image without `Env` (or a definition
/// that sets `env` without `PATH`) leaves none. Returns whether the spec changed.
fn default_path(spec: &mut serde_json::Value) -> bool {
    let Some(process) = spec.get_mut("process").and_then(|p| p.as_object_mut()) else {
        return false;
    };
    let env = process
        .entry("env")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    let Some(env) = env.as_array_mut() else {
        return false;
    };
    if env
        .iter()
        .any(|e| e.as_str().is_some_and(|e| e.starts_with("PATH=")))
    {
        return false;
    }
    env.push(serde_json::Value::String(DEFAULT_PATH.into()));
    true
}

/// The pure part of [`resolve_volume_binds`]: rewrites the source of each bind mount (type
/// `bind`, or a `bind`/`rbind` option) that is a plain name for which `volume` gives a path.
fn rewrite_volume_binds(
    spec: &mut serde_json::Value,
    volume: impl Fn(&str) -> Option<PathBuf>,
) -> bool {
    let Some(mounts) = spec.get_mut("mounts").and_then(|m| m.as_array_mut()) else {
        return false;
    };
    let mut changed = false;
    for m in mounts {
        let is_bind = m.get("type").and_then(|t| t.as_str()) == Some("bind")
            || m.get("options")
                .and_then(|o| o.as_array())
                .is_some_and(|o| {
                    o.iter()
                        .any(|x| matches!(x.as_str(), Some("bind" | "rbind")))
                });
        if !is_bind {
            continue;
        }
        let Some(source) = m.get("source").and_then(|s| s.as_str()) else {
            continue;
        };
        if source.is_empty() || source.starts_with('/') || source.contains('/') {
            continue;
        }
        if let Some(merged) = volume(source) {
            info!("bind of volume {source} -> {}", merged.display());
            m["source"] = serde_json::Value::String(merged.to_string_lossy().into_owned());
            changed = true;
        }
    }
    changed
}

/// Unmounts `<bundle>/rootfs` (and `<bundle>/tmp`) after a container is gone.
pub fn cleanup(bundle: &Path) {
    for p in [bundle.join("rootfs"), bundle.join("tmp")] {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_runtime_paths_are_under_the_container_root() {
        let bundle = Path::new("/containers/services/getty");
        assert_eq!(
            resolve_path(bundle, "writeable-host-etc"),
            Path::new("/containers/services/getty/rootfs/writeable-host-etc")
        );
        assert_eq!(resolve_path(bundle, "/run/x"), Path::new("/run/x"));
    }

    #[test]
    fn relative_mount_destinations_become_absolute() {
        let mut spec = serde_json::json!({"mounts": [
            {"destination": "writeable-host-etc", "type": "bind", "source": "/etc"},
            {"destination": "/proc", "type": "proc", "source": "proc"}
        ]});
        let text = serde_json::to_vec(&spec).unwrap();
        assert!(has_relative_destination(&text));
        assert!(absolute_destinations(&mut spec));
        assert_eq!(spec["mounts"][0]["destination"], "/writeable-host-etc");
        assert_eq!(spec["mounts"][1]["destination"], "/proc");
        let text = serde_json::to_vec_pretty(&spec).unwrap();
        assert!(!has_relative_destination(&text));
        assert!(!absolute_destinations(&mut spec));
    }

    #[test]
    fn bare_volume_names_in_binds_become_merged_dirs() {
        let mut spec = serde_json::json!({
            "mounts": [
                {"destination": "/data", "type": "bind", "source": "relay",
                 "options": ["rw", "rbind", "rshared"]},
                {"destination": "/ro", "source": "relay", "options": ["ro", "rbind"]},
                {"destination": "/other", "type": "bind", "source": "unknown",
                 "options": ["rbind"]},
                {"destination": "/abs", "type": "bind", "source": "/srv",
                 "options": ["rbind"]},
                {"destination": "/proc", "type": "proc", "source": "proc"}
            ]
        });
        let changed = rewrite_volume_binds(&mut spec, |n| {
            (n == "relay").then(|| PathBuf::from("/containers/volumes/relay/merged"))
        });
        assert!(changed);
        let sources: Vec<&str> = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["source"].as_str().unwrap())
            .collect();
        assert_eq!(
            sources,
            [
                "/containers/volumes/relay/merged",
                "/containers/volumes/relay/merged",
                "unknown",
                "/srv",
                "proc"
            ]
        );
    }

    #[test]
    fn a_missing_path_gets_containerds_default() {
        let mut spec = serde_json::json!({"process": {"args": ["sh"]}});
        assert!(default_path(&mut spec));
        assert_eq!(spec["process"]["env"], serde_json::json!([DEFAULT_PATH]));
        let mut spec = serde_json::json!({"process": {"env": ["A=1"]}});
        assert!(default_path(&mut spec));
        assert_eq!(
            spec["process"]["env"],
            serde_json::json!(["A=1", DEFAULT_PATH])
        );
        let mut spec = serde_json::json!({"process": {"env": ["PATH=/bin"]}});
        assert!(!default_path(&mut spec));
        assert_eq!(spec["process"]["env"], serde_json::json!(["PATH=/bin"]));
    }

    #[test]
    fn nothing_to_rewrite_leaves_the_spec_unchanged() {
        let mut spec = serde_json::json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"}
        ]});
        let before = spec.clone();
        assert!(!rewrite_volume_binds(&mut spec, |_| None));
        assert_eq!(spec, before);
    }
}
