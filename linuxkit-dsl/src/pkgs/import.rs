//! Recognising catalogue packages in a model, for the code generator (`cargo linuxkit import`).
//!
//! For a container whose image is a catalogue package, the candidates are the package's
//! function with the knobs its command (or binds) suggests; a candidate is used only when
//! the container it builds equals the imported one field for field (after `.name(..)` and
//! `.image(..)` for another name or tag), so generated code always rebuilds the same model.
//! Anything else falls back to the plain builders.

use crate::codegen::lit;
use crate::model::Container;
use crate::pkgs::versions::{self, Kind};
use crate::pkgs::{self, MetadataProvider, Size, SwapCondition};

/// A catalogue expression for the kernel image, if it is one (`pkgs::kernel()`), to which the
/// code generator appends the kernel's other settings.
pub(crate) fn kernel_head(image: &str) -> Option<String> {
    match image {
        versions::KERNEL => Some("pkgs::kernel()".into()),
        versions::KERNEL_RT => Some("pkgs::kernel_rt()".into()),
        _ => None,
    }
}

/// The `.init(..)` arguments for an init list: `pkgs::base()` for upstream's leading three,
/// and catalogue functions for the pinned init images.
pub(crate) fn init_calls(init: &[String]) -> Vec<String> {
    let base = pkgs::base();
    let (mut calls, rest) = if init.len() >= 3 && init[..3] == base {
        (vec!["pkgs::base()".to_string()], &init[3..])
    } else {
        (Vec::new(), init)
    };
    if !rest.is_empty() {
        let items: Vec<String> = rest
            .iter()
            .map(|i| match versions::find_reference(i) {
                Some(p) if p.kind == Kind::Init => format!("pkgs::{}()", p.function),
                _ => lit(i),
            })
            .collect();
        calls.push(format!("[{}]", items.join(", ")));
    }
    calls
}

/// A catalogue expression building exactly `ct`, if there is one.
pub(crate) fn container_call(ct: &Container) -> Option<String> {
    let pinned = versions::find_repository(&ct.image)?;
    if pinned.kind != Kind::Container {
        return None;
    }
    let cmd: Vec<&str> = ct.command.iter().flatten().map(String::as_str).collect();
    // Of the candidates that rebuild `ct`, the shortest: the one whose knobs say the most.
    candidates(pinned.function, ct, &cmd)
        .into_iter()
        .filter_map(|(mut expr, mut built)| {
            if built.name != ct.name {
                expr.push_str(&format!(".name({})", lit(&ct.name)));
                built.name = ct.name.clone();
            }
            if built.image != ct.image {
                expr.push_str(&format!(".image({})", lit(&ct.image)));
                built.image = ct.image.clone();
            }
            // What the wrapper's general methods append.
            for (method, have, want) in [
                ("bind", &mut built.binds, &ct.binds),
                ("add_bind", &mut built.binds_add, &ct.binds_add),
                ("env", &mut built.env, &ct.env),
            ] {
                let had = have.as_ref().map_or(0, Vec::len);
                match want {
                    Some(want)
                        if want.len() > had
                            && want[..had] == have.as_deref().unwrap_or(&[])[..] =>
                    {
                        for item in &want[had..] {
                            expr.push_str(&format!(".{method}({})", lit(item)));
                        }
                        *have = Some(want.clone());
                    }
                    _ => {}
                }
            }
            if built.net != ct.net {
                if let Some(net) = &ct.net {
                    expr.push_str(&format!(".net({})", crate::codegen::ns_arg(net)));
                    built.net = Some(net.clone());
                }
            }
            (built == *ct).then_some(expr)
        })
        .min_by_key(String::len)
}

/// A candidate: the expression and the container it builds.
type Candidate = (String, Container);

fn plain(f: &str, c: impl Into<Container>) -> Candidate {
    (format!("pkgs::{f}()"), c.into())
}

/// Reads `args` front to back: optional flags, then positional values.
struct Args<'a> {
    rest: &'a [&'a str],
}

impl<'a> Args<'a> {
    /// `None` unless the arguments start with `program`.
    fn new(cmd: &'a [&'a str], program: &str) -> Option<Self> {
        match cmd.split_first() {
            Some((first, rest)) if *first == program => Some(Args { rest }),
            _ => None,
        }
    }

    /// Consumes `flag` if it is next.
    fn flag(&mut self, flag: &str) -> bool {
        match self.rest.split_first() {
            Some((first, rest)) if *first == flag => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// Consumes `flag VALUE` if `flag` is next.
    fn value(&mut self, flag: &str) -> Option<&'a str> {
        match self.rest {
            [first, value, rest @ ..] if *first == flag => {
                self.rest = rest;
                Some(value)
            }
            _ => None,
        }
    }

    /// What is left.
    fn rest(&self) -> &'a [&'a str] {
        self.rest
    }
}

