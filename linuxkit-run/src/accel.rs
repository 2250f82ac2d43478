//! Choosing the accelerator: KVM only where it really works.
//!
//! `/dev/kvm` existing is not enough: nested or paravirtual KVM without hardware virtualisation
//! (no `vmx`/`svm` CPU flag) makes guests die with emulation failures. So KVM is chosen only when
//! `/dev/kvm` opens read-write, the CPU advertises `vmx` or `svm`, and a QEMU started with
//! `-accel kvm` (and no guest) is still alive after a short probe window.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The accelerator finally used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation.
    Tcg,
    /// A name passed through verbatim.
    Other(String),
}

impl Chosen {
    /// The name QEMU's `-accel` takes.
    pub fn qemu_name(&self) -> &str {
        match self {
            Chosen::Kvm => "kvm",
            Chosen::Tcg => "tcg",
            Chosen::Other(s) => s,
        }
    }
}

/// Does the CPU advertise hardware virtualisation (`vmx` or `svm` in `/proc/cpuinfo`)?
pub fn cpu_has_virt_flags(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// True when KVM is usable: device, CPU flags, and a QEMU probe that does not fail at once.
pub fn kvm_works(qemu: &Path) -> bool {
    let dev_ok = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let flags_ok = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| cpu_has_virt_flags(&c))
        .unwrap_or(false);
    dev_ok && flags_ok && probe(qemu, Duration::from_millis(800))
}

/// Starts QEMU with KVM and no guest; KVM works when QEMU is still running after `window`.
fn probe(qemu: &Path, window: Duration) -> bool {
    let child = Command::new(qemu)
        .args([
            "-accel",
            "kvm",
            "-machine",
            "q35",
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let start = Instant::now();
    while start.elapsed() < window {
        match child.try_wait() {
            Ok(Some(_)) => return false,
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virt_flags_are_read_from_flags_lines_only() {
        assert!(cpu_has_virt_flags(
            "processor: 0\nflags\t\t: fpu vme vmx sse\n"
        ));
        assert!(cpu_has_virt_flags("flags : svm lm\n"));
        assert!(!cpu_has_virt_flags(
            "flags\t\t: fpu hypervisor lm\nmodel name: vmx-looking cpu\n"
        ));
    }
}
