//! Structure and reproducibility of the image formats (ISO, EFI disks, qcow2), read back with
//! independent readers: the `gpt` and `fatfs` crates, `xorriso`, `qemu-img`.

mod common;

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{have, noise, write_tar, E};
use linuxkit_output::{write_outputs, Format, OutputOptions};

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

fn fixture() -> Vec<E> {
    vec![
        E::dir("boot"),
        E::file("boot/kernel", b"MZ-not-really-a-kernel"),
        E::file("boot/cmdline", b"console=ttyS0"),
        E::dir("bin"),
        E::file("bin/busybox", &noise(200_000, 5)).mode(0o755),
        E::symlink("bin/sh", "busybox"),
        E::dev("dev/console", tar::EntryType::Char, 5, 1),
        E::file("etc/hostname", b"linuxkit\n"),
    ]
}

fn build(dir: &Path, formats: &[Format]) -> Vec<PathBuf> {
    let tar = dir.join("rootfs.tar");
    write_tar(&tar, &fixture());
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    write_outputs(&tar, formats, &out, "lk", &OutputOptions::default()).unwrap()
}

/// Builds twice in different directories and at different times; returns the first set.
fn build_twice_identical(formats: &[Format]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let wa = build(a.path(), formats);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let wb = build(b.path(), formats);
    for (x, y) in wa.iter().zip(&wb) {
        let (bx, by) = (fs::read(x).unwrap(), fs::read(y).unwrap());
        let first = bx.iter().zip(&by).position(|(p, q)| p != q);
        assert!(
            bx == by,
            "{} is not reproducible (first difference at {first:?}, sizes {} {})",
            x.display(),
            bx.len(),
            by.len()
        );
    }
    (a, wa)
}

fn xorriso_ls(iso: &Path, dir: &str) -> String {
    let o = Command::new("xorriso")
        .args(["-indev"])
        .arg(iso)
        .args(["-lsl", dir])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn kernel_iso_holds_the_rootfs_with_rock_ridge() {
    let (_d, written) = build_twice_identical(&[Format::KernelIso]);
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["lk-kernel", "lk-cmdline", "lk.iso"]);
    let iso = &written[2];
    let data = fs::read(iso).unwrap();
    assert_eq!(&data[16 * 2048 + 1..16 * 2048 + 6], b"CD001");
    assert_eq!(
        &data[16 * 2048 + 40..16 * 2048 + 48],
        b"LinuxKit",
        "volume id"
    );
    assert_eq!(
        &data[16 * 2048 + 813..16 * 2048 + 827],
        b"20170418163000",
        "fixed creation date"
    );
    if !have("xorriso") {
        return eprintln!("xorriso not installed; skipping the listing check");
    }
    let bin = xorriso_ls(iso, "/bin");
    assert!(bin.contains("busybox"), "{bin}");
    assert!(bin.contains("-rwxr-xr-x"), "Rock Ridge modes: {bin}");
    assert!(
        bin.contains("'sh' -> 'busybox'"),
        "Rock Ridge symlink: {bin}"
    );
    let root = xorriso_ls(iso, "/");
    assert!(root.contains("boot"), "the boot directory stays: {root}");
    let boot = xorriso_ls(iso, "/boot");
    assert!(!boot.contains("kernel"), "boot/* is dropped: {boot}");
}

