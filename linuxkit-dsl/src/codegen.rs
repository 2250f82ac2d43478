//! A model as idiomatic Rust builder code (what `cargo linuxkit import` writes).
//!
//! [`to_rust`] gives a complete definition file: imports, a `#[linuxkit_dsl::image]` function
//! and a `linuxkit_dsl::main!` line. Typed vocabulary is used wherever a string parses back to
//! exactly the same text (`Capability::NetAdmin`, `Namespace::New`, `Rlimit::Nofile`, octal
//! modes), and raw-string methods otherwise, so the generated code always rebuilds the same
//! model. The output is meant to be passed through rustfmt.

use std::fmt::Write;

use crate::builder::octal_mode_string;
use crate::model::*;
use crate::types::{Capability, DeviceType, MountType, Propagation, Rlimit, RlimitValue};

/// A complete Rust definition file for `image`, defining `fn <fn_name>() -> Image`.
///
/// `fn_name` is turned into a Rust identifier (`redis-os` -> `redis_os`).
pub fn to_rust(image: &Image, fn_name: &str) -> String {
    let name = rust_ident(fn_name);
    let mut out = String::new();
    out.push_str("use linuxkit_dsl::*;\n\n");
    out.push_str(&to_rust_function(image, &name));
    let _ = writeln!(out, "\nlinuxkit_dsl::main!({name});");
    out
}

/// Only the definition function for `image` (no imports, no `main!`), for files that hold
/// several definitions. Expects `use linuxkit_dsl::*;` in scope.
pub fn to_rust_function(image: &Image, fn_name: &str) -> String {
    let name = rust_ident(fn_name);
    let mut out = String::new();
    let _ = writeln!(out, "#[linuxkit_dsl::image]\npub fn {name}() -> Image {{");
    out.push_str("    ");
    out.push_str(&image_expr(image));
    out.push_str("\n}\n");
    out
}

/// A Rust identifier from an image or file name: `-`, `.` and other non-identifier characters
/// become `_`; a leading digit or a keyword gets a `_` / `r#` prefix.
pub fn rust_ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
        "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final",
        "gen", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "main",
    ];
    if KEYWORDS.contains(&s.as_str()) {
        s.push_str("_image");
    }
    s
}

/// A Rust string literal: a raw string for multi-line text, else an escaped literal.
pub(crate) fn lit(s: &str) -> String {
    let raw_ok = s.contains('\n')
        && !s.contains("\"#")
        && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    if raw_ok {
        format!("r#\"{s}\"#")
    } else {
        format!("{s:?}")
    }
}

fn str_list(items: &[String]) -> String {
    if items.is_empty() {
        return "[] as [&str; 0]".into();
    }
    let parts: Vec<String> = items.iter().map(|s| lit(s)).collect();
    format!("[{}]", parts.join(", "))
}

fn id_expr(id: &Id) -> String {
    match id {
        Id::Num(n) if i32::try_from(*n).is_ok() => n.to_string(),
        Id::Num(n) => format!("{n}i64"),
        Id::Name(s) => lit(s),
    }
}

fn id_variant(id: &Id) -> String {
    match id {
        Id::Num(n) => format!("Id::Num({n})"),
        Id::Name(s) => format!("Id::Name({}.into())", lit(s)),
    }
}

fn map_entries(map: &std::collections::BTreeMap<String, String>) -> String {
    if map.is_empty() {
        return "[] as [(&str, &str); 0]".into();
    }
    let parts: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("({}, {})", lit(k), lit(v)))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Capabilities as typed values when every entry is exactly a `CAP_*` name.
fn typed_caps(list: &[String]) -> Option<Vec<Capability>> {
    list.iter()
        .map(|s| s.parse::<Capability>().ok().filter(|c| c.as_str() == s))
        .collect()
}

fn cap_list(caps: &[Capability]) -> String {
    let parts: Vec<String> = caps
        .iter()
        .map(|c| format!("Capability::{}", c.variant_name()))
        .collect();
    format!("[{}]", parts.join(", "))
}

struct Chain {
    out: String,
    indent: usize,
}

impl Chain {
    fn new(head: impl Into<String>, indent: usize) -> Self {
        Chain {
            out: head.into(),
            indent,
        }
    }

