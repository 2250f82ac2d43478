//! `kernel+initrd` and `tar-kernel-initrd` from a root filesystem tar: every cpio field,
//! external cpio readers, determinism, and atomic replacement on failure.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{have, noise, write_tar, E};
use flate2::read::MultiGzDecoder;
use linuxkit_output::{write_outputs, Compression, Format, OutputError, OutputOptions};
use tar::EntryType as T;

const KERNEL: &[u8] = b"MZ fake kernel image";
const CMDLINE: &str = "console=ttyS0 page_poison=1";

fn ucode() -> Vec<u8> {
    // Any bytes: ucode is prepended verbatim.
    b"070701ucode-cpio-bytes".to_vec()
}

fn fixture(big: &[u8]) -> Vec<E> {
    let long = format!("usr/share/{}/file.txt", "d".repeat(120));
    vec![
        E::dir("boot"),
        E::file("boot/ucode.cpio", &ucode()).mode(0o640),
        E::file("boot/cmdline", CMDLINE.as_bytes()),
        E::file("boot/kernel", KERNEL),
        E::file("boot/System.map", b"dropped"),
        E::dir("."),
        E::dir("bin"),
        E::file("bin/busybox", b"#!busybox\n").mode(0o755),
        E::symlink("bin/sh", "busybox"),
        E::hardlink("bin/zcat", "bin/busybox"),
        E::hardlink("usr/bin/gzip", "bin/busybox"),
        E::dir("dev/"),
        E::dev("dev/console", T::Char, 5, 1),
        E::dev("dev/sda", T::Block, 8, 0).mode(0o660).owner(0, 6),
        E::new("run/initctl", T::Fifo).mode(0o600),
        E::dir("tmp").mode(0o1777),
        E::file("./etc/hostname", b"linuxkit\n").owner(1000, 1000),
        E::file("etc/hostname", b"replaced\n"),
        E::file(&long, b"long name"),
        E::file("big.bin", big).mode(0o4755),
    ]
}

/// (name, mode, uid, gid, nlink, rdev, data)
type Want<'a> = (&'a str, u32, u32, u32, u32, (u32, u32), Vec<u8>);

struct Cpio {
    name: String,
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    mtime: u32,
    dev: (u32, u32),
    rdev: (u32, u32),
    data: Vec<u8>,
}

fn parse_cpio(mut bytes: &[u8]) -> Vec<Cpio> {
    let mut out = Vec::new();
    loop {
        let mut r = cpio::newc::Reader::new(bytes).expect("valid newc header");
        let e = r.entry().clone();
        let mut data = Vec::new();
        r.read_to_end(&mut data).unwrap();
        out.push(Cpio {
            name: e.name().to_string(),
            ino: e.ino(),
            mode: e.mode(),
            uid: e.uid(),
            gid: e.gid(),
            nlink: e.nlink(),
            mtime: e.mtime(),
            dev: (e.dev_major(), e.dev_minor()),
            rdev: (e.rdev_major(), e.rdev_minor()),
            data,
        });
        bytes = r.finish().unwrap();
        if e.is_trailer() {
            assert!(
                bytes.iter().all(|&b| b == 0),
                "only zero padding after the trailer"
            );
            return out;
        }
    }
}

fn opts(threads: usize) -> OutputOptions {
    OutputOptions {
        compression: Compression {
            level: 6,
            threads,
            cache: None,
            ..Compression::default()
        },
        ..OutputOptions::default()
    }
}

fn build(dir: &Path, entries: &[E], formats: &[Format], threads: usize) -> Vec<std::path::PathBuf> {
    let tar = dir.join("rootfs.tar");
    write_tar(&tar, entries);
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    write_outputs(&tar, formats, &out, "linuxkit", &opts(threads)).unwrap()
}

fn decompress(initrd: &[u8]) -> Vec<u8> {
    let mut cpio = Vec::new();
    MultiGzDecoder::new(initrd).read_to_end(&mut cpio).unwrap();
    cpio
}

