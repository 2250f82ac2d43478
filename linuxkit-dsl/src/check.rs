//! Every check of an image definition that needs no image contents.
//!
//! [`check`] returns all [`Problem`]s at once, item by item in model order (kernel, init,
//! volumes, onboot, onshutdown, services, files); sort by position for display. Each problem names the item
//! path it is about (`services[2].binds[0]`), so the CLI can point at file:line:col through a
//! [`crate::Locator`] (YAML) or the recorded [`crate::Locations`] (Rust). Messages use
//! upstream LinuxKit's wording where upstream has one (for example
//! `cannot parse bind, missing ':': /a`), so users of both tools recognise them.
//!
//! What needs image contents (labels, `/etc/passwd`, kernel files) is checked at build time.

use std::collections::{HashMap, HashSet};

use crate::model::{Container, File, Id, Image, Mount};
use crate::types::{Propagation, Rlimit, RlimitValue};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Upstream would accept it, but it is probably not what was meant.
    Warning,
    /// The image cannot be built (upstream rejects it too, or it cannot work).
    Error,
}

/// One problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong (upstream's wording where upstream has one).
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// The item the problem is about, e.g. `services[2].binds[0]`.
    pub path: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {} (at {})", self.message, self.path)
    }
}

/// Runs every content-free check on `image`.
pub fn check(image: &Image) -> Vec<Problem> {
    let mut c = Checker::new(image);
    c.run(image);
    c.problems
}

/// Whether any of `problems` is an error.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

struct Checker {
    problems: Vec<Problem>,
    /// Volume name -> readonly.
    volumes: HashMap<String, bool>,
    /// Container names (usable as uid/gid names).
    names: HashSet<String>,
}

/// Capability strings LinuxKit accepts: `CAP_*` exactly, or `all`/`none` alone.
const CAP_SECTIONS: [&str; 3] = ["capabilities", "capabilities.add", "ambient"];

impl Checker {
    fn new(image: &Image) -> Self {
        let names = image
            .onboot
            .iter()
            .chain(&image.onshutdown)
            .chain(&image.services)
            .map(|c| c.name.clone())
            .collect();
        let volumes = image
            .volumes
            .iter()
            .map(|v| (v.name.clone(), v.readonly))
            .collect();
        Checker {
            problems: Vec::new(),
            volumes,
            names,
        }
    }

    fn push(&mut self, severity: Severity, path: String, message: String, hint: impl Into<String>) {
        self.problems.push(Problem {
            severity,
            message,
            hint: hint.into(),
            path,
        });
    }

    fn error(&mut self, path: String, message: String, hint: impl Into<String>) {
        self.push(Severity::Error, path, message, hint);
    }

    fn warn(&mut self, path: String, message: String, hint: impl Into<String>) {
        self.push(Severity::Warning, path, message, hint);
    }

    fn reference(&mut self, path: String, what: &str, reference: &str) {
        if let Some(pkg) = reference.strip_prefix("@pkg:") {
            self.error(
                path,
                format!("`@pkg:` templates are not supported: {reference}"),
                format!(
                    "upstream replaces it by the tag it computes from the LinuxKit package source at `{pkg}` (git tree hash) and pulls that image: write the tag `linuxkit pkg show-tag {pkg}` prints, or package a workspace crate as `cargo:NAME`"
                ),
            );
            return;
        }
        if reference.contains("://") {
            self.error(
                path,
                format!("extract {what} image reference: invalid reference format: {reference}"),
                "image references have no scheme (containerd refuses `://`): write `registry/repository:tag`",
            );
            return;
        }
        if let Err(e) = linuxkit_validate::image_source(reference) {
            self.error(
                path,
                format!("extract {what} image reference: {e}"),
                "use a reference such as `linuxkit/init:<tag>` or `docker.io/library/alpine:3.21`",
            );
        }
    }

