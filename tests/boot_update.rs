//! A/B updates end to end: `cargo linuxkit push` to a real `docker-registry` on loopback, an
//! updatable `raw-efi` disk booted by `cargo linuxkit run` (QEMU TCG, OVMF, systemd-boot from
//! Debian's `systemd-boot-efi`), and the update agent in the guest pulling through QEMU's
//! user network (`10.0.2.2` is the host).
//!
//! One VM goes through every boot path once, with one boot try per new version (`--tries 1`):
//! v1 as built; v2 pushed, installed, rebooted into and blessed; v3, whose service keeps
//! failing, rolled back by its own agent's reboot; v4, whose kernel finds no init and panics,
//! rolled back by systemd-boot; each bad one refused when seen again. Then v5 is pushed and
//! QEMU is killed while the agent writes it: the next start of the same disk still runs v2 and
//! removes the partial file. Seven boots in all.
//! (QEMU is killed with SIGKILL, by the pid in the run's state directory.)
//!
//! The bad inputs that need no boot (an artifact of another type or architecture, a UKI whose
//! bytes do not match its digest, one larger than the ESP's free space, an unsigned one where
//! the running version is signed) go through the agent's own checks
//! (`linuxkit_update::agent::check`) against the same registry, on the host.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cli_support::{run_in, run_tcg, start_registry, text, workspace_root, Registry, REGISTRY};
use linuxkit_oci::store::Platform;
use linuxkit_resolve::{ProgressMode, Resolver, ResolverOptions};
use linuxkit_testing::{on_path, prerequisite, qemu_present, Vm};
use linuxkit_update::agent::check::{self, Failure, Verdict};
use linuxkit_update::agent::verify;
use linuxkit_update::artifact::{self, Blob, SystemInfo};
use linuxkit_update::esp::State;
use serde_json::Value;

/// Generous: OVMF, systemd-boot and a bzImage under TCG on a loaded 2-core machine; waits are
/// extended by console progress.
const WAIT: Duration = Duration::from_secs(300);
const MODULES: &str = "overlay,ahci,sd_mod,virtio_net,virtio_pci,vfat,nls_cp437,nls_ascii,efivarfs";

struct Fixture {
    dir: PathBuf,
    registry: Registry,
    /// The v1 disk.
    disk: PathBuf,
}

impl Fixture {
    fn port(&self) -> &str {
        self.registry.addr.rsplit(':').next().unwrap_or_default()
    }
}

/// `<dir>/v<version>/os.yml`: our init, a network setup for QEMU's user network, a `marker`
/// service (in `svc`) running `script`, and the update agent pulling `os:stable` from the
/// host's registry every 2 s, with one boot try, healthy after 3 s, given up after 15 s, on a
/// 128 MiB ESP.
fn definition(
    dir: &Path,
    port: &str,
    version: u32,
    svc: &Path,
    script: &str,
    cmdline: &str,
) -> PathBuf {
    let base = dir.join(format!("v{version}"));
    std::fs::create_dir_all(&base).expect("create the definition directory");
    let net = "ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; \
               ip route add default via 10.0.2.2";
    let yaml = format!(
        r#"kernel:
  image: kernel:host?modules={MODULES}
  cmdline: "console=ttyS0 {cmdline}"
init:
  - init:linuxkit-init
onboot:
  - name: net
    image: dir:{svc}
    net: host
    capabilities: [CAP_NET_ADMIN]
    command: ["/bin/busybox", "sh", "-c", "{net}"]
services:
  - name: marker
    image: dir:{svc}
    command: ["/bin/busybox", "sh", "-c", "{script}"]
  - name: update
    image: init:linuxkit-update
    command: ["/usr/bin/linuxkit-update", "--from", "10.0.2.2:{port}/os:stable",
              "--insecure-registry", "10.0.2.2:{port}", "--interval", "2", "--tries", "1",
              "--healthy-after", "3", "--health-timeout", "15", "--esp-size", "128"]
"#,
        svc = svc.display()
    );
    let path = base.join("os.yml");
    std::fs::write(&path, yaml).expect("write the definition");
    path
}

