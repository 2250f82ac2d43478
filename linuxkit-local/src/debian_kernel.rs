//! A LinuxKit kernel image from a Debian `linux-image-<release>` package file, for any
//! architecture (`kernel:debian?arch=arm64&modules=...`), so an arm64 system can be made on an
//! amd64 machine, offline, from Debian's packages.
//!
//! The package is read twice as a stream (never unpacked): the first pass takes the kernel
//! (`boot/vmlinuz-<release>`), the module metadata (`modules.builtin`, `modules.order`,
//! `modules.builtin.modinfo`) and every module's dependencies from its `.modinfo` ELF section
//! (Debian's packages ship no `modules.dep`: `depmod` runs when the package is installed); the
//! second copies only the requested modules with their dependencies (and, when asked, device
//! trees) into a staging directory. From there the image is written like `kernel:host`'s:
//! [`crate::kernel::write_kernel_tar_with`] regenerates the module indexes with `depmod -b`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use linuxkit_bundle::modules::module_name;
use linuxkit_debian::{Deb, Package};
use linuxkit_oci::store::Platform;

use crate::error::{io, LocalError};
use crate::image::{write_image, ImageConfig, WrittenImage};
use crate::kernel::{write_kernel_tar_with, KernelSource};
use crate::layer::Layer;

/// Finds the newest `linux-image-<release>-<flavour>` package for Debian architecture `arch` in
/// the package directories (`linux-image-<release>-<arch>`; the meta-packages without a
/// release are skipped).
pub fn find_kernel_package(arch: &str) -> Result<Package, LocalError> {
    let dirs = linuxkit_debian::package_dirs();
    let mut best: Option<Package> = None;
    for dir in &dirs {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(&format!("_{arch}.deb")) else {
                continue;
            };
            let Some((name, version)) = stem.split_once('_') else {
                continue;
            };
            // linux-image-6.1.0-57-arm64, not linux-image-arm64 nor -dbg packages.
            let release_ok = name.strip_prefix("linux-image-").is_some_and(|r| {
                r.starts_with(|c: char| c.is_ascii_digit()) && !r.ends_with("-dbg")
            });
            if !release_ok {
                continue;
            }
            let p = Package {
                path: e.path(),
                name: name.to_string(),
                version: version.replace("%3a", ":"),
            };
            let newer = best
                .as_ref()
                .is_none_or(|b| linuxkit_debian::compare_versions(&p.name, &b.name).is_gt());
            if newer {
                best = Some(p);
            }
        }
        if best.is_some() {
            break;
        }
    }
    best.ok_or_else(|| {
        LocalError::Debian(linuxkit_debian::DebianError::NotFound {
            package: "linux-image-<release>".into(),
            arch: arch.into(),
            searched: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    })
}

/// The `depends=` list of a kernel module's `.modinfo` section (empty when it has none).
pub fn modinfo_depends(ko: &[u8]) -> Option<Vec<String>> {
    let info = elf_section(ko, b".modinfo")?;
    Some(
        info.split(|&b| b == 0)
            .filter_map(|kv| kv.strip_prefix(b"depends="))
            .flat_map(|v| v.split(|&b| b == b','))
            .filter(|d| !d.is_empty())
            .map(|d| String::from_utf8_lossy(d).replace('-', "_"))
            .collect(),
    )
}

/// The contents of section `name` of a 64-bit little- or big-endian ELF file.
fn elf_section<'a>(elf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if elf.get(..4)? != b"\x7fELF" || *elf.get(4)? != 2 {
        return None;
    }
    let le = *elf.get(5)? == 1;
    let u16_at = |o: usize| -> Option<u64> {
        let b: [u8; 2] = elf.get(o..o + 2)?.try_into().ok()?;
        Some(u64::from(if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }))
    };
    let u32_at = |o: usize| -> Option<u64> {
        let b: [u8; 4] = elf.get(o..o + 4)?.try_into().ok()?;
        Some(u64::from(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }))
    };
    let u64_at = |o: usize| -> Option<u64> {
        let b: [u8; 8] = elf.get(o..o + 8)?.try_into().ok()?;
        Some(if le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    };
    let shoff = u64_at(0x28)? as usize;
    let shentsize = u16_at(0x3a)? as usize;
    let shnum = u16_at(0x3c)? as usize;
    let shstrndx = u16_at(0x3e)? as usize;
    let sect = |i: usize| -> Option<(u64, usize, usize)> {
        let h = shoff.checked_add(i.checked_mul(shentsize)?)?;
        Some((
            u32_at(h)?,
            u64_at(h + 0x18)? as usize,
            u64_at(h + 0x20)? as usize,
        ))
    };
    let (_, str_off, str_len) = sect(shstrndx)?;
    let strtab = elf.get(str_off..str_off.checked_add(str_len)?)?;
    for i in 0..shnum {
        let (name_off, off, len) = sect(i)?;
        let n = strtab.get(name_off as usize..)?;
        let n = &n[..n.iter().position(|&b| b == 0)?];
        if n == name {
            return elf.get(off..off.checked_add(len)?);
        }
    }
    None
}

