//! Hostile layers: real layer tars with entries that try to leave the image root, write through
//! symbolic links, link to missing or outside paths, carry devices and setuid bits, expand to
//! huge sparse files, or never end. Assembly only ever writes one tar stream (nothing is
//! extracted on the host), so each case checks that the stream places the entry safely inside
//! the image as upstream would, or that the build fails with an error naming image and entry,
//! and that nothing appeared on the host next to the layer or the output.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use linuxkit_build::gotar::{type_flag, Header, Reader, Writer};
use linuxkit_build::{build_tar, BuildOptions};
use linuxkit_oci::store::{
    media, Descriptor, ImageConfigFile, ImageProvider, LayerBlob, Manifest, Platform,
    ResolvedImage, StoreError,
};

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// Serves one image whose layers are the given files (bottom first), read as plain tars.
struct Layers(Vec<PathBuf>);

impl ImageProvider for Layers {
    fn resolve(&self, reference: &str, _: &Platform) -> Result<ResolvedImage, StoreError> {
        let desc = |media_type: &str| Descriptor {
            media_type: media_type.into(),
            digest: DIGEST.parse().unwrap(),
            size: 0,
            platform: None,
            annotations: None,
        };
        Ok(ResolvedImage {
            reference: reference.into(),
            root: desc(media::OCI_MANIFEST),
            manifest_digest: DIGEST.parse().unwrap(),
            manifest: Manifest {
                schema_version: 2,
                media_type: None,
                config: desc(media::OCI_CONFIG),
                layers: self.0.iter().map(|_| desc(media::OCI_LAYER_TAR)).collect(),
                annotations: None,
            },
            config: ImageConfigFile::default(),
            config_raw: b"{}".to_vec(),
            layers: self
                .0
                .iter()
                .map(|p| LayerBlob {
                    digest: DIGEST.parse().unwrap(),
                    media_type: media::OCI_LAYER_TAR.into(),
                    size: 0,
                    path: p.clone(),
                    verify: false,
                })
                .collect(),
            blobs_dir: PathBuf::from("/nonexistent"),
        })
    }
}

fn file(name: &str, data: &[u8]) -> (Header, Vec<u8>) {
    let mut h = Header::new(name, type_flag::REG);
    h.mode = 0o644;
    h.size = data.len() as i64;
    (h, data.to_vec())
}

fn link(name: &str, flag: u8, target: &str) -> (Header, Vec<u8>) {
    let mut h = Header::new(name, flag);
    h.mode = 0o777;
    h.linkname = target.as_bytes().to_vec();
    (h, Vec::new())
}

fn dir(name: &str) -> (Header, Vec<u8>) {
    let mut h = Header::new(name, type_flag::DIR);
    h.mode = 0o755;
    (h, Vec::new())
}

fn layer_tar(entries: &[(Header, Vec<u8>)]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    for (h, data) in entries {
        w.write_bytes(h, data).unwrap();
    }
    w.finish().unwrap()
}

/// A scratch directory with `layers/` and `out/` inside a `sandbox/` whose parent must stay
/// untouched: anything escaping would land there.
struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("sandbox");
        std::fs::create_dir_all(root.join("layers")).unwrap();
        std::fs::create_dir_all(root.join("out")).unwrap();
        Sandbox { _tmp: tmp, root }
    }

    fn layer(&self, i: usize, bytes: &[u8]) -> PathBuf {
        let p = self.root.join("layers").join(format!("{i}.tar"));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Every path under the scratch directory, relative to it.
    fn host_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let base = self.root.parent().unwrap().to_path_buf();
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(&base).unwrap().display().to_string());
                if p.is_dir() && !p.is_symlink() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

