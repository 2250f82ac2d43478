//! arm64, end to end, on this amd64 machine: a LinuxKit YAML system made only from Debian's
//! arm64 packages (`kernel:debian?arch=arm64`, an init of busybox-static:arm64 and
//! runc:arm64, services running an arm64 busybox) is built with `cargo linuxkit build --arch
//! arm64` in every format arm64 has, twice (the bytes must be the same), and booted with
//! `cargo linuxkit run` under `qemu-system-aarch64` (virt, Cortex-A57, TCG) in kernel+initrd,
//! raw-efi (UKI as `BOOTAA64.EFI` under AAVMF) and kernel+erofs (the root loader mounts the
//! EROFS root): the onboot and service containers print their markers through runc, and the
//! guest powers off. The rpi3 tarball is compared with upstream's layout, and BIOS formats
//! must refuse arm64.
//!
//! The init is a test fixture, not a product: `/init` is a busybox script that moves the
//! initramfs to a tmpfs (runc cannot pivot_root from the initramfs), mounts the kernel file
//! systems, runs each `/containers/onboot` bundle with `runc run`, starts the services and
//! waits for them, then powers off.
//!
//! Needs qemu-system-arm, qemu-efi-aarch64 and the Debian arm64 package files of
//! `scripts/debian-packages` (in `target/debian-packages`, or `LINUXKIT_DEBIAN_PACKAGES`).

mod cli_support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use cli_support::{bin, workspace_root};

const ONBOOT: &str = "ARM64-ONBOOT-MARKER";
const SERVICE: &str = "ARM64-SERVICE-MARKER";

/// The Debian package directory.
fn packages() -> PathBuf {
    std::env::var_os(linuxkit_debian::PACKAGES_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debian-packages"))
}

fn deb(name: &str, arch: &str) -> PathBuf {
    linuxkit_debian::find_in(&[packages()], name, arch, false)
        .unwrap_or_else(|e| panic!("{e}"))
        .path
}

fn prerequisites() -> bool {
    let have_debs = [
        "busybox-static",
        "runc",
        "libc6",
        "libseccomp2",
        "systemd-boot-efi",
    ]
    .iter()
    .all(|p| linuxkit_debian::find_in(&[packages()], p, "arm64", false).is_ok());
    linuxkit_testing::prerequisite(
        linuxkit_testing::on_path("qemu-system-aarch64").is_some(),
        "qemu-system-aarch64",
        "apt-get install qemu-system-arm",
    ) && linuxkit_testing::prerequisite(
        Path::new("/usr/share/AAVMF/AAVMF_CODE.fd").is_file(),
        "AAVMF",
        "apt-get install qemu-efi-aarch64",
    ) && linuxkit_testing::prerequisite(
        have_debs,
        "the Debian arm64 package files",
        "scripts/debian-packages",
    )
}

/// Writes `files` (path, mode, bytes) under `dir`.
fn write_tree(dir: &Path, files: &[(&str, u32, Vec<u8>)]) {
    use std::os::unix::fs::PermissionsExt;
    for (path, mode, data) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
}

/// The fixture init: runs the LinuxKit bundles with runc, then powers off.
const INIT: &str = r#"#!/bin/busybox sh
export PATH=/bin:/usr/bin:/usr/sbin
bb=/bin/busybox
# runc cannot pivot_root out of the initramfs: move it to a tmpfs first (ramfs/tmpfs roots).
case "$($bb stat -f -c %t /)" in
  858458f6|1021994)
    if [ "$1" != moved ]; then
      $bb mkdir -p /proc /new
      $bb mount -t proc proc /proc
      $bb mount -t tmpfs -o mode=0755 tmpfs /new
      for f in /*; do
        case "$f" in /proc|/new|/dev|/sys) ;; *) $bb cp -a "$f" /new/ ;; esac
      done
      $bb mkdir -p /new/proc /new/dev /new/sys
      $bb umount /proc
      exec $bb switch_root /new /init moved
    fi ;;
esac
$bb mkdir -p /proc /sys /dev /run /tmp
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
$bb mount -t cgroup2 cgroup2 /sys/fs/cgroup
$bb mount -t tmpfs tmpfs /run
echo "arm64 fixture init: $($bb uname -m), running bundles with runc"
# runtime.json's bind mounts (a container sharing another's root file system).
bind() {
  [ -f "$1/runtime.json" ] || return 0
  $bb sed -n 's/.*"source": "\(.*\)",*$/\1/p' "$1/runtime.json" | while read -r src; do
    $bb mount --bind "$src" "$1/rootfs"
  done
}
for b in /containers/onboot/*; do
  [ -d "$b" ] || continue
  bind "$b"
  runc run --bundle "$b" "onboot-${b##*/}" </dev/null || echo "onboot ${b##*/} failed: $?"
done
for b in /containers/services/*; do
  [ -d "$b" ] || continue
  bind "$b"
  runc run --bundle "$b" "svc-${b##*/}" </dev/null &