/// The candidates for catalogue function `f`, from what the container `ct` runs.
fn candidates(f: &str, ct: &Container, cmd: &[&str]) -> Vec<Candidate> {
    let mut out = Vec::new();
    match f {
        "sysfs" => out.push(plain(f, pkgs::sysfs())),
        "binfmt" => out.push(plain(f, pkgs::binfmt())),
        "acpid" => out.push(plain(f, pkgs::acpid())),
        "openntpd" => out.push(plain(f, pkgs::openntpd())),
        "kmsg" => out.push(plain(f, pkgs::kmsg())),
        "cadvisor" => out.push(plain(f, pkgs::cadvisor())),
        "node_exporter" => out.push(plain(f, pkgs::node_exporter())),
        "open_vm_tools" => out.push(plain(f, pkgs::open_vm_tools())),
        "tss" => out.push(plain(f, pkgs::tss())),
        "trim_after_delete" => out.push(plain(f, pkgs::trim_after_delete())),
        "dhcpcd" => {
            out.push(plain(f, pkgs::dhcpcd()));
            out.push(("pkgs::dhcpcd().once()".into(), pkgs::dhcpcd().once().into()));
        }
        "rngd" => {
            out.push(plain(f, pkgs::rngd()));
            out.push(("pkgs::rngd().once()".into(), pkgs::rngd().once().into()));
        }
        "getty" => {
            out.push(plain(f, pkgs::getty()));
            out.push((
                "pkgs::getty().insecure()".into(),
                pkgs::getty().insecure().into(),
            ));
        }
        "sysctl" => {
            out.push(plain(f, pkgs::sysctl()));
            if let ["/usr/bin/sysctl", "-configDir", dir] = cmd {
                out.push((
                    format!("pkgs::sysctl().config_dir({})", lit(dir)),
                    pkgs::sysctl().config_dir(*dir).into(),
                ));
            }
        }
        "sshd" => out.push(sshd(ct)),
        "modprobe" => {
            let modules = match cmd {
                ["modprobe", "-a", modules @ ..] if modules.len() > 1 => modules,
                ["modprobe", module] => std::slice::from_ref(module),
                _ => &[],
            };
            if let Some((first, more)) = modules.split_first() {
                let mut expr = format!("pkgs::modprobe({})", lit(first));
                let mut p = pkgs::modprobe(*first);
                for m in more {
                    expr.push_str(&format!(".module({})", lit(m)));
                    p = p.module(*m);
                }
                out.push((expr, p.into()));
            }
        }
        "host_timesync_daemon" => {
            out.push(plain(f, pkgs::host_timesync_daemon()));
            if let ["/usr/bin/host-timesync-daemon", "-port", port] = cmd {
                if let Some(n) = port
                    .strip_prefix("0x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                {
                    out.push((
                        format!("pkgs::host_timesync_daemon().vsock_port({n:#x})"),
                        pkgs::host_timesync_daemon().vsock_port(n).into(),
                    ));
                }
            }
        }
        "logwrite" => {
            out.push(plain(f, pkgs::logwrite()));
            if let Some(mut a) = Args::new(cmd, "/usr/bin/logwrite") {
                let mut expr = "pkgs::logwrite()".to_string();
                let mut p = pkgs::logwrite();
                if let Some(n) = a.value("-max-log-files").and_then(|v| v.parse().ok()) {
                    expr.push_str(&format!(".max_log_files({n})"));
                    p = p.max_log_files(n);
                }
                if let Some(n) = a.value("-max-log-size").and_then(|v| v.parse().ok()) {
                    expr.push_str(&format!(".max_log_size({n})"));
                    p = p.max_log_size(n);
                }
                out.push((expr, p.into()));
            }
        }
        "metadata" => {
            out.push(plain(f, pkgs::metadata()));
            if let Some(mut a) = Args::new(cmd, "/usr/bin/metadata") {
                let mut expr = "pkgs::metadata()".to_string();
                let mut p = pkgs::metadata();
                if a.flag("-v") {
                    expr.push_str(".verbose()");
                    p = p.verbose();
                }
                for arg in a.rest() {
                    let Some(provider) = MetadataProvider::from_arg(arg) else {
                        return out;
                    };
                    expr.push_str(&format!(".provider({})", provider.rust_expr()));
                    p = p.provider(provider);
                }
                out.push((expr, p.into()));
            }
        }
        "format" => {
            out.push(plain(f, pkgs::format()));
            if let Some(c) = format(cmd) {
                out.push(c);
            }
        }
        "mount" => out.extend(mount(cmd)),
        "swap" => out.extend(swap(cmd)),
        "dm_crypt" => out.extend(dm_crypt(cmd)),
        "losetup" => out.extend(losetup(cmd)),
        "ip" => {
            out.push(plain(f, pkgs::ip()));
            match cmd {
                ["ip", "-b", file] => out.push((
                    format!("pkgs::ip().batch_file({})", lit(file)),
                    pkgs::ip().batch_file(*file).into(),
                )),
                ["/usr/bin/lk-wg-config", "configure", conf] => {
                    if let Some(name) = conf
                        .strip_prefix("/etc/wireguard/")
                        .and_then(|c| c.strip_suffix(".conf"))
                    {
                        out.push((
                            format!("pkgs::ip().wireguard({})", lit(name)),
                            pkgs::ip().wireguard(name).into(),
                        ));
                    }
                }
                _ => {}
            }
        }
        "vsudd" => {
            out.push(plain(f, pkgs::vsudd()));
            if let ["/vsudd", "-inport", spec] = cmd {
                if let Some((port, socket)) = spec.split_once(":unix:") {
                    if let Ok(port) = port.parse::<u32>() {
                        out.push((
                            format!("pkgs::vsudd().inport({port}, {})", lit(socket)),
                            pkgs::vsudd().inport(port, socket).into(),
                        ));
                    }
                }
            }
        }
        "vpnkit_forwarder" => {
            out.push(plain(f, pkgs::vpnkit_forwarder()));
            if let ["/vpnkit-forwarder", "-vsockPort", port] = cmd {
                if let Ok(port) = port.parse::<u32>() {
                    out.push((
                        format!("pkgs::vpnkit_forwarder().vsock_port({port})"),
                        pkgs::vpnkit_forwarder().vsock_port(port).into(),
                    ));
                }
            }
        }
        _ => {}
    }
    out
}

