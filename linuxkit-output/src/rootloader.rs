//! The root loader: a small initramfs for the formats whose root file system is a block device
//! (`kernel+squashfs`, `kernel+iso`, `iso-bios`, `iso-efi`) when the image's kernel has the
//! drivers for that device as modules.
//!
//! Upstream's LinuxKit kernels build the disk, CD-ROM, squashfs and ISO 9660 drivers in, so
//! `root=/dev/sda` or `root=/dev/sr0` is all they need. A modular kernel (Debian's, as
//! `kernel:host` packs it) cannot mount such a root by itself: no user space loads the modules.
//! When the root file system holds `lib/modules/<release>/modules.dep` and a driver the format
//! needs is a module there rather than built in (`modules.builtin`), the format gets this loader:
//! a gzip'd newc cpio holding a static busybox of the image's architecture (Debian
//! `busybox-static`: this machine's, or the package file of another architecture), the needed
//! modules (with their dependencies, taken from the image itself) and an `/init` script that
//! loads them, mounts `root=` read-only, puts a tmpfs overlay on top (LinuxKit's init expects
//! a writable root) and `switch_root`s into the image's `/init`. Kernels without a module
//! database are taken to have the drivers built in: no loader, as upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use linuxkit_bundle::modules::{module_name, ModuleDeps};

use crate::bootfiles::BootFile;
use crate::cpio::{Header, Kind as CpioKind, NewcWriter};
use crate::tree::{Kind, Tree};
use crate::{Format, OutputError};

/// A statically linked busybox (Debian `busybox-static`).
pub(crate) const BUSYBOX: BootFile = BootFile {
    paths: &["/bin/busybox", "/usr/bin/busybox"],
    package: "busybox-static",
};

/// What the root is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RootDevice {
    /// A squashfs on a hard disk (`root=/dev/sda`).
    Disk,
    /// An EROFS image on a hard disk (`root=/dev/sda`).
    ErofsDisk,
    /// An ISO 9660 CD-ROM (`root=/dev/sr0`).
    Cdrom,
}

impl RootDevice {
    /// Modules the root needs: file system, disk driver, the controller QEMU gives the disk on
    /// this architecture (AHCI on a PC; virtio-scsi on arm64's `virt`, where `cargo linuxkit
    /// run` attaches disks as SCSI so the names stay `sda`/`sr0`), the overlay.
    fn required(self, arch: &str) -> Vec<&'static str> {
        let (fs, disk) = match self {
            RootDevice::Disk => ("squashfs", "sd_mod"),
            RootDevice::ErofsDisk => ("erofs", "sd_mod"),
            RootDevice::Cdrom => ("isofs", "sr_mod"),
        };
        let controller: &[&'static str] = match arch {
            "amd64" | "x86_64" | "386" => &["ahci"],
            _ => &["virtio_pci", "virtio_scsi"],
        };
        let mut v = vec![fs, disk];
        v.extend_from_slice(controller);
        v.push("overlay");
        v
    }
}

/// Soft pre-dependencies (`softdep pre:` in a module's `.modinfo`, which `modules.dep` does not
/// list): `libcrc32c` (EROFS, ext4) needs a `crc32c` implementation loaded first.
const SOFT_PRE: [(&str, &[&str]); 1] = [(
    "libcrc32c",
    &["crc32c_intel", "crc32c_arm64", "crc32c_generic"],
)];

/// Controllers other machines use, loaded when the image has them.
const OPTIONAL: [&str; 3] = ["ata_piix", "virtio_blk", "virtio_scsi"];

/// The soft pre-dependencies of module `m` ([`SOFT_PRE`]).
fn soft_pre(m: &str) -> &'static [&'static str] {
    SOFT_PRE
        .iter()
        .find(|(name, _)| *name == m)
        .map_or(&[], |(_, pre)| pre)
}

fn file_text(tree: &Tree, path: &str) -> Option<String> {
    match &tree.nodes.get(path.as_bytes())?.kind {
        Kind::File { offset, len } => {
            let mut s = String::new();
            tree.reader(*offset, *len).read_to_string(&mut s).ok()?;
            Some(s)
        }
        _ => None,
    }
}