done
wait
echo "arm64 fixture init: powering off"
$bb poweroff -f
"#;

/// The fixture init and the service image, as directories built from the .deb files.
fn write_fixture(dir: &Path) -> PathBuf {
    let busybox = linuxkit_debian::Deb::open(deb("busybox-static", "arm64"))
        .read_files(&["bin/busybox"])
        .unwrap()
        .remove(0);
    let runc = linuxkit_debian::Deb::open(deb("runc", "arm64"))
        .read_files(&["usr/sbin/runc"])
        .unwrap()
        .remove(0);
    let libc = linuxkit_debian::Deb::open(deb("libc6", "arm64"))
        .read_files(&[
            "lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
            "lib/aarch64-linux-gnu/libc.so.6",
        ])
        .unwrap();
    let seccomp = linuxkit_debian::Deb::open(deb("libseccomp2", "arm64"))
        .read_files(&["usr/lib/aarch64-linux-gnu/libseccomp.so.2"])
        .unwrap()
        .remove(0);
    let init = dir.join("init");
    write_tree(
        &init,
        &[
            ("init", 0o755, INIT.as_bytes().to_vec()),
            ("bin/busybox", 0o755, busybox.clone()),
            ("usr/sbin/runc", 0o755, runc),
            ("lib/ld-linux-aarch64.so.1", 0o755, libc[0].clone()),
            ("lib/aarch64-linux-gnu/libc.so.6", 0o755, libc[1].clone()),
            ("usr/lib/aarch64-linux-gnu/libseccomp.so.2", 0o644, seccomp),
        ],
    );
    let svc = dir.join("svc");
    write_tree(&svc, &[("bin/busybox", 0o755, busybox)]);
    for d in ["proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(svc.join(d)).unwrap();
    }
    let yaml = format!(
        r#"kernel:
  image: kernel:debian?arch=arm64&modules=erofs,crc32c_generic,sd_mod,sr_mod,isofs,squashfs,virtio_pci,virtio_scsi,overlay&dtbs=broadcom
  cmdline: "console=ttyAMA0 panic=-1"
init:
  - dir:{init}
onboot:
  - name: hello
    image: dir:{svc}
    readonly: true
    command: ["/bin/busybox", "sh", "-c", "echo {ONBOOT} $(/bin/busybox uname -m)"]
services:
  - name: marker
    image: dir:{svc}
    readonly: true
    command: ["/bin/busybox", "sh", "-c", "echo {SERVICE} $(/bin/busybox uname -m) $(/bin/busybox cat /proc/cmdline)"]
"#,
        init = init.display(),
        svc = svc.display()
    );
    let path = dir.join("a64.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Build directories and their formats: formats that share a file name or a boot prefix go to
/// separate directories.
const BUILDS: [(&str, &str); 6] = [
    (
        "a",
        "kernel+initrd,raw-efi,qcow2-efi,iso-efi,iso-efi-initrd,tar-kernel-initrd",
    ),
    ("b", "kernel+erofs"),
    ("c", "kernel+squashfs"),
    ("d", "kernel+iso"),
    ("e", "rpi3"),
    ("f", "tar"),
];

fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("linuxkit")
        .args(args)
        .current_dir(workspace_root())
        .env(linuxkit_debian::PACKAGES_ENV, packages())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cargo-linuxkit in {}: {e}", dir.display()))
}

struct Fixture {
    dir: PathBuf,
    differ: Vec<String>,
    compared: usize,
}

/// Every arm64 format built twice (None: skipped).
fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        if !prerequisites() {
            return None;
        }
        let dir = workspace_root().join("target/boot-arm64");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = write_fixture(&dir);
        let t = Instant::now();
        for (sub, formats) in BUILDS {
            for suffix in ["", "-again"] {
                let out = dir.join(format!("{sub}{suffix}"));
                let o = cli(
                    &dir,
                    &[
                        "build",
                        "--offline",
                        "--arch",
                        "arm64",
                        "--dir",
                        &out.display().to_string(),
                        "--format",
                        formats,
                        &yaml.display().to_string(),
                    ],
                );
                assert!(
                    o.status.success(),
                    "build {formats}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        eprintln!(
            "built every arm64 format twice in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        let mut differ = Vec::new();
        let mut compared = 0;
        for (sub, _) in BUILDS {
            let mut names: Vec<String> = std::fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            for n in names {
                compared += 1;
                let a = std::fs::read(dir.join(sub).join(&n)).unwrap();
                let b =
                    std::fs::read(dir.join(format!("{sub}-again")).join(&n)).unwrap_or_default();
                if a != b {
                    differ.push(format!("{sub}/{n}"));
                }
            }
        }
        Some(Fixture {
            dir,
            differ,
            compared,
        })
    })
    .as_ref()
}

#[test]
fn every_arm64_format_builds_reproducibly() {
    let Some(f) = fixture() else { return };
    assert!(
        f.differ.is_empty(),
        "differ between two builds: {:?}",
        f.differ
    );
    assert!(f.compared >= 14, "compared only {} files", f.compared);
    // The UKI boots as BOOTAA64.EFI and is an arm64 PE image.
    let disk = std::fs::read(f.dir.join("a/a64-efi.img")).unwrap();
    assert!(disk.windows(11).any(|w| w == b"BOOTAA64EFI"));
    assert!(!disk.windows(11).any(|w| w == b"BOOTX64 EFI"));
}

/// Boots `path` with `cargo linuxkit run`; returns the console and the seconds to the service
/// marker.
fn boot(path: &Path, what: &str) -> f64 {
    let start = Instant::now();
    let mut child = Command::new(bin())
        .args(["linuxkit", "run", "--mem", "1024", "--networking", "none"])
        .args(["--timeout", "600"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo-linuxkit run starts");
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut console = Vec::new();
    let mut marker_at = None;
    for line in BufReader::new(child.stdout.take().unwrap()).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if marker_at.is_none() && line.contains(SERVICE) {
            marker_at = Some(start.elapsed().as_secs_f64());
        }
        console.push(line);
    }
    let status = child.wait().unwrap();
    let err = err.join().unwrap_or_default();
    let text = console.join("\n");
    let tail = console[console.len().saturating_sub(40)..].join("\n");
    let onboot = console.iter().find(|l| l.contains(ONBOOT));
    let service = console.iter().find(|l| l.contains(SERVICE));
    assert!(
        onboot.is_some_and(|l| l.contains("aarch64")),
        "{what}: no onboot marker from an aarch64 guest\n{tail}\n{err}"
    );
    assert!(
        service.is_some_and(|l| l.contains("aarch64")),
        "{what}: no service marker\n{tail}\n{err}"
    );
    assert!(
        text.find(ONBOOT) < text.find(SERVICE),
        "{what}: onboot runs before the services"
    );
    assert_eq!(status.code(), Some(0), "{what}: {err}\n{tail}");
    assert!(err.contains("guest powered off"), "{what}: {err}");
    assert!(
        err.contains(", arm64, tcg"),
        "{what} is booted as arm64: {err}"
    );
    marker_at.unwrap_or_default()
}

#[test]
fn arm64_boots_kernel_initrd_raw_efi_and_kernel_erofs() {
    let Some(f) = fixture() else { return };
    for (path, what, root) in [
        ("a/a64", "kernel+initrd", None),
        ("a/a64-efi.img", "raw-efi", None),
        ("b/a64", "kernel+erofs", Some("root=/dev/sda")),
    ] {
        let t = boot(&f.dir.join(path), what);
        if let Some(r) = root {
            let cmdline = std::fs::read_to_string(f.dir.join("b/a64-cmdline")).unwrap();
            assert!(!cmdline.contains(r), "the run adds {r}");
        }
        eprintln!("ARM64 {what:<14} service marker after {t:>6.1}s");
    }
}

#[test]
fn rpi3_has_upstreams_layout() {
    let Some(f) = fixture() else { return };
    let tar = f.dir.join("e/a64.tar");
    let mut names = Vec::new();
    let mut files = std::collections::BTreeMap::new();
    for e in tar::Archive::new(std::fs::File::open(&tar).unwrap())
        .entries()
        .unwrap()
    {
        let mut e = e.unwrap();
        let n = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        names.push(n.clone());
        files.insert(n, data);
    }
    // Upstream's /boot: firmware, U-Boot, config, script, uImages, device trees, the log.
    for want in [
        "./",
        "./LICENCE.broadcom",
        "./bootcode.bin",
        "./fixup.dat",
        "./fixup_cd.dat",
        "./fixup_x.dat",
        "./start.elf",
        "./start_cd.elf",
        "./start_x.elf",
        "./u-boot.bin",
        "./config.txt",
        "./boot.script",
        "./boot.scr",
        "./kernel.uimg",
        "./initrd.uimg",
        "./uboot.log",
        "./dtb/",
        "./dtb/broadcom/",
        "./dtb/broadcom/bcm2837-rpi-3-b.dtb",
        "./dtb/broadcom/bcm2837-rpi-3-b-plus.dtb",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    assert!(
        names.iter().all(|n| !n.contains("bcm2711")),
        "only the Pi 3 device trees: {names:?}"
    );
    // config.txt and boot.script are upstream's (tools/mkimage-rpi3).
    let upstream = Path::new("/work/.mirror/linuxkit+linuxkit/repo");
    let text = |n: &str| String::from_utf8(files[n].clone()).unwrap();
    assert!(text("./config.txt").contains("arm_control=0x200\nenable_uart=1\nkernel=u-boot.bin\n"));
    assert!(text("./boot.script").contains("bootm ${loadaddr} ${ramdisk_addr_r} ${fdt_addr_r}"));
    if upstream.is_dir() {
        for (ours, theirs) in [
            ("./config.txt", "tools/mkimage-rpi3/config.txt"),
            ("./boot.script", "tools/mkimage-rpi3/boot.script"),
        ] {
            let o = Command::new("git")
                .arg("-C")
                .arg(upstream)
                .args(["show", &format!("HEAD:{theirs}")])
                .output()
                .unwrap();
            if o.status.success() {
                assert_eq!(text(ours).as_bytes(), o.stdout.as_slice(), "{ours}");
            }
        }
    }
    // The uImages are what U-Boot's mkimage writes: its own listing reads them, and for the
    // script the bytes are identical.
    if linuxkit_testing::prerequisite(
        linuxkit_testing::on_path("mkimage").is_some(),
        "mkimage",
        "apt-get install u-boot-tools",
    ) {
        let scratch = f.dir.join("rpi3-check");
        std::fs::create_dir_all(&scratch).unwrap();
        for (n, kind) in [
            (
                "./kernel.uimg",
                "AArch64 Linux Kernel Image (gzip compressed)",
            ),
            (
                "./initrd.uimg",
                "AArch64 Linux RAMDisk Image (uncompressed)",
            ),
            ("./boot.scr", "AArch64 Linux Script (uncompressed)"),
        ] {
            let p = scratch.join(n.trim_start_matches("./"));
            std::fs::write(&p, &files[n]).unwrap();
            let o = Command::new("mkimage").arg("-l").arg(&p).output().unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(o.status.success() && out.contains(kind), "{n}: {out}");
        }
        let script = scratch.join("boot.script");
        std::fs::write(&script, &files["./boot.script"]).unwrap();
        let theirs = scratch.join("theirs.scr");
        let o = Command::new("mkimage")
            .args(["-A", "arm64", "-O", "linux", "-T", "script", "-C", "none"])
            .args(["-a", "0x00000000", "-e", "0x00000000", "-n", "RPi3", "-d"])
            .arg(&script)
            .arg(&theirs)
            .env("SOURCE_DATE_EPOCH", "1492533000")
            .output()
            .unwrap();
        assert!(o.status.success());
        assert_eq!(std::fs::read(&theirs).unwrap(), files["./boot.scr"]);
    }
}

#[test]
fn bios_formats_refuse_arm64() {
    let Some(f) = fixture() else { return };
    let o = cli(
        &f.dir,
        &[
            "build",
            "--offline",
            "--arch",
            "arm64",
            "--dir",
            &f.dir.join("bios").display().to_string(),
            "--format",
            "raw-bios",
            &f.dir.join("a64.yml").display().to_string(),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("raw-bios") && err.contains("BIOS") && err.contains("arm64"),
        "{err}"
    );
    assert!(!f.dir.join("bios/a64-bios.img").exists());
}