/// What the first pass over the package found.
struct Scan {
    release: String,
    /// module path (relative to `lib/modules/<release>/`) -> direct dependencies (names).
    deps: BTreeMap<String, Vec<String>>,
}

/// Writes a kernel image named `reference` into the layout at `dir` from the Debian kernel
/// package `deb` for OCI architecture `arch`: `kernel` = the package's `vmlinuz`, `kernel.tar` =
/// `modules` with their dependencies (plus `boot/dtb/<d>/` for each directory `d` of `dtbs`,
/// e.g. `broadcom`).
pub fn write_debian_kernel_image(
    dir: &Path,
    reference: &str,
    deb: &Path,
    arch: &str,
    modules: &[&str],
    dtbs: &[&str],
) -> Result<WrittenImage, LocalError> {
    let staging = tempfile::tempdir().map_err(io(std::env::temp_dir()))?;
    let root = staging.path();
    let package = Deb::open(deb);
    let bad = |message: String| {
        LocalError::Debian(linuxkit_debian::DebianError::Format {
            path: deb.to_path_buf(),
            message,
        })
    };

    // Pass 1: the kernel, module metadata and every module's dependencies.
    let mut scan = Scan {
        release: String::new(),
        deps: BTreeMap::new(),
    };
    let kernel_path = root.join("vmlinuz");
    let mut meta: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut buf = Vec::new();
    package.for_each(|e| {
        if let Some(release) = e.path.strip_prefix("boot/vmlinuz-") {
            if e.header.entry_type().is_file() {
                scan.release = release.to_string();
                let mut f = fs::File::create(&kernel_path).map_err(io_deb(deb))?;
                io::copy(e.data, &mut f).map_err(io_deb(deb))?;
            }
        } else if let Some(rest) = e.path.strip_prefix("lib/modules/") {
            let Some((_, rel)) = rest.split_once('/') else {
                return Ok(true);
            };
            if !e.header.entry_type().is_file() {
                return Ok(true);
            }
            if rel.ends_with(".ko") {
                buf.clear();
                e.data.read_to_end(&mut buf).map_err(io_deb(deb))?;
                let deps = modinfo_depends(&buf).unwrap_or_default();
                scan.deps.insert(rel.to_string(), deps);
            } else if rel.ends_with(".ko.xz") || rel.ends_with(".ko.zst") || rel.ends_with(".ko.gz")
            {
                return Err(linuxkit_debian::DebianError::Format {
                    path: deb.to_path_buf(),
                    message: format!(
                        "{}: compressed kernel modules are not read by kernel:debian",
                        e.path
                    ),
                });
            } else if matches!(
                rel,
                "modules.builtin" | "modules.order" | "modules.builtin.modinfo"
            ) {
                let mut data = Vec::new();
                e.data.read_to_end(&mut data).map_err(io_deb(deb))?;
                meta.insert(rel.to_string(), data);
            }
        }
        Ok(true)
    })?;
    if scan.release.is_empty() {
        return Err(bad("no boot/vmlinuz-<release>: not a kernel package".into()));
    }
    let release = scan.release.clone();
    let mdir = root.join("lib/modules").join(&release);
    fs::create_dir_all(&mdir).map_err(io(&mdir))?;
    for (name, data) in &meta {
        fs::write(mdir.join(name), data).map_err(io(mdir.join(name)))?;
    }
    // A modules.dep of direct dependencies, for the closure (depmod rewrites it for the subset).
    let by_name: BTreeMap<String, &String> =
        scan.deps.keys().map(|p| (module_name(p), p)).collect();
    let mut dep_text = String::new();
    for (path, deps) in &scan.deps {
        dep_text.push_str(path);
        dep_text.push(':');
        for d in deps {
            if let Some(p) = by_name.get(d) {
                dep_text.push(' ');
                dep_text.push_str(p);
            }
        }
        dep_text.push('\n');
    }
    let dep_path = mdir.join("modules.dep");
    fs::write(&dep_path, &dep_text).map_err(io(&dep_path))?;
    let builtin = String::from_utf8_lossy(meta.get("modules.builtin").map_or(&[][..], |v| v));
    let wanted = crate::kernel::module_closure(&dep_text, &builtin, modules, &dep_path)?;

    // Pass 2: the modules needed and the device trees asked for.
    let dtb_prefix = format!("usr/lib/linux-image-{release}/");
    let dtb_dir = root.join("dtb");
    let mut left = wanted.len();
    let mut dtbs_found: Vec<&str> = Vec::new();
    package.for_each(|e| {
        if !e.header.entry_type().is_file() {
            return Ok(true);
        }
        if let Some(rel) = e
            .path
            .strip_prefix(&format!("lib/modules/{release}/"))
            .filter(|r| wanted.contains(*r))
        {
            let to = mdir.join(rel);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(io_deb(deb))?;
            }
            let mut f = fs::File::create(&to).map_err(io_deb(deb))?;
            io::copy(e.data, &mut f).map_err(io_deb(deb))?;
            left -= 1;
        } else if let Some(rel) = e.path.strip_prefix(&dtb_prefix) {
            if let Some(d) = dtbs.iter().find(|d| rel.starts_with(&format!("{d}/"))) {
                let to = dtb_dir.join(rel);
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).map_err(io_deb(deb))?;
                }
                let mut f = fs::File::create(&to).map_err(io_deb(deb))?;
                io::copy(e.data, &mut f).map_err(io_deb(deb))?;
                if !dtbs_found.contains(d) {
                    dtbs_found.push(d);
                }
            }
        }
        Ok(left > 0 || !dtbs.is_empty())
    })?;
    if let Some(d) = dtbs.iter().find(|d| !dtbs_found.contains(d)) {
        return Err(bad(format!(
            "no device trees under {dtb_prefix}{d}/ (dtbs= names directories there, e.g. broadcom)"
        )));
    }

    let src = KernelSource {
        bzimage: kernel_path.clone(),
        modules_dir: mdir,
        version: release,
    };
    let scratch = tempfile::tempdir().map_err(io(std::env::temp_dir()))?;
    let ktar = scratch.path().join("kernel.tar");
    let dtb = (!dtbs.is_empty()).then_some(dtb_dir.as_path());
    write_kernel_tar_with(&src, modules, dtb, &ktar)?;
    let mut layer = Layer::new();
    layer.file("kernel", 0o644, &kernel_path)?;
    layer.file("kernel.tar", 0o644, &ktar)?;
    write_image(
        dir,
        reference,
        &Platform::linux(arch),
        &ImageConfig::default(),
        &layer,
    )
}

fn io_deb(deb: &Path) -> impl Fn(io::Error) -> linuxkit_debian::DebianError + '_ {
    move |source| linuxkit_debian::DebianError::Io {
        path: PathBuf::from(deb),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_dependencies_come_from_modinfo() {
        // The host's own modules are ELF files with .modinfo sections.
        let Some(src) = KernelSource::host() else {
            return;
        };
        let dep = fs::read_to_string(src.modules_dir.join("modules.dep")).unwrap();
        let line = dep
            .lines()
            .find(|l| l.starts_with("kernel/drivers/net/virtio_net.ko"))
            .unwrap();
        let path = line.split(':').next().unwrap();
        let ko = fs::read(src.modules_dir.join(path)).unwrap();
        let deps = modinfo_depends(&ko).unwrap();
        assert!(deps.contains(&"net_failover".to_string()), "{deps:?}");
        // Every direct dependency is among modules.dep's (transitive) ones.
        for d in &deps {
            assert!(line.contains(&format!("/{d}.ko")), "{d} not in {line}");
        }
        assert_eq!(modinfo_depends(b"not an elf"), None);
    }
}