    fn run(&mut self, image: &Image) {
        if let Some(kernel) = &image.kernel {
            if kernel.image.is_empty() {
                self.warn(
                    "kernel".into(),
                    "kernel section has no image: it is ignored".into(),
                    "upstream builds it without a kernel (its cmdline is dropped), and bootable formats then fail: set `kernel.image`, e.g. `linuxkit/kernel:6.12.59`",
                );
            } else {
                self.reference("kernel.image".into(), "kernel", &kernel.image);
            }
        }
        for (i, init) in image.init.iter().enumerate() {
            self.reference(format!("init[{i}]"), "init", init);
        }
        self.volumes_section(image);
        for (section, what, list) in [
            ("onboot", "on boot", &image.onboot),
            ("onshutdown", "on shutdown", &image.onshutdown),
            ("services", "service", &image.services),
        ] {
            for (i, c) in list.iter().enumerate() {
                self.container(&format!("{section}[{i}]"), what, c);
            }
        }
        let mut seen = HashSet::new();
        for (i, c) in image.services.iter().enumerate() {
            if !seen.insert(c.name.as_str()) {
                self.error(
                    format!("services[{i}].name"),
                    format!("duplicate service name: {}", c.name),
                    "service names are container ids and directory names: make them unique",
                );
            }
        }
        for (i, f) in image.files.iter().enumerate() {
            self.file(&format!("files[{i}]"), f);
        }
    }

    fn volumes_section(&mut self, image: &Image) {
        let mut seen = HashSet::new();
        for (i, v) in image.volumes.iter().enumerate() {
            let path = format!("volumes[{i}]");
            if v.name.is_empty() {
                self.warn(
                    format!("{path}.name"),
                    "volume name is empty".into(),
                    "upstream accepts an empty name but no bind can refer to it: name the volume",
                );
            } else if linuxkit_validate::volume_name(&v.name).is_err() {
                self.error(
                    format!("{path}.name"),
                    format!("invalid volume name: {}", v.name),
                    "volume names may only contain lowercase letters, digits, '_' and '-'",
                );
            }
            if !seen.insert(v.name.as_str()) {
                self.error(
                    format!("{path}.name"),
                    format!("duplicate volume name: {}", v.name),
                    "give each volume its own name",
                );
            }
            match v.image.as_deref() {
                Some("") => self.warn(
                    format!("{path}.image"),
                    "volume image is empty: the volume is blank".into(),
                    "upstream makes a blank volume, as without `image`: remove `image: \"\"`",
                ),
                Some(reference) => self.reference(format!("{path}.image"), "volume", reference),
                None => {}
            }
            match v.format.as_deref() {
                None | Some("oci") | Some("filesystem") => {}
                Some(other) => self.error(
                    format!("{path}.format"),
                    format!("volume format must be one of \"oci\", \"filesystem\": {other}"),
                    "use `format: oci` for an OCI image layout, or leave it unset",
                ),
            }
            if v.platforms.is_some() && v.format.as_deref() != Some("oci") {
                self.warn(
                    format!("{path}.platforms"),
                    "volume platforms are only used with `format: oci`".into(),
                    "add `format: oci` (`.format_oci()`) or remove the platforms",
                );
            }
            if v.platforms.is_some() && v.image.is_none() {
                self.warn(
                    format!("{path}.platforms"),
                    "volume platforms without an image have no effect".into(),
                    "set the volume's image or remove the platforms",
                );
            }
        }
    }