/// A service image directory with the host's busybox (and `pad` bytes of random data).
fn service_dir(dir: &Path, name: &str, pad: usize) -> PathBuf {
    let svc = dir.join(name);
    std::fs::create_dir_all(svc.join("bin")).expect("create svc/bin");
    std::fs::copy("/bin/busybox", svc.join("bin/busybox"))
        .expect("copy /bin/busybox (apt-get install busybox-static)");
    if pad > 0 {
        let mut data = vec![0u8; pad];
        let mut f = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
        std::io::Read::read_exact(&mut f, &mut data).expect("random data");
        std::fs::write(svc.join("pad"), data).expect("write pad");
    }
    svc
}

fn good_script(version: u32) -> String {
    format!("echo SYSTEM-VERSION-{version}; exec sleep 1000000")
}

/// The registry (stopped when the fixture is dropped: one test owns it) and the v1 disk.
fn fixture() -> Option<Fixture> {
    if !qemu_present()
        || !prerequisite(
            Path::new(REGISTRY).exists(),
            REGISTRY,
            "apt-get install docker-registry",
        )
        || !prerequisite(
            Path::new("/usr/lib/systemd/boot/efi/systemd-bootx64.efi").exists(),
            "systemd-boot",
            "apt-get install systemd-boot-efi",
        )
        || !prerequisite(
            Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd").exists(),
            "OVMF",
            "apt-get install ovmf",
        )
    {
        return None;
    }
    let dir = workspace_root().join("target/boot-update");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("registry")).expect("create target/boot-update");
    let registry = start_registry(&dir.join("registry"));
    let f = Fixture {
        disk: dir.join("out1/os-efi.img"),
        dir,
        registry,
    };
    let svc = service_dir(&f.dir, "svc", 0);
    let v1 = definition(&f.dir, f.port(), 1, &svc, &good_script(1), "");
    let out = f.dir.join("out1");
    let o = run_in(
        &workspace_root(),
        &[
            "build",
            "--format",
            "raw-efi",
            "--dir",
            &out.display().to_string(),
            &v1.display().to_string(),
        ],
    );
    assert!(o.status.success(), "build v1: {:?}", text(&o));
    Some(f)
}

/// `cargo linuxkit push` of `yaml` as `version` to `target` (`REPO:TAG` on the fixture's
/// registry); returns the pushed manifest digest from its JSON message.
fn push(f: &Fixture, yaml: &Path, version: u32, target: &str, extra: &[&str]) -> String {
    let out = f
        .dir
        .join(format!("push{version}-{}", target.replace(':', "-")));
    let registry = format!("{}/{target}", f.registry.addr);
    let out_arg = out.display().to_string();
    let version_arg = version.to_string();
    let mut args = vec![
        "--message-format",
        "json",
        "push",
        "--version",
        &version_arg,
        "--dir",
        &out_arg,
        "--registry",
        &registry,
    ];
    args.extend_from_slice(extra);
    let yaml_arg = yaml.display().to_string();
    args.push(&yaml_arg);
    let o = run_in(&workspace_root(), &args);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "push v{version}:\n{stderr}\n{stdout}");
    let message = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["reason"] == "linuxkit-pushed")
        .unwrap_or_else(|| panic!("no linuxkit-pushed message:\n{stdout}"));
    assert_eq!(message["version"], version_arg.as_str());
    assert_eq!(message["updatable"], true);
    message["digest"]
        .as_str()
        .expect("the pushed digest")
        .to_string()
}

/// `cargo linuxkit run` of the fixture's disk with user networking and its state in `state`.
fn run(f: &Fixture) -> Vm {
    let mut cmd = run_tcg(&f.dir.join("state"), "user", None);
    cmd.arg(&f.disk);
    Vm::spawn(cmd).expect("cargo linuxkit run starts")
}