/// The loader initramfs (gzip'd newc cpio) for `format`, or `None` when the kernel needs none.
///
/// With `verity` (the static `linuxkit-verity` binary) there always is one: it holds that
/// binary too, loads `dm_verity` when it is a module, and opens the root through dm-verity
/// when the kernel command line carries `linuxkit.verity=`.
pub(crate) fn loader(
    tree: &Tree,
    format: Format,
    device: RootDevice,
    verity: Option<&[u8]>,
    arch: &str,
) -> Result<Option<Vec<u8>>, OutputError> {
    let Some((release, order)) = select_modules(tree, format, device, verity.is_some(), arch)?
    else {
        return Ok(None);
    };
    let busybox = static_busybox(format, arch)?;
    let script = init_script(&release, &order, verity.is_some());
    let base = format!("lib/modules/{release}");
    let files = loader_files(tree, format, &base, &order, &busybox, verity, &script)?;
    write_cpio(format, files).map(Some)
}

/// The newest release in `tree` with a module database (an image normally has one).
fn module_release(tree: &Tree) -> Option<String> {
    tree.nodes
        .keys()
        .filter_map(|p| {
            let p = std::str::from_utf8(p).ok()?;
            let rest = p.strip_prefix("lib/modules/")?;
            rest.strip_suffix("/modules.dep")
                .filter(|r| !r.contains('/'))
                .map(str::to_string)
        })
        .next_back()
}

/// The kernel release (empty without a module database) and the paths, under
/// `lib/modules/<release>`, of the modules the loader loads, in order; `None` when the kernel
/// needs no loader.
fn select_modules(
    tree: &Tree,
    format: Format,
    device: RootDevice,
    verity: bool,
    arch: &str,
) -> Result<Option<(String, Vec<String>)>, OutputError> {
    let Some(release) = module_release(tree).or_else(|| verity.then(String::new)) else {
        return Ok(None);
    };
    let base = format!("lib/modules/{release}");
    let dep = file_text(tree, &format!("{base}/modules.dep")).unwrap_or_default();
    let builtin: BTreeSet<String> = file_text(tree, &format!("{base}/modules.builtin"))
        .unwrap_or_default()
        .lines()
        .map(module_name)
        .collect();
    let modules = ModuleDeps::parse(&dep);
    // Without a module database the drivers are taken to be built in.
    let has_modules = !release.is_empty();
    let needed: Vec<&str> = device
        .required(arch)
        .into_iter()
        .chain(verity.then_some("dm_verity"))
        .filter(|m| has_modules && !builtin.contains(*m))
        .collect();
    if needed.is_empty() && !verity {
        return Ok(None);
    }
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|m| !modules.contains(m))
        .collect();
    if !missing.is_empty() {
        return Err(OutputError::Image {
            format: format.name().into(),
            message: format!(
                "the kernel ({release}) has {} as modules that the image does not hold, and \
                 the root file system of this format cannot be mounted without them: add them \
                 to the kernel image (with `kernel:host`, append `,{}` to `modules=`)",
                missing.join(", "),
                missing.join(",")
            ),
        });
    }
    // Dependencies first, each once.
    let optional = OPTIONAL
        .iter()
        .copied()
        .filter(|m| has_modules && !builtin.contains(*m));
    let load = modules.load_order(needed.iter().copied().chain(optional), &soft_pre);
    check_soft_pre(format, &release, &load, &modules, &builtin)?;
    let order: Vec<String> = load
        .iter()
        .filter_map(|m| modules.get(m).map(|m| m.path.clone()))
        .collect();
    Ok(Some((release, order)))
}

