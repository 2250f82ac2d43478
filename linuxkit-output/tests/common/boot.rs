//! Booting outputs under QEMU (`-accel tcg -smp 1`) with Debian's kernel and a busybox
//! initramfs whose `/init` prints a marker and powers off.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use linuxkit_run::Vm;

use super::{noise, E};

/// What `/init` prints once it runs.
pub const MARKER: &str = "LINUXKIT-OUTPUT-BOOT-OK";

/// Debian's kernel (`linux-image-amd64`), if installed.
pub fn debian_kernel() -> Option<PathBuf> {
    let mut k: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    k.sort();
    k.pop()
}

/// Everything a boot test needs, or the reason to skip.
pub fn prerequisites(extra: &[&str]) -> Result<PathBuf, String> {
    let kernel =
        debian_kernel().ok_or("no /boot/vmlinuz-*: apt-get install -y linux-image-amd64")?;
    for p in ["/bin/busybox", "/usr/bin/qemu-system-x86_64"]
        .iter()
        .chain(extra)
    {
        if !Path::new(p).exists() {
            return Err(format!("{p} missing (see scripts/setup)"));
        }
    }
    Ok(kernel)
}

/// A root filesystem tar's entries for a bootable busybox system. `pad` adds a large file so
/// the initrd has several gzip members.
pub fn busybox_rootfs(kernel: &Path, cmdline: &str, pad: usize) -> Vec<E> {
    let init = format!("#!/bin/busybox sh\n/bin/busybox echo {MARKER}\n/bin/busybox poweroff -f\n");
    let mut v = vec![
        E::dir("boot"),
        E::file("boot/kernel", &std::fs::read(kernel).expect("read kernel")),
        E::file("boot/cmdline", cmdline.as_bytes()),
        E::dir("bin"),
        E::file(
            "bin/busybox",
            &std::fs::read("/bin/busybox").expect("read busybox"),
        )
        .mode(0o755),
        E::symlink("bin/sh", "busybox"),
        E::dir("dev"),
        E::dev("dev/console", tar::EntryType::Char, 5, 1),
        E::file("init", init.as_bytes()).mode(0o755),
    ];
    if pad > 0 {
        v.push(E::file("var/pad.bin", &noise(pad, 3)));
        v.push(E::hardlink("var/pad-link", "var/pad.bin"));
    }
    v
}

/// Result of one boot.
pub struct Booted {
    /// Seconds from start to the marker.
    pub secs: f64,
    /// The console output.
    pub console: String,
}

/// Runs QEMU with `args` (after the common ones) until the marker appears or `timeout`.
pub fn boot(args: &[String], timeout: Duration) -> Result<Booted, String> {
    boot_until(args, MARKER, timeout)
}

/// Runs QEMU with `args` until `marker` appears on the console or `timeout` (extended while
/// the console makes progress; see `linuxkit_run::console`).
pub fn boot_until(
    args: &[String],
    marker: &'static str,
    timeout: Duration,
) -> Result<Booted, String> {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-accel",
        "tcg",
        "-smp",
        "1",
        "-m",
        "512",
        "-nographic",
        "-no-reboot",
    ])
    .args([
        "-nic", "none", "-monitor", "none", "-serial", "stdio", "-display", "none",
    ])
    .args(args)
    .stdin(Stdio::null())
    .stderr(Stdio::inherit());
    let start = Instant::now();
    let mut vm = Vm::spawn(cmd).map_err(|e| e.to_string())?;
    vm.wait_for(marker, timeout).map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!("booted to the marker in {secs:.1} s");
    vm.shutdown();
    Ok(Booted {
        secs,
        console: vm.console_text(),
    })
}

/// OVMF firmware arguments with a per-VM copy of the variables file in `dir`.
pub fn ovmf_args(dir: &Path) -> Result<Vec<String>, String> {
    let code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    let vars = "/usr/share/OVMF/OVMF_VARS_4M.fd";
    if !Path::new(code).exists() {
        return Err("OVMF missing: apt-get install -y ovmf".into());
    }
    let copy = dir.join("OVMF_VARS.fd");
    std::fs::copy(vars, &copy).map_err(|e| e.to_string())?;
    Ok(vec![
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={code}"),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", copy.display()),
    ])
}