#[test]
fn kernel_initrd_has_upstreams_cpio_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let big = noise(5 << 20, 7);
    let written = build(tmp.path(), &fixture(&big), &[Format::KernelInitrd], 2);
    let out = tmp.path().join("out");
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["linuxkit-initrd.img", "linuxkit-kernel", "linuxkit-cmdline"]
    );
    for p in &written {
        assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o644);
    }
    assert_eq!(fs::read(out.join("linuxkit-kernel")).unwrap(), KERNEL);
    assert_eq!(
        fs::read_to_string(out.join("linuxkit-cmdline")).unwrap(),
        CMDLINE
    );
    // No temporary files are left behind.
    assert_eq!(fs::read_dir(&out).unwrap().count(), 3);

    let initrd = fs::read(out.join("linuxkit-initrd.img")).unwrap();
    let uc = ucode();
    assert_eq!(
        &initrd[..uc.len()],
        uc.as_slice(),
        "ucode comes first, uncompressed"
    );
    let gz = &initrd[uc.len()..];
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "then gzip");
    let members = gz.windows(4).filter(|w| w == &[0x1f, 0x8b, 8, 0]).count();
    assert!(
        members >= 2,
        "a 5 MiB entry gets a gzip member of its own ({members} members)"
    );
    let cpio = decompress(gz);
    assert_eq!(cpio.len() % 512, 0, "cpio padded to 512");

    let entries = parse_cpio(&cpio);
    // (name, mode, uid, gid, nlink, rdev, data)
    let long = format!("usr/share/{}/file.txt", "d".repeat(120));
    let want: Vec<Want<'_>> = vec![
        ("boot", 0o040755, 0, 0, 2, (0, 0), vec![]),
        (".", 0o040755, 0, 0, 2, (0, 0), vec![]),
        ("bin", 0o040755, 0, 0, 2, (0, 0), vec![]),
        (
            "bin/busybox",
            0o100755,
            0,
            0,
            1,
            (0, 0),
            b"#!busybox\n".to_vec(),
        ),
        ("bin/sh", 0o120777, 0, 0, 1, (0, 0), b"busybox".to_vec()),
        ("bin/zcat", 0o120644, 0, 0, 1, (0, 0), b"busybox".to_vec()),
        (
            "usr/bin/gzip",
            0o120644,
            0,
            0,
            1,
            (0, 0),
            b"../../bin/busybox".to_vec(),
        ),
        ("dev/", 0o040755, 0, 0, 2, (0, 0), vec![]),
        ("dev/console", 0o020600, 0, 0, 1, (5, 1), vec![]),
        ("dev/sda", 0o060660, 0, 6, 1, (8, 0), vec![]),
        ("run/initctl", 0o010600, 0, 0, 1, (0, 0), vec![]),
        ("tmp", 0o041777, 0, 0, 2, (0, 0), vec![]),
        (
            "./etc/hostname",
            0o100644,
            1000,
            1000,
            1,
            (0, 0),
            b"linuxkit\n".to_vec(),
        ),
        (
            "etc/hostname",
            0o100644,
            0,
            0,
            1,
            (0, 0),
            b"replaced\n".to_vec(),
        ),
        (
            long.as_str(),
            0o100644,
            0,
            0,
            1,
            (0, 0),
            b"long name".to_vec(),
        ),
        ("big.bin", 0o104755, 0, 0, 1, (0, 0), big.clone()),
        ("TRAILER!!!", 0, 0, 0, 1, (0, 0), vec![]),
    ];
    assert_eq!(entries.len(), want.len(), "entry count");
    for (i, (got, w)) in entries.iter().zip(&want).enumerate() {
        assert_eq!(got.name, w.0, "name of entry {i}");
        assert_eq!(got.ino, 721 + i as u32, "ino of {}", w.0);
        assert_eq!(got.mode, w.1, "mode of {}: {:o}", w.0, got.mode);
        assert_eq!((got.uid, got.gid), (w.2, w.3), "owner of {}", w.0);
        assert_eq!(got.nlink, w.4, "nlink of {}", w.0);
        let mtime = if w.0 == "TRAILER!!!" {
            0
        } else {
            1_492_533_000
        };
        assert_eq!(got.mtime, mtime, "mtime of {}", w.0);
        assert_eq!(got.dev, (3, 1), "devmajor/minor of {}", w.0);
        assert_eq!(got.rdev, w.5, "rdev of {}", w.0);
        assert!(got.data == w.6, "data of {}", w.0);
    }

    // Independent readers agree on the listing.
    let cpio_file = tmp.path().join("initrd.cpio");
    fs::write(&cpio_file, &cpio).unwrap();
    let names: Vec<String> = want
        .iter()
        .take(want.len() - 1)
        .map(|w| w.0.to_string())
        .collect();
    for (prog, args) in [
        ("cpio", vec!["-it", "--quiet"]),
        ("bsdcpio", vec!["-it", "--quiet"]),
    ] {
        if !have(prog) {
            eprintln!("{prog} not installed; skipping its listing check");
            continue;
        }
        let o = Command::new(prog)
            .args(&args)
            .stdin(fs::File::open(&cpio_file).unwrap())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{prog}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(listed, names, "{prog} -t listing");
    }
}