/// Fails when a module in `load` has soft pre-dependencies ([`SOFT_PRE`]) none of which the
/// kernel has.
fn check_soft_pre(
    format: Format,
    release: &str,
    load: &[String],
    modules: &ModuleDeps,
    builtin: &BTreeSet<String>,
) -> Result<(), OutputError> {
    for (m, pre) in SOFT_PRE {
        if load.iter().any(|l| l == m)
            && !pre
                .iter()
                .any(|p| modules.contains(p) || builtin.contains(*p))
        {
            return Err(OutputError::Image {
                format: format.name().into(),
                message: format!(
                    "the kernel ({release}) needs a crc32c implementation for {m}, and the image \
                     has none: add crc32c_generic to the kernel image (with `kernel:host` or \
                     `kernel:debian`, append `,crc32c_generic` to `modules=`)"
                ),
            });
        }
    }
    Ok(())
}

/// The static busybox for `arch`; a dynamically linked one is an error.
fn static_busybox(format: Format, arch: &str) -> Result<Vec<u8>, OutputError> {
    let busybox = crate::bootfiles::busybox(format, arch)?;
    if !is_static_elf(&busybox) {
        return Err(OutputError::MissingBootFile {
            path: BUSYBOX.find(format)?,
            package: format!("{} (this busybox is dynamically linked)", BUSYBOX.package),
            format: format.name().into(),
        });
    }
    Ok(busybox)
}

/// One file of the loader: its kind, permissions, contents and size.
type LoaderFile = (CpioKind, u64, Box<dyn Read>, u64);