/// Reads the UKI's section names and the `.cmdline` contents.
fn uki_sections(uki: &[u8]) -> (Vec<String>, String) {
    let pe = u32::from_le_bytes(uki[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&uki[pe..pe + 4], b"PE\0\0");
    let n = u16::from_le_bytes(uki[pe + 6..pe + 8].try_into().unwrap()) as usize;
    let opt = u16::from_le_bytes(uki[pe + 20..pe + 22].try_into().unwrap()) as usize;
    let table = pe + 24 + opt;
    let mut names = Vec::new();
    let mut cmdline = String::new();
    for i in 0..n {
        let s = &uki[table + i * 40..table + i * 40 + 40];
        let name = String::from_utf8_lossy(&s[..8])
            .trim_end_matches('\0')
            .to_string();
        if name == ".cmdline" {
            let len = u32::from_le_bytes(s[8..12].try_into().unwrap()) as usize;
            let off = u32::from_le_bytes(s[20..24].try_into().unwrap()) as usize;
            cmdline = String::from_utf8_lossy(&uki[off..off + len]).into_owned();
        }
        names.push(name);
    }
    (names, cmdline)
}

#[test]
fn raw_efi_is_a_gpt_disk_with_a_uki_on_the_esp() {
    if !Path::new(STUB).exists() {
        return eprintln!("SKIPPED: {STUB} missing (apt-get install -y systemd-boot-efi)");
    }
    let (_d, written) = build_twice_identical(&[Format::RawEfi]);
    assert_eq!(written.len(), 1);
    let img = &written[0];
    assert!(img.ends_with("lk-efi.img"));
    let len = fs::metadata(img).unwrap().len();
    assert_eq!(len % (1 << 20), 0, "MiB-aligned disk");

    let disk = gpt::GptConfig::new().writable(false).open(img).unwrap();
    let parts: Vec<_> = disk
        .partitions()
        .values()
        .filter(|p| p.is_used())
        .cloned()
        .collect();
    assert_eq!(parts.len(), 1);
    let esp = &parts[0];
    assert_eq!(esp.part_type_guid, gpt::partition_types::EFI);
    assert_eq!(esp.first_lba, 2048);
    let esp_off = esp.first_lba * 512;
    let esp_len = (esp.last_lba - esp.first_lba + 1) * 512;
    assert!(esp_off + esp_len <= len);

    let mut f = fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(esp_off)).unwrap();
    let mut part = vec![0u8; esp_len as usize];
    f.read_exact(&mut part).unwrap();
    let fs = fatfs::FileSystem::new(std::io::Cursor::new(part), fatfs::FsOptions::new()).unwrap();
    let mut uki = Vec::new();
    fs.root_dir()
        .open_file("EFI/BOOT/BOOTX64.EFI")
        .unwrap()
        .read_to_end(&mut uki)
        .unwrap();
    assert_eq!(&uki[..2], b"MZ");
    let (names, cmdline) = uki_sections(&uki);
    for s in [".osrel", ".cmdline", ".initrd", ".linux"] {
        assert!(names.iter().any(|n| n == s), "{s} missing from {names:?}");
    }
    assert_eq!(
        names.last().map(String::as_str),
        Some(".linux"),
        ".linux comes last"
    );
    assert_eq!(cmdline, "console=ttyS0 text");
    assert!(
        uki.windows(22).any(|w| w == b"MZ-not-really-a-kernel"),
        "the kernel is embedded"
    );
}

#[test]
fn qcow2_efi_converts_the_raw_disk() {
    if !Path::new(STUB).exists() || !have("qemu-img") {
        return eprintln!("SKIPPED: needs systemd-boot-efi and qemu-utils");
    }
    let tmp = tempfile::tempdir().unwrap();
    let written = build(tmp.path(), &[Format::Qcow2Efi, Format::RawEfi]);
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["lk-efi.qcow2", "lk-efi.img"]);
    let o = Command::new("qemu-img")
        .args(["compare", "-f", "qcow2", "-F", "raw"])
        .args([&written[0], &written[1]])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "qcow2 and raw differ: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn iso_efi_has_an_el_torito_efi_image() {
    if !Path::new(STUB).exists() || !have("xorriso") {
        return eprintln!("SKIPPED: needs systemd-boot-efi and xorriso");
    }
    let (_d, written) = build_twice_identical(&[Format::IsoEfi, Format::IsoEfiInitrd]);
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["lk-efi.iso", "lk-efi-initrd.iso"]);
    for iso in &written {
        let o = Command::new("xorriso")
            .arg("-indev")
            .arg(iso)
            .args(["-report_el_torito", "plain"])
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&o.stdout);
        assert!(report.contains("UEFI"), "{}: {report}", iso.display());
    }
    // iso-efi also carries the root filesystem (root=/dev/sr0).
    assert!(xorriso_ls(&written[0], "/etc").contains("hostname"));
}

#[test]
fn missing_kernel_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("rootfs.tar");
    write_tar(&tar, &[E::file("etc/motd", b"hi")]);
    let err = write_outputs(
        &tar,
        &[Format::IsoBios],
        tmp.path(),
        "lk",
        &OutputOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs a kernel"), "{err}");
}

