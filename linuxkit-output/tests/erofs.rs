//! `kernel+erofs`: the root filesystem (without `boot/*`) as an EROFS image, checked with
//! Debian's erofs-utils as the oracle: `fsck.erofs` verifies the image and extracts it, and the
//! extracted tree must be the input (contents, modes, owners, times, links, devices);
//! `dump.erofs` reads the superblock. Directories large enough to need several blocks, files
//! around every block-size boundary, and inline tails are all in the fixture.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use common::{noise, write_tar, E};
use linuxkit_output::{write_outputs, Format, OutputOptions};
use tar::EntryType as T;

/// File sizes around the 4 KiB block and the 2 KiB inline limit.
const SIZES: [usize; 10] = [0, 1, 100, 2047, 2048, 2049, 4096, 4097, 10_000, 300_001];

fn fixture() -> Vec<E> {
    let mut v = vec![
        E::dir("boot"),
        E::file("boot/kernel", b"KERNEL"),
        E::file("boot/cmdline", b"console=ttyS0"),
        E::dir("."),
        E::dir("bin"),
        E::file("bin/busybox", &noise(300_000, 9)).mode(0o755),
        E::symlink("bin/sh", "busybox"),
        E::symlink("bin/long", &"x/".repeat(49)),
        E::hardlink("bin/zcat", "bin/busybox"),
        E::dev("dev/console", T::Char, 5, 1),
        E::dev("dev/big", T::Block, 259, 300),
        E::new("run/initctl", T::Fifo),
        E::dir("tmp").mode(0o1777),
        E::file("etc/hostname", b"second\n")
            .owner(1000, 100)
            .mode(0o600),
        E::file("-dash", b"sorts before the dot entries"),
    ];
    for (i, n) in SIZES.iter().enumerate() {
        let mut e = E::file(&format!("sizes/f{n}"), &noise(*n, i as u32 + 1));
        e.mtime = 1_600_000_000 + i as u64;
        v.push(e);
    }
    // About 600 names of 20 bytes: several directory blocks.
    for i in 0..600 {
        v.push(E::file(
            &format!("many/entry-number-{i:05}"),
            format!("{i}").as_bytes(),
        ));
    }
    v
}

fn build(dir: &Path) -> std::path::PathBuf {
    let tar = dir.join("rootfs.tar");
    write_tar(&tar, &fixture());
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    let written = write_outputs(
        &tar,
        &[Format::KernelErofs],
        &out,
        "lk",
        &OutputOptions::default(),
    )
    .unwrap();
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["lk-kernel", "lk-cmdline", "lk-erofs.img"]);
    out.join("lk-erofs.img")
}

#[test]
fn kernel_erofs_is_checked_and_extracted_by_erofs_utils() {
    let tmp = tempfile::tempdir().unwrap();
    let img = build(tmp.path());
    let bytes = fs::read(&img).unwrap();
    assert_eq!(&bytes[1024..1028], &0xE0F5_E1E2u32.to_le_bytes());
    assert_eq!(bytes.len() % 4096, 0);

    // Same input, same bytes.
    let again = tempfile::tempdir().unwrap();
    assert!(fs::read(build(again.path())).unwrap() == bytes);

    if !linuxkit_testing::prerequisite(
        common::have("fsck.erofs") && common::have("dump.erofs"),
        "fsck.erofs and dump.erofs",
        "apt-get install erofs-utils",
    ) {
        return;
    }
    let x = tmp.path().join("x");
    let o = Command::new("fsck.erofs")
        .arg(format!("--extract={}", x.display()))
        .arg("--preserve")
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "fsck.erofs: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new("dump.erofs")
        .arg("-s")
        .arg(&img)
        .output()
        .unwrap();
    let sb = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{sb}");
    assert!(
        sb.contains("Filesystem root nid:") && sb.contains("36"),
        "{sb}"
    );

    let meta = |p: &str| fs::symlink_metadata(x.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert!(!x.join("boot/kernel").exists() && x.join("boot").is_dir());
    for (i, n) in SIZES.iter().enumerate() {
        let p = format!("sizes/f{n}");
        assert_eq!(
            fs::read(x.join(&p)).unwrap(),
            noise(*n, i as u32 + 1),
            "{p}"
        );
        assert_eq!(meta(&p).mtime(), 1_600_000_000 + i as i64, "{p}");
    }
    assert_eq!(fs::read(x.join("bin/zcat")).unwrap(), noise(300_000, 9));
    assert_eq!(meta("bin/busybox").mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read_link(x.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        fs::read_link(x.join("bin/long")).unwrap(),
        Path::new(&"x/".repeat(49))
    );
    let console = meta("dev/console");
    assert!(console.file_type().is_char_device());
    assert_eq!(console.rdev(), 0x501);
    let big = meta("dev/big");
    assert!(big.file_type().is_block_device());
    assert_eq!(
        (nix_major(big.rdev()), nix_minor(big.rdev())),
        (259, 300),
        "device numbers above 255 survive"
    );
    assert!(meta("run/initctl").file_type().is_fifo());
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    let host = meta("etc/hostname");
    assert_eq!(
        (host.uid(), host.gid(), host.mode() & 0o7777),
        (1000, 100, 0o600)
    );
    assert_eq!(fs::read(x.join("etc/hostname")).unwrap(), b"second\n");
    assert_eq!(
        fs::read(x.join("-dash")).unwrap(),
        b"sorts before the dot entries"
    );
    let many: Vec<_> = fs::read_dir(x.join("many")).unwrap().collect();
    assert_eq!(many.len(), 600);
    assert_eq!(fs::read(x.join("many/entry-number-00599")).unwrap(), b"599");
}

fn nix_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn nix_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}