/// Builds `yaml` with the image `x/evil:1` made of `layers` (bottom first); returns the entries
/// or the error text. Checks that the host only has the layer files and the output afterwards.
fn build(yaml: &str, layers: &[Vec<u8>]) -> Result<Vec<(Header, Vec<u8>)>, String> {
    let sb = Sandbox::new();
    let paths: Vec<PathBuf> = layers
        .iter()
        .enumerate()
        .map(|(i, b)| sb.layer(i, b))
        .collect();
    let before = sb.host_files();
    let image: linuxkit_dsl::Image = serde_norway::from_str(yaml).unwrap();
    let opts = BuildOptions::new(Platform::linux("amd64"));
    let out_path = sb.root.join("out").join("image.tar");
    let result = linuxkit_build::build_tar_to_path(&image, &Layers(paths), &opts, &out_path);
    let mut after = sb.host_files();
    after.retain(|p| p != "sandbox/out/image.tar");
    assert_eq!(before, after, "the build created or removed host files");
    result.map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&out_path).unwrap();
    Ok(read_all(&bytes))
}

fn read_all(bytes: &[u8]) -> Vec<(Header, Vec<u8>)> {
    let mut r = Reader::new(bytes);
    let mut entries = Vec::new();
    while let Some(h) = r.next_header().unwrap() {
        let mut data = Vec::new();
        r.data().read_to_end(&mut data).unwrap();
        entries.push((h, data));
    }
    entries
}

const INIT: &str = "init: [x/evil:1]\n";
const SERVICE: &str = "services:\n  - name: evil\n    image: x/evil:1\n";

fn names(entries: &[(Header, Vec<u8>)]) -> Vec<String> {
    entries.iter().map(|(h, _)| h.name_lossy()).collect()
}

fn assert_inside(entries: &[(Header, Vec<u8>)]) {
    for (h, _) in entries {
        let n = h.name_lossy();
        assert!(
            !n.starts_with('/') && !n.split('/').any(|c| c == ".."),
            "{n} leaves the root"
        );
    }
}

#[test]
fn dot_dot_entries_are_rejected_naming_image_and_entry() {
    for yaml in [INIT, SERVICE] {
        let err = build(
            yaml,
            &[layer_tar(&[file("a/../../etc/passwd", b"root::0:0")])],
        )
        .unwrap_err();
        assert!(
            err.contains("image docker.io/x/evil:1 has an unsafe layer entry \"../etc/passwd\"")
                && err.contains("leaves the image root"),
            "{err}"
        );
    }
}

#[test]
fn absolute_entries_are_placed_inside_the_root() {
    // Upstream keeps the leading '/', which every extractor (bsdtar, the kernel's cpio unpacker)
    // drops: the file ends up at etc/motd of the image, or of the container's rootfs.
    let entries = build(
        SERVICE,
        &[layer_tar(&[file("/etc/motd", b"hi"), file("/", b"")])],
    )
    .unwrap();
    assert_inside(&entries);
    let motd = entries
        .iter()
        .find(|(h, _)| h.name == b"containers/services/evil/lower/etc/motd")
        .expect("etc/motd inside the container's root");
    assert_eq!(motd.1, b"hi");
}