/// Kills the fixture's QEMU when dropped (declared after the [`Vm`], so dropped before it): a
/// failed test must not leave QEMU running when it kills `cargo linuxkit run`.
struct KillOnDrop<'a>(&'a Fixture);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let pidfile = self.0.dir.join("state/qemu.pid");
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).output();
            let _ = std::fs::remove_file(&pidfile);
        }
    }
}

/// Kills the fixture's QEMU with SIGKILL (its pid from the run's state directory).
fn kill_qemu(f: &Fixture) {
    let pidfile = f.dir.join("state/qemu.pid");
    let pid = std::fs::read_to_string(&pidfile).expect("QEMU's pid file");
    let o = Command::new("kill")
        .args(["-KILL", pid.trim()])
        .output()
        .expect("kill runs");
    assert!(o.status.success(), "kill -KILL {pid}: {o:?}");
    // SIGKILL leaves the file: no later kill may hit a reused pid.
    std::fs::remove_file(&pidfile).expect("remove QEMU's pid file");
}

/// When the first console line containing `needle` at or after `from` appeared.
fn time_of(vm: &Vm, needle: &str) -> Duration {
    vm.timed_console()
        .iter()
        .find(|(_, l)| l.contains(needle))
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("{needle:?} not on the console:\n{}", vm.console_text()))
}

fn count(vm: &Vm, needle: &str) -> usize {
    vm.console().iter().filter(|l| l.contains(needle)).count()
}

/// One test owns the registry and the disk (a fixture in a static would never be dropped, and
/// its registry would outlive the test process): the refusals first (no boot), then the boots.
#[test]
fn a_b_updates_end_to_end() {
    let Some(f) = fixture() else { return };
    bad_artifacts_are_refused_with_what_is_wrong(&f);
    updates_roll_forward_and_back_across_reboots(&f);
}