/// sshd with the binds its knobs add, in the order written.
fn sshd(ct: &Container) -> Candidate {
    let mut expr = "pkgs::sshd()".to_string();
    let mut p = pkgs::sshd();
    for bind in ct.binds_add.iter().flatten() {
        if bind == "/root/.ssh:/root/.ssh" {
            expr.push_str(".root_ssh_from_host()");
            p = p.root_ssh_from_host();
        } else if let Some(src) = bind.strip_suffix(":/root/.ssh/authorized_keys") {
            if src == pkgs::METADATA_AUTHORIZED_KEYS {
                expr.push_str(".keys_from_metadata()");
                p = p.keys_from_metadata();
            } else {
                expr.push_str(&format!(".authorized_keys({})", lit(src)));
                p = p.authorized_keys(src);
            }
        }
    }
    (expr, p.into())
}

fn format(cmd: &[&str]) -> Option<Candidate> {
    let mut a = Args::new(cmd, "/usr/bin/format")?;
    let mut expr = "pkgs::format()".to_string();
    let mut p = pkgs::format();
    if a.flag("-force") {
        expr.push_str(".force()");
        p = p.force();
    }
    if let Some(t) = a.value("-type") {
        let fs = pkgs::Filesystem::from_name(t)?;
        expr.push_str(&format!(".filesystem({})", fs.rust_expr()));
        p = p.filesystem(fs);
    }
    if let Some(l) = a.value("-label") {
        expr.push_str(&format!(".label({})", lit(l)));
        p = p.label(l);
    }
    if let Some(t) = a.value("-partition") {
        let table = pkgs::PartitionTable::from_name(t)?;
        expr.push_str(&format!(".partition_table({})", table.rust_expr()));
        p = p.partition_table(table);
    }
    if a.flag("-verbose") {
        expr.push_str(".verbose()");
        p = p.verbose();
    }
    match a.rest() {
        [] => {}
        [device] => {
            expr.push_str(&format!(".device({})", lit(device)));
            p = p.device(*device);
        }
        _ => return None,
    }
    Some((expr, p.into()))
}

fn mount(cmd: &[&str]) -> Option<Candidate> {
    let mut a = Args::new(cmd, "/usr/bin/mountie")?;
    let label = a.value("-label");
    let uuid = a.value("-uuid");
    let (device, point) = match a.rest() {
        [point] => (None, *point),
        [device, point] => (Some(*device), *point),
        _ => return None,
    };
    let mut expr = format!("pkgs::mount({})", lit(point));
    let mut p = pkgs::mount(point);
    if let Some(l) = label {
        expr.push_str(&format!(".label({})", lit(l)));
        p = p.label(l);
    }
    if let Some(u) = uuid {
        expr.push_str(&format!(".uuid({})", lit(u)));
        p = p.uuid(u);
    }
    if let Some(d) = device {
        expr.push_str(&format!(".device({})", lit(d)));
        p = p.device(d);
    }
    Some((expr, p.into()))
}