#[test]
fn writes_through_a_symlink_are_hidden_or_rejected() {
    // Symlink first, then a file below it: the link (a non-directory) hides its subtree, so
    // the file is dropped, exactly as upstream's flattening does.
    let entries = build(
        SERVICE,
        &[layer_tar(&[
            link("escape", type_flag::SYMLINK, "/"),
            file("escape/etc/init.d/evil", b"x"),
        ])],
    )
    .unwrap();
    let n = names(&entries);
    assert!(n.contains(&"containers/services/evil/lower/escape".to_string()));
    assert!(!n.iter().any(|n| n.contains("init.d")), "{n:?}");
    // The file before the link in the same layer: both would be emitted, the file first; an
    // extractor creates a directory, then cannot or (worse) does replace it: refused.
    let err = build(
        SERVICE,
        &[layer_tar(&[
            file("escape/etc/init.d/evil", b"x"),
            link("escape", type_flag::SYMLINK, "/"),
        ])],
    )
    .unwrap_err();
    assert!(
        err.contains("image docker.io/x/evil:1 has an unsafe layer entry \"escape\"")
            && err.contains("used as a directory"),
        "{err}"
    );
    // The file in an upper layer, the symlink in a lower one: the file is emitted first.
    let err = build(
        INIT,
        &[
            layer_tar(&[link("up", type_flag::SYMLINK, "../../..")]),
            layer_tar(&[file("up/x", b"x")]),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("\"up\"") && err.contains("used as a directory"),
        "{err}"
    );
    // A symlink pointing outside the root is itself fine (it resolves inside the guest).
    let entries = build(
        INIT,
        &[layer_tar(&[link(
            "lib64",
            type_flag::SYMLINK,
            "../../../lib",
        )])],
    )
    .unwrap();
    let l = entries.iter().find(|(h, _)| h.name == b"lib64").unwrap();
    assert_eq!(l.0.linkname, b"../../../lib");
    // A lower-layer symlink replaced by a directory in an upper layer is no write-through.
    build(
        INIT,
        &[
            layer_tar(&[link("d", type_flag::SYMLINK, "/")]),
            layer_tar(&[dir("d/"), file("d/x", b"x")]),
        ],
    )
    .unwrap();
}

#[test]
fn hard_links_must_stay_inside_and_point_to_an_entry() {
    let err = build(
        INIT,
        &[layer_tar(&[link(
            "shadow",
            type_flag::LINK,
            "../../etc/shadow",
        )])],
    )
    .unwrap_err();
    assert!(
        err.contains("\"shadow\"") && err.contains("hard link to ../../etc/shadow, outside"),
        "{err}"
    );
    let err = build(
        INIT,
        &[layer_tar(&[link("ghost", type_flag::LINK, "no/such/file")])],
    )
    .unwrap_err();
    assert!(
        err.contains("\"ghost\"") && err.contains("which the image does not contain"),
        "{err}"
    );
    // A link to an absolute path of the image, whose target is in a lower layer (emitted after
    // the link, as upstream orders entries): placed, prefixed like upstream for containers.
    let entries = build(
        SERVICE,
        &[
            layer_tar(&[file("bin/busybox", b"bb")]),
            layer_tar(&[link("bin/sh", type_flag::LINK, "/bin/busybox")]),
        ],
    )
    .unwrap();
    let sh = entries
        .iter()
        .find(|(h, _)| h.name == b"containers/services/evil/lower/bin/sh")
        .unwrap();
    assert_eq!(sh.0.linkname, b"containers/services/evil/lower/bin/busybox");
    // A hard link to a whited-out file is dangling.
    let err = build(
        INIT,
        &[
            layer_tar(&[file("a", b"1")]),
            layer_tar(&[file(".wh.a", b""), link("b", type_flag::LINK, "a")]),
        ],
    )
    .unwrap_err();
    assert!(err.contains("\"b\""), "{err}");
}

#[test]
fn devices_and_setuid_files_are_kept_as_upstream() {
    let mut null = Header::new("dev/evilnull", type_flag::CHAR);
    null.mode = 0o666;
    null.devmajor = 1;
    null.devminor = 3;
    let mut sda = Header::new("dev/sda", type_flag::BLOCK);
    sda.mode = 0o660;
    sda.devmajor = 8;
    let (mut su, data) = file("bin/su", b"#!/bin/sh\n");
    su.mode = 0o6755;
    su.uid = 0;
    let entries = build(
        INIT,
        &[layer_tar(&[
            (null, Vec::new()),
            (sda, Vec::new()),
            (su, data),
        ])],
    )
    .unwrap();
    let get = |n: &[u8]| entries.iter().find(|(h, _)| h.name == n).unwrap().0.clone();
    let null = get(b"dev/evilnull");
    assert_eq!(
        (null.typeflag, null.devmajor, null.devminor, null.mode),
        (type_flag::CHAR, 1, 3, 0o666)
    );
    assert_eq!(get(b"dev/sda").typeflag, type_flag::BLOCK);
    assert_eq!(get(b"bin/su").mode, 0o6755);
}

/// A raw 512-byte USTAR header block with a valid checksum.
fn raw_block(name: &str, flag: u8, size: u64, extra: &[(usize, &[u8])]) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..name.len()].copy_from_slice(name.as_bytes());
    b[100..107].copy_from_slice(b"0000644");
    b[108..115].copy_from_slice(b"0000000");
    b[116..123].copy_from_slice(b"0000000");
    b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    b[136..147].copy_from_slice(b"00000000000");
    b[156] = flag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    for (off, bytes) in extra {
        b[*off..*off + bytes.len()].copy_from_slice(bytes);
    }
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    b
}