fn updates_roll_forward_and_back_across_reboots(f: &Fixture) {
    let mut vm = run(f);
    let guard = KillOnDrop(f);
    vm.wait_for("SYSTEM-VERSION-1", WAIT).expect("v1 boots");
    vm.wait_for("linuxkit-update: running os (", WAIT)
        .expect("the agent reports the built version");

    // v2: pushed, installed, rebooted into, healthy, blessed.
    let svc = f.dir.join("svc");
    let v2 = definition(&f.dir, f.port(), 2, &svc, &good_script(2), "");
    let pushed = Instant::now();
    let d2 = push(f, &v2, 2, "os:stable", &[]);
    let line = vm.wait_for("SYSTEM-VERSION-2", WAIT).expect("v2 runs");
    let to_v2 = pushed.elapsed();
    assert!(line.contains("marker"), "{line}");
    let status = vm
        .wait_for("linuxkit-update: running os 2", WAIT)
        .expect("the agent reports v2");
    assert!(status.contains("updated from os"), "{status}");
    vm.wait_for("os 2 is healthy", WAIT).expect("v2 is blessed");

    // v3: its service never stays up; its agent gives up and reboots, v2 comes back.
    let v3 = definition(
        &f.dir,
        f.port(),
        3,
        &svc,
        "echo SYSTEM-VERSION-3; sleep 1; exit 1",
        "",
    );
    let d3 = push(f, &v3, 3, "os:stable", &[]);
    vm.wait_for("SYSTEM-VERSION-3", WAIT).expect("v3 is tried");
    vm.wait_for("os 3 is not healthy", WAIT)
        .expect("v3's agent finds it unhealthy");
    let rolled = vm
        .wait_for("rolled back: os 3", WAIT)
        .expect("v3 rolled back");
    assert!(rolled.contains("os 2 runs again"), "{rolled}");
    let v3_to_rollback = time_of(&vm, "rolled back: os 3") - time_of(&vm, "installed os 3");
    vm.wait_for(
        &format!("refused 10.0.2.2:{}/os:stable@{d3}", f.port()),
        WAIT,
    )
    .expect("v3 is not retried");

    // v4: no init, the kernel panics and reboots; systemd-boot falls back to v2.
    let v4 = definition(
        &f.dir,
        f.port(),
        4,
        &svc,
        &good_script(4),
        "rdinit=/does-not-exist",
    );
    let d4 = push(f, &v4, 4, "os:stable", &[]);
    vm.wait_for("installed os 4", WAIT)
        .expect("v4 is installed");
    let rolled = vm
        .wait_for("rolled back: os 4", WAIT)
        .expect("v4 rolled back");
    assert!(rolled.contains("never became healthy"), "{rolled}");
    let v4_to_rollback = time_of(&vm, "rolled back: os 4") - time_of(&vm, "installed os 4");
    vm.wait_for(
        &format!("refused 10.0.2.2:{}/os:stable@{d4}", f.port()),
        WAIT,
    )
    .expect("v4 is not retried");
    assert_eq!(count(&vm, "SYSTEM-VERSION-4"), 0, "{}", vm.console_text());
    assert_eq!(count(&vm, "installing os 3"), 1, "{}", vm.console_text());
    assert_eq!(count(&vm, "installing os 4"), 1, "{}", vm.console_text());

    // v5 (64 MiB more, so that its write takes a few seconds): QEMU killed (SIGKILL, a power
    // cut for the guest) while the agent writes it.
    let big = service_dir(&f.dir, "svc5", 64 << 20);
    let v5 = definition(&f.dir, f.port(), 5, &big, &good_script(5), "");
    push(f, &v5, 5, "os:stable", &[]);
    vm.wait_for("writing os 5", WAIT)
        .expect("v5 is downloaded and checked");
    vm.wait_for("space for os 5 allocated", WAIT)
        .expect("v5's space on the ESP is allocated");
    // Into the write of its ~80 MiB, which takes seconds under TCG (the next start removing
    // the partial file, and no "installed" line, show the kill landed in it).
    std::thread::sleep(Duration::from_millis(300));
    kill_qemu(f);
    vm.wait_exit(WAIT)
        .expect("cargo linuxkit run ends with QEMU");
    let first = vm.console_text();
    assert!(!first.contains("installed os 5"), "{first}");

    drop(guard);
    let mut vm = run(f);
    let _guard = KillOnDrop(f);
    vm.wait_for("removed linuxkit/incoming.partial", WAIT)
        .expect("the interrupted write is cleaned up");
    vm.wait_for("linuxkit-update: running os 2", WAIT)
        .expect("v2 still runs after the interrupted write");
    assert_eq!(count(&vm, "SYSTEM-VERSION-5"), 0, "{}", vm.console_text());
    // The ESP is still consistent: Linux did not find an error in its allocation table.
    assert_eq!(
        count(&vm, "FAT-fs (sda1): error"),
        0,
        "{}",
        vm.console_text()
    );
    assert!(
        vm.console_text().contains("SYSTEM-VERSION-2"),
        "{}",
        vm.console_text()
    );
    kill_qemu(f);
    vm.wait_exit(WAIT)
        .expect("cargo linuxkit run ends with QEMU");
    eprintln!(
        "measured: push to v2 running {:.1} s (v2 {d2}); v3 (unhealthy) install to rollback \
         {:.1} s; v4 (panics) install to rollback {:.1} s",
        to_v2.as_secs_f64(),
        v3_to_rollback.as_secs_f64(),
        v4_to_rollback.as_secs_f64()
    );
}

/// The registry client the agent uses, on the host.
fn resolver(f: &Fixture) -> Resolver {
    Resolver::new(ResolverOptions {
        cache_dir: Some(f.dir.join("agent-cache")),
        platform: Platform::linux("amd64"),
        progress: ProgressMode::Quiet,
        ..ResolverOptions::default()
    })
    .expect("a registry client")
}

