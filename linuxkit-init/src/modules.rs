//! A small modprobe: kernel modules by name, with their dependencies first, from
//! `/lib/modules/<release>/modules.dep` and `finit_module(2)`; plus a coldplug pass that
//! loads, all at once, the modules whose `modules.alias` patterns match the `modalias` of a
//! device no driver is bound to.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use linuxkit_bundle::modules::{no_pre, ModuleDeps};

use crate::{error, info};

/// The module database of the running kernel.
#[derive(Debug, Default)]
pub struct Modules {
    dir: PathBuf,
    /// `modules.dep` (paths relative to `dir`).
    deps: ModuleDeps,
    loaded: HashSet<String>,
}

impl Modules {
    /// Reads `modules.dep` of the running kernel (an empty database when there is none).
    pub fn open() -> Self {
        Self::from_dir(running_dir())
    }

    /// Reads `dir/modules.dep`.
    pub fn from_dir(dir: PathBuf) -> Self {
        let text = fs::read_to_string(dir.join("modules.dep")).unwrap_or_default();
        let mut m = Modules {
            dir,
            ..Default::default()
        };
        m.deps = ModuleDeps::parse(&text);
        if let Ok(s) = fs::read_to_string("/proc/modules") {
            m.loaded = s
                .lines()
                .filter_map(|l| l.split(' ').next())
                .map(str::to_string)
                .collect();
        }
        m
    }

    /// Whether the database knows any module.
    pub fn is_empty(&self) -> bool {
        self.deps.is_empty()
    }

    /// The load order for `name`: dependencies first (deepest first), then the module.
    pub fn load_order(&self, name: &str) -> Vec<String> {
        self.deps.load_order([name], &no_pre)
    }

    /// Loads `name` and its dependencies; already loaded or built-in modules are skipped.
    /// Returns false (after logging) when the module is unknown or fails to load.
    pub fn load(&mut self, name: &str) -> bool {
        let name = name.replace('-', "_");
        if self.loaded.contains(&name) || builtin(&name) {
            return true;
        }
        if !self.deps.contains(&name) {
            error!(
                "module {name}: not found in {}/modules.dep",
                self.dir.display()
            );
            return false;
        }
        for m in self.load_order(&name) {
            if self.loaded.contains(&m) {
                continue;
            }
            let Some(module) = self.deps.get(&m) else {
                continue;
            };
            let path = self.dir.join(&module.path);
            match finit(&path) {
                Ok(()) => {
                    self.loaded.insert(m);
                }
                Err(nix::errno::Errno::EEXIST) => {
                    self.loaded.insert(m);
                }
                Err(e) => {
                    error!("load module {}: {e}", path.display());
                    return false;
                }
            }
        }
        true
    }

