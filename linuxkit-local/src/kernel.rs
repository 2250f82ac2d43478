//! A LinuxKit kernel image from local files: `kernel` (a bzImage) and `kernel.tar` holding
//! `lib/modules/<version>/` with only the requested modules and their dependencies, and
//! module indexes regenerated for that subset by `depmod -b` on a staging copy.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use linuxkit_bundle::modules::{module_name, no_pre, ModuleDeps};
use linuxkit_debian::compare_versions;
use linuxkit_oci::store::Platform;

use crate::error::{io, LocalError};
use crate::image::{write_image, ImageConfig, WrittenImage};
use crate::layer::{add_tree, Layer};

/// Modules a QEMU guest typically needs: virtio disks and network, overlay (for containers
/// and volumes), and the filesystems of LinuxKit's output formats.
pub const VM_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_console",
    "virtio_rng",
    "overlay",
    "squashfs",
    "isofs",
    "ext4",
    "vfat",
    "9pnet_virtio",
    "9p",
];

/// A kernel and its modules directory on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSource {
    /// The bzImage.
    pub bzimage: PathBuf,
    /// `/lib/modules/<version>`.
    pub modules_dir: PathBuf,
    /// The kernel release, e.g. `6.1.0-56-amd64`.
    pub version: String,
}

impl KernelSource {
    /// The newest `/boot/vmlinuz-<version>` that has `/lib/modules/<version>` (Debian's
    /// `linux-image-amd64`).
    pub fn host() -> Option<Self> {
        let mut found: Vec<KernelSource> = fs::read_dir("/boot")
            .ok()?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let version = name.strip_prefix("vmlinuz-")?.to_string();
                let modules_dir = Path::new("/lib/modules").join(&version);
                modules_dir
                    .join("modules.dep")
                    .is_file()
                    .then(|| KernelSource {
                        bzimage: e.path(),
                        modules_dir,
                        version,
                    })
            })
            .collect();
        // Kernel releases as versions: `6.1.0-10-amd64` is newer than `6.1.0-9-amd64`.
        found.sort_by(|a, b| compare_versions(&a.version, &b.version));
        found.pop()
    }
}

/// The module files (paths relative to the modules directory) needed for `names`: each
/// module and, transitively, its dependencies from `modules.dep` text. Modules built into
/// the kernel (listed in `builtin`, the text of `modules.builtin`) are skipped.
pub fn module_closure(
    dep_text: &str,
    builtin: &str,
    names: &[&str],
    dep_path: &Path,
) -> Result<BTreeSet<String>, LocalError> {
    let deps = ModuleDeps::parse(dep_text);
    let builtin: BTreeSet<String> = builtin.lines().map(module_name).collect();
    let mut wanted = Vec::new();
    for n in names {
        let n = n.replace('-', "_");
        if deps.contains(&n) {
            wanted.push(n);
        } else if !builtin.contains(&n) {
            return Err(LocalError::UnknownModule {
                module: n,
                dep: dep_path.to_path_buf(),
            });
        }
    }
    Ok(deps
        .load_order(wanted.iter().map(String::as_str), &no_pre)
        .iter()
        .filter_map(|m| deps.get(m).map(|m| m.path.clone()))
        .collect())
}