fn bios_ready() -> bool {
    let ok =
        have("syslinux") && have("qemu-img") && Path::new("/usr/lib/syslinux/mbr/mbr.bin").exists();
    if !ok {
        eprintln!("SKIPPED: needs syslinux, syslinux-common and qemu-utils");
    }
    ok
}

#[test]
fn raw_bios_is_an_mbr_disk_with_syslinux() {
    if !bios_ready() {
        return;
    }
    let (_d, written) = build_twice_identical(&[Format::RawBios]);
    let img = fs::read(&written[0]).unwrap();
    assert!(written[0].ends_with("lk-bios.img"));
    assert_eq!(&img[510..512], &[0x55, 0xaa]);
    let e = &img[446..462];
    assert_eq!(e[0], 0x80, "active partition");
    assert!(
        matches!(e[4], 0x01 | 0x0c | 0x0e),
        "FAT partition type {:#x}",
        e[4]
    );
    let start = u32::from_le_bytes(e[8..12].try_into().unwrap()) as usize * 512;
    let len = u32::from_le_bytes(e[12..16].try_into().unwrap()) as usize * 512;
    assert_eq!(start, 1 << 20);
    let part = img[start..start + len].to_vec();
    let fs = fatfs::FileSystem::new(std::io::Cursor::new(part), fatfs::FsOptions::new()).unwrap();
    let mut names: Vec<String> = fs
        .root_dir()
        .iter()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "initrd.img",
            "kernel",
            "ldlinux.c32",
            "ldlinux.sys",
            "syslinux.cfg"
        ]
    );
    let mut cfg = String::new();
    fs.root_dir()
        .open_file("syslinux.cfg")
        .unwrap()
        .read_to_string(&mut cfg)
        .unwrap();
    assert!(cfg.contains("APPEND console=ttyS0\n"), "{cfg}");
    assert!(cfg.contains("INITRD /initrd.img"), "{cfg}");
}

