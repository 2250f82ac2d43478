//! `files[].metadata`: the whole image definition serialised as upstream does (build spec §3.6).
//!
//! Upstream marshals its `Moby` struct after `UpdateImages` (kernel, init and container image
//! strings rewritten to their canonical form, volume images untouched):
//!
//! - `yaml`: `gopkg.in/yaml.v2` `Marshal`. Keys and omission follow the Go struct's yaml tags;
//!   the OCI types (`specs.Mount`, `specs.LinuxResources`, ...) have no yaml tags, so they are
//!   written with lower-cased Go field names and without omission. Scalar styles follow yaml.v2:
//!   plain unless the string would read back as another type (then double-quoted) or contains a
//!   newline (then literal). The text itself is produced by libyaml's emitter
//!   (`libyaml-safer`, a safe Rust port of libyaml, the C library yaml.v2 is a line-by-line port of), so line
//!   folding at 80 columns, quoting fallbacks and indentation are the same.
//! - `json`: `json.MarshalIndent` with 4 spaces using the json tags; nil lists are `null`
//!   (upstream's `"onshutdown": null` quirk).
//!
//! The model cannot tell an absent list from an empty one for the top-level sections, so an
//! empty `init`/`onboot`/... is written as absent (`[]` in YAML, `null` in JSON), which is what a
//! LinuxKit file that omits the section gives.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use linuxkit_dsl::{Container, File, Id, IdMapping, Image, Mount, Resources, Runtime, Volume};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::gojson;
use crate::oci_config::ConfigError;
use crate::reference;