    fn call(&mut self, method: &str, args: impl AsRef<str>) {
        let _ = write!(
            self.out,
            "\n{:width$}.{method}({})",
            "",
            args.as_ref(),
            width = self.indent
        );
    }

    fn finish(self) -> String {
        self.out
    }
}

fn image_expr(image: &Image) -> String {
    let head = match &image.kernel {
        Some(k) => format!("Image::new({})", kernel_expr(k)),
        None => "Image::default()".to_string(),
    };
    let mut c = Chain::new(head, 8);
    for call in crate::pkgs::import::init_calls(&image.init) {
        c.call("init", call);
    }
    for (method, list) in [
        ("onboot", &image.onboot),
        ("onshutdown", &image.onshutdown),
        ("service", &image.services),
    ] {
        for container in list {
            c.call(method, container_expr(container, 12));
        }
    }
    for f in &image.files {
        c.call("file", file_expr(f));
    }
    for v in &image.volumes {
        c.call("volume", volume_expr(v));
    }
    if let Some(t) = &image.trust {
        let mut tc = String::from("Trust::new()");
        if let Some(i) = &t.image {
            let _ = write!(tc, ".images({})", str_list(i));
        }
        if let Some(o) = &t.org {
            let _ = write!(tc, ".orgs({})", str_list(o));
        }
        c.call("trust", tc);
    }
    c.finish()
}

fn kernel_expr(k: &Kernel) -> String {
    let mut s = crate::pkgs::import::kernel_head(&k.image)
        .unwrap_or_else(|| format!("Kernel::new({})", lit(&k.image)));
    if let Some(v) = &k.cmdline {
        let _ = write!(s, ".cmdline({})", lit(v));
    }
    if let Some(v) = &k.binary {
        let _ = write!(s, ".binary({})", lit(v));
    }
    match k.tar.as_deref() {
        Some("none") => s.push_str(".no_tar()"),
        Some(v) => {
            let _ = write!(s, ".tar({})", lit(v));
        }
        None => {}
    }
    if let Some(v) = &k.ucode {
        let _ = write!(s, ".ucode({})", lit(v));
    }
    s
}

fn caps_calls(c: &mut Chain, single: &str, plural: &str, names: &str, list: &[String]) {
    if list.len() == 1 && list[0] == "all" && single == "capability" {
        c.call("all_capabilities", "");
        return;
    }
    if list.is_empty() && single == "capability" {
        c.call("no_capabilities", "");
        return;
    }
    match typed_caps(list) {
        Some(caps) if caps.len() == 1 => {
            c.call(single, format!("Capability::{}", caps[0].variant_name()))
        }
        Some(caps) => c.call(plural, cap_list(&caps)),
        None => c.call(names, str_list(list)),
    }
}

pub(crate) fn ns_arg(value: &str) -> String {
    match value {
        "host" => "Namespace::Host".into(),
        "new" => "Namespace::New".into(),
        "none" => "Namespace::None".into(),
        other => lit(other),
    }
}

/// `name,soft,hard` as typed arguments when it regenerates exactly.
fn typed_rlimit(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.splitn(3, ',').collect();
    let [name, soft, hard] = parts[..] else {
        return None;
    };
    let limit = name.parse::<Rlimit>().ok().filter(|r| r.as_str() == name)?;
    let value = |v: &str| -> Option<String> {
        let parsed = v.parse::<RlimitValue>().ok()?;
        if parsed.to_string() != v {
            return None;
        }
        Some(match parsed {
            RlimitValue::Unlimited => "RlimitValue::Unlimited".into(),
            RlimitValue::Value(n) => format!("{n}u64"),
        })
    };
    Some(format!(
        "Rlimit::{}, {}, {}",
        limit.variant_name(),
        value(soft)?,
        value(hard)?
    ))
}

