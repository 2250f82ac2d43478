//! Kernel modules as an image carries them: `lib/modules/<release>/modules.dep` (written by
//! `depmod` on the host, or by the build for a Debian kernel package) and module names. The
//! build reads it to pick the modules an image holds and those a root loader needs; the init
//! and the update agent read it to load modules in the guest.

use std::collections::{BTreeMap, HashSet};

/// `kernel/fs/isofs/isofs.ko.xz` -> `isofs`; `-` and `_` are the same in module names
/// (`crc-t10dif` is `crc_t10dif`), as the kernel and `modprobe` treat them.
pub fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split(".ko").next().unwrap_or(base).replace('-', "_")
}

/// A module known to `modules.dep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Its file, relative to `lib/modules/<release>/`.
    pub path: String,
    /// The names of the modules it needs, as `modules.dep` lists them (every one, not only
    /// the direct ones; the last must be loaded first).
    pub deps: Vec<String>,
}

/// A module database: `modules.dep` read, by module name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleDeps {
    modules: BTreeMap<String, Module>,
}

impl ModuleDeps {
    /// Reads the text of a `modules.dep` (`path: dep-path dep-path ...` per line); lines
    /// without a `:` are skipped.
    pub fn parse(text: &str) -> ModuleDeps {
        let modules = text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(path, deps)| {
                let path = path.trim();
                let deps = deps.split_whitespace().map(module_name).collect();
                let module = Module {
                    path: path.to_string(),
                    deps,
                };
                (module_name(path), module)
            })
            .collect();
        ModuleDeps { modules }
    }

    /// The module named `name` (`-` or `_`).
    pub fn get(&self, name: &str) -> Option<&Module> {
        self.modules.get(&name.replace('-', "_"))
    }

    /// Whether the database knows module `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether the database knows no module.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The names to load, in order, for `names`: each module after what it needs (its soft
    /// pre-dependencies `pre(name)` first, then its `modules.dep` dependencies, the last listed
    /// first, as `modprobe` loads them), every module once. Names the database does not know
    /// are left out (built in, or missing: the caller decides).
    pub fn load_order<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        pre: &dyn Fn(&str) -> &'static [&'static str],
    ) -> Vec<String> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for name in names {
            self.visit(&name.replace('-', "_"), pre, &mut seen, &mut order);
        }
        order
    }

    fn visit(
        &self,
        name: &str,
        pre: &dyn Fn(&str) -> &'static [&'static str],
        seen: &mut HashSet<String>,
        order: &mut Vec<String>,
    ) {
        let Some(module) = self.modules.get(name) else {
            return;
        };
        if !seen.insert(name.to_string()) {
            return;
        }
        for p in pre(name) {
            self.visit(p, pre, seen, order);
        }
        for d in module.deps.iter().rev() {
            self.visit(d, pre, seen, order);
        }
        order.push(name.to_string());
    }
}

/// No soft pre-dependencies (for [`ModuleDeps::load_order`]).
pub fn no_pre(_: &str) -> &'static [&'static str] {
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/fs/overlayfs/overlay.ko:\n\
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n\
kernel/net/core/failover.ko:\n\
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n\
kernel/drivers/virtio/virtio_ring.ko:\n\
kernel/lib/crc-t10dif.ko.xz:\n\
not a dependency line\n";

    #[test]
    fn names_are_normalised() {
        assert_eq!(module_name("kernel/fs/isofs/isofs.ko"), "isofs");
        assert_eq!(module_name("kernel/drivers/scsi/sd_mod.ko.xz"), "sd_mod");
        assert_eq!(module_name("kernel/x/crc-t10dif.ko"), "crc_t10dif");
        assert_eq!(module_name("vfat"), "vfat");
    }

    #[test]
    fn modules_dep_is_read_by_name() {
        let d = ModuleDeps::parse(DEP);
        assert_eq!(d.get("net_failover").unwrap().deps, ["failover"]);
        assert_eq!(
            d.get("crc-t10dif").unwrap().path,
            "kernel/lib/crc-t10dif.ko.xz"
        );
        assert!(d.contains("overlay") && !d.contains("not a dependency line"));
        assert!(ModuleDeps::parse("").is_empty());
    }

    #[test]
    fn dependencies_load_first_and_once() {
        let d = ModuleDeps::parse(DEP);
        assert_eq!(
            d.load_order(["virtio-net", "overlay", "virtio", "nope"], &no_pre),
            [
                "virtio_ring",
                "virtio",
                "failover",
                "net_failover",
                "virtio_net",
                "overlay"
            ]
        );
        let pre = |m: &str| -> &'static [&'static str] {
            if m == "overlay" {
                &["failover"]
            } else {
                &[]
            }
        };
        assert_eq!(d.load_order(["overlay"], &pre), ["failover", "overlay"]);
    }
}