    fn container(&mut self, path: &str, what: &str, c: &Container) {
        self.container_name(path, what, &c.name);
        if c.image.is_empty() {
            self.error(
                format!("{path}.image"),
                format!("extract {what} image reference: image reference is empty"),
                "every container needs an `image`",
            );
        } else {
            self.reference(format!("{path}.image"), what, &c.image);
        }
        for (section, list) in
            CAP_SECTIONS
                .iter()
                .zip([&c.capabilities, &c.capabilities_add, &c.ambient])
        {
            if let Some(list) = list {
                self.capabilities(&format!("{path}.{section}"), list);
            }
        }
        for (section, list) in [("binds", &c.binds), ("binds.add", &c.binds_add)] {
            for (i, b) in list.iter().flatten().enumerate() {
                self.bind(&format!("{path}.{section}[{i}]"), b);
            }
        }
        for (i, t) in c.tmpfs.iter().flatten().enumerate() {
            self.tmpfs(&format!("{path}.tmpfs[{i}]"), t);
        }
        for (i, m) in c.mounts.iter().flatten().enumerate() {
            self.mount(&format!("{path}.mounts[{i}]"), m, true);
        }
        for (i, e) in c.env.iter().flatten().enumerate() {
            self.env(&format!("{path}.env[{i}]"), e);
        }
        if let Some(cwd) = &c.cwd {
            self.cwd(&format!("{path}.cwd"), cwd);
        }
        if matches!(&c.command, Some(cmd) if cmd.is_empty()) {
            self.warn(
                format!("{path}.command"),
                "command is an empty list: the container has no process arguments".into(),
                "upstream builds it (an empty list replaces the image's command), but runc refuses to start it (\"args must not be empty\"): remove `command` to use the image's",
            );
        } else if matches!(&c.command, Some(cmd) if cmd[0].is_empty()) {
            self.warn(
                format!("{path}.command[0]"),
                "the command's program is empty".into(),
                "upstream builds it, but runc cannot find a program named \"\" and refuses to start it: name the program",
            );
        }
        for (field, value) in [
            ("net", &c.net),
            ("pid", &c.pid),
            ("ipc", &c.ipc),
            ("uts", &c.uts),
            ("userns", &c.userns),
        ] {
            if let Some(v) = value {
                self.namespace(&format!("{path}.{field}"), field, v);
            }
        }
        for (field, list) in [
            ("maskedPaths", &c.masked_paths),
            ("readonlyPaths", &c.readonly_paths),
        ] {
            for (i, p) in list.iter().flatten().enumerate() {
                if p.is_empty() {
                    self.warn(
                        format!("{path}.{field}[{i}]"),
                        "path is empty: it has no effect".into(),
                        "upstream builds it and runc skips it: remove it",
                    );
                } else {
                    self.container_path(&format!("{path}.{field}[{i}]"), "path", p);
                }
            }
        }
        for (field, id) in [("uid", &c.uid), ("gid", &c.gid)] {
            if let Some(id) = id {
                self.id(format!("{path}.{field}"), id);
            }
        }
        for (i, id) in c.additional_gids.iter().flatten().enumerate() {
            self.id(format!("{path}.additionalGids[{i}]"), id);
        }
        if let Some(adj) = c.oom_score_adj {
            if !(-1000..=1000).contains(&adj) {
                self.error(
                    format!("{path}.oomScoreAdj"),
                    format!("oomScoreAdj must be between -1000 and 1000: {adj}"),
                    "the kernel accepts -1000 (never kill) to 1000 (kill first)",
                );
            }
        }
        if let Some(p) = c.rootfs_propagation.as_ref().filter(|p| !p.is_empty()) {
            if p.parse::<Propagation>().is_err() {
                self.error(
                    format!("{path}.rootfsPropagation"),
                    format!("unknown rootfs propagation: {p}"),
                    "use one of shared, slave, private, unbindable, rshared, rslave, rprivate, runbindable",
                );
            }
        }
        for key in c.sysctl.iter().flat_map(|m| m.keys()) {
            if let Err(msg) = linuxkit_validate::sysctl_key(key) {
                self.error(
                    format!("{path}.sysctl.{key}"),
                    msg,
                    "sysctl keys are dotted lowercase names such as `net.ipv4.ip_forward`",
                );
            }
        }
        if let Some(rlimits) = &c.rlimits {
            for (i, r) in rlimits.iter().enumerate() {
                self.rlimit(&format!("{path}.rlimits[{i}]"), r, rlimits);
            }
        }
        for (i, d) in c.devices.iter().flatten().enumerate() {
            self.device(&format!("{path}.devices[{i}]"), d);
        }
        if let Some(rt) = &c.runtime {
            for (i, m) in rt.mounts.iter().flatten().enumerate() {
                self.mount(&format!("{path}.runtime.mounts[{i}]"), m, false);
            }
            for (i, iface) in rt.interfaces.iter().flatten().enumerate() {
                if iface.name.is_empty() {
                    self.error(
                        format!("{path}.runtime.interfaces[{i}]"),
                        "runtime interface has no name".into(),
                        "give the interface a `name`",
                    );
                }
            }
            if let Some(b) = &rt.bind_ns {
                for (field, p) in [
                    ("cgroup", &b.cgroup),
                    ("ipc", &b.ipc),
                    ("mnt", &b.mnt),
                    ("net", &b.net),
                    ("pid", &b.pid),
                    ("user", &b.user),
                    ("uts", &b.uts),
                ] {
                    if let Some(p) = p.as_deref().filter(|p| !p.is_empty()) {
                        self.bind_ns(&format!("{path}.runtime.bindNS.{field}"), p);
                    }
                }
            }
        }
    }

    /// A `runtime.bindNS` path: LinuxKit's init creates it from `/`, so a relative path or one
    /// with `..` works as the cleaned absolute path.
    fn bind_ns(&mut self, path: &str, value: &str) {
        match linuxkit_validate::container_path("namespace bind path", value) {
            Ok(None) => {}
            Ok(Some(abs)) => self.warn(
                path.into(),
                format!("namespace bind path is not a clean absolute path: {value}"),
                format!("upstream builds it and its init resolves it from `/` as `{abs}`: write `{abs}`"),
            ),
            Err(msg) => self.error(
                path.into(),
                msg,
                "write an absolute path such as `/run/netns/name`",
            ),
        }
    }