fn pax_data(records: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    out
}

fn padded(mut v: Vec<u8>) -> Vec<u8> {
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

#[test]
fn huge_sparse_files_are_rejected_before_reading_data() {
    // Old GNU sparse: realsize 1 TiB, one 512-byte data block.
    let mut gnu = raw_block(
        "disk.img",
        type_flag::GNU_SPARSE,
        512,
        &[
            (257, b"ustar "),
            (263, b" \0"),
            (386, b"00000000000\0"),
            (398, b"00000001000\0"),
            (483, b"20000000000000\0"),
        ],
    )
    .to_vec();
    // recompute checksum after the GNU magic change
    gnu[148..156].copy_from_slice(b"        ");
    let sum: u32 = gnu.iter().map(|&c| u32::from(c)).sum();
    gnu[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    gnu.extend_from_slice(&[7u8; 512]);
    gnu.extend_from_slice(&[0u8; 1024]);
    let err = build(INIT, &[gnu]).unwrap_err();
    assert!(
        err.contains("docker.io/x/evil:1")
            && err.contains("disk.img: sparse files are not supported"),
        "{err}"
    );
    // PAX 1.0 sparse: the real name and size are in GNU.sparse.* records.
    let records = pax_data(&[
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.name", "var/huge"),
        ("GNU.sparse.realsize", "1099511627776"),
    ]);
    let mut pax = raw_block(
        "PaxHeaders/huge",
        type_flag::X_HEADER,
        records.len() as u64,
        &[],
    )
    .to_vec();
    pax.extend(padded(records));
    pax.extend_from_slice(&raw_block("GNUSparseFile.0/huge", type_flag::REG, 512, &[]));
    pax.extend_from_slice(&padded(b"1\n0\n512\n".to_vec()));
    pax.extend_from_slice(&[0u8; 1024]);
    let err = build(INIT, &[pax]).unwrap_err();
    assert!(
        err.contains("docker.io/x/evil:1")
            && err.contains("var/huge: sparse files are not supported"),
        "{err}"
    );
}

#[test]
fn pax_global_headers_are_neither_applied_nor_emitted() {
    // As Go's reader: the global record (here a uid) does not change later entries.
    let records = pax_data(&[("uid", "4242"), ("comment", "git archive")]);
    let mut bytes = raw_block(
        "pax_global_header",
        type_flag::X_GLOBAL,
        records.len() as u64,
        &[],
    )
    .to_vec();
    bytes.extend(padded(records));
    bytes.extend_from_slice(&raw_block("etc/issue", type_flag::REG, 2, &[]));
    bytes.extend_from_slice(&padded(b"hi".to_vec()));
    bytes.extend_from_slice(&[0u8; 1024]);
    let entries = build(INIT, &[bytes]).unwrap();
    let n = names(&entries);
    assert!(!n.iter().any(|n| n.contains("pax_global_header")), "{n:?}");
    let issue = entries
        .iter()
        .find(|(h, _)| h.name == b"etc/issue")
        .unwrap();
    assert_eq!((issue.0.uid, issue.1.as_slice()), (0, &b"hi"[..]));
}

#[test]
fn whiteouts_of_the_root_and_of_dot_dot_stay_inside_the_image() {
    // `.wh..` whites out the root: like go-containerregistry, it hides everything after it in
    // this image's layers (and nothing else); `.wh...` names `..`, which nothing can match.
    let entries = build(
        "init: [x/evil:1]\nservices:\n  - name: s\n    image: x/evil:1\n",
        &[
            layer_tar(&[file("lower-file", b"1")]),
            layer_tar(&[file("upper", b"2"), file(".wh..", b""), file(".wh...", b"")]),
        ],
    )
    .unwrap();
    assert_inside(&entries);
    let n = names(&entries);
    assert!(n.contains(&"upper".to_string()), "{n:?}");
    assert!(!n.iter().any(|n| n.contains("lower-file")), "{n:?}");
    assert!(n.contains(&"containers/services/s/lower/upper".to_string()));
    assert!(
        n.contains(&"etc/hosts".to_string()),
        "the image's own entries are still added"
    );
}

/// An endless layer, generated as it is read: `dir/N` regular files, none stored anywhere.
struct Endless {
    block: Vec<u8>,
    pos: usize,
    produced: Arc<AtomicU64>,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.block.len() {
            let n = self.produced.fetch_add(1, Ordering::Relaxed);
            let mut h = Header::new(format!("d{}/f{n}", n % 1000), type_flag::REG);
            h.mode = 0o644;
            let mut w = Writer::new(Vec::new());
            w.write_bytes(&h, b"").unwrap();
            self.block = w.finish().unwrap();
            self.block.truncate(512);
            self.pos = 0;
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_endless_layer_stops_at_the_entry_limit_with_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("layer.tar");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo");
    let produced = Arc::new(AtomicU64::new(0));
    let writer = {
        let fifo = fifo.clone();
        let produced = produced.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let mut gen = Endless {
                block: Vec::new(),
                pos: 0,
                produced,
            };
            // Ends with a broken pipe when the build stops reading.
            let _ = std::io::copy(&mut gen, &mut f);
            let _ = f.flush();
        })
    };
    let image: linuxkit_dsl::Image = serde_norway::from_str(INIT).unwrap();
    let mut opts = BuildOptions::new(Platform::linux("amd64"));
    opts.max_image_entries = 50_000;
    let before = vm_hwm_kib();
    let mut sink = std::io::sink();
    let err = build_tar(&image, &Layers(vec![fifo.clone()]), &opts, &mut sink)
        .unwrap_err()
        .to_string();
    // Should the build not have opened the layer, release the generator blocked in open():
    // a non-blocking open of the read end never waits.
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NONBLOCK)
            .open(&fifo);
    }
    writer.join().unwrap();
    assert!(
        err.contains("image docker.io/x/evil:1 has more than 50000 layer entries"),
        "{err}"
    );
    let produced = produced.load(Ordering::Relaxed);
    assert!(
        (50_000..60_000).contains(&produced),
        "generated {produced} entries: the build did not stop at the limit"
    );
    let grown = vm_hwm_kib().saturating_sub(before);
    assert!(grown < 256 * 1024, "peak RSS grew by {grown} KiB");
    assert_eq!(
        BuildOptions::new(Platform::linux("amd64")).max_image_entries,
        linuxkit_build::DEFAULT_MAX_IMAGE_ENTRIES
    );
}

#[test]
fn a_huge_apk_database_is_not_kept_in_memory() {
    struct Zeros(u64);
    impl Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = (buf.len() as u64).min(self.0) as usize;
            buf[..n].fill(b'a');
            self.0 -= n as u64;
            Ok(n)
        }
    }
    let size: u64 = 65 << 20;
    let mut h = Header::new("lib/apk/db/installed", type_flag::REG);
    h.size = size as i64;
    let mut w = Writer::new(Vec::new());
    w.write_entry(&h, &mut Zeros(size)).unwrap();
    let bytes = w.finish().unwrap();
    let err = build(INIT, &[bytes]).unwrap_err();
    assert!(
        err.contains("docker.io/x/evil:1") && err.contains("larger than 64 MiB"),
        "{err}"
    );
}
