//! Containers through youki's libcontainer: create from a LinuxKit bundle with the given
//! stdio, start, signal, delete.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

use crate::error::{InitError, Result};

/// Where libcontainer keeps container state (on the `/run` tmpfs).
pub const STATE_ROOT: &str = "/run/linuxkit-init";

fn err<'a>(
    id: &'a str,
    what: &'static str,
) -> impl FnOnce(libcontainer::error::LibcontainerError) -> InitError + 'a {
    move |source| InitError::Container {
        id: id.to_string(),
        what,
        source: Box::new(source),
    }
}

/// Creates (but does not start) container `id` from `bundle`, with stdin `/dev/null` and the
/// given stdout/stderr. A stale state directory of the same id is removed first.
pub fn create(id: &str, bundle: &Path, stdout: OwnedFd, stderr: OwnedFd) -> Result<Container> {
    remove_stale(id);
    let devnull = fs::File::open("/dev/null").map_err(|source| InitError::Io {
        what: "open",
        path: PathBuf::from("/dev/null"),
        source,
    })?;
    ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(STATE_ROOT)
        .map_err(err(id, "set state directory"))?
        .with_stdin(devnull)
        .with_stdout(stdout)
        .with_stderr(stderr)
        .validate_id()
        .map_err(err(id, "validate id"))?
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(err(id, "create"))
}

/// Starts a created container.
pub fn start(c: &mut Container) -> Result<()> {
    let id = c.id().to_string();
    c.start().map_err(err(&id, "start"))
}

/// Sends `sig` to every process of the container (through its cgroup).
pub fn kill(c: &mut Container, sig: nix::sys::signal::Signal) -> Result<()> {
    let id = c.id().to_string();
    c.kill(sig, true).map_err(err(&id, "kill"))
}

/// Deletes the container (killing what is left) and its state.
pub fn delete(mut c: Container) -> Result<()> {
    let id = c.id().to_string();
    c.delete(true).map_err(err(&id, "delete"))
}

fn remove_stale(id: &str) {
    let dir = Path::new(STATE_ROOT).join(id);
    if !dir.exists() {
        return;
    }
    if let Ok(mut c) = Container::load(dir.clone()) {
        let _ = c.delete(true);
    }
    let _ = fs::remove_dir_all(&dir);
}