/// The UKI of a built raw-efi disk.
fn uki_of(disk: &Path) -> Vec<u8> {
    let mut uki = Vec::new();
    linuxkit_output::read_built_disk(disk, &mut uki).expect("read the built disk");
    uki
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Pushes `uki` (a blob) and a manifest naming it with `info` as `REPO:TAG`; returns the
/// manifest's reference with the fixture's registry.
fn push_artifact(r: &Resolver, f: &Fixture, target: &str, uki: &[u8], info: &SystemInfo) -> String {
    let reference = format!("{}/{target}", f.registry.addr);
    let path = f.dir.join(format!("{}.blob", target.replace(':', "-")));
    std::fs::write(&path, uki).expect("write the blob");
    let blob = Blob {
        media_type: artifact::UKI_MEDIA_TYPE.into(),
        digest: sha256(uki).parse().expect("a sha256 digest"),
        size: uki.len() as u64,
        annotations: None,
    };
    let config = f.dir.join("empty.json");
    std::fs::write(&config, artifact::EMPTY_CONFIG).expect("write the config");
    let desc = |b: &Blob| linuxkit_oci::store::Descriptor {
        media_type: b.media_type.clone(),
        digest: b.digest.clone(),
        size: b.size,
        platform: None,
        annotations: None,
    };
    let empty = artifact::empty_config();
    r.push_blobs(&reference, &[(desc(&empty), config), (desc(&blob), path)])
        .expect("push the blobs");
    let manifest = artifact::manifest(info, blob, None);
    r.push_manifest(&reference, &manifest, artifact::MANIFEST_MEDIA_TYPE)
        .expect("push the manifest");
    reference
}

fn judge_at(r: &Resolver, reference: &str, available: u64) -> Verdict {
    let (raw, desc) = r
        .fetch_manifest(reference)
        .expect("fetch the manifest")
        .expect("the manifest exists");
    let state = State::default();
    check::judge(
        &raw,
        &desc.digest,
        &check::Running {
            architecture: "amd64",
            uki: "sha256:0000",
            state: &state,
            available,
        },
    )
}

fn info(arch: &str) -> SystemInfo {
    SystemInfo {
        name: "os".into(),
        version: "9".into(),
        architecture: arch.into(),
        lock: None,
    }
}

fn bad_artifacts_are_refused_with_what_is_wrong(f: &Fixture) {
    let r = resolver(f);
    let svc = f.dir.join("svc");
    let v9 = definition(&f.dir, f.port(), 9, &svc, &good_script(9), "");
    // A good artifact, pushed by the CLI: installable, and its UKI downloads and checks.
    push(f, &v9, 9, "checks:good", &[]);
    let good = format!("{}/checks:good", f.registry.addr);
    let Verdict::Install(a) = judge_at(&r, &good, 1 << 30) else {
        panic!("the good artifact is not installable")
    };
    let dest = f.dir.join("good.efi");
    check::download(&r, &good, &a, &dest, None).expect("the good UKI downloads");
    let uki = std::fs::read(&dest).expect("the downloaded UKI");

    // Too large for the ESP.
    match judge_at(&r, &good, a.uki.size - 1) {
        Verdict::Refuse(why) => assert!(why.contains("larger than the free space"), "{why}"),
        v => panic!("{v:?}"),
    }
    // Another architecture.
    let arm = push_artifact(&r, f, "checks:arm64", &uki, &info("arm64"));
    match judge_at(&r, &arm, 1 << 30) {
        Verdict::Refuse(why) => assert!(
            why.contains("for arm64, and this system runs on amd64"),
            "{why}"
        ),
        v => panic!("{v:?}"),
    }
    // Another artifact type: an ordinary image manifest.
    let image_ref = format!("{}/checks:image", f.registry.addr);
    let config = f.dir.join("config.json");
    std::fs::write(&config, b"{\"architecture\":\"amd64\",\"os\":\"linux\"}").expect("config");
    let config_bytes = std::fs::read(&config).expect("config");
    let config_desc = linuxkit_oci::store::Descriptor {
        media_type: "application/vnd.oci.image.config.v1+json".into(),
        digest: sha256(&config_bytes).parse().expect("a sha256 digest"),
        size: config_bytes.len() as u64,
        platform: None,
        annotations: None,
    };
    r.push_blobs(&image_ref, &[(config_desc.clone(), config)])
        .expect("push the config");
    let image = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": artifact::MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": config_desc.media_type, "digest": config_desc.digest, "size": config_desc.size},
        "layers": [],
    });
    r.push_manifest(
        &image_ref,
        &serde_json::to_vec(&image).expect("json"),
        artifact::MANIFEST_MEDIA_TYPE,
    )
    .expect("push the image manifest");
    match judge_at(&r, &image_ref, 1 << 30) {
        Verdict::Refuse(why) => assert!(why.contains("not a cargo-linuxkit system"), "{why}"),
        v => panic!("{v:?}"),
    }

    // A UKI whose stored bytes no longer match its digest (the registry's storage damaged).
    let mut other = uki.clone();
    other.extend_from_slice(b"tampered");
    let tampered = push_artifact(&r, f, "checks:tampered", &other, &info("amd64"));
    let hex = sha256(&other)[7..].to_string();
    let stored = f
        .dir
        .join("registry/data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    let mut bytes = std::fs::read(&stored).expect("the stored blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&stored, bytes).expect("damage the stored blob");
    let Verdict::Install(t) = judge_at(&r, &tampered, 1 << 30) else {
        panic!("the tampered artifact's manifest is fine")
    };
    let dest = f.dir.join("tampered.efi");
    match check::download(&r, &tampered, &t, &dest, None) {
        Err(Failure::Refuse(why)) => assert!(why.contains("does not match its digest"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(!dest.exists(), "a refused UKI is removed");

    // Unsigned where the running version is signed (and signed by the same key: accepted).
    if !prerequisite(
        on_path("openssl").is_some(),
        "openssl",
        "apt-get install openssl",
    ) {
        return;
    }
    let keys = f.dir.join("keys");
    std::fs::create_dir_all(&keys).expect("key dir");
    let o = Command::new("openssl")
        .args([
            "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        ])
        .args(["-subj", "/CN=boot_update test key"])
        .arg("-keyout")
        .arg(keys.join("k.key"))
        .arg("-out")
        .arg(keys.join("k.crt"))
        .output()
        .expect("openssl runs");
    assert!(o.status.success(), "openssl: {o:?}");
    let signed_ref = format!("{}/checks:signed", f.registry.addr);
    push(
        f,
        &v9,
        9,
        "checks:signed",
        &[
            "--secure-boot-key",
            &keys.join("k.key").display().to_string(),
            "--secure-boot-cert",
            &keys.join("k.crt").display().to_string(),
        ],
    );
    let Verdict::Install(s) = judge_at(&r, &signed_ref, 1 << 30) else {
        panic!("the signed artifact is installable")
    };
    let signed_path = f.dir.join("signed.efi");
    check::download(&r, &signed_ref, &s, &signed_path, None).expect("the signed UKI");
    let signer = verify::signer(&std::fs::read(&signed_path).expect("signed UKI"))
        .expect("its signature verifies")
        .expect("it is signed");
    assert!(
        signer.subject.contains("boot_update test key"),
        "{}",
        signer.subject
    );
    let dest = f.dir.join("unsigned.efi");
    match check::download(&r, &good, &a, &dest, Some(&signer)) {
        Err(Failure::Refuse(why)) => assert!(why.contains("it is not signed"), "{why}"),
        other => panic!("{other:?}"),
    }
    let again = f.dir.join("signed-again.efi");
    check::download(&r, &signed_ref, &s, &again, Some(&signer))
        .expect("a UKI signed by the running version's key is accepted");
    // The built disk's UKI is what was pushed.
    assert_eq!(uki_of(&f.dir.join("push9-checks-good/os-efi.img")), uki);
}