/// The loader's files by path: its directories, busybox, `linuxkit-verity` (with `verity`),
/// `/init` and the modules `order` (paths under `base`) read from `tree`.
fn loader_files(
    tree: &Tree,
    format: Format,
    base: &str,
    order: &[String],
    busybox: &[u8],
    verity: Option<&[u8]>,
    script: &str,
) -> Result<BTreeMap<String, LoaderFile>, OutputError> {
    // Every directory the files need, parents first.
    let mut dirs: BTreeSet<String> = ["bin", "dev", "lower", "proc", "root", "sys", "upper"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for p in order {
        let mut d = format!("{base}/{p}");
        while let Some((parent, _)) = d.rsplit_once('/') {
            dirs.insert(parent.to_string());
            d = parent.to_string();
        }
    }
    let mut files: BTreeMap<String, LoaderFile> = BTreeMap::new();
    for d in dirs {
        files.insert(d, (CpioKind::Directory, 0o755, Box::new(io::empty()), 0));
    }
    let executable = |data: &[u8]| -> LoaderFile {
        (
            CpioKind::Regular,
            0o755,
            Box::new(io::Cursor::new(data.to_vec())),
            data.len() as u64,
        )
    };
    files.insert("bin/busybox".into(), executable(busybox));
    if let Some(helper) = verity {
        files.insert("bin/linuxkit-verity".into(), executable(helper));
    }
    files.insert("init".into(), executable(script.as_bytes()));
    for p in order {
        let path = format!("{base}/{p}");
        let Some(Kind::File { offset, len }) = tree.nodes.get(path.as_bytes()).map(|n| &n.kind)
        else {
            return Err(OutputError::Image {
                format: format.name().into(),
                message: format!("{path} is in modules.dep but not a file in the image"),
            });
        };
        files.insert(
            path,
            (
                CpioKind::Regular,
                0o644,
                Box::new(tree.reader(*offset, *len)),
                *len,
            ),
        );
    }
    Ok(files)
}

/// The gzip'd newc cpio of `files`, with `dev/console` after `dev`.
fn write_cpio(format: Format, files: BTreeMap<String, LoaderFile>) -> Result<Vec<u8>, OutputError> {
    let werr = |e: io::Error| OutputError::Image {
        format: format.name().into(),
        message: format!("writing the root loader: {e}"),
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    let mut cpio = NewcWriter::new();
    for (name, (kind, perm, mut data, size)) in files {
        let hdr = Header {
            name: name.as_bytes(),
            kind,
            perm,
            uid: 0,
            gid: 0,
            mtime: crate::DEFAULT_MTIME,
            size,
            rdev: (0, 0),
        };
        cpio.entry(&mut gz, &hdr, &mut data).map_err(werr)?;
        if name == "dev" {
            // The kernel opens /dev/console for /init before anything is mounted.
            let console = Header {
                name: b"dev/console",
                kind: CpioKind::Char,
                perm: 0o600,
                uid: 0,
                gid: 0,
                mtime: crate::DEFAULT_MTIME,
                size: 0,
                rdev: (5, 1),
            };
            cpio.entry(&mut gz, &console, &mut io::empty())
                .map_err(werr)?;
        }
    }
    cpio.finish(&mut gz).map_err(werr)?;
    let mut out = gz.finish().map_err(werr)?;
    out.flush().map_err(werr)?;
    Ok(out)
}

/// The loader's `/init`: load `modules` (paths under `/lib/modules/<release>`, in order), wait
/// for `root=` (with `verity`, open it through `linuxkit-verity` when the command line asks),
/// mount it read-only under a tmpfs overlay and switch to the image's `/init`.
fn init_script(release: &str, modules: &[String], verity: bool) -> String {
    let list = modules.join(" ");
    let open_root = if verity {
        r#"case " $($bb cat /proc/cmdline) " in
  *" linuxkit.verity="*)
    # Waits for the device, sets up dm-verity, reads every block once; prints the verified device.
    root=$(/bin/linuxkit-verity) || fail "the root file system failed dm-verity verification: not booting it"
    ;;
esac
"#
    } else {
        ""
    };
    format!(
        r#"#!/bin/busybox sh
# cargo-linuxkit root loader: loads the root device's kernel modules, mounts root= read-only
# under a tmpfs overlay and starts the image's /init there.
bb=/bin/busybox
fail() {{ echo "linuxkit root loader: $*"; exit 1; }}
$bb mount -t devtmpfs devtmpfs /dev
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
for m in {list}; do
  $bb insmod /lib/modules/{release}/$m || fail "cannot load $m"
done
root=
for a in $($bb cat /proc/cmdline); do
  case "$a" in root=*) root="${{a#root=}}" ;; esac
done
[ -n "$root" ] || fail "no root= on the kernel command line"
{open_root}n=0
while [ ! -b "$root" ]; do
  n=$((n + 1))
  [ $n -le 300 ] || fail "$root did not appear in 30 s"
  $bb sleep 0.1
done
$bb mount -o ro "$root" /lower || fail "cannot mount $root"
$bb mount -t tmpfs -o mode=0755 tmpfs /upper
$bb mkdir -p /upper/data /upper/work
$bb mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /root \
  || fail "cannot put a tmpfs overlay on $root"
$bb umount /proc
$bb umount /sys
$bb umount -l /dev
exec $bb switch_root /root /init
"#
    )
}

/// Whether `elf` is an ELF executable without a program interpreter (statically linked).
fn is_static_elf(elf: &[u8]) -> bool {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let mut phoff = [0u8; 8];
    phoff.copy_from_slice(&elf[0x20..0x28]);
    let phoff = u64::from_le_bytes(phoff) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).all(|i| {
        let o = phoff + i * size;
        // PT_INTERP = 3.
        elf.get(o..o + 4) != Some(&3u32.to_le_bytes()[..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_elf_detection() {
        if let Ok(b) = std::fs::read("/bin/sh") {
            // Debian's dash is dynamically linked.
            assert!(!is_static_elf(&b));
        }
        assert!(!is_static_elf(b"#!/bin/sh\n"));
    }

    #[test]
    fn script_loads_modules_in_order() {
        let s = init_script("6.1.0", &["a.ko".into(), "b.ko".into()], false);
        assert!(!s.contains("linuxkit-verity"));
        let v = init_script("6.1.0", &[], true);
        assert!(v.contains("root=$(/bin/linuxkit-verity)"), "{v}");
        assert!(s.contains("for m in a.ko b.ko; do"));
        assert!(s.contains("/lib/modules/6.1.0/$m"));
        assert!(s.starts_with("#!/bin/busybox sh\n"));
    }
}
