//! `cargo linuxkit run` under TCG: an image built from LinuxKit YAML (busybox + an /init that
//! prints a marker and powers off) boots with Debian's kernel, and the guest's poweroff is the
//! exit status; a guest that never stops is ended by `--timeout` or by SIGINT.

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{bin, run_in, text};

/// A kernel from `linux-image-amd64`.
fn debian_kernel() -> PathBuf {
    let mut k: Vec<PathBuf> = std::fs::read_dir("/boot")
        .expect("/boot exists")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    k.sort();
    k.pop()
        .expect("no /boot/vmlinuz-*: install the Debian package linux-image-amd64")
}

/// Builds `<dir>/out/vm-{initrd.img,kernel,cmdline}` whose /init runs `script_tail`.
fn build_vm(dir: &Path, script_tail: &str) -> PathBuf {
    let init =
        format!("#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs devtmpfs /dev\n{script_tail}\n");
    let mut yaml = String::from(
        "files:\n  - path: dev\n    directory: true\n  - path: bin/busybox\n    source: /bin/busybox\n    mode: \"0755\"\n  - path: init\n    mode: \"0755\"\n    contents: |\n",
    );
    for l in init.lines() {
        yaml.push_str(&format!("      {l}\n"));
    }
    std::fs::write(dir.join("vm.yml"), yaml).unwrap();
    let o = run_in(dir, &["build", "--dir", "out", "vm.yml"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let out = dir.join("out");
    std::fs::copy(debian_kernel(), out.join("vm-kernel")).unwrap();
    std::fs::write(out.join("vm-cmdline"), "console=ttyS0 quiet panic=-1\n").unwrap();
    out.join("vm")
}

#[test]
fn boots_prints_marker_and_reports_poweroff() {
    let d = tempfile::tempdir().unwrap();
    build_vm(
        d.path(),
        "echo CLI-RUN-MARKER > /dev/console\n/bin/busybox poweroff -f",
    );
    let o = run_in(
        d.path(),
        &[
            "run",
            "--accel",
            "tcg",
            "--mem",
            "256",
            "--timeout",
            "120",
            "out",
        ],
    );
    let (out, err) = text(&o);
    assert!(
        out.contains("CLI-RUN-MARKER"),
        "stdout: {out}\nstderr: {err}"
    );
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("guest powered off"), "{err}");
    assert!(
        err.contains("PVH vmlinux"),
        "TCG boots use the extracted vmlinux: {err}"
    );
    assert!(d.path().join("out/vm-kernel.vmlinux").is_file());
    assert!(d.path().join("out/vm-state/mac-addr").is_file());
}

#[test]
fn timeout_and_sigint_stop_the_vm() {
    let d = tempfile::tempdir().unwrap();
    build_vm(d.path(), "while true; do /bin/busybox sleep 10; done");

    let o = run_in(
        d.path(),
        &[
            "run",
            "--accel",
            "tcg",
            "--mem",
            "256",
            "--timeout",
            "3",
            "out/vm",
        ],
    );
    assert_eq!(o.status.code(), Some(124), "{:?}", text(&o));
    assert!(text(&o).1.contains("timed out"));

    let child = Command::new(bin())
        .args(["run", "--accel", "tcg", "--mem", "256", "out/vm"])
        .current_dir(d.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pidfile = d.path().join("out/vm-state/qemu.pid");
    let start = Instant::now();
    let qemu_pid = loop {
        if let Ok(s) = std::fs::read_to_string(&pidfile) {
            if let Ok(p) = s.trim().parse::<u32>() {
                if Path::new(&format!("/proc/{p}")).exists() {
                    break p;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "QEMU never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted"));
    // QEMU is gone (or a zombie already reaped by cargo-linuxkit).
    let stat = std::fs::read_to_string(format!("/proc/{qemu_pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty(), "QEMU {qemu_pid} still running: {stat}");
}