fn depmod() -> PathBuf {
    for p in ["/usr/sbin/depmod", "/sbin/depmod", "/usr/bin/depmod"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("depmod")
}

/// Writes `kernel.tar` for `src` with `modules` (and their dependencies) to `out`: a tar of
/// `lib/modules/<version>/...` in sorted order with fixed metadata.
pub fn write_kernel_tar(
    src: &KernelSource,
    modules: &[&str],
    out: &Path,
) -> Result<BTreeSet<String>, LocalError> {
    write_kernel_tar_with(src, modules, None, out)
}

/// [`write_kernel_tar`] plus, with `dtb`, that directory's device trees as `boot/dtb/...`
/// (where LinuxKit's arm64 kernels keep them).
pub fn write_kernel_tar_with(
    src: &KernelSource,
    modules: &[&str],
    dtb: Option<&Path>,
    out: &Path,
) -> Result<BTreeSet<String>, LocalError> {
    let dep_path = src.modules_dir.join("modules.dep");
    let dep_text = fs::read_to_string(&dep_path).map_err(io(&dep_path))?;
    let builtin = fs::read_to_string(src.modules_dir.join("modules.builtin")).unwrap_or_default();
    let files = module_closure(&dep_text, &builtin, modules, &dep_path)?;

    let staging = tempfile::tempdir().map_err(io(std::env::temp_dir()))?;
    let mdir = staging.path().join("lib/modules").join(&src.version);
    // Created first: an empty module set still gets the kernel's module metadata.
    fs::create_dir_all(&mdir).map_err(io(&mdir))?;
    for f in &files {
        let to = mdir.join(f);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::copy(src.modules_dir.join(f), &to).map_err(io(src.modules_dir.join(f)))?;
    }
    for meta in ["modules.builtin", "modules.builtin.modinfo"] {
        let from = src.modules_dir.join(meta);
        if from.is_file() {
            fs::copy(&from, mdir.join(meta)).map_err(io(&from))?;
        }
    }
    let order = fs::read_to_string(src.modules_dir.join("modules.order")).unwrap_or_default();
    let order: String = order
        .lines()
        .filter(|l| files.contains(*l))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(mdir.join("modules.order"), order).map_err(io(mdir.join("modules.order")))?;

    let tool = depmod();
    let output = Command::new(&tool)
        .arg("-b")
        .arg(staging.path())
        .arg(&src.version)
        .output()
        .map_err(|e| LocalError::Tool {
            command: format!(
                "{} -b {} {}",
                tool.display(),
                staging.path().display(),
                src.version
            ),
            message: format!("{e} (install Debian package kmod)"),
        })?;
    if !output.status.success() {
        return Err(LocalError::Tool {
            command: format!(
                "{} -b {} {}",
                tool.display(),
                staging.path().display(),
                src.version
            ),
            message: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }

    let mut layer = Layer::new();
    if let Some(dtb) = dtb {
        layer.dir("boot", 0o755)?;
        layer.dir("boot/dtb", 0o755)?;
        add_tree(&mut layer, dtb, "boot/dtb")?;
    }
    layer.dir("lib", 0o755)?;
    add_tree(&mut layer, &staging.path().join("lib"), "lib")?;
    let tmp = out.with_extension("tar.partial");
    let f = fs::File::create(&tmp).map_err(io(&tmp))?;
    let f = layer.write_tar(f)?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, out).map_err(io(out))?;
    Ok(files)
}

/// Writes a kernel image named `reference` into the layout at `dir`: `kernel` = the
/// bzImage, `kernel.tar` = the module subset (see [`write_kernel_tar`]).
pub fn write_kernel_image(
    dir: &Path,
    reference: &str,
    src: &KernelSource,
    modules: &[&str],
) -> Result<WrittenImage, LocalError> {
    let scratch = tempfile::tempdir().map_err(io(std::env::temp_dir()))?;
    let ktar = scratch.path().join("kernel.tar");
    write_kernel_tar(src, modules, &ktar)?;
    let mut layer = Layer::new();
    layer.file("kernel", 0o644, &src.bzimage)?;
    layer.file("kernel.tar", 0o644, &ktar)?;
    write_image(
        dir,
        reference,
        &Platform::linux("amd64"),
        &ImageConfig::default(),
        &layer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/fs/overlayfs/overlay.ko:\n\
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n\
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n\
kernel/net/core/failover.ko:\n\
kernel/fs/unused.ko:\n";

    #[test]
    fn kernel_releases_compare_as_versions() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("6.1.0-10-amd64", "6.1.0-9-amd64"), Greater);
        assert_eq!(compare_versions("6.1.0-56-amd64", "6.1.0-57-amd64"), Less);
        assert_eq!(
            compare_versions("6.10.0-1-amd64", "6.9.12-1-amd64"),
            Greater
        );
        assert_eq!(compare_versions("6.1.0-9-amd64", "6.1.0-9-amd64"), Equal);
        let mut v = [
            "6.1.0-10-amd64",
            "6.1.0-9-amd64",
            "5.10.0-30-amd64",
            "6.1.0-10-rt-amd64",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v.last(), Some(&"6.1.0-10-rt-amd64"));
        assert_eq!(v[0], "5.10.0-30-amd64");
    }

    #[test]
    fn closure_takes_dependencies_and_skips_builtins() {
        let got = module_closure(
            DEP,
            "kernel/fs/ext4/ext4.ko\n",
            &["virtio-net", "ext4"],
            Path::new("x"),
        )
        .unwrap();
        let got: Vec<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(
            got,
            [
                "kernel/drivers/net/net_failover.ko",
                "kernel/drivers/net/virtio_net.ko",
                "kernel/net/core/failover.ko"
            ]
        );
        let err = module_closure(DEP, "", &["nosuch"], Path::new("/m/modules.dep")).unwrap_err();
        assert!(err.to_string().contains("nosuch"), "{err}");
    }

    #[test]
    fn an_empty_module_set_gives_a_kernel_tar_with_metadata() {
        let d = tempfile::tempdir().unwrap();
        let modules_dir = d.path().join("lib/modules/6.0.0-test");
        fs::create_dir_all(&modules_dir).unwrap();
        fs::write(modules_dir.join("modules.dep"), "").unwrap();
        fs::write(
            modules_dir.join("modules.builtin"),
            "kernel/fs/ext4/ext4.ko\n",
        )
        .unwrap();
        let src = KernelSource {
            bzimage: d.path().join("vmlinuz"),
            modules_dir,
            version: "6.0.0-test".into(),
        };
        let out = d.path().join("kernel.tar");
        let files = write_kernel_tar(&src, &[], &out).unwrap();
        assert!(files.is_empty());
        let mut names = Vec::new();
        for e in tar::Archive::new(fs::File::open(&out).unwrap())
            .entries()
            .unwrap()
        {
            names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        assert!(
            names.contains(&"lib/modules/6.0.0-test/modules.builtin".to_string()),
            "{names:?}"
        );
    }
}