fn container_expr(ct: &Container, indent: usize) -> String {
    if let Some(call) = crate::pkgs::import::container_call(ct) {
        return call;
    }
    let mut c = Chain::new(
        format!("Container::new({}, {})", lit(&ct.name), lit(&ct.image)),
        indent,
    );
    if let Some(l) = &ct.capabilities {
        caps_calls(&mut c, "capability", "capabilities", "capability_names", l);
    }
    if let Some(l) = &ct.capabilities_add {
        caps_calls(
            &mut c,
            "add_capability",
            "add_capabilities",
            "add_capability_names",
            l,
        );
    }
    if let Some(l) = &ct.ambient {
        caps_calls(
            &mut c,
            "ambient",
            "ambient_capabilities",
            "ambient_names",
            l,
        );
    }
    if let Some(l) = &ct.mounts {
        if l.is_empty() {
            c.call("mounts", "[]");
        }
        for m in l {
            c.call("mount", mount_expr(m));
        }
    }
    for (single, plural, list) in [
        ("bind", "binds", &ct.binds),
        ("add_bind", "add_binds", &ct.binds_add),
    ] {
        if let Some(l) = list {
            if l.is_empty() {
                c.call(plural, str_list(l));
            }
            for b in l {
                c.call(single, lit(b));
            }
        }
    }
    if let Some(l) = &ct.devices {
        if l.is_empty() {
            c.call("devices", "[]");
        }
        for d in l {
            c.call("device", device_expr(d));
        }
    }
    if let Some(l) = &ct.tmpfs {
        if l.is_empty() {
            c.call("tmpfs_mounts", str_list(l));
        }
        for t in l {
            c.call("tmpfs", lit(t));
        }
    }
    if let Some(l) = &ct.command {
        c.call("command", str_list(l));
    }
    if let Some(l) = &ct.env {
        if l.is_empty() {
            c.call("environment", str_list(l));
        }
        for e in l {
            c.call("env", lit(e));
        }
    }
    if let Some(v) = &ct.cwd {
        c.call("cwd", lit(v));
    }
    for (method, value) in [
        ("net", &ct.net),
        ("pid", &ct.pid),
        ("ipc", &ct.ipc),
        ("uts", &ct.uts),
        ("userns", &ct.userns),
    ] {
        if let Some(v) = value {
            c.call(method, ns_arg(v));
        }
    }
    if let Some(v) = &ct.hostname {
        c.call("hostname", lit(v));
    }
    match ct.readonly {
        Some(true) => c.call("readonly", ""),
        Some(false) => c.call("set_readonly", "false"),
        None => {}
    }
    if let Some(l) = &ct.masked_paths {
        c.call("masked_paths", str_list(l));
    }
    if let Some(l) = &ct.readonly_paths {
        c.call("readonly_paths", str_list(l));
    }
    if let Some(id) = &ct.uid {
        c.call("uid", id_expr(id));
    }
    if let Some(id) = &ct.gid {
        c.call("gid", id_expr(id));
    }
    if let Some(l) = &ct.additional_gids {
        let parts: Vec<String> = l.iter().map(id_variant).collect();
        c.call(
            "additional_gids",
            format!("[{}] as [Id; {}]", parts.join(", "), l.len()),
        );
    }
    match ct.no_new_privileges {
        Some(true) => c.call("no_new_privileges", ""),
        Some(false) => c.call("set_no_new_privileges", "false"),
        None => {}
    }
    if let Some(v) = ct.oom_score_adj {
        c.call("oom_score_adj", v.to_string());
    }
    if let Some(v) = &ct.rootfs_propagation {
        match v.parse::<Propagation>() {
            Ok(p) if p.as_str() == v => c.call(
                "rootfs_propagation",
                format!("Propagation::{}", p.variant_name()),
            ),
            _ => c.call("rootfs_propagation_str", lit(v)),
        }
    }
    if let Some(v) = &ct.cgroups_path {
        c.call("cgroups_path", lit(v));
    }
    if let Some(r) = &ct.resources {
        c.call("resources", resources_expr(r));
    }
    if let Some(m) = &ct.sysctl {
        if m.is_empty() {
            c.call("sysctls", map_entries(m));
        }
        for (k, v) in m {
            c.call("sysctl", format!("{}, {}", lit(k), lit(v)));
        }
    }
    if let Some(l) = &ct.rlimits {
        let typed: Option<Vec<String>> = l.iter().map(|r| typed_rlimit(r)).collect();
        match typed {
            Some(t) if !t.is_empty() => {
                for args in t {
                    c.call("rlimit", args);
                }
            }
            _ => c.call("rlimits", str_list(l)),
        }
    }
    if let Some(l) = &ct.uid_mappings {
        c.call("uid_mappings", id_mappings(l));
    }
    if let Some(l) = &ct.gid_mappings {
        c.call("gid_mappings", id_mappings(l));
    }
    if let Some(m) = &ct.annotations {
        if m.is_empty() {
            c.call("annotations", map_entries(m));
        }
        for (k, v) in m {
            c.call("annotation", format!("{}, {}", lit(k), lit(v)));
        }
    }
    if let Some(rt) = &ct.runtime {
        c.call("runtime", runtime_expr(rt));
    }
    c.finish()
}

