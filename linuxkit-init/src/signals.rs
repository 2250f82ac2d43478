//! Signals to PID 1 as bytes on a self-pipe, so the event loop sees them in `poll(2)`.
//! (A blocked mask and signalfd would be inherited by every container process.)

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::OFlag;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::error::{Result, SysContext};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signo: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = signo as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a local byte.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// What PID 1 was asked to do by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// busybox `poweroff` (SIGUSR2), SIGPWR.
    PowerOff,
    /// busybox `reboot` (SIGTERM), ctrl-alt-del (SIGINT).
    Reboot,
    /// busybox `halt` (SIGUSR1).
    Halt,
}

/// Maps a signal number to a shutdown action (None for SIGCHLD and others).
pub fn action(signo: i32) -> Option<Action> {
    match Signal::try_from(signo).ok()? {
        Signal::SIGUSR2 | Signal::SIGPWR => Some(Action::PowerOff),
        Signal::SIGTERM | Signal::SIGINT => Some(Action::Reboot),
        Signal::SIGUSR1 => Some(Action::Halt),
        _ => None,
    }
}

/// Installs the handlers and returns the read end of the pipe. Ctrl-alt-del is turned into
/// SIGINT (instead of an immediate reboot by the kernel).
pub fn install() -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).sys(|| "pipe".into())?;
    WRITE_FD.store(w.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(w); // lives as long as PID 1
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPWR,
    ] {
        // SAFETY: the handler only calls write(2) on an fd that stays open.
        unsafe { sigaction(sig, &act) }.sys(|| format!("install handler for {sig}"))?;
    }
    let _ = nix::sys::reboot::set_cad_enabled(false);
    Ok(r)
}
