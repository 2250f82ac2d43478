//! Verified boot end to end: UKIs signed by `cargo linuxkit build --secure-boot-key/-cert`,
//! booted by `cargo linuxkit run --secure-boot` under OVMF with Secure Boot enforced, and
//! dm-verity roots (`--verity`) opened by the root loader.
//!
//! One small image (Debian's kernel through `kernel:host` with the disk, squashfs and
//! dm-verity modules, this workspace's `linuxkit-init`, a busybox service that prints a marker
//! and powers off) is built once per variant into `target/boot-verified`: every EFI format
//! signed with key A (twice, compared), raw-efi signed with key B, raw-efi unsigned, raw-efi
//! signed with A whose UKI command line was changed afterwards, raw-efi signed with A with a
//! dm-verity root partition, and kernel+squashfs with dm-verity (and a copy with one byte of
//! the squashfs flipped). The oracles are Debian's: `sbverify` for the signatures,
//! `veritysetup verify` for the hash tree, and OVMF itself, which must refuse what is not
//! signed by the enrolled key (`Access Denied` on the console).
//!
//! Boots: the signed verity disk, the damaged squashfs, and three refused disks (five boots,
//! two tests that run side by side). Keys and certificates are made with `openssl`.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cli_support::{bin, busybox_system, run_in, run_tcg, text, workspace_root};
use linuxkit_testing::{on_path, prerequisite, qemu_present, Vm};

const MARKER: &str = "VERIFIED-BOOT-MARKER";
/// OVMF's Secure Boot build (Debian `ovmf`).
const SECBOOT_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
/// Generous: firmware with SMM under TCG on a loaded 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// Two RSA keys with self-signed certificates (`a`, `b`) in `dir`, made by openssl.
struct Keys {
    dir: PathBuf,
}

impl Keys {
    fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }
    fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.crt"))
    }
}

