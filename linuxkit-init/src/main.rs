//! `linuxkit-init`: PID 1 for LinuxKit guests, running the `/containers` layout that
//! `linuxkit build` writes (OCI bundles with `config.json` + `runtime.json`) with youki's
//! libcontainer.
//!
//! Boot: [`early`] (console, switch to a tmpfs root, mounts, hostname, resolv.conf), kernel
//! [`modules`], volume overlays ([`runtime::volumes`]), then [`supervisor`]: onboot bundles in
//! order, services supervised with restart and logging, and on poweroff/reboot/halt signals
//! the services are stopped, the onshutdown bundles run, and the machine powers off.
//! PID 1 never exits: every error is logged and the boot continues.

mod container;
mod early;
mod error;
mod log;
mod modules;
mod mountopts;
mod netlink;
mod runtime;
mod signals;
mod supervisor;
#[cfg(feature = "trace")]
mod trace;

use std::path::Path;
use std::time::Instant;

use signals::Action;

fn main() {
    let t0 = Instant::now();
    early::console();
    if std::process::id() != 1 {
        eprintln!("linuxkit-init: must run as PID 1 (the kernel's init)");
        std::process::exit(2);
    }
    let action = match std::panic::catch_unwind(|| boot(t0)) {
        Ok(a) => a,
        Err(_) => {
            error!("internal error during boot; powering off");
            Action::PowerOff
        }
    };
    let _ = std::panic::catch_unwind(|| finish(action));
    // Not reached unless reboot(2) failed: PID 1 must not exit.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Everything up to a shutdown request; returns the requested action.
fn boot(t0: Instant) -> Action {
    if let Err(e) = early::switch_root() {
        error!("switch to a tmpfs root: {e} (containers may fail to pivot_root)");
    }
    early::mounts();
    #[cfg(feature = "trace")]
    trace::install(&early::cmdline());
    early::banner();
    info!(
        "root switched and mounted in {} ms",
        t0.elapsed().as_millis()
    );
    let sigpipe = match signals::install() {
        Ok(fd) => fd,
        Err(e) => {
            error!("{e}");
            return Action::PowerOff;
        }
    };
    early::rlimits();
    early::hostname();
    early::resolv_conf();
    early::loopback();
    // Modules named in /etc/modules*, and drivers for the devices present; `overlay` and
    // other filesystems are loaded when a mount first needs them.
    let configured = modules::configured();
    let coldplug =
        !early::cmdline().contains("linuxkit.coldplug=0") && modules::coldplug_candidates();
    if !configured.is_empty() || coldplug {
        modules::with(|mods| {
            if mods.is_empty() {
                return;
            }
            mods.load_all(&configured);
            if coldplug {
                mods.coldplug();
            }
        });
        info!("modules loaded at {} ms", t0.elapsed().as_millis());
    }
    runtime::volumes(&Path::new("/").join(linuxkit_bundle::VOLUMES));
    let mut sup = supervisor::Supervisor::new(sigpipe);
    info!(
        "init done in {} ms; running onboot containers",
        t0.elapsed().as_millis()
    );
    sup.run_sequence(
        &Path::new("/").join(linuxkit_bundle::ONBOOT),
        "onboot",
        true,
        None,
    );
    if let Some(a) = sup.requested() {
        return shutdown(&mut sup, a);
    }
    sup.start_services(&Path::new("/").join(linuxkit_bundle::SERVICES));
    let action = sup.supervise();
    shutdown(&mut sup, action)
}

fn shutdown(sup: &mut supervisor::Supervisor, action: Action) -> Action {
    info!("shutting down ({action:?})");
    sup.stop_services(supervisor::STOP_GRACE);
    let timeout = supervisor::onshutdown_timeout(&early::cmdline());
    sup.run_sequence(
        &Path::new("/").join(linuxkit_bundle::ONSHUTDOWN),
        "onshutdown",
        false,
        Some(timeout),
    );
    action
}

/// Kills what is left, syncs, unmounts and powers off / reboots / halts.
fn finish(action: Action) -> ! {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    nix::unistd::sync();
    unmount_all();
    nix::unistd::sync();
    let mode = match action {
        Action::PowerOff => nix::sys::reboot::RebootMode::RB_POWER_OFF,
        Action::Reboot => nix::sys::reboot::RebootMode::RB_AUTOBOOT,
        Action::Halt => nix::sys::reboot::RebootMode::RB_HALT_SYSTEM,
    };
    info!(
        "{}",
        match action {
            Action::PowerOff => "powering off",
            Action::Reboot => "rebooting",
            Action::Halt => "halting",
        }
    );
    let e = nix::sys::reboot::reboot(mode);
    error!("reboot: {e:?}");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Unmounts everything but `/` in reverse mount order (lazily: nothing must block).
fn unmount_all() {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape))
        .filter(|p| p != "/")
        .collect();
    for p in points.iter().rev() {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// mountinfo escapes spaces and friends as `\040`-style octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