#[test]
fn output_is_deterministic_and_independent_of_threads() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let big = noise(3 << 20, 1);
    let formats = [Format::KernelInitrd, Format::TarKernelInitrd];
    let wa = build(a.path(), &fixture(&big), &formats, 1);
    let wb = build(b.path(), &fixture(&big), &formats, 3);
    assert_eq!(wa.len(), wb.len());
    for (x, y) in wa.iter().zip(&wb) {
        assert_eq!(x.file_name(), y.file_name());
        assert!(
            fs::read(x).unwrap() == fs::read(y).unwrap(),
            "{} differs",
            x.display()
        );
    }
}

#[test]
fn tar_kernel_initrd_holds_the_four_files() {
    let tmp = tempfile::tempdir().unwrap();
    let written = build(
        tmp.path(),
        &fixture(b"small"),
        &[Format::TarKernelInitrd],
        2,
    );
    assert_eq!(written.len(), 1);
    assert!(written[0].ends_with("linuxkit-initrd.tar"));
    let data = fs::read(&written[0]).unwrap();
    assert_eq!(data.len() % 512, 0);
    assert!(
        data[data.len() - 1024..].iter().all(|&b| b == 0),
        "two zero blocks at the end"
    );
    let mut ar = tar::Archive::new(data.as_slice());
    let mut seen = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert_eq!(h.mode().unwrap(), 0o644);
        assert_eq!(h.mtime().unwrap(), 1_492_533_000);
        assert_eq!(&h.as_bytes()[257..265], b"ustar\x0000");
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        seen.push((e.path().unwrap().to_string_lossy().into_owned(), body));
    }
    let names: Vec<_> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["kernel", "initrd.img", "cmdline", "ucode.cpio"]);
    assert_eq!(seen[0].1, KERNEL);
    assert_eq!(&seen[1].1[..2], &[0x1f, 0x8b], "initrd.img without ucode");
    assert_eq!(seen[2].1, CMDLINE.as_bytes());
    assert_eq!(seen[3].1, ucode());
}

#[test]
fn no_kernel_and_empty_cmdline_give_only_the_initrd() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = vec![
        E::dir("etc"),
        E::file("boot/cmdline", b""),
        E::file("etc/motd", b"hi"),
    ];
    let written = build(tmp.path(), &entries, &[Format::KernelInitrd], 1);
    assert_eq!(written.len(), 1);
    assert!(written[0].ends_with("linuxkit-initrd.img"));
    let cpio = decompress(&fs::read(&written[0]).unwrap());
    let names: Vec<_> = parse_cpio(&cpio).into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["etc", "etc/motd", "TRAILER!!!"]);
}

#[test]
fn failure_keeps_previous_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("linuxkit-initrd.img"), b"previous").unwrap();
    let tar = tmp.path().join("rootfs.tar");
    let mut entries = fixture(b"x");
    entries.insert(7, E::new("weird", T::Continuous));
    write_tar(&tar, &entries);
    let err = write_outputs(&tar, &[Format::KernelInitrd], &out, "linuxkit", &opts(2)).unwrap_err();
    assert!(matches!(err, OutputError::Unconvertible { .. }), "{err}");
    assert!(err.to_string().contains("weird"), "{err}");
    assert_eq!(
        fs::read(out.join("linuxkit-initrd.img")).unwrap(),
        b"previous"
    );
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        1,
        "no temporary files left"
    );
}

#[test]
fn unsupported_and_missing_input_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = write_outputs(
        &tmp.path().join("missing.tar"),
        &[Format::KernelInitrd],
        tmp.path(),
        "x",
        &opts(1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("missing.tar"), "{err}");
    assert!("kernel+gzip".parse::<Format>().is_err());
}

#[test]
fn empty_numeric_fields_read_as_zero_like_go() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("rootfs.tar");
    let mut b = tar::Builder::new(fs::File::create(&tar).unwrap());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(T::Regular);
    h.set_size(2);
    h.set_mode(0o644);
    // uid, gid and mtime left as NUL bytes, as some writers do.
    h.set_cksum();
    b.append_data(&mut h, "etc/motd", &b"hi"[..]).unwrap();
    b.into_inner().unwrap();
    let w = write_outputs(&tar, &[Format::KernelInitrd], tmp.path(), "x", &opts(1)).unwrap();
    let entries = parse_cpio(&decompress(&fs::read(&w[0]).unwrap()));
    assert_eq!(entries[0].name, "etc/motd");
    assert_eq!(
        (entries[0].uid, entries[0].gid, entries[0].mtime),
        (0, 0, 0)
    );
}
