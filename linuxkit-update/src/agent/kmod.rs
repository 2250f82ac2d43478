//! The kernel modules the agent needs (the FAT file system of the ESP and efivarfs), loaded
//! from the image's `/lib/modules` when the kernel has them as modules (Debian's) and they are
//! not loaded yet. The init loads modules for its own mounts; a container's mount does not go
//! through it, so the agent loads these few itself (its label grants `CAP_SYS_MODULE` and
//! binds `/lib/modules` read-only).

use std::fs;
use std::path::{Path, PathBuf};

use linuxkit_bundle::modules::{no_pre, ModuleDeps};

/// Modules the agent cannot work without, and the optional character sets FAT may ask for.
pub const REQUIRED: &[&str] = &["vfat", "efivarfs"];
/// Loaded when present: the code page and I/O character sets of the FAT driver's defaults.
pub const OPTIONAL: &[&str] = &["nls_cp437", "nls_ascii", "nls_utf8"];

/// Whether module `name` is built in or loaded.
fn present(name: &str) -> bool {
    Path::new("/sys/module").join(name).is_dir()
}

/// The running kernel's module directory.
fn module_dir() -> PathBuf {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Path::new("/lib/modules").join(release.trim())
}

/// Loads `names` and their dependencies (dependencies first); built-in and loaded modules
/// are skipped.
fn load(dir: &Path, deps: &ModuleDeps, names: &[&str]) -> Result<(), String> {
    for name in names {
        if !present(name) && !deps.contains(name) {
            return Err(format!(
                "module {name} is neither built into the kernel nor in {}: add it to the \
                 kernel's modules (kernel:host?modules=...,{name})",
                dir.display()
            ));
        }
    }
    for m in deps.load_order(names.iter().copied(), &no_pre) {
        let Some(module) = deps.get(&m).filter(|_| !present(&m)) else {
            continue;
        };
        let path = dir.join(&module.path);
        let file = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(format!("loading {}: {e}", path.display())),
        }
    }
    Ok(())
}

/// Makes sure the FAT file system and efivarfs are available.
pub fn ensure() -> Result<(), String> {
    if REQUIRED.iter().all(|m| present(m)) {
        return Ok(());
    }
    let dir = module_dir();
    let deps = ModuleDeps::parse(&fs::read_to_string(dir.join("modules.dep")).unwrap_or_default());
    let optional: Vec<&str> = OPTIONAL
        .iter()
        .copied()
        .filter(|m| deps.contains(m))
        .collect();
    load(&dir, &deps, &optional)?;
    load(&dir, &deps, REQUIRED)
}