fn id_mappings(l: &[IdMapping]) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|m| match (m.container_id, m.host_id, m.size) {
            (Some(c), Some(h), Some(s)) => format!("IdMapping::new({c}, {h}, {s})"),
            _ => format!(
                "IdMapping {{ host_id: {:?}, container_id: {:?}, size: {:?} }}",
                m.host_id, m.container_id, m.size
            ),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn mount_expr(m: &Mount) -> String {
    let mut s = if m.kind.is_empty() {
        "Mount::default()".to_string()
    } else {
        match m.kind.parse::<MountType>() {
            Ok(t) => format!("Mount::new(MountType::{})", t.variant_name()),
            Err(_) => format!("Mount::of_type({})", lit(&m.kind)),
        }
    };
    if !m.destination.is_empty() {
        let _ = write!(s, ".destination({})", lit(&m.destination));
    }
    if !m.source.is_empty() {
        let _ = write!(s, ".source({})", lit(&m.source));
    }
    if let Some(o) = &m.options {
        let _ = write!(s, ".options({})", str_list(o));
    }
    if let Some(l) = &m.uidmappings {
        let _ = write!(s, ".uid_mappings({})", id_mappings(l));
    }
    if let Some(l) = &m.gidmappings {
        let _ = write!(s, ".gid_mappings({})", id_mappings(l));
    }
    s
}

fn mode_call(mode: &str) -> String {
    match u32::from_str_radix(mode, 8) {
        Ok(n) if octal_mode_string(n) == mode => format!(".mode(0o{n:o})"),
        _ => format!(".mode_str({})", lit(mode)),
    }
}

fn device_expr(d: &Device) -> String {
    let kind = d
        .kind
        .parse::<DeviceType>()
        .ok()
        .filter(|k| k.as_str() == d.kind);
    let mut s = match (kind, d.major, d.minor) {
        (Some(k), None, None) if d.path == "all" => {
            format!("Device::all(DeviceType::{})", k.variant_name())
        }
        (Some(k), Some(major), Some(minor)) => format!(
            "Device::new({}, DeviceType::{}, {major}, {minor})",
            lit(&d.path),
            k.variant_name()
        ),
        _ => {
            return format!(
                "Device {{ path: {}.into(), kind: {}.into(), major: {:?}, minor: {:?}, mode: {} }}",
                lit(&d.path),
                lit(&d.kind),
                d.major,
                d.minor,
                match &d.mode {
                    Some(m) => format!("Some({}.into())", lit(m)),
                    None => "None".into(),
                }
            )
        }
    };
    if let Some(m) = &d.mode {
        s.push_str(&mode_call(m));
    }
    s
}

fn opt_lit(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("Some({}.into())", lit(s)),
        None => "None".into(),
    }
}

