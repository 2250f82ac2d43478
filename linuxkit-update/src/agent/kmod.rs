//! The kernel modules the agent needs (the FAT file system of the ESP and efivarfs), loaded
//! from the image's `/lib/modules` when the kernel has them as modules (Debian's) and they are
//! not loaded yet. The init loads modules for its own mounts; a container's mount does not go
//! through it, so the agent loads these few itself (its label grants `CAP_SYS_MODULE` and
//! binds `/lib/modules` read-only).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Modules the agent cannot work without, and the optional character sets FAT may ask for.
pub const REQUIRED: &[&str] = &["vfat", "efivarfs"];
/// Loaded when present: the code page and I/O character sets of the FAT driver's defaults.
pub const OPTIONAL: &[&str] = &["nls_cp437", "nls_ascii", "nls_utf8"];

fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

fn parse_dep(text: &str) -> HashMap<String, (String, Vec<String>)> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let Some((path, deps)) = line.split_once(':') else {
            continue;
        };
        let deps = deps.split_whitespace().map(module_name).collect();
        map.insert(module_name(path), (path.to_string(), deps));
    }
    map
}

/// Whether module `name` is built in or loaded.
fn present(name: &str) -> bool {
    Path::new("/sys/module").join(name).is_dir()
}

/// The running kernel's module directory.
fn module_dir() -> PathBuf {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Path::new("/lib/modules").join(release.trim())
}

/// Loads `name` and its dependencies (dependencies first).
fn load(
    dir: &Path,
    deps: &HashMap<String, (String, Vec<String>)>,
    name: &str,
    depth: u32,
) -> Result<(), String> {
    if present(name) || depth > 16 {
        return Ok(());
    }
    let (rel, needs) = deps.get(name).ok_or_else(|| {
        format!(
            "module {name} is neither built into the kernel nor in {}: add it to the kernel's \
             modules (kernel:host?modules=...,{name})",
            dir.display()
        )
    })?;
    for d in needs.iter().rev() {
        load(dir, deps, d, depth + 1)?;
    }
    let path = dir.join(rel);
    let file = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(format!("loading {}: {e}", path.display())),
    }
}

/// Makes sure the FAT file system and efivarfs are available.
pub fn ensure() -> Result<(), String> {
    if REQUIRED.iter().all(|m| present(m)) {
        return Ok(());
    }
    let dir = module_dir();
    let deps = parse_dep(&fs::read_to_string(dir.join("modules.dep")).unwrap_or_default());
    for m in OPTIONAL {
        if deps.contains_key(*m) {
            load(&dir, &deps, m, 0)?;
        }
    }
    for m in REQUIRED {
        load(&dir, &deps, m, 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_dep_names_and_dependencies() {
        let d = parse_dep(
            "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\nkernel/fs/nls/nls_cp437.ko.xz:\n",
        );
        assert_eq!(d["vfat"].1, ["fat"]);
        assert_eq!(d["nls_cp437"].0, "kernel/fs/nls/nls_cp437.ko.xz");
    }
}