fn keys() -> Option<&'static Keys> {
    static KEYS: OnceLock<Option<Keys>> = OnceLock::new();
    KEYS.get_or_init(|| {
        if !prerequisite(
            on_path("openssl").is_some(),
            "openssl",
            "apt-get install openssl",
        ) {
            return None;
        }
        let dir = workspace_root().join("target/boot-verified-keys");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the key directory");
        let keys = Keys { dir };
        for name in ["a", "b"] {
            let o = Command::new("openssl")
                .args([
                    "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                ])
                .args([
                    "3650",
                    "-subj",
                    &format!("/CN=cargo-linuxkit test key {name}"),
                ])
                .arg("-keyout")
                .arg(keys.key(name))
                .arg("-out")
                .arg(keys.cert(name))
                .output()
                .expect("openssl runs");
            assert!(o.status.success(), "openssl req: {o:?}");
            chmod(&keys.key(name), 0o600);
        }
        Some(keys)
    })
    .as_ref()
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every variant built, under `dir`.
struct Fixture {
    dir: PathBuf,
    keys: &'static Keys,
}

impl Fixture {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

fn write_definition(dir: &Path) -> PathBuf {
    busybox_system(
        dir,
        "vb",
        "overlay,ahci,sd_mod,sr_mod,isofs,squashfs,dm_verity",
        &format!("echo {MARKER}; kill -USR2 1"),
    )
}

fn build(yaml: &Path, out: &Path, formats: &str, extra: &[&str]) {
    let mut args = vec![
        "build".to_string(),
        "--offline".into(),
        "--dir".into(),
        out.display().to_string(),
        "--format".into(),
        formats.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(yaml.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_in(&workspace_root(), &args);
    assert!(o.status.success(), "build {args:?}: {:?}", text(&o));
}

fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let keys = keys()?;
            let tools = [
                ("sbverify", "sbsigntool"),
                ("veritysetup", "cryptsetup-bin"),
                ("mcopy", "mtools"),
                ("xorriso", "xorriso"),
            ];
            for (tool, package) in tools {
                if !prerequisite(
                    on_path(tool).is_some(),
                    tool,
                    &format!("apt-get install {package}"),
                ) {
                    return None;
                }
            }
            if !qemu_present()
                || !prerequisite(
                    Path::new(SECBOOT_CODE).is_file(),
                    SECBOOT_CODE,
                    "apt-get install ovmf",
                )
            {
                return None;
            }
            let dir = workspace_root().join("target/boot-verified");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create target/boot-verified");
            let yaml = write_definition(&dir);
            let started = Instant::now();
            let sign = |k: &str| -> Vec<String> {
                vec![
                    "--secure-boot-key".into(),
                    keys.key(k).display().to_string(),
                    "--secure-boot-cert".into(),
                    keys.cert(k).display().to_string(),
                ]
            };
            let a: Vec<String> = sign("a");
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let b: Vec<String> = sign("b");
            let b: Vec<&str> = b.iter().map(String::as_str).collect();
            let efi = "raw-efi,qcow2-efi,iso-efi,iso-efi-initrd";
            build(&yaml, &dir.join("signed"), efi, &a);
            build(&yaml, &dir.join("signed-again"), efi, &a);
            build(&yaml, &dir.join("other"), "raw-efi", &b);
            build(&yaml, &dir.join("unsigned"), "raw-efi", &[]);
            let verity: Vec<&str> = a.iter().copied().chain(["--verity"]).collect();
            build(&yaml, &dir.join("verity"), "raw-efi", &verity);
            build(&yaml, &dir.join("squash"), "kernel+squashfs", &["--verity"]);

            // The signed disk with its UKI's command line changed (as an attacker dropping a
            // kernel option would): the bytes `panic=-1` occur once, in the `.cmdline` section.
            let disk = std::fs::read(dir.join("signed/vb-efi.img")).expect("read the signed disk");
            let at: Vec<usize> = disk
                .windows(8)
                .enumerate()
                .filter(|(_, w)| *w == b"panic=-1")
                .map(|(i, _)| i)
                .collect();
            assert_eq!(at.len(), 1, "the command line occurs once in the disk");
            let mut tampered = disk;
            tampered[at[0] + 7] = b'2';
            std::fs::create_dir_all(dir.join("tampered")).expect("mkdir");
            std::fs::write(dir.join("tampered/vb-efi.img"), tampered).expect("write");

            // The verity squashfs with one data byte flipped.
            let bad = dir.join("squash-bad");
            std::fs::create_dir_all(&bad).expect("mkdir");
            for f in [
                "vb-kernel",
                "vb-cmdline",
                "vb-squashfs-initrd.img",
                "vb-squashfs.img",
            ] {
                std::fs::copy(dir.join("squash").join(f), bad.join(f)).expect("copy");
            }
            let mut sq = std::fs::read(bad.join("vb-squashfs.img")).expect("read");
            sq[1 << 20] ^= 0x55;
            std::fs::write(bad.join("vb-squashfs.img"), sq).expect("write");
            eprintln!(
                "built every variant in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Some(Fixture { dir, keys })
        })
        .as_ref()
}

/// Extracts `EFI/BOOT/BOOTX64.EFI` from a FAT image at `offset` of `image`.
fn extract_uki(image: &Path, offset: &str, out: &Path) {
    let o = Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@{offset}", image.display()))
        .arg("::EFI/BOOT/BOOTX64.EFI")
        .arg(out)
        .output()
        .expect("mcopy runs");
    assert!(o.status.success(), "mcopy from {}: {o:?}", image.display());
}

fn sbverify(cert: &Path, uki: &Path) -> (bool, String) {
    let o = Command::new("sbverify")
        .arg("--cert")
        .arg(cert)
        .arg(uki)
        .output()
        .expect("sbverify runs");
    let (out, err) = text(&o);
    (o.status.success(), format!("{out}{err}"))
}

/// `sbverify` accepts the signature of every EFI format with the signing certificate (and
/// rejects it with another); two signed builds are byte-identical.
#[test]
fn signatures_verify_with_sbverify_and_are_reproducible() {
    let Some(f) = fixture() else { return };
    let work = f.path("extracted");
    std::fs::create_dir_all(&work).expect("mkdir");
    let mut ukis = Vec::new();
    let raw = work.join("raw-efi.efi");
    extract_uki(&f.path("signed/vb-efi.img"), "1M", &raw);
    ukis.push(raw);
    for iso in ["vb-efi.iso", "vb-efi-initrd.iso"] {
        let esp = work.join(format!("{iso}.efiboot.img"));
        let o = Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(f.path("signed").join(iso))
            .args(["-extract", "/EFI/BOOT/efiboot.img"])
            .arg(&esp)
            .output()
            .expect("xorriso runs");
        assert!(o.status.success(), "xorriso: {o:?}");
        let uki = work.join(format!("{iso}.efi"));
        extract_uki(&esp, "0", &uki);
        ukis.push(uki);
    }
    for uki in &ukis {
        let (ok, out) = sbverify(&f.keys.cert("a"), uki);
        assert!(ok, "sbverify --cert a {}: {out}", uki.display());
        assert!(out.contains("Signature verification OK"), "{out}");
        let (ok, out) = sbverify(&f.keys.cert("b"), uki);
        assert!(
            !ok,
            "sbverify accepts {} with another certificate: {out}",
            uki.display()
        );
    }
    let unsigned = work.join("unsigned.efi");
    extract_uki(&f.path("unsigned/vb-efi.img"), "1M", &unsigned);
    assert!(
        !sbverify(&f.keys.cert("a"), &unsigned).0,
        "an unsigned UKI verifies"
    );

    let mut compared = 0;
    for e in std::fs::read_dir(f.path("signed")).expect("read signed/") {
        let name = e.expect("entry").file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let a = std::fs::read(f.path("signed").join(&name)).expect("read");
        let b = std::fs::read(f.path("signed-again").join(&name)).expect("read");
        assert!(a == b, "{name:?} differs between two signed builds");
        compared += 1;
    }
    assert_eq!(compared, 4, "one file per EFI format");
}

/// `veritysetup verify` accepts the tree after the squashfs, with the root hash from the
/// command line, and rejects the copy with a flipped byte.
#[test]
fn verity_tree_verifies_with_veritysetup() {
    let Some(f) = fixture() else { return };
    let cmdline = std::fs::read_to_string(f.path("squash/vb-cmdline")).expect("read cmdline");
    let param = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("linuxkit.verity="))
        .expect("the command line carries linuxkit.verity=");
    let fields: Vec<&str> = param.split(',').collect();
    let (root_hash, data_blocks): (&str, u64) =
        (fields[0], fields[2].parse().expect("data blocks"));
    let verify = |image: &Path| {
        Command::new("veritysetup")
            .arg("verify")
            .arg(image)
            .arg(image)
            .arg(root_hash)
            .arg(format!("--hash-offset={}", data_blocks * 4096))
            .output()
            .expect("veritysetup runs")
    };
    let o = verify(&f.path("squash/vb-squashfs.img"));
    assert!(o.status.success(), "veritysetup verify: {:?}", text(&o));
    let o = verify(&f.path("squash-bad/vb-squashfs.img"));
    assert!(
        !o.status.success(),
        "veritysetup accepts a damaged squashfs"
    );
}

/// `cargo linuxkit run` of `image` with stdin and stdout piped, as a [`Vm`].
fn run(image: &Path, state: &Path, secure_boot: Option<&Path>) -> Vm {
    let mut cmd = run_tcg(state, "none", Some(600));
    if let Some(cert) = secure_boot {
        cmd.arg("--secure-boot").arg("--secure-boot-cert").arg(cert);
    }
    let child = cmd
        .arg(image)
        .env_remove("LINUXKIT_SECURE_BOOT_CERT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cargo-linuxkit run starts");
    Vm::new(child)
}

/// The signed disk with a dm-verity root boots with Secure Boot enforced, its root verified
/// by our step; a kernel+squashfs whose squashfs lost one byte stops with our message.
#[test]
fn signed_verity_disk_boots_and_a_damaged_root_stops() {
    let Some(f) = fixture() else { return };
    let started = Instant::now();
    let mut vm = run(
        &f.path("verity/vb-efi.img"),
        &f.path("state-verity"),
        Some(&f.keys.cert("a")),
    );
    vm.wait_for("Secure boot enabled", BOOT_TIMEOUT)
        .expect("the kernel sees Secure Boot enabled");
    let line = vm
        .wait_for("linuxkit-verity: /dev/", BOOT_TIMEOUT)
        .expect("the root is verified");
    assert!(line.contains("verified"), "{line}");
    vm.wait_for(MARKER, BOOT_TIMEOUT)
        .expect("the service runs from the verified root");
    let status = vm.wait_exit(BOOT_TIMEOUT).expect("the guest powers off");
    assert!(status.success(), "{status:?}");
    drop(vm);
    eprintln!(
        "signed verity raw-efi: marker and poweroff after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();

    let mut vm = run(&f.path("squash-bad/vb"), &f.path("state-bad"), None);
    let line = vm
        .wait_for("does not match the root hash", BOOT_TIMEOUT)
        .expect("our step reports the damaged root");
    assert!(line.contains("Refusing to boot"), "{line}");
    vm.wait_for("not booting it", BOOT_TIMEOUT)
        .expect("the root loader stops");
    let _ = vm.wait_exit(BOOT_TIMEOUT);
    assert!(
        !vm.console_text().contains(MARKER),
        "the service ran from a damaged root:\n{}",
        vm.console_text()
    );
    eprintln!(
        "damaged kernel+squashfs: stopped after {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// With certificate A enrolled, the firmware refuses an unsigned UKI, one signed with key B,
/// and one signed with A whose command line changed after signing.
#[test]
fn firmware_refuses_unsigned_foreign_and_tampered_ukis() {
    let Some(f) = fixture() else { return };
    for case in ["unsigned", "other", "tampered"] {
        let started = Instant::now();
        let mut vm = run(
            &f.path(&format!("{case}/vb-efi.img")),
            &f.path(&format!("state-{case}")),
            Some(&f.keys.cert("a")),
        );
        let line = vm
            .wait_for("Access Denied", BOOT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{case}: the firmware does not refuse the disk: {e}"));
        assert!(line.contains("HARDDISK"), "{case}: {line}");
        vm.wait_for("No bootable option", BOOT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        vm.shutdown();
        let console = vm.console_text();
        assert!(
            !console.contains("Linux version") && !console.contains(MARKER),
            "{case}: a kernel started:\n{console}"
        );
        eprintln!(
            "{case}: refused after {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
}

/// Bad keys and certificates are refused with a clear error before anything is written, and
/// the key's path never appears in the output.
#[test]
fn bad_keys_are_refused_before_anything_is_written() {
    let Some(k) = keys() else { return };
    let dir = workspace_root().join("target/boot-verified-bad");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let yaml = write_definition(&dir);
    let loose = dir.join("loose.key");
    std::fs::copy(k.key("a"), &loose).expect("copy");
    chmod(&loose, 0o640);
    let cert_as_key = dir.join("cert-as-key.pem");
    std::fs::copy(k.cert("a"), &cert_as_key).expect("copy");
    chmod(&cert_as_key, 0o600);
    let garbage_cert = dir.join("garbage.crt");
    std::fs::write(&garbage_cert, "not a certificate\n").expect("write");
    let missing = dir.join("missing.key");
    let p = |p: &Path| p.display().to_string();
    // What, the build's arguments, its environment, the error it must print.
    type Case<'a> = (&'a str, Vec<String>, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "missing key",
            vec![
                "--secure-boot-key".into(),
                p(&missing),
                "--secure-boot-cert".into(),
                p(&k.cert("a")),
            ],
            vec![],
            "the Secure Boot key (from --secure-boot-key) cannot be read",
        ),
        (
            "key readable by group",
            vec![
                "--secure-boot-key".into(),
                p(&loose),
                "--secure-boot-cert".into(),
                p(&k.cert("a")),
            ],
            vec![],
            "is accessible by group or others (mode 0640)",
        ),
        (
            "a certificate as the key",
            vec![
                "--secure-boot-key".into(),
                p(&cert_as_key),
                "--secure-boot-cert".into(),
                p(&k.cert("a")),
            ],
            vec![],
            "a PEM `CERTIFICATE`, not a private key",
        ),
        (
            "another key's certificate",
            vec![
                "--secure-boot-key".into(),
                p(&k.key("a")),
                "--secure-boot-cert".into(),
                p(&k.cert("b")),
            ],
            vec![],
            "does not match the key (from --secure-boot-key)",
        ),
        (
            "not a certificate",
            vec![
                "--secure-boot-key".into(),
                p(&k.key("a")),
                "--secure-boot-cert".into(),
                p(&garbage_cert),
            ],
            vec![],
            "is not an X.509 certificate",
        ),
        (
            "a key without a certificate",
            vec!["--secure-boot-key".into(), p(&k.key("a"))],
            vec![],
            "but no certificate: give the key's X.509 certificate with --secure-boot-cert",
        ),
        (
            "a missing key from the environment",
            vec![],
            vec![
                ("LINUXKIT_SECURE_BOOT_KEY", p(&missing)),
                ("LINUXKIT_SECURE_BOOT_CERT", p(&k.cert("a"))),
            ],
            "the Secure Boot key (from LINUXKIT_SECURE_BOOT_KEY) cannot be read",
        ),
    ];
    for (what, args, env, want) in cases {
        let out = dir.join("out");
        let o = Command::new(bin())
            .args(["build", "--offline", "-f", "raw-efi", "--dir"])
            .arg(&out)
            .args(&args)
            .arg(&yaml)
            .env_remove("LINUXKIT_SECURE_BOOT_KEY")
            .env_remove("LINUXKIT_SECURE_BOOT_CERT")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .output()
            .expect("cargo-linuxkit runs");
        let (stdout, stderr) = text(&o);
        assert!(!o.status.success(), "{what}: the build succeeded");
        assert!(stderr.contains(want), "{what}: {stderr}");
        for key in [&missing, &loose, &cert_as_key, &k.key("a")] {
            assert!(
                !stderr.contains(&p(key)) && !stdout.contains(&p(key)),
                "{what}: the key's path is printed: {stderr}"
            );
        }
        assert!(!out.exists(), "{what}: {} was created", out.display());
    }

    // --verity on a format without a file system root, and --secure-boot without a certificate.
    let o = run_in(
        &workspace_root(),
        &[
            "build",
            "--offline",
            "-f",
            "kernel+initrd",
            "--verity",
            &p(&yaml),
        ],
    );
    assert!(
        text(&o)
            .1
            .contains("--verity protects a root file system image"),
        "{:?}",
        text(&o)
    );
    let o = Command::new(bin())
        .args(["run", "--secure-boot", "nothing-here"])
        .env_remove("LINUXKIT_SECURE_BOOT_CERT")
        .output()
        .expect("runs");
    assert!(
        text(&o).1.contains("give it with --secure-boot-cert CERT"),
        "{:?}",
        text(&o)
    );
}