/// Serialise `image` as upstream writes a `files[].metadata` file of kind `kind` (`yaml` or
/// `json`).
pub fn metadata(image: &Image, kind: &str) -> Result<Vec<u8>, ConfigError> {
    let format = match kind {
        "yaml" => Format::Yaml,
        "json" => Format::Json,
        other => return Err(ConfigError::MetadataKind(other.to_string())),
    };
    let tree = moby(image, format)?;
    match format {
        Format::Yaml => {
            let mut events = Vec::new();
            yaml_events(&tree, &mut events);
            emitter::emit(&events).map_err(ConfigError::Metadata)
        }
        Format::Json => {
            gojson::to_vec_indent(&tree).map_err(|e| ConfigError::Metadata(e.to_string()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

/// A value to serialise: mappings keep their key order.
#[derive(Debug, Clone)]
enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Null,
    /// JSON metadata only: resources as `specs.LinuxResources` with its json tags.
    JsonResources(Box<crate::oci_config::spec::Resources>),
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Map(entries) => {
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Node::Seq(items) => {
                let mut q = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    q.serialize_element(i)?;
                }
                q.end()
            }
            Node::Str(v) => s.serialize_str(v),
            Node::Num(n) => n.serialize(s),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Null => s.serialize_unit(),
            Node::JsonResources(r) => r.serialize(s),
        }
    }
}

/// A mapping under construction.
struct MapBuilder(Vec<(String, Node)>);

impl MapBuilder {
    fn new() -> Self {
        MapBuilder(Vec::new())
    }
    fn put(&mut self, key: &str, value: Node) -> &mut Self {
        self.0.push((key.to_string(), value));
        self
    }
    fn opt(&mut self, key: &str, value: Option<Node>) -> &mut Self {
        if let Some(v) = value {
            self.put(key, v);
        }
        self
    }
    fn done(&mut self) -> Node {
        Node::Map(std::mem::take(&mut self.0))
    }
}

fn s(v: &str) -> Node {
    Node::Str(v.to_string())
}

fn num<T: Into<serde_json::Number>>(v: T) -> Node {
    Node::Num(v.into())
}

fn boolean(v: bool) -> Node {
    Node::Bool(v)
}

fn strs(v: &[String]) -> Node {
    Node::Seq(v.iter().map(|x| s(x)).collect())
}

/// A non-empty string (Go `string` with `omitempty`).
fn nonempty(v: &Option<String>) -> Option<Node> {
    v.as_deref().filter(|x| !x.is_empty()).map(s)
}

/// A top-level list: `[]` in YAML, `null` in JSON when empty (nil in Go).
fn top_list(items: Vec<Node>, format: Format) -> Node {
    if items.is_empty() && format == Format::Json {
        Node::Null
    } else {
        Node::Seq(items)
    }
}

fn id(v: &Id) -> Node {
    match v {
        Id::Num(n) => num(*n),
        Id::Name(name) => s(name),
    }
}

fn string_map(m: &BTreeMap<String, String>, format: Format) -> Node {
    let mut entries: Vec<(String, Node)> = m.iter().map(|(k, v)| (k.clone(), s(v))).collect();
    if format == Format::Yaml {
        entries.sort_by(|a, b| yaml_v2_key_order(&a.0, &b.0));
    }
    Node::Map(entries)
}

/// yaml.v2's map key order (`sorter.go`): runs of digits compare as numbers, letters sort
/// after non-letters at the first difference.
fn yaml_v2_key_order(a: &str, b: &str) -> Ordering {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let less = |a: &[char], b: &[char]| -> bool {
        for i in 0..a.len().min(b.len()) {
            if a[i] == b[i] {
                continue;
            }
            let al = a[i].is_alphabetic();
            let bl = b[i].is_alphabetic();
            if al && bl {
                return a[i] < b[i];
            }
            if al || bl {
                return bl;
            }
            let (mut an, mut bn) = (0i64, 0i64);
            if a[i] == '0' || b[i] == '0' {
                for j in (0..i).rev() {
                    if !a[j].is_ascii_digit() {
                        break;
                    }
                    if a[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let mut ai = i;
            while ai < a.len() && a[ai].is_ascii_digit() {
                an = an.wrapping_mul(10).wrapping_add(a[ai] as i64 - '0' as i64);
                ai += 1;
            }
            let mut bi = i;
            while bi < b.len() && b[bi].is_ascii_digit() {
                bn = bn.wrapping_mul(10).wrapping_add(b[bi] as i64 - '0' as i64);
                bi += 1;
            }
            if an != bn {
                return an < bn;
            }
            if ai != bi {
                return ai < bi;
            }
            return a[i] < b[i];
        }
        a.len() < b.len()
    };
    if less(&a, &b) {
        Ordering::Less
    } else if less(&b, &a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn canonical(image: &str, what: &'static str) -> Result<String, ConfigError> {
    reference::canonical(image).map_err(|source| ConfigError::Reference { what, source })
}

fn moby(image: &Image, format: Format) -> Result<Node, ConfigError> {
    let kernel = image.kernel.clone().unwrap_or_default();
    let kernel_image = if kernel.image.is_empty() {
        String::new()
    } else {
        canonical(&kernel.image, "kernel")?
    };
    let kernel_node = MapBuilder::new()
        .put("image", s(&kernel_image))
        .opt("cmdline", nonempty(&kernel.cmdline))
        .opt("binary", nonempty(&kernel.binary))
        .opt("tar", kernel.tar.as_deref().map(s))
        .opt("ucode", kernel.ucode.as_deref().map(s))
        .done();
    let init = image
        .init
        .iter()
        .map(|i| canonical(i, "init").map(|c| s(&c)))
        .collect::<Result<Vec<_>, _>>()?;
    let containers = |list: &[Container], what: &'static str| -> Result<Node, ConfigError> {
        let items = list
            .iter()
            .map(|c| Ok(container(c, &canonical(&c.image, what)?, format)))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(top_list(items, format))
    };
    Ok(MapBuilder::new()
        .put("kernel", kernel_node)
        .put("init", top_list(init, format))
        .put("onboot", containers(&image.onboot, "on boot")?)
        .put("onshutdown", containers(&image.onshutdown, "on shutdown")?)
        .put("services", containers(&image.services, "service")?)
        .put(
            "files",
            top_list(
                image.files.iter().map(|f| file(f, format)).collect(),
                format,
            ),
        )
        .put(
            "volumes",
            top_list(image.volumes.iter().map(volume).collect(), format),
        )
        .done())
}

fn id_mapping(m: &IdMapping, format: Format) -> Node {
    // yaml.v3 decoded `containerid`/`hostid`, which the schema never allows: always 0.
    let (c, h) = match format {
        Format::Yaml => ("containerid", "hostid"),
        Format::Json => ("containerID", "hostID"),
    };
    MapBuilder::new()
        .put(c, num(0))
        .put(h, num(0))
        .put("size", num(m.size.unwrap_or(0) as u32))
        .done()
}

fn mount(m: &Mount, format: Format) -> Node {
    let maps = |v: &Option<Vec<IdMapping>>| -> Vec<Node> {
        v.iter().flatten().map(|x| id_mapping(x, format)).collect()
    };
    match format {
        Format::Yaml => MapBuilder::new()
            .put("destination", s(&m.destination))
            .put("type", s(&m.kind))
            .put("source", s(&m.source))
            .put("options", strs(m.options.as_deref().unwrap_or_default()))
            .put("uidmappings", Node::Seq(maps(&m.uidmappings)))
            .put("gidmappings", Node::Seq(maps(&m.gidmappings)))
            .done(),
        Format::Json => {
            let nonempty_seq = |v: Vec<Node>| (!v.is_empty()).then_some(Node::Seq(v));
            MapBuilder::new()
                .put("destination", s(&m.destination))
                .opt("type", (!m.kind.is_empty()).then(|| s(&m.kind)))
                .opt("source", (!m.source.is_empty()).then(|| s(&m.source)))
                .opt(
                    "options",
                    m.options
                        .as_ref()
                        .filter(|o| !o.is_empty())
                        .map(|o| strs(o)),
                )
                .opt("uidMappings", nonempty_seq(maps(&m.uidmappings)))
                .opt("gidMappings", nonempty_seq(maps(&m.gidmappings)))
                .done()
        }
    }
}

/// `*T` fields of the OCI types as yaml.v2 writes them: `null` when nil.
fn yopt<T: Into<serde_json::Number>>(v: Option<T>) -> Node {
    v.map(num).unwrap_or(Node::Null)
}

fn resources(r: &Resources, format: Format) -> Node {
    if format == Format::Json {
        return Node::JsonResources(Box::new(crate::oci_config::resources_as_decoded(r)));
    }
    let devices = r
        .devices
        .iter()
        .flatten()
        .map(|d| {
            MapBuilder::new()
                .put("allow", boolean(d.allow))
                .put("type", s(d.kind.as_deref().unwrap_or("")))
                .put("major", yopt(d.major))
                .put("minor", yopt(d.minor))
                .put("access", s(d.access.as_deref().unwrap_or("")))
                .done()
        })
        .collect();
    let memory = r.memory.as_ref().map_or(Node::Null, |m| {
        MapBuilder::new()
            .put("limit", yopt(m.limit))
            .put("reservation", yopt(m.reservation))
            .put("swap", yopt(m.swap))
            .put("kernel", yopt(m.kernel))
            .put("kerneltcp", Node::Null)
            .put("swappiness", yopt(m.swappiness))
            .put("disableoomkiller", Node::Null)
            .put("usehierarchy", Node::Null)
            .put("checkbeforeupdate", Node::Null)
            .done()
    });
    let cpu = r.cpu.as_ref().map_or(Node::Null, |c| {
        MapBuilder::new()
            .put("shares", yopt(c.shares))
            .put("quota", yopt(c.quota))
            .put("burst", Node::Null)
            .put("period", yopt(c.period))
            .put("realtimeruntime", Node::Null)
            .put("realtimeperiod", Node::Null)
            .put("cpus", s(c.cpus.as_deref().unwrap_or("")))
            .put("mems", s(c.mems.as_deref().unwrap_or("")))
            .put("idle", Node::Null)
            .done()
    });
    let pids = r.pids.as_ref().map_or(Node::Null, |p| {
        MapBuilder::new().put("limit", num(p.limit)).done()
    });
    let blockio = r.block_io.as_ref().map_or(Node::Null, |b| {
        MapBuilder::new()
            .put("weight", yopt(b.weight))
            .put("leafweight", Node::Null)
            .put("weightdevice", Node::Seq(vec![]))
            .put("throttlereadbpsdevice", Node::Seq(vec![]))
            .put("throttlewritebpsdevice", Node::Seq(vec![]))
            .put("throttlereadiopsdevice", Node::Seq(vec![]))
            .put("throttlewriteiopsdevice", Node::Seq(vec![]))
            .done()
    });
    let network = r.network.as_ref().map_or(Node::Null, |n| {
        let priorities = n
            .priorities
            .iter()
            .flatten()
            .map(|p| {
                MapBuilder::new()
                    .put("name", s(&p.name))
                    .put("priority", num(p.priority))
                    .done()
            })
            .collect();
        MapBuilder::new()
            .put("classid", Node::Null)
            .put("priorities", Node::Seq(priorities))
            .done()
    });
    MapBuilder::new()
        .put("devices", Node::Seq(devices))
        .put("memory", memory)
        .put("cpu", cpu)
        .put("pids", pids)
        .put("blockio", blockio)
        .put("hugepagelimits", Node::Seq(vec![]))
        .put("network", network)
        .put("rdma", Node::Map(vec![]))
        .put("unified", Node::Map(vec![]))
        .done()
}

fn runtime(r: &Runtime, format: Format) -> Node {
    let interfaces = |v: &Vec<linuxkit_dsl::Interface>| {
        Node::Seq(
            v.iter()
                .map(|i| {
                    MapBuilder::new()
                        .opt("name", (!i.name.is_empty()).then(|| s(&i.name)))
                        .opt("add", (!i.add.is_empty()).then(|| s(&i.add)))
                        .opt("peer", (!i.peer.is_empty()).then(|| s(&i.peer)))
                        .put("createInRoot", boolean(i.create_in_root))
                        .done()
                })
                .collect(),
        )
    };
    let bind_ns = r.bind_ns.clone().unwrap_or_default();
    let ns = MapBuilder::new()
        .opt("cgroup", bind_ns.cgroup.as_deref().map(s))
        .opt("ipc", bind_ns.ipc.as_deref().map(s))
        .opt("mnt", bind_ns.mnt.as_deref().map(s))
        .opt("net", bind_ns.net.as_deref().map(s))
        .opt("pid", bind_ns.pid.as_deref().map(s))
        .opt("user", bind_ns.user.as_deref().map(s))
        .opt("uts", bind_ns.uts.as_deref().map(s))
        .done();
    let ns_empty = matches!(&ns, Node::Map(e) if e.is_empty());
    // yaml.v2 omits an all-nil struct with omitempty; encoding/json never omits a struct.
    let ns = if format == Format::Yaml && ns_empty {
        None
    } else {
        Some(ns)
    };
    MapBuilder::new()
        .opt("cgroups", r.cgroups.as_deref().map(strs))
        .opt(
            "mounts",
            r.mounts
                .as_ref()
                .map(|m| Node::Seq(m.iter().map(|x| mount(x, format)).collect())),
        )
        .opt("mkdir", r.mkdir.as_deref().map(strs))
        .opt("interfaces", r.interfaces.as_ref().map(interfaces))
        .opt("bindNS", ns)
        .opt("namespace", r.namespace.as_deref().map(s))
        .done()
}

fn container(c: &Container, image: &str, format: Format) -> Node {
    let list = |v: &Option<Vec<String>>| v.as_deref().map(strs);
    let ids = |v: &Option<Vec<Id>>| v.as_ref().map(|x| Node::Seq(x.iter().map(id).collect()));
    let mappings = |v: &Option<Vec<IdMapping>>| {
        v.as_ref()
            .map(|x| Node::Seq(x.iter().map(|m| id_mapping(m, format)).collect()))
    };
    MapBuilder::new()
        .put("name", s(&c.name))
        .put("image", s(image))
        .opt("capabilities", list(&c.capabilities))
        .opt("capabilities.add", list(&c.capabilities_add))
        .opt("ambient", list(&c.ambient))
        .opt(
            "mounts",
            c.mounts
                .as_ref()
                .map(|m| Node::Seq(m.iter().map(|x| mount(x, format)).collect())),
        )
        .opt("binds", list(&c.binds))
        .opt("binds.add", list(&c.binds_add))
        .opt(
            "devices",
            c.devices.as_ref().map(|d| {
                Node::Seq(
                    d.iter()
                        .map(|d| {
                            MapBuilder::new()
                                .put("path", s(&d.path))
                                .put("type", s(&d.kind))
                                .put("major", num(d.major.unwrap_or(0)))
                                .put("minor", num(d.minor.unwrap_or(0)))
                                .opt("mode", nonempty(&d.mode))
                                .done()
                        })
                        .collect(),
                )
            }),
        )
        .opt("tmpfs", list(&c.tmpfs))
        .opt("command", list(&c.command))
        .opt("env", list(&c.env))
        .opt("cwd", nonempty(&c.cwd))
        .opt("net", nonempty(&c.net))
        .opt("pid", nonempty(&c.pid))
        .opt("ipc", nonempty(&c.ipc))
        .opt("uts", nonempty(&c.uts))
        .opt("userns", nonempty(&c.userns))
        .opt("hostname", nonempty(&c.hostname))
        .opt("readonly", c.readonly.map(boolean))
        .opt("maskedPaths", list(&c.masked_paths))
        .opt("readonlyPaths", list(&c.readonly_paths))
        .opt("uid", c.uid.as_ref().map(id))
        .opt("gid", c.gid.as_ref().map(id))
        .opt("additionalGids", ids(&c.additional_gids))
        .opt("noNewPrivileges", c.no_new_privileges.map(boolean))
        .opt("oomScoreAdj", c.oom_score_adj.map(num::<i64>))
        .opt("rootfsPropagation", c.rootfs_propagation.as_deref().map(s))
        .opt("cgroupsPath", c.cgroups_path.as_deref().map(s))
        .opt(
            "resources",
            c.resources.as_ref().map(|r| resources(r, format)),
        )
        .opt("sysctl", c.sysctl.as_ref().map(|m| string_map(m, format)))
        .opt("rlimits", list(&c.rlimits))
        .opt("uidMappings", mappings(&c.uid_mappings))
        .opt("gidMappings", mappings(&c.gid_mappings))
        .opt(
            "annotations",
            c.annotations.as_ref().map(|m| string_map(m, format)),
        )
        .opt("runtime", c.runtime.as_ref().map(|r| runtime(r, format)))
        .done()
}

fn file(f: &File, _format: Format) -> Node {
    MapBuilder::new()
        .put("path", s(&f.path))
        .put("directory", boolean(f.directory))
        .opt("symlink", nonempty(&f.symlink))
        .opt("contents", f.contents.as_deref().map(s))
        .opt("source", nonempty(&f.source))
        .opt("metadata", nonempty(&f.metadata))
        .put("optional", boolean(f.optional))
        .opt("mode", nonempty(&f.mode))
        .opt("uid", f.uid.as_ref().map(id))
        .opt("gid", f.gid.as_ref().map(id))
        .done()
}

fn volume(v: &Volume) -> Node {
    MapBuilder::new()
        .put("name", s(&v.name))
        .opt("image", nonempty(&v.image))
        .opt("readonly", v.readonly.then(|| boolean(true)))
        .opt("format", nonempty(&v.format))
        .opt(
            "platforms",
            v.platforms.as_deref().filter(|p| !p.is_empty()).map(strs),
        )
        .done()
}

/// Flatten a tree into emitter events, choosing scalar styles as yaml.v2 does.
fn yaml_events<'a>(node: &'a Node, out: &mut Vec<emitter::Event<'a>>) {
    use emitter::{Event, Style};
    match node {
        Node::Map(entries) => {
            out.push(Event::MappingStart);
            for (k, v) in entries {
                out.push(Event::Scalar(k, string_style(k)));
                yaml_events(v, out);
            }
            out.push(Event::MappingEnd);
        }
        Node::Seq(items) => {
            out.push(Event::SequenceStart);
            for i in items {
                yaml_events(i, out);
            }
            out.push(Event::SequenceEnd);
        }
        Node::Str(v) => out.push(Event::Scalar(v, string_style(v))),
        Node::Num(n) => out.push(Event::Owned(n.to_string(), Style::Plain)),
        Node::Bool(b) => out.push(Event::Scalar(
            if *b { "true" } else { "false" },
            Style::Plain,
        )),
        // Resources are built as plain nodes for YAML; this variant is JSON-only.
        Node::Null | Node::JsonResources(_) => out.push(Event::Scalar("null", Style::Plain)),
    }
}

/// yaml.v2's `stringv`: literal for multi-line strings, plain when the string reads back as a
/// string, double-quoted otherwise.
fn string_style(v: &str) -> emitter::Style {
    if v.contains('\n') {
        emitter::Style::Literal
    } else if resolves_as_string(v) && !is_base60_float(v) {
        emitter::Style::Plain
    } else {
        emitter::Style::DoubleQuoted
    }
}

/// yaml.v2 `resolve("", v)` gives `!!str`: the plain scalar would not read back as a null,
/// bool, number, timestamp or merge key.
fn resolves_as_string(v: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null",
        "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&v) {
        return false;
    }
    let Some(first) = v.chars().next() else {
        return false;
    };
    match first {
        '.' => !go_parse_float(v),
        '+' | '-' | '0'..='9' => {
            if is_timestamp(v) {
                return false;
            }
            let plain = v.replace('_', "");
            if go_parse_int_base0(&plain) || yaml_style_float(&plain) {
                return false;
            }
            if let Some(b) = plain
                .strip_prefix("0b")
                .or_else(|| plain.strip_prefix("-0b"))
            {
                if !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1') {
                    return false;
                }
            }
            true
        }
        _ => true,
    }
}

/// Go `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` succeeds.
fn go_parse_int_base0(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let unsigned_only = s.starts_with(['+', '-']);
    let _ = unsigned_only;
    let (digits, radix) = if let Some(r) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (r, 8)
    } else if let Some(r) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (r, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

/// yaml.v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go `strconv.ParseFloat(s, 64)` succeeds (decimal forms; used for `.`-prefixed strings).
fn go_parse_float(s: &str) -> bool {
    yaml_style_float(s) || s.parse::<f64>().is_ok() && !s.chars().any(|c| c.is_alphabetic())
}

/// yaml.v2's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let n = i - start;
        if n == 0 || (n == 2 && b[start] > b'5') {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// yaml.v2's `parseTimestamp`: `YYYY-M-D`, optionally followed by `T`, `t` or a space and a
/// time `H:M:S[.frac][Z|±hh:mm]`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let num = |i: &mut usize, max: usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i > start
    };
    let mut i = 5;
    if !num(&mut i, 2) || i >= b.len() || b[i] != b'-' {
        return false;
    }
    i += 1;
    if !num(&mut i, 2) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    if !matches!(b[i], b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    for part in 0..3 {
        if !num(&mut i, 2) {
            return false;
        }
        if part < 2 {
            if i >= b.len() || b[i] != b':' {
                return false;
            }
            i += 1;
        }
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !num(&mut i, 9) {
            return false;
        }
    }
    if i == b.len() {
        return true;
    }
    match b[i] {
        b'Z' => i + 1 == b.len(),
        b'+' | b'-' => {
            i += 1;
            num(&mut i, 2) && i < b.len() && b[i] == b':' && {
                i += 1;
                num(&mut i, 2) && i == b.len()
            }
        }
        _ => false,
    }
}

/// libyaml's emitter (the safe Rust port `libyaml-safer`), configured as yaml.v2 configures
/// its Go port of the same code: UTF-8, unicode output, default indent (2) and line width
/// (80), implicit document start and end, block collections (empty ones become `[]`/`{}`).
mod emitter {
    use libyaml_safer as yaml;

    /// Scalar styles yaml.v2 asks for (the emitter may still fall back to quoting).
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Style {
        Plain,
        DoubleQuoted,
        Literal,
    }

    /// One emitter event.
    #[derive(Debug)]
    pub(super) enum Event<'a> {
        MappingStart,
        MappingEnd,
        SequenceStart,
        SequenceEnd,
        Scalar(&'a str, Style),
        Owned(String, Style),
    }

    /// A scalar with no tag, implicit for both plain and quoted styles (as yaml.v2 does for
    /// untagged values).
    fn scalar(value: &str, style: Style) -> yaml::Event {
        let style = match style {
            Style::Plain => yaml::ScalarStyle::Plain,
            Style::DoubleQuoted => yaml::ScalarStyle::DoubleQuoted,
            Style::Literal => yaml::ScalarStyle::Literal,
        };
        yaml::Event::scalar(None, None, value, true, true, style)
    }

    /// Emit one YAML document (a stream with one implicit document) made of `events`.
    pub(super) fn emit(events: &[Event<'_>]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        {
            let mut emitter = yaml::Emitter::new();
            emitter.set_output_string(&mut out);
            emitter.set_unicode(true);
            let all = [
                yaml::Event::stream_start(yaml::Encoding::Utf8),
                yaml::Event::document_start(None, &[], true),
            ]
            .into_iter()
            .chain(events.iter().map(|e| match e {
                Event::MappingStart => {
                    yaml::Event::mapping_start(None, None, true, yaml::MappingStyle::Block)
                }
                Event::MappingEnd => yaml::Event::mapping_end(),
                Event::SequenceStart => {
                    yaml::Event::sequence_start(None, None, true, yaml::SequenceStyle::Block)
                }
                Event::SequenceEnd => yaml::Event::sequence_end(),
                Event::Scalar(value, style) => scalar(value, *style),
                Event::Owned(value, style) => scalar(value, *style),
            }))
            .chain([yaml::Event::document_end(true), yaml::Event::stream_end()]);
            for event in all {
                emitter
                    .emit(event)
                    .map_err(|e| format!("the YAML emitter failed: {e}"))?;
            }
            emitter
                .flush()
                .map_err(|e| format!("the YAML emitter failed to flush: {e}"))?;
        }
        // libyaml 0.2.5 ends a stream whose last block scalar kept its trailing newlines (`|+`)
        // with a `...` line; yaml.v2 clears that state before the stream end, so no marker.
        // The document is a mapping, so a final `...` line can only be that marker.
        if out.ends_with(b"\n...\n") {
            out.truncate(out.len() - 4);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_v2_quotes_strings_that_read_back_as_other_types() {
        for v in [
            "",
            "true",
            "no",
            "On",
            "~",
            "null",
            "1000",
            "0644",
            "08",
            "1.5",
            "1e3",
            "-1",
            "0x1f",
            "1:20",
            "2001-12-14",
            ".inf",
        ] {
            assert!(
                matches!(string_style(v), emitter::Style::DoubleQuoted),
                "{v:?} should be quoted"
            );
        }
        for v in [
            "console=ttyS0",
            "0-1",
            "x",
            "/bin/sh",
            "127.0.0.1:5000/fixture/base:v1",
            ".x",
        ] {
            assert!(
                matches!(string_style(v), emitter::Style::Plain),
                "{v:?} should be plain"
            );
        }
        assert!(matches!(string_style("a\nb"), emitter::Style::Literal));
    }

    #[test]
    fn keep_chomped_literals_do_not_end_the_document_with_a_marker() {
        let image = Image {
            files: vec![File {
                path: "a".into(),
                contents: Some("x\n\n".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let yaml = String::from_utf8(metadata(&image, "yaml").unwrap()).unwrap();
        assert!(yaml.contains("  contents: |+\n    x\n\n"), "{yaml}");
        assert!(yaml.ends_with("volumes: []\n"), "{yaml}");
    }

    #[test]
    fn long_and_special_strings_follow_libyaml() {
        let long = "console=ttyS0 console=tty0 page_poison=1 ".repeat(3);
        let image = Image {
            kernel: Some(linuxkit_dsl::Kernel {
                image: "linuxkit/kernel:6.6".into(),
                cmdline: Some(long.trim().to_string()),
                ..Default::default()
            }),
            services: vec![Container {
                name: "s".into(),
                image: "alpine:3.20".into(),
                command: Some(vec!["- x".into(), "a: b".into(), "#c".into(), "yes".into()]),
                ..Default::default()
            }],
            ..Default::default()
        };
        let yaml = String::from_utf8(metadata(&image, "yaml").unwrap()).unwrap();
        assert!(
            yaml.starts_with(
                "kernel:\n  image: docker.io/linuxkit/kernel:6.6\n  cmdline: console=ttyS0"
            ),
            "{yaml}"
        );
        // libyaml breaks at the first space once past column 80, as yaml.v2's port does.
        assert!(
            yaml.contains(" page_poison=1 console=ttyS0 console=tty0 page_poison=1\n    console=ttyS0 console=tty0 page_poison=1\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("  command:\n  - '- x'\n  - 'a: b'\n  - '#c'\n  - \"yes\"\n"),
            "{yaml}"
        );
    }

    #[test]
    fn oci_types_use_lowercase_go_names_in_yaml_and_json_tags_in_json() {
        let yaml_src = r#"
onboot:
  - name: c
    image: 127.0.0.1:5000/fixture/base:v1
    mounts:
      - type: cgroup
        uidmappings: [{containerID: 1, hostID: 2, size: 3}]
    resources:
      memory: {limit: 100, kernelTCP: 5}
      network: {classID: 3}
    sysctl: {net.b: "1", net.a10: "2", net.a9: "3"}
    runtime:
      interfaces: [{name: eth0}]
      bindNS: {net: ""}
"#;
        let image: Image = serde_norway::from_str(yaml_src).unwrap();
        let yaml = String::from_utf8(metadata(&image, "yaml").unwrap()).unwrap();
        for want in [
            "  mounts:\n  - destination: \"\"\n    type: cgroup\n    source: \"\"\n    options: []\n    uidmappings:\n    - containerid: 0\n      hostid: 0\n      size: 3\n    gidmappings: []\n",
            "    memory:\n      limit: 100\n      reservation: null\n",
            "      kerneltcp: null\n",
            "    network:\n      classid: null\n      priorities: []\n    rdma: {}\n    unified: {}\n",
            "  sysctl:\n    net.a9: \"3\"\n    net.a10: \"2\"\n    net.b: \"1\"\n",
            "  runtime:\n    interfaces:\n    - name: eth0\n      createInRoot: false\n    bindNS:\n      net: \"\"\n",
        ] {
            assert!(yaml.contains(want), "missing {want:?} in\n{yaml}");
        }
        let json = String::from_utf8(metadata(&image, "json").unwrap()).unwrap();
        for want in [
            "\"uidMappings\": [\n                        {\n                            \"containerID\": 0,\n                            \"hostID\": 0,\n                            \"size\": 3\n",
            "\"resources\": {\n                \"memory\": {\n                    \"limit\": 100\n                },\n                \"network\": {}\n            },",
            "\"sysctl\": {\n                \"net.a10\": \"2\",\n                \"net.a9\": \"3\",",
        ] {
            assert!(json.contains(want), "missing {want:?} in\n{json}");
        }
    }

    #[test]
    fn yaml_v2_key_order_is_natural() {
        let mut keys = vec!["b10", "b9", "a", "B", "1", "_x"];
        keys.sort_by(|a, b| yaml_v2_key_order(a, b));
        assert_eq!(keys, ["_x", "1", "B", "a", "b9", "b10"]);
    }

    #[test]
    fn minimal_image_yaml_and_json() {
        let image = Image {
            onboot: vec![Container {
                name: "a".into(),
                image: "alpine".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let yaml = String::from_utf8(metadata(&image, "yaml").unwrap()).unwrap();
        assert_eq!(
            yaml,
            "kernel:\n  image: \"\"\ninit: []\nonboot:\n- name: a\n  image: docker.io/library/alpine\nonshutdown: []\nservices: []\nfiles: []\nvolumes: []\n"
        );
        let json = String::from_utf8(metadata(&image, "json").unwrap()).unwrap();
        assert_eq!(
            json,
            "{\n    \"kernel\": {\n        \"image\": \"\"\n    },\n    \"init\": null,\n    \"onboot\": [\n        {\n            \"name\": \"a\",\n            \"image\": \"docker.io/library/alpine\"\n        }\n    ],\n    \"onshutdown\": null,\n    \"services\": null,\n    \"files\": null,\n    \"volumes\": null\n}"
        );
        assert!(metadata(&image, "toml").is_err());
    }
}