fn qemu_img_info(p: &Path) -> (String, u64) {
    let o = Command::new("qemu-img")
        .args(["info", "--output", "json"])
        .arg(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let field = |k: &str| {
        let i = text
            .find(&format!("\"{k}\""))
            .unwrap_or_else(|| panic!("{k} in {text}"));
        let rest = &text[i + k.len() + 3..];
        rest.trim_start()
            .trim_start_matches('"')
            .split(['"', ',', '\n'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    (field("format"), field("virtual-size").parse().unwrap_or(0))
}

#[test]
fn bios_disk_conversions() {
    if !bios_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let formats = [
        Format::RawBios,
        Format::Aws,
        Format::Qcow2Bios,
        Format::Vhd,
        Format::Vmdk,
        Format::Gcp,
    ];
    let written = build(tmp.path(), &formats);
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "lk-bios.img",
            "lk.raw",
            "lk.qcow2",
            "lk.vhd",
            "lk.vmdk",
            "lk.img.tar.gz"
        ]
    );
    let raw = fs::read(&written[0]).unwrap();
    // aws and qcow2-bios take --size (1024 MiB by default).
    assert_eq!(fs::metadata(&written[1]).unwrap().len(), 1 << 30);
    assert_eq!(qemu_img_info(&written[2]), ("qcow2".into(), 1 << 30));
    // A fixed VHD is the raw disk plus a footer (qemu-img probes it as raw).
    let vhd = fs::read(&written[3]).unwrap();
    assert_eq!(
        &vhd[vhd.len() - 512..vhd.len() - 504],
        b"conectix",
        "VHD footer"
    );
    assert_eq!(
        (vhd.len() - 512) % (1 << 20),
        0,
        "Azure wants a MiB-aligned virtual size"
    );
    assert_eq!(qemu_img_info(&written[4]).0, "vmdk");
    // gcp: disk.raw in a tar.gz, the same disk as raw-bios.
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(
        fs::File::open(&written[5]).unwrap(),
    ));
    let mut entries = ar.entries().unwrap();
    let mut e = entries.next().unwrap().unwrap();
    assert_eq!(e.path().unwrap().to_string_lossy(), "disk.raw");
    let mut disk = Vec::new();
    e.read_to_end(&mut disk).unwrap();
    assert!(disk == raw, "gcp's disk.raw is the raw-bios disk");
    // dynamic-vhd writes the same file name as vhd.
    let dynamic = build(tmp.path(), &[Format::DynamicVhd]);
    assert!(dynamic[0].ends_with("lk.vhd"));
    assert_eq!(qemu_img_info(&dynamic[0]).0, "vpc");
}

/// A root filesystem whose kernel has the root device's drivers as modules (fake `.ko` files).
fn modular_fixture(with_isofs: bool) -> Vec<E> {
    let rel = "lib/modules/6.1.0-test";
    let mut dep = String::from(
        "kernel/fs/overlayfs/overlay.ko:\nkernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko\nkernel/drivers/scsi/scsi_mod.ko:\nkernel/drivers/ata/ahci.ko: kernel/drivers/ata/libahci.ko kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko\nkernel/drivers/ata/libahci.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko\nkernel/drivers/scsi/sr_mod.ko: kernel/drivers/cdrom/cdrom.ko kernel/drivers/scsi/scsi_mod.ko\nkernel/drivers/cdrom/cdrom.ko:\n",
    );
    if with_isofs {
        dep.push_str("kernel/fs/isofs/isofs.ko:\n");
    }
    let mut v = fixture();
    v.push(E::file(&format!("{rel}/modules.dep"), dep.as_bytes()));
    v.push(E::file(
        &format!("{rel}/modules.builtin"),
        b"kernel/fs/ext4/ext4.ko\n",
    ));
    for line in dep.lines() {
        let path = line.split(':').next().unwrap();
        v.push(E::file(&format!("{rel}/{path}"), path.as_bytes()));
    }
    v
}

#[test]
fn iso_bios_with_a_modular_kernel_gets_a_root_loader() {
    if !Path::new("/usr/lib/ISOLINUX/isolinux.bin").exists() || !have("xorriso") {
        eprintln!("SKIPPED: needs isolinux and xorriso");
        return;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("SKIPPED: needs busybox-static");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("rootfs.tar");
    write_tar(&tar, &modular_fixture(true));
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let written = write_outputs(
        &tar,
        &[Format::KernelIso, Format::IsoBios],
        &out,
        "lk",
        &OutputOptions::default(),
    )
    .unwrap();
    // kernel+iso writes the loader next to the kernel; iso-bios (written last) holds it.
    let loader = out.join("lk-iso-initrd.img");
    assert!(written.contains(&loader), "{written:?}");
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(&loader).unwrap())
        .read_to_end(&mut cpio)
        .unwrap();
    let mut names = Vec::new();
    let mut rest = cpio.as_slice();
    while let Ok(reader) = cpio::NewcReader::new(rest) {
        if reader.entry().is_trailer() {
            break;
        }
        names.push(reader.entry().name().to_string());
        rest = reader.finish().unwrap();
    }
    for want in [
        "init",
        "bin/busybox",
        "dev/console",
        "lib/modules/6.1.0-test/kernel/fs/isofs/isofs.ko",
        "lib/modules/6.1.0-test/kernel/drivers/ata/ahci.ko",
        "lib/modules/6.1.0-test/kernel/drivers/scsi/sr_mod.ko",
        "lib/modules/6.1.0-test/kernel/fs/overlayfs/overlay.ko",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let boot = xorriso_ls(&out.join("lk.iso"), "/boot");
    assert!(boot.contains("initrd.img"), "{boot}");
    // Dependencies load first: scsi_mod before libata before libahci before ahci.
    let text = String::from_utf8_lossy(&cpio).into_owned();
    let list = text
        .lines()
        .find_map(|l| l.strip_prefix("for m in "))
        .expect("the module loop in /init");
    let at = |m: &str| list.find(m).unwrap_or_else(|| panic!("{m} in {list}"));
    assert!(at("/scsi_mod.ko") < at("/libata.ko"), "{list}");
    assert!(at("/libata.ko") < at("/libahci.ko"), "{list}");
    assert!(at("/libahci.ko") < at("/ahci.ko"), "{list}");

    // Without isofs the build fails and names the module to add.
    let tar2 = tmp.path().join("rootfs2.tar");
    write_tar(&tar2, &modular_fixture(false));
    let err = write_outputs(
        &tar2,
        &[Format::IsoBios],
        &out,
        "lk2",
        &OutputOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("isofs") && err.contains("modules="), "{err}");
}