    fn capabilities(&mut self, path: &str, list: &[String]) {
        let special = |s: &str| s.eq_ignore_ascii_case("all") || s.eq_ignore_ascii_case("none");
        if list.len() == 1 && special(&list[0]) {
            return;
        }
        for (i, cap) in list.iter().enumerate() {
            if special(cap) {
                self.error(
                    format!("{path}[{i}]"),
                    format!("unknown capability: {cap}"),
                    format!("`{cap}` is only allowed as the single entry of the list"),
                );
            } else if !linuxkit_validate::CAPABILITIES.contains(&cap.as_str()) {
                let hint = match linuxkit_validate::capability(cap) {
                    Err(m) => m,
                    Ok(()) => "capabilities are written `CAP_NET_ADMIN`".into(),
                };
                self.error(
                    format!("{path}[{i}]"),
                    format!("unknown capability: {cap}"),
                    hint,
                );
            }
        }
    }

    /// Names become bundle directories and container ids: runc's (`NNN-name` for onboot and
    /// onshutdown) or containerd's (services).
    fn container_name(&mut self, path: &str, what: &str, name: &str) {
        let path = format!("{path}.name");
        let service = what == "service";
        if name.is_empty() {
            if service {
                self.error(
                    path,
                    "container name is empty".into(),
                    "upstream builds it, but the bundle lands in the services directory itself and no service starts: name it",
                );
            } else {
                self.warn(
                    path,
                    "container name is empty".into(),
                    "upstream runs it as `NNN-`: name it",
                );
            }
        } else if name.contains('/') {
            self.error(
                path,
                format!("container name must not contain '/': {name}"),
                "upstream builds it, but the bundle lands in a subdirectory where the runner never finds it: the name is a directory name and container id",
            );
        } else if service && !is_containerd_id(name) {
            self.error(
                path,
                format!("service name is not a valid containerd identifier: {name}"),
                "upstream builds it, but containerd refuses to create the service: use letters and digits separated by single '.', '_' or '-', at most 76 characters",
            );
        } else if !service
            && (matches!(name, "." | "..")
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+.-".contains(&b)))
        {
            self.error(
                path,
                format!("{what} container name is not a valid runc container id: {name}"),
                "upstream builds it, but runc refuses the id `NNN-name`: use letters, digits, '_', '+', '.' and '-'",
            );
        }
    }

    fn volume_ref(&mut self, path: &str, name: &str, writable: bool) {
        match self.volumes.get(name) {
            None => self.error(
                path.to_string(),
                format!("volume {name} not found"),
                format!(
                    "declare it under `volumes` (`.volume(Volume::new(\"{name}\"))`), or use an absolute host path"
                ),
            ),
            Some(true) if writable => self.error(
                path.to_string(),
                format!(
                    "volume {name} is read-only, but attempting to write into container read-write"
                ),
                "mount it read-only (`:ro`) or drop `readonly` from the volume",
            ),
            Some(_) => {}
        }
    }

    fn bind(&mut self, path: &str, bind: &str) {
        let parts: Vec<&str> = bind.split(':').collect();
        if parts.len() < 2 {
            self.error(
                path.into(),
                format!("cannot parse bind, missing ':': {bind}"),
                "write binds as `source:destination[:options]`",
            );
            return;
        }
        if parts.len() > 3 {
            self.error(
                path.into(),
                format!("cannot parse bind, too many ':': {bind}"),
                "write binds as `source:destination[:options]`",
            );
            return;
        }
        if !parts[0].starts_with('/') {
            self.volume_ref(path, parts[0], parts.get(2) != Some(&"ro"));
            if !self.volumes.contains_key(parts[0]) {
                return;
            }
        }
        let source = parts[0];
        if source.is_empty() {
            self.error(
                path.into(),
                format!("bind has an empty source: {bind}"),
                "write binds as `source:destination[:options]` with an absolute host path or a volume name",
            );
        } else if source.contains('\0') {
            self.error(
                path.into(),
                format!("bind source must not contain a NUL character: {bind:?}"),
                "remove the NUL character",
            );
        } else if source.starts_with('/') && source.split('/').any(|c| c == "..") {
            let clean = linuxkit_validate::gopath::clean(source.as_bytes());
            let clean = String::from_utf8_lossy(&clean);
            self.warn(
                path.into(),
                format!("bind source has a '..' component: {source}"),
                format!(
                    "upstream builds it and the host resolves it as `{clean}`: write `{clean}`"
                ),
            );
        }
        self.destination(path, "bind destination", parts[1]);
        if let Some(options) = parts.get(2) {
            self.option_list(path, options, true, true);
        }
    }

    /// A comma-separated option list of a bind, tmpfs or mount entry. Unknown options are
    /// errors where `strict`, else warnings. On a bind (`bind`), runc refuses any option it
    /// hands to the filesystem as data (`key=value`, `defaults`, ...), and an option list that
    /// is only empty options beyond the first (`ro,,`: data `","`).
    fn option_list(&mut self, path: &str, options: &str, strict: bool, bind: bool) {
        let empty = options.split(',').filter(|o| o.is_empty()).count();
        if bind && empty > 1 {
            self.error(
                path.into(),
                format!("empty mount options in {options:?}"),
                "upstream builds it, but runc takes the empty options as filesystem data and refuses the bind mount: remove the extra ','",
            );
        } else if empty > 0 && bind {
            self.warn(
                path.into(),
                format!("empty mount option in {options:?}"),
                "upstream builds it (runc ignores one empty option), but options given replace LinuxKit's default `rw,rbind,rshared`: remove the trailing ':' or the extra ','",
            );
        } else if empty > 0 {
            self.warn(
                path.into(),
                format!("empty mount option in {options:?}"),
                "upstream builds it and the empty option is ignored: remove the extra ','",
            );
        }
        let given: Vec<&str> = options.split(',').filter(|o| !o.is_empty()).collect();
        if given.is_empty() {
            return;
        }
        let given = given.join(",");
        let checked = if bind {
            linuxkit_validate::bind_options(&given)
        } else {
            linuxkit_validate::mount_options(&given)
        };
        if let Err(msg) = checked {
            let hint = if bind {
                "upstream builds it, but runc refuses to start the container: a bind mount takes only mount flags and propagation options"
            } else {
                "check the option spelling; the kernel rejects unknown mount options"
            };
            if strict {
                self.error(path.into(), msg, hint);
            } else {
                self.warn(path.into(), msg, hint);
            }
        }
    }

    fn tmpfs(&mut self, path: &str, tmpfs: &str) {
        if tmpfs.matches(':').count() > 1 {
            self.error(
                path.into(),
                format!("cannot parse tmpfs, too many ':': {tmpfs}"),
                "write tmpfs entries as `destination[:option,option]`",
            );
            return;
        }
        let (destination, options) = match tmpfs.split_once(':') {
            Some((d, o)) => (d, Some(o)),
            None => (tmpfs, None),
        };
        self.destination(path, "tmpfs destination", destination);
        if let Some(options) = options {
            self.option_list(path, options, true, false);
        }
    }

    fn mount(&mut self, path: &str, m: &Mount, in_container: bool) {
        const SOURCE_TYPES: [&str; 5] = ["mqueue", "devpts", "proc", "sysfs", "cgroup"];
        let kind = if m.kind.is_empty() {
            if SOURCE_TYPES.contains(&m.source.as_str()) {
                m.source.as_str()
            } else if m.destination == "/dev" {
                "tmpfs"
            } else {
                if in_container {
                    self.error(
                        path.into(),
                        format!("mount for destination {} is missing type", m.destination),
                        "set the mount's `type` (e.g. bind, tmpfs, proc, cgroup)",
                    );
                }
                return;
            }
        } else {
            m.kind.as_str()
        };
        if m.destination.is_empty() {
            let has_default = matches!(kind, "proc" | "devpts" | "sysfs" | "cgroup" | "mqueue");
            if in_container && !has_default {
                self.error(
                    path.into(),
                    format!("mount type {kind} is missing destination"),
                    "set the mount's `destination`",
                );
            }
        } else if in_container {
            self.destination(
                &format!("{path}.destination"),
                "mount destination",
                &m.destination,
            );
        }
        let options = m.options.as_deref().unwrap_or_default();
        let bind_flag = options.iter().any(|o| o == "bind" || o == "rbind");
        if in_container && kind == "bind" && !m.source.is_empty() && !m.source.starts_with('/') {
            let ro = options
                .iter()
                .find(|o| *o == "ro" || *o == "rw")
                .is_some_and(|o| o == "ro");
            let before = self.problems.len();
            self.volume_ref(&format!("{path}.source"), &m.source.clone(), !ro);
            if self.problems.len() == before {
                self.warn(
                    format!("{path}.source"),
                    format!("a `mounts` bind of volume {} keeps the volume name as its source", m.source),
                    format!("upstream builds it so, and runc then looks for `{}` in the bundle directory and fails: bind the volume with `binds: [\"{}:{}\"]`", m.source, m.source, m.destination),
                );
            }
        }
        if in_container && kind == "bind" && !bind_flag {
            self.warn(
                format!("{path}.options"),
                "a `type: bind` mount without a `bind` or `rbind` option".into(),
                "runc mounts it as a filesystem of type `bind`, which fails: add `rbind` to its options",
            );
        }
        if !options.is_empty() {
            self.option_list(
                &format!("{path}.options"),
                &options.join(","),
                false,
                in_container && bind_flag,
            );
        }
    }

    /// A path inside the container that upstream takes as written and runc resolves under
    /// the container's root (relative, or with `..`): a warning that names the path runc uses.
    fn container_path(&mut self, path: &str, what: &str, value: &str) {
        match linuxkit_validate::container_path(what, value) {
            Ok(None) => {}
            Ok(Some(abs)) => {
                let message = if value.starts_with('/') {
                    format!("{what} has a '..' component: {value}")
                } else {
                    format!("{what} is not absolute: {value}")
                };
                self.warn(
                    path.into(),
                    message,
                    format!("upstream builds it and runc resolves it inside the container's root as `{abs}`: write `{abs}`"),
                );
            }
            Err(msg) => self.error(
                path.into(),
                msg,
                format!("a {what} inside the container is an absolute path such as `/data`"),
            ),
        }
    }

    /// A mount destination (see [`Self::container_path`]): runc refuses one that is the
    /// container's root once cleaned (`/x/..`).
    fn destination(&mut self, path: &str, what: &str, destination: &str) {
        let cleaned = linuxkit_validate::container_path(what, destination)
            .ok()
            .map(|p| {
                p.unwrap_or_else(|| {
                    String::from_utf8_lossy(&linuxkit_validate::gopath::clean(
                        destination.as_bytes(),
                    ))
                    .into_owned()
                })
            });
        if cleaned.as_deref() == Some("/") {
            self.error(
                path.into(),
                format!("{what} is the container's root: {destination}"),
                "upstream builds it, but runc refuses a mount on the top of the root filesystem: mount it on a directory such as `/data`",
            );
        } else {
            self.container_path(path, what, destination);
        }
    }

    /// The working directory: runc refuses a relative one ("Cwd must be an absolute path"),
    /// cleans `..`, and upstream takes an empty one as unset.
    fn cwd(&mut self, path: &str, cwd: &str) {
        if cwd.is_empty() {
            self.warn(
                path.into(),
                "cwd is empty: the image's working directory is used".into(),
                "remove `cwd` (upstream takes an empty cwd as unset)",
            );
        } else if !cwd.starts_with('/') {
            self.error(
                path.into(),
                format!("cwd must be an absolute path: {cwd}"),
                format!("upstream builds it, but runc refuses to start the container (\"Cwd must be an absolute path\"): write `/{cwd}`"),
            );
        } else {
            self.container_path(path, "cwd", cwd);
        }
    }

    /// An environment entry, with runc's rules: `=` and a non-empty name are required, no NUL;
    /// a name with whitespace works but no shell can read it.
    fn env(&mut self, path: &str, entry: &str) {
        if let Err(msg) = linuxkit_validate::env_var(entry) {
            let works = entry
                .split_once('=')
                .is_some_and(|(name, _)| !name.is_empty() && !entry.contains('\0'));
            if works {
                self.warn(
                    path.into(),
                    msg,
                    "upstream and runc pass it to the process, but no shell can read a name with whitespace or control characters: rename the variable",
                );
            } else {
                self.error(
                    path.into(),
                    msg,
                    "upstream builds it, but runc refuses to start the container: write environment entries as `KEY=value`",
                );
            }
        }
    }

    fn namespace(&mut self, path: &str, field: &str, value: &str) {
        match value {
            "" | "host" | "root" | "new" => {}
            "none" if field == "net" => {}
            "none" => self.warn(
                path.into(),
                format!("`{field}: none` is taken as a namespace path named \"none\""),
                format!("upstream builds it so (only `net: none` means a new namespace), and runc then refuses to start the container: use `{field}: new` for a fresh namespace"),
            ),
            p if !p.starts_with('/') => self.error(
                path.into(),
                format!("{field} namespace must be host, new or an absolute path: {p}"),
                format!("`{p}` would be used as a relative namespace path; write `/run/netns/{p}` or `new`"),
            ),
            _ => {}
        }
    }

    fn id(&mut self, path: String, id: &Id) {
        match id {
            Id::Num(n) if *n < 0 || *n > i64::from(u32::MAX) => self.error(
                path,
                format!("uid or gid out of range: {n}"),
                "ids are between 0 and 4294967295",
            ),
            Id::Num(_) => {}
            Id::Name(n) if n.is_empty() || n == "root" => {}
            Id::Name(n) if self.names.contains(n) => {}
            Id::Name(n) => {
                let hint = if n.bytes().all(|b| b.is_ascii_digit()) {
                    format!("write the number unquoted: {n}")
                } else {
                    "a uid/gid name must be the name of an onboot, onshutdown or services container (ids are assigned from 100), `root`, or a number".into()
                };
                self.error(path, format!("cannot find id: {n}"), hint);
            }
        }
    }

    fn rlimit(&mut self, path: &str, r: &str, all: &[String]) {
        let parts: Vec<&str> = r.splitn(3, ',').collect();
        if parts.len() != 3 {
            self.error(
                path.into(),
                format!("cannot parse rlimit: {}", all.join(" ")),
                "write rlimits as `name,soft,hard`, e.g. `nofile,1024,4096`",
            );
            return;
        }
        if parts[0].parse::<Rlimit>().is_err() {
            let names: Vec<&str> = Rlimit::ALL.iter().map(|r| r.as_str()).collect();
            let hint = match crate::yaml::closest(&parts[0].trim().to_ascii_lowercase(), &names) {
                Some(s) => format!("did you mean `{s}`? known limits: {}", names.join(", ")),
                None => format!("known limits: {}", names.join(", ")),
            };
            self.error(
                path.into(),
                format!("unknown limit: {}", parts[0].trim()),
                hint,
            );
            return;
        }
        let mut values = Vec::new();
        for v in &parts[1..] {
            match v.parse::<RlimitValue>() {
                Ok(value) => values.push(value),
                Err(msg) => {
                    self.error(path.into(), msg, "limits are numbers or `unlimited`");
                    return;
                }
            }
        }
        let limit = |v: &RlimitValue| match v {
            RlimitValue::Unlimited => u64::MAX,
            RlimitValue::Value(n) => *n,
        };
        if limit(&values[0]) > limit(&values[1]) {
            self.error(
                path.into(),
                format!("rlimit soft limit is above the hard limit: {}", r.trim()),
                "upstream builds it, but the kernel refuses it and runc does not start the container: make the soft limit at most the hard one",
            );
        }
    }

    fn device(&mut self, path: &str, d: &crate::model::Device) {
        // `path: all` is a cgroup rule only: runc takes "", a, b, c. A device node also gets a
        // cgroup rule of its type, so only c and b work there.
        let ok = if d.path == "all" {
            matches!(d.kind.as_str(), "" | "a" | "b" | "c")
        } else {
            matches!(d.kind.as_str(), "b" | "c")
        };
        if !ok {
            let known = matches!(d.kind.as_str(), "u" | "p" | "a");
            self.error(
                format!("{path}.type"),
                format!("unknown device type: {}", d.kind),
                if known {
                    "upstream builds it, but runc refuses the device (its cgroup rule takes only a, b, c): use c (char) or b (block); `a` only with `path: all`"
                } else {
                    "device types are c (char) and b (block); `a` (all) with `path: all`"
                },
            );
        }
        if d.path == "all" {
            return;
        }
        if d.path.is_empty() {
            self.warn(
                format!("{path}.path"),
                "device path is empty: no device node is made".into(),
                "upstream builds it and runc only allows the device in the cgroup: give a path such as `/dev/fuse` to create the node, or use `path: all` with major/minor for a cgroup rule",
            );
        } else {
            self.container_path(&format!("{path}.path"), "device path", &d.path);
        }
        match d.mode.as_deref() {
            None => self.error(
                format!("{path}.mode"),
                "cannot parse device mode as octal value: mode is not set".into(),
                "set the device node's mode, e.g. `\"0666\"` (`.mode(0o666)`)",
            ),
            Some(m) => {
                if let Err(e) = i32::from_str_radix(m, 8) {
                    self.error(
                        format!("{path}.mode"),
                        format!("cannot parse device mode as octal value: {e}"),
                        "write the mode in octal, e.g. `\"0666\"`",
                    );
                }
            }
        }
    }

    fn file(&mut self, path: &str, f: &File) {
        if f.path.is_empty() {
            self.error(
                format!("{path}.path"),
                "did not specify path for file".into(),
                "set the file's destination `path`",
            );
        }
        if f.path.split('/').any(|c| c == "..") {
            self.error(
                format!("{path}.path"),
                format!("file path must not contain '..': {}", f.path),
                "files are written inside the image root",
            );
        }
        // An empty mode is unset, as upstream reads it (`if f.Mode != ""`).
        if let Some(mode) = f.mode.as_ref().filter(|m| !m.is_empty()) {
            if let Err(e) = i32::from_str_radix(mode, 8) {
                self.error(
                    format!("{path}.mode"),
                    format!("cannot parse file mode as octal value: {e}"),
                    "write the mode as an octal string, e.g. \"0644\"",
                );
            } else if let Err(msg) = linuxkit_validate::octal_mode(mode) {
                self.warn(format!("{path}.mode"), msg, "use at most four octal digits");
            }
        }
        for (field, id) in [("uid", &f.uid), ("gid", &f.gid)] {
            if let Some(id) = id {
                self.id(format!("{path}.{field}"), id);
            }
        }
        if f.directory {
            if f.contents.is_some() || f.source.is_some() || f.metadata.is_some() {
                self.error(
                    path.into(),
                    "directory with contents not allowed".into(),
                    "remove `contents`/`source`/`metadata`, or `directory`",
                );
            }
            if f.symlink.is_some() {
                self.warn(
                    format!("{path}.symlink"),
                    "`symlink` is ignored on a directory".into(),
                    "an entry is a directory, a symlink or a file: keep one",
                );
            }
            return;
        }
        if f.symlink.is_some() {
            if f.source.is_some() || f.metadata.is_some() {
                // Upstream's message (it takes the symlink's empty contents for contents).
                let which = if f.metadata.is_some() {
                    "metadata"
                } else {
                    "source"
                };
                self.error(
                    path.into(),
                    format!("specified Contents and {} for file: {}", capitalized(which), f.path),
                    format!("upstream refuses a symlink with a `{which}` too: keep one of `symlink` and `{which}`"),
                );
            } else if f.contents.is_some() {
                self.warn(
                    path.into(),
                    "contents are ignored on a symlink".into(),
                    "upstream ignores them too: remove `contents` or the `symlink`",
                );
            }
            return;
        }
        let display = &f.path;
        if f.contents.is_none() && f.source.is_none() && f.metadata.is_none() {
            self.error(
                path.into(),
                format!("contents of file ({display}) not specified"),
                "give the file `contents`, a `source`, `metadata: yaml`, or make it a `directory`/`symlink`",
            );
        }
        if f.source.is_some() && f.metadata.is_some() {
            self.error(
                path.into(),
                format!("specified Source and Metadata for file: {display}"),
                "keep one of `source` and `metadata`",
            );
        }
        if let Some(m) = &f.metadata {
            if m != "yaml" && m != "json" {
                self.error(
                    format!("{path}.metadata"),
                    format!("unsupported metadata type: {m}"),
                    "metadata is `yaml` or `json`",
                );
            }
        }
        if f.contents.is_some() && f.metadata.is_some() {
            self.error(
                path.into(),
                format!("specified Contents and Metadata for file: {display}"),
                "keep one of `contents` and `metadata`",
            );
        }
        if f.contents.is_some() && f.source.is_some() {
            self.error(
                path.into(),
                format!("specified Contents and Source for file: {display}"),
                "keep one of `contents` and `source`",
            );
        }
        if f.optional && f.source.is_none() {
            self.warn(
                format!("{path}.optional"),
                "`optional` only applies to files with a `source`".into(),
                "remove `optional`",
            );
        }
    }
}

/// containerd's identifier rule: alphanumeric runs joined by single `.`, `_` or `-`, at most
/// 76 characters.
fn is_containerd_id(s: &str) -> bool {
    s.len() <= 76
        && s.split(['.', '_', '-'])
            .all(|run| !run.is_empty() && run.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests;
