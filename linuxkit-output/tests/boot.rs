//! Boot tests under QEMU TCG (slow: several seconds each). They boot Debian's kernel with a
//! busybox `/init` that prints a marker, and skip with a message when QEMU, the kernel or a
//! firmware package is missing (`scripts/setup` installs them).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::boot::{boot, busybox_rootfs, prerequisites};
use common::write_tar;
use linuxkit_output::{write_outputs, Format, OutputOptions};

const TIMEOUT: Duration = Duration::from_secs(90);

fn build(dir: &Path, kernel: &Path, cmdline: &str, formats: &[Format]) -> Vec<PathBuf> {
    let tar = dir.join("rootfs.tar");
    // 3 MiB of padding: the initrd has several gzip members, one of them a streamed entry.
    write_tar(&tar, &busybox_rootfs(kernel, cmdline, 3 << 20));
    let written = write_outputs(&tar, formats, dir, "boot", &OutputOptions::default())
        .expect("write outputs");
    for p in &written {
        let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        eprintln!("{}: {:.1} MiB", p.display(), len as f64 / 1048576.0);
    }
    written
}

fn skip(why: &str) {
    eprintln!("SKIPPED: {why}");
}

/// `kernel+initrd`: QEMU direct kernel boot of the multi-member gzip initrd.
#[test]
fn boots_kernel_initrd() {
    let kernel = match prerequisites(&[]) {
        Ok(k) => k,
        Err(e) => return skip(&e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    build(
        d,
        &kernel,
        "console=ttyS0 panic=-1",
        &[Format::KernelInitrd],
    );
    let initrd = std::fs::read(d.join("boot-initrd.img")).unwrap();
    let members = initrd
        .windows(4)
        .filter(|w| w == &[0x1f, 0x8b, 8, 0])
        .count();
    assert!(
        members >= 3,
        "the test wants a multi-member initrd, got {members}"
    );
    let args: Vec<String> = [
        "-kernel",
        &d.join("boot-kernel").to_string_lossy(),
        "-initrd",
        &d.join("boot-initrd.img").to_string_lossy(),
        "-append",
        &std::fs::read_to_string(d.join("boot-cmdline")).unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let booted = boot(&args, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert!(booted.console.contains(common::boot::MARKER));
    assert!(
        !booted.console.contains("junk"),
        "initramfs unpack complained"
    );
}

/// `raw-efi`: OVMF boots the UKI from the ESP of the GPT disk.
#[test]
fn boots_raw_efi() {
    let kernel = match prerequisites(&["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"]) {
        Ok(k) => k,
        Err(e) => return skip(&e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    build(d, &kernel, "console=ttyS0 panic=-1", &[Format::RawEfi]);
    let mut args = match common::boot::ovmf_args(d) {
        Ok(a) => a,
        Err(e) => return skip(&e),
    };
    args.push("-drive".into());
    args.push(format!(
        "file={},format=raw,if=ide",
        d.join("boot-efi.img").display()
    ));
    let booted = boot(&args, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert!(booted.console.contains(common::boot::MARKER));
}

/// `iso-efi-initrd`: OVMF boots the UKI from the El Torito EFI image of the CD.
#[test]
fn boots_iso_efi_initrd() {
    let kernel = match prerequisites(&["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"]) {
        Ok(k) => k,
        Err(e) => return skip(&e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    build(
        d,
        &kernel,
        "console=ttyS0 panic=-1",
        &[Format::IsoEfiInitrd],
    );
    let mut args = match common::boot::ovmf_args(d) {
        Ok(a) => a,
        Err(e) => return skip(&e),
    };
    args.push("-cdrom".into());
    args.push(d.join("boot-efi-initrd.iso").display().to_string());
    let booted = boot(&args, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert!(booted.console.contains(common::boot::MARKER));
}

/// `iso-bios`: SeaBIOS boots ISOLINUX from the CD and, as a hybrid image, from a hard disk.
/// Like upstream the image has no initrd (the root is the CD), so Debian's modular kernel
/// gets as far as starting; the kernel echoing its command line proves the boot chain.
#[test]
fn boots_iso_bios_as_cd_and_disk() {
    let kernel = match prerequisites(&["/usr/lib/ISOLINUX/isolinux.bin"]) {
        Ok(k) => k,
        Err(e) => return skip(&e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    build(d, &kernel, "console=ttyS0 panic=-1", &[Format::IsoBios]);
    let iso = d.join("boot.iso").display().to_string();
    for how in ["-cdrom", "-hda"] {
        let args = vec![how.to_string(), iso.clone()];
        // The kernel echoes its command line: ISOLINUX loaded it with root=/dev/sr0 added.
        let booted = common::boot::boot_until(&args, "root=/dev/sr0", TIMEOUT)
            .unwrap_or_else(|e| panic!("{how}: {e}"));
        assert!(
            booted.console.contains("Linux version"),
            "{how}: the kernel started"
        );
    }
}

/// `raw-bios`: SeaBIOS boots SYSLINUX from the active FAT partition, which loads the kernel
/// and initrd.
#[test]
fn boots_raw_bios() {
    let kernel = match prerequisites(&["/usr/bin/syslinux", "/usr/lib/syslinux/mbr/mbr.bin"]) {
        Ok(k) => k,
        Err(e) => return skip(&e),
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    build(d, &kernel, "console=ttyS0 panic=-1", &[Format::RawBios]);
    let args = vec![
        "-drive".to_string(),
        format!(
            "file={},format=raw,if=ide",
            d.join("boot-bios.img").display()
        ),
    ];
    let booted = boot(&args, TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert!(booted.console.contains(common::boot::MARKER));
}
