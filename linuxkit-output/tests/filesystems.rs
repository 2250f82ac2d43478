//! `kernel+squashfs` and `kernel+iso`: the root filesystem (without `boot/*`) as an image,
//! read back with an independent reader (backhand's reader, `unsquashfs`, `xorriso`).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::{have, noise, write_tar, E};
use linuxkit_output::{write_outputs, Format, OutputOptions};
use tar::EntryType as T;

fn fixture() -> Vec<E> {
    vec![
        E::dir("boot"),
        E::file("boot/kernel", b"KERNEL"),
        E::file("boot/cmdline", b"console=ttyS0"),
        E::file("boot/ucode.cpio", b"ucode"),
        E::dir("."),
        E::dir("bin"),
        E::file("bin/busybox", &noise(300_000, 9)).mode(0o755),
        E::symlink("bin/sh", "busybox"),
        E::hardlink("bin/zcat", "bin/busybox"),
        E::dev("dev/console", T::Char, 5, 1),
        E::dev("dev/sda", T::Block, 8, 0),
        E::new("run/initctl", T::Fifo),
        E::dir("tmp").mode(0o1777),
        E::file("./etc/hostname", b"first\n"),
        E::file("etc/hostname", b"second\n")
            .owner(1000, 100)
            .mode(0o600),
        E::file("containers/services/getty/rootfs/etc/motd", b"hello"),
    ]
}

fn build(dir: &Path, formats: &[Format]) -> Vec<std::path::PathBuf> {
    let tar = dir.join("rootfs.tar");
    write_tar(&tar, &fixture());
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    write_outputs(&tar, formats, &out, "lk", &OutputOptions::default()).unwrap()
}

#[test]
fn kernel_squashfs_holds_the_rootfs() {
    let tmp = tempfile::tempdir().unwrap();
    let written = build(tmp.path(), &[Format::KernelSquashfs]);
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["lk-kernel", "lk-cmdline", "lk-squashfs.img"]);
    let out = tmp.path().join("out");
    assert_eq!(fs::read(out.join("lk-kernel")).unwrap(), b"KERNEL");
    assert_eq!(fs::read(out.join("lk-cmdline")).unwrap(), b"console=ttyS0");

    let img = fs::read(out.join("lk-squashfs.img")).unwrap();
    assert_eq!(&img[..4], b"hsqs");
    let reader =
        backhand::FilesystemReader::from_reader(std::io::Cursor::new(img.clone())).unwrap();
    let mut seen = BTreeMap::new();
    for node in reader.files() {
        let path = node.fullpath.to_string_lossy().into_owned();
        let h = node.header;
        let what = match &node.inner {
            backhand::InnerNode::File(f) => {
                let mut data = Vec::new();
                reader.file(f).reader().read_to_end(&mut data).unwrap();
                format!(
                    "file {}",
                    String::from_utf8_lossy(&data[..data.len().min(16)])
                )
            }
            backhand::InnerNode::Symlink(l) => format!("symlink {}", l.link.to_string_lossy()),
            backhand::InnerNode::Dir(_) => "dir".into(),
            backhand::InnerNode::CharacterDevice(d) => format!("char {:x}", d.device_number),
            backhand::InnerNode::BlockDevice(d) => format!("block {:x}", d.device_number),
            backhand::InnerNode::NamedPipe => "fifo".into(),
            backhand::InnerNode::Socket => "socket".into(),
        };
        seen.insert(path, (what, h.permissions, h.uid, h.gid, h.mtime));
    }
    let get = |p: &str| {
        seen.get(p)
            .unwrap_or_else(|| panic!("{p} missing in {seen:#?}"))
            .clone()
    };
    assert_eq!(get("/boot").0, "dir", "the boot directory itself stays");
    assert!(
        !seen.keys().any(|k| k.starts_with("/boot/")),
        "nothing under boot/"
    );
    assert_eq!(get("/bin/sh").0, "symlink busybox");
    assert_eq!(
        get("/bin/zcat").0,
        get("/bin/busybox").0,
        "hard link keeps contents"
    );
    assert_eq!(get("/dev/console").0, "char 501");
    assert_eq!(get("/dev/sda").0, "block 800");
    assert_eq!(get("/run/initctl").0, "fifo");
    assert_eq!(get("/tmp").1, 0o1777);
    assert_eq!(
        get("/etc/hostname"),
        ("file second\n".into(), 0o600, 1000, 100, 1_492_533_000)
    );
    assert_eq!(
        get("/containers/services/getty/rootfs/etc/motd").0,
        "file hello"
    );
    assert_eq!(get("/bin/busybox").1, 0o755);

    if have("unsquashfs") {
        let o = Command::new("unsquashfs")
            .args(["-lls", "-n"])
            .arg(out.join("lk-squashfs.img"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("squashfs-root/bin/sh -> busybox"), "{text}");
        assert!(text.contains("crw-------"), "{text}");
    }

    // Same input, same bytes.
    let again = tempfile::tempdir().unwrap();
    build(again.path(), &[Format::KernelSquashfs]);
    assert!(fs::read(again.path().join("out/lk-squashfs.img")).unwrap() == img);
}