fn resources_expr(r: &Resources) -> String {
    let mut fields = Vec::new();
    if let Some(l) = &r.devices {
        let items: Vec<String> = l
            .iter()
            .map(|d| {
                format!(
                    "DeviceCgroup {{ allow: {}, kind: {}, major: {:?}, minor: {:?}, access: {} }}",
                    d.allow,
                    opt_lit(&d.kind),
                    d.major,
                    d.minor,
                    opt_lit(&d.access)
                )
            })
            .collect();
        fields.push(format!("devices: Some(vec![{}])", items.join(", ")));
    }
    if let Some(m) = &r.memory {
        fields.push(format!(
            "memory: Some(Memory {{ limit: {:?}, reservation: {:?}, swap: {:?}, kernel: {:?}, kernel_tcp: {:?}, swappiness: {:?}, disable_oom_killer: {:?} }})",
            m.limit, m.reservation, m.swap, m.kernel, m.kernel_tcp, m.swappiness, m.disable_oom_killer
        ));
    }
    if let Some(c) = &r.cpu {
        fields.push(format!(
            "cpu: Some(Cpu {{ shares: {:?}, quota: {:?}, period: {:?}, realtime_runtime: {:?}, realtime_period: {:?}, cpus: {}, mems: {} }})",
            c.shares, c.quota, c.period, c.realtime_runtime, c.realtime_period, opt_lit(&c.cpus), opt_lit(&c.mems)
        ));
    }
    if let Some(p) = &r.pids {
        fields.push(format!("pids: Some(Pids {{ limit: {} }})", p.limit));
    }
    if let Some(b) = &r.block_io {
        // Per-device entries are free-form in the schema: keep them as JSON values.
        let json = |v: &Option<Vec<serde_json::Value>>| match v {
            Some(list) => format!(
                "Some(linuxkit_dsl::json_values({}))",
                lit(&serde_json::to_string(list).unwrap_or_else(|_| "[]".into()))
            ),
            None => "None".into(),
        };
        fields.push(format!(
            "block_io: Some(BlockIo {{ weight: {:?}, leaf_weight: {:?}, weight_device: {}, throttle_read_bps_device: {}, throttle_write_bps_device: {}, throttle_read_iops_device: {}, throttle_write_iops_device: {} }})",
            b.weight,
            b.leaf_weight,
            json(&b.weight_device),
            json(&b.throttle_read_bps_device),
            json(&b.throttle_write_bps_device),
            json(&b.throttle_read_iops_device),
            json(&b.throttle_write_iops_device)
        ));
    }
    if let Some(l) = &r.hugepage_limits {
        let items: Vec<String> = l
            .iter()
            .map(|h| {
                format!(
                    "HugepageLimit {{ page_size: {}.into(), limit: {} }}",
                    lit(&h.page_size),
                    h.limit
                )
            })
            .collect();
        fields.push(format!("hugepage_limits: Some(vec![{}])", items.join(", ")));
    }
    if let Some(n) = &r.network {
        let prios = match &n.priorities {
            Some(l) => {
                let items: Vec<String> = l
                    .iter()
                    .map(|p| {
                        format!(
                            "InterfacePriority {{ name: {}.into(), priority: {} }}",
                            lit(&p.name),
                            p.priority
                        )
                    })
                    .collect();
                format!("Some(vec![{}])", items.join(", "))
            }
            None => "None".into(),
        };
        fields.push(format!(
            "network: Some(Network {{ class_id: {:?}, priorities: {prios} }})",
            n.class_id
        ));
    }
    if fields.is_empty() {
        return "Resources::new()".into();
    }
    format!(
        "Resources {{ {}, ..Resources::default() }}",
        fields.join(", ")
    )
}

fn runtime_expr(rt: &Runtime) -> String {
    let mut s = String::from("Runtime::new()");
    if let Some(l) = &rt.cgroups {
        let _ = write!(s, ".cgroups({})", str_list(l));
    }
    if let Some(l) = &rt.mounts {
        if l.is_empty() {
            s.push_str(".mounts([])");
        }
        for m in l {
            let _ = write!(s, ".mount({})", mount_expr(m));
        }
    }
    if let Some(l) = &rt.mkdir {
        let _ = write!(s, ".mkdirs({})", str_list(l));
    }
    if let Some(l) = &rt.interfaces {
        if l.is_empty() {
            s.push_str(".interfaces([])");
        }
        for i in l {
            let _ = write!(s, ".interface(Interface::new({})", lit(&i.name));
            if !i.add.is_empty() {
                let _ = write!(s, ".add({})", lit(&i.add));
            }
            if !i.peer.is_empty() {
                let _ = write!(s, ".peer({})", lit(&i.peer));
            }
            if i.create_in_root {
                s.push_str(".create_in_root()");
            }
            s.push(')');
        }
    }
    if let Some(b) = &rt.bind_ns {
        s.push_str(".bind_ns(BindNs::new()");
        for (m, v) in [
            ("cgroup", &b.cgroup),
            ("ipc", &b.ipc),
            ("mnt", &b.mnt),
            ("net", &b.net),
            ("pid", &b.pid),
            ("user", &b.user),
            ("uts", &b.uts),
        ] {
            if let Some(v) = v {
                let _ = write!(s, ".{m}({})", lit(v));
            }
        }
        s.push(')');
    }
    if let Some(n) = &rt.namespace {
        let _ = write!(s, ".namespace({})", lit(n));
    }
    s
}