fn swap(cmd: &[&str]) -> Option<Candidate> {
    let mut a = Args::new(cmd, "/swap.sh")?;
    let path = a.value("--path")?;
    let size = Size::parse(a.value("--size")?)?;
    let mut expr = format!("pkgs::swap({}, {})", lit(path), size.rust_expr());
    let mut p = pkgs::swap(path, size);
    if a.flag("--encrypt") {
        expr.push_str(".encrypt()");
        p = p.encrypt();
    }
    while let Some(c) = a.value("--condition") {
        let condition = SwapCondition::from_arg(c)?;
        expr.push_str(&format!(".condition({})", condition.rust_expr()));
        p = p.condition(condition);
    }
    if a.flag("--debug") {
        expr.push_str(".debug()");
        p = p.debug();
    }
    a.rest().is_empty().then_some((expr, p.into()))
}

fn dm_crypt(cmd: &[&str]) -> Option<Candidate> {
    let mut a = Args::new(cmd, "/usr/bin/crypto")?;
    let luks = a.flag("-l");
    let key = a.value("-k");
    let [name, device] = a.rest() else {
        return None;
    };
    let mut expr = format!("pkgs::dm_crypt({}, {})", lit(name), lit(device));
    let mut p = pkgs::dm_crypt(*name, *device);
    if luks {
        expr.push_str(".luks()");
        p = p.luks();
    }
    if let Some(k) = key {
        expr.push_str(&format!(".key_file({})", lit(k)));
        p = p.key_file(k);
    }
    Some((expr, p.into()))
}

fn losetup(cmd: &[&str]) -> Option<Candidate> {
    let mut a = Args::new(cmd, "/usr/bin/loopy")?;
    let create = a.flag("--create");
    let size = a.value("--size");
    let dev = a.value("--dev");
    let [file] = a.rest() else {
        return None;
    };
    let mut expr = format!("pkgs::losetup({})", lit(file));
    let mut p = pkgs::losetup(*file);
    if create {
        expr.push_str(".create()");
        p = p.create();
    }
    if let Some(n) = size {
        let n: u64 = n.parse().ok()?;
        expr.push_str(&format!(".size_mib({n})"));
        p = p.size_mib(n);
    }
    if let Some(d) = dev {
        expr.push_str(&format!(".device({})", lit(d)));
        p = p.device(d);
    }
    Some((expr, p.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_knobs_and_falls_back() {
        let c: Container = pkgs::format().label("DATA").device("/dev/sda").into();
        assert_eq!(
            container_call(&c).as_deref(),
            Some(r#"pkgs::format().label("DATA").device("/dev/sda")"#)
        );
        let c: Container = pkgs::getty().insecure().name("console").into();
        assert_eq!(
            container_call(&c).as_deref(),
            Some(r#"pkgs::getty().insecure().name("console")"#)
        );
        let c: Container = pkgs::swap("/var/swap", Size::gib(1))
            .condition(SwapCondition::mounted("/var").required())
            .into();
        assert_eq!(
            container_call(&c).as_deref(),
            Some(
                r#"pkgs::swap("/var/swap", pkgs::Size::gib(1)).condition(pkgs::SwapCondition::mounted("/var").required())"#
            )
        );
        // Another tag of a package.
        let c: Container = pkgs::rngd().image("linuxkit/rngd:v1").into();
        assert_eq!(
            container_call(&c).as_deref(),
            Some(r#"pkgs::rngd().image("linuxkit/rngd:v1")"#)
        );
        // A setting no knob makes: plain builders.
        let c = pkgs::getty().into_container().readonly();
        assert_eq!(container_call(&c), None);
        let c = Container::new("x", "alpine:3.20");
        assert_eq!(container_call(&c), None);
        assert_eq!(
            kernel_head(versions::KERNEL).as_deref(),
            Some("pkgs::kernel()")
        );
        let init: Vec<String> = pkgs::base()
            .into_iter()
            .chain([pkgs::ca_certificates(), "x/y:1"])
            .map(String::from)
            .collect();
        assert_eq!(
            init_calls(&init),
            ["pkgs::base()", r#"[pkgs::ca_certificates(), "x/y:1"]"#]
        );
    }
}