    /// Loads `names` (and their dependencies) at the same time, one thread per module: a
    /// dependency two of them share is loaded once (the kernel makes the second load wait and
    /// report `EEXIST`). Already loaded and built-in modules are skipped. Returns the names
    /// loaded; failures are logged.
    pub fn load_all(&mut self, names: &[String]) -> Vec<String> {
        let mut chains: Vec<(String, Vec<(String, PathBuf)>)> = Vec::new();
        for name in names {
            let name = name.replace('-', "_");
            if self.loaded.contains(&name)
                || builtin(&name)
                || chains.iter().any(|(n, _)| *n == name)
            {
                continue;
            }
            if !self.deps.contains(&name) {
                error!(
                    "module {name}: not found in {}/modules.dep",
                    self.dir.display()
                );
                continue;
            }
            let chain = self
                .load_order(&name)
                .into_iter()
                .filter(|m| !self.loaded.contains(m))
                .filter_map(|m| {
                    let path = self.dir.join(&self.deps.get(&m)?.path);
                    Some((m, path))
                })
                .collect();
            chains.push((name, chain));
        }
        let results: Vec<(String, Vec<String>, bool)> = std::thread::scope(|s| {
            let handles: Vec<_> = chains
                .into_iter()
                .map(|(name, chain)| {
                    s.spawn(move || {
                        let mut ok = Vec::new();
                        for (m, path) in chain {
                            match finit(&path) {
                                Ok(()) | Err(nix::errno::Errno::EEXIST) => ok.push(m),
                                Err(e) => {
                                    error!("load module {}: {e}", path.display());
                                    return (name, ok, false);
                                }
                            }
                        }
                        (name, ok, true)
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let mut done = Vec::new();
        for (name, ok, all) in results {
            self.loaded.extend(ok);
            if all {
                done.push(name);
            }
        }
        done
    }

    /// Loads the modules the devices present need: every module whose alias pattern in
    /// `modules.alias` matches the `modalias` of a device that no driver has bound (a device a
    /// built-in driver handles needs nothing), all at once; repeats while new devices appear
    /// (a bus driver such as virtio_pci registers the devices behind it). Returns the names
    /// loaded.
    pub fn coldplug(&mut self) -> Vec<String> {
        let t0 = std::time::Instant::now();
        // Only device aliases (`bus:...`) can match a modalias; `fs-overlay` and friends cannot.
        let aliases: Vec<(String, String)> =
            parse_alias(&fs::read_to_string(self.dir.join("modules.alias")).unwrap_or_default())
                .into_iter()
                .filter(|(pattern, _)| pattern.contains(':'))
                .collect();
        if aliases.is_empty() {
            return Vec::new();
        }
        let mut done = Vec::new();
        let mut tried: HashSet<String> = HashSet::new();
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut devices = 0;
        let mut settled = false;
        for _round in 0..8 {
            // Only buses some alias can be about are looked at (`pci`, `virtio`, `scsi`, ...);
            // a module can register a new bus (`virtio`), so they are listed every round.
            let buses: Vec<PathBuf> = fs::read_dir("/sys/bus")
                .map(|d| {
                    d.flatten()
                        .filter(|b| {
                            let name = b.file_name().to_string_lossy().into_owned();
                            aliases.iter().any(|(p, _)| bus_may_match(p, &name))
                        })
                        .map(|b| b.path())
                        .collect()
                })
                .unwrap_or_default();
            // Devices seen in an earlier round were matched then: only new ones are read.
            let modaliases = unbound_modaliases(&buses, &mut seen);
            devices += modaliases.len();
            let mut wanted = Vec::new();
            for ma in &modaliases {
                for (pattern, module) in &aliases {
                    if !tried.contains(module) && glob(pattern.as_bytes(), ma.as_bytes()) {
                        tried.insert(module.clone());
                        wanted.push(module.clone());
                    }
                }
            }
            if wanted.is_empty() {
                // Drivers register their devices while they load; one that probes
                // asynchronously gets one short grace period.
                if settled || done.is_empty() {
                    break;
                }
                settled = true;
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
            settled = false;
            done.extend(self.load_all(&wanted));
        }
        if !done.is_empty() {
            info!(
                "coldplug loaded: {} ({devices} unbound devices, {} ms)",
                done.join(" "),
                t0.elapsed().as_millis()
            );
        }
        done
    }
}

/// Whether modalias `pattern` could match a device of bus `bus` (a modalias starts with its
/// bus name and `:`): the pattern's text before its first wildcard agrees with `<bus>:`.
fn bus_may_match(pattern: &str, bus: &str) -> bool {
    let literal = pattern.split(['*', '?', '[']).next().unwrap_or_default();
    let bus = format!("{bus}:");
    bus.starts_with(literal) || literal.starts_with(&bus)
}

/// The `modalias` of every device of `buses` (`/sys/bus/<bus>`) that no driver is bound to
/// and that is not in `seen` (which gets them): `<bus>/devices/<device>/modalias` where
/// `<device>/driver` is missing. Far fewer files than a walk of `/sys/devices`, which is slow
/// under emulation.
fn unbound_modaliases(buses: &[PathBuf], seen: &mut HashSet<PathBuf>) -> Vec<String> {
    let mut out = Vec::new();
    for bus in buses {
        let Ok(devices) = fs::read_dir(bus.join("devices")) else {
            continue;
        };
        for dev in devices.flatten() {
            let dev = dev.path();
            if seen.contains(&dev) {
                continue;
            }
            if dev.join("driver").exists() {
                seen.insert(dev);
                continue;
            }
            seen.insert(dev.clone());
            if let Ok(s) = fs::read_to_string(dev.join("modalias")) {
                let s = s.trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
            }
        }
    }
    out
}

/// `/lib/modules/<release of the running kernel>`.
fn running_dir() -> PathBuf {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    Path::new("/lib/modules").join(release)
}

/// Whether the running kernel's `modules.alias` has any device alias, i.e. whether a
/// coldplug pass could load anything (a cheap check that spares reading the database).
pub fn coldplug_candidates() -> bool {
    fs::read_to_string(running_dir().join("modules.alias"))
        .is_ok_and(|text| parse_alias(&text).iter().any(|(p, _)| p.contains(':')))
}

/// The module database, read on first use.
static DB: Mutex<Option<Modules>> = Mutex::new(None);

/// Runs `f` on the module database of the running kernel (read on first use).
pub fn with<T>(f: impl FnOnce(&mut Modules) -> T) -> T {
    let mut db = DB.lock().unwrap_or_else(|e| e.into_inner());
    f(db.get_or_insert_with(Modules::open))
}

/// Makes sure the kernel knows filesystem `fstype` (`overlay`, ...), loading its module on
/// first use: loading a module costs tens of milliseconds under emulation, so nothing is
/// loaded that no mount needs.
pub fn ensure_filesystem(fstype: &str) {
    let known = fs::read_to_string("/proc/filesystems")
        .map(|s| filesystem_listed(&s, fstype))
        .unwrap_or(false);
    if !known {
        let t0 = std::time::Instant::now();
        if with(|m| m.load(fstype)) {
            info!("module {fstype} loaded in {} ms", t0.elapsed().as_millis());
        }
    }
}

/// Whether `/proc/filesystems` text lists `fstype` (`nodev\toverlay`, `\text4`).
fn filesystem_listed(text: &str, fstype: &str) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().next_back() == Some(fstype))
}

fn builtin(name: &str) -> bool {
    Path::new("/sys/module").join(name).is_dir()
        && !Path::new("/sys/module")
            .join(name)
            .join("initstate")
            .exists()
}

fn finit(path: &Path) -> nix::Result<()> {
    let file = fs::File::open(path)
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let params = CString::new("").unwrap_or_default();
    nix::kmod::finit_module(&file, &params, nix::kmod::ModuleInitFlags::empty())
}

/// Parses `modules.alias` lines `alias PATTERN MODULE`.
pub fn parse_alias(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next()? == "alias").then_some(())?;
            Some((it.next()?.to_string(), it.next()?.replace('-', "_")))
        })
        .collect()
}

/// fnmatch-style matching with `*`, `?` and `[...]` classes, as modules.alias uses.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let (mut star_p, mut star_s) = (usize::MAX, 0usize);
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star_p = pi;
                    star_s = si;
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(&p[pi..], s[si]) {
                        if matched {
                            pi += next;
                            si += 1;
                            continue;
                        }
                    } else if s[si] == b'[' {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        pi = star_p + 1;
        star_s += 1;
        si = star_s;
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches one `[...]` class at the start of `p`; returns (matched, class length).
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = p.get(i) == Some(&b'!') || p.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
        first = false;
    }
    None
}

/// Modules to load at boot: `/etc/modules` and `/etc/modules-load.d/*.conf` (one name per
/// line, `#` comments).
pub fn configured() -> Vec<String> {
    let mut files = vec![PathBuf::from("/etc/modules")];
    if let Ok(d) = fs::read_dir("/etc/modules-load.d") {
        let mut conf: Vec<_> = d
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        conf.sort();
        files.extend(conf);
    }
    let mut names = Vec::new();
    for f in files {
        if let Ok(s) = fs::read_to_string(&f) {
            for l in s.lines() {
                let l = l.split('#').next().unwrap_or("").trim();
                if !l.is_empty() {
                    names.push(l.split_whitespace().next().unwrap_or(l).to_string());
                }
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unbound_devices_are_candidates() {
        let bus = tempfile_dir();
        let dev = |bus_name: &str, name: &str, alias: &str, bound: bool| {
            let d = bus.join(bus_name).join("devices").join(name);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("modalias"), format!("{alias}\n")).unwrap();
            if bound {
                fs::create_dir_all(d.join("driver")).unwrap();
            }
        };
        dev(
            "pci",
            "0000:00:01.0",
            "pci:v00008086d00007000sv0sd0bc06sc01i00",
            true,
        );
        dev(
            "pci",
            "0000:00:02.0",
            "pci:v00001AF4d00001000sv1AF4sd1bc02sc00i00",
            false,
        );
        dev("virtio", "virtio0", "virtio:d00000001v00001AF4", false);
        fs::create_dir_all(bus.join("cpu/devices/cpu0")).unwrap();
        let buses = [bus.join("cpu"), bus.join("pci"), bus.join("virtio")];
        let mut seen = HashSet::new();
        let mut found = unbound_modaliases(&buses, &mut seen);
        found.sort();
        assert_eq!(
            found,
            [
                "pci:v00001AF4d00001000sv1AF4sd1bc02sc00i00",
                "virtio:d00000001v00001AF4"
            ]
        );
        // A later round reads only devices that appeared since.
        dev("virtio", "virtio1", "virtio:d00000002v00001AF4", false);
        assert_eq!(
            unbound_modaliases(&buses, &mut seen),
            ["virtio:d00000002v00001AF4"]
        );
        assert!(bus_may_match("virtio:d00000001v*", "virtio"));
        assert!(bus_may_match("acpi*:PNP0A03:*", "acpi"));
        assert!(bus_may_match("*:foo", "anything"));
        assert!(!bus_may_match("pci:v00001AF4d*", "virtio"));
        assert!(!bus_may_match("scsi:t-0x00*", "platform"));
        fs::remove_dir_all(&bus).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "linuxkit-init-modules-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn filesystems_are_matched_by_name() {
        let text = "nodev\tsysfs\nnodev\toverlay\n\text4\n";
        assert!(filesystem_listed(text, "overlay"));
        assert!(filesystem_listed(text, "ext4"));
        assert!(!filesystem_listed(text, "over"));
        assert!(!filesystem_listed(text, "nodev"));
    }

    #[test]
    fn alias_globs_match_like_fnmatch() {
        assert!(glob(b"virtio:d00000001v*", b"virtio:d00000001v00001AF4"));
        assert!(!glob(b"virtio:d00000001v*", b"virtio:d00000002v00001AF4"));
        assert!(glob(
            b"pci:v00001AF4d*sv*sd*bc*sc*i*",
            b"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
        ));
        assert!(glob(b"acpi*:PNP0[Aa]0[0-3]:*", b"acpi:PNP0A03:"));
        assert!(!glob(b"acpi*:PNP0[Aa]0[0-3]:*", b"acpi:PNP0A05:"));
        assert_eq!(
            parse_alias("alias virtio:d00000001v* virtio_net\n# x\n"),
            [("virtio:d00000001v*".to_string(), "virtio_net".to_string())]
        );
    }
}