fn file_expr(f: &File) -> String {
    let mut s = format!("File::new({})", lit(&f.path));
    if f.directory {
        s.push_str(".directory()");
    }
    if let Some(v) = &f.symlink {
        let _ = write!(s, ".symlink({})", lit(v));
    }
    if let Some(v) = &f.contents {
        let _ = write!(s, ".contents({})", lit(v));
    }
    if let Some(v) = &f.source {
        let _ = write!(s, ".source({})", lit(v));
    }
    match f.metadata.as_deref() {
        Some("yaml") => s.push_str(".metadata_yaml()"),
        Some("json") => s.push_str(".metadata_json()"),
        Some(other) => {
            let _ = write!(s, ".metadata({})", lit(other));
        }
        None => {}
    }
    if f.optional {
        s.push_str(".optional()");
    }
    if let Some(m) = &f.mode {
        s.push_str(&mode_call(m));
    }
    if let Some(id) = &f.uid {
        let _ = write!(s, ".uid({})", id_expr(id));
    }
    if let Some(id) = &f.gid {
        let _ = write!(s, ".gid({})", id_expr(id));
    }
    s
}

fn volume_expr(v: &Volume) -> String {
    let mut s = format!("Volume::new({})", lit(&v.name));
    if let Some(i) = &v.image {
        let _ = write!(s, ".image({})", lit(i));
    }
    if v.readonly {
        s.push_str(".readonly()");
    }
    match v.format.as_deref() {
        Some("oci") => s.push_str(".format_oci()"),
        Some("filesystem") => s.push_str(".format_filesystem()"),
        Some(other) => {
            let _ = write!(s, ".format({})", lit(other));
        }
        None => {}
    }
    if let Some(p) = &v.platforms {
        let _ = write!(s, ".platforms({})", str_list(p));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents() {
        assert_eq!(rust_ident("redis-os"), "redis_os");
        assert_eq!(
            rust_ident("platform-equinixmetal.arm64"),
            "platform_equinixmetal_arm64"
        );
        assert_eq!(rust_ident("9p"), "_9p");
        assert_eq!(rust_ident("main"), "main_image");
    }

    #[test]
    fn typed_vocabulary_is_used_when_exact() {
        let image = Image::new(Kernel::new("linuxkit/kernel:6.12.59").no_tar()).service(
            Container::new("a", "alpine:3.21")
                .capabilities([crate::Capability::NetAdmin, crate::Capability::SysAdmin])
                .net(crate::Namespace::New)
                .rlimits(["nofile,1024,unlimited", "NOFILE,1,2"])
                .uid(100)
                .mount(Mount::new(MountType::Cgroup).options(["ro"])),
        );
        let code = to_rust(&image, "my-image");
        assert!(code.contains("pub fn my_image() -> Image"), "{code}");
        assert!(code.contains(".capabilities([Capability::NetAdmin, Capability::SysAdmin])"));
        assert!(code.contains(".net(Namespace::New)"));
        assert!(code.contains(".no_tar()"));
        assert!(code.contains(".uid(100)"));
        assert!(code.contains("Mount::new(MountType::Cgroup)"));
        // A mixed list stays raw so it regenerates exactly.
        assert!(code.contains(".rlimits([\"nofile,1024,unlimited\", \"NOFILE,1,2\"])"));
        assert!(code.contains("linuxkit_dsl::main!(my_image);"));
    }

    #[test]
    fn literals_round_trip() {
        assert_eq!(lit("a\"b"), "\"a\\\"b\"");
        assert_eq!(lit("a\nb\n"), "r#\"a\nb\n\"#");
        assert_eq!(lit("a\"#\n"), "\"a\\\"#\\n\"");
        assert_eq!(mode_call("0644"), ".mode(0o644)");
        assert_eq!(mode_call("644"), ".mode_str(\"644\")");
        assert_eq!(
            typed_rlimit("nofile,1,unlimited").unwrap(),
            "Rlimit::Nofile, 1u64, RlimitValue::Unlimited"
        );
        assert_eq!(typed_rlimit("nofile, 1,2"), None);
    }
}
