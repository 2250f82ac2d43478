//! The event loop of PID 1: runs onboot bundles in order, starts and supervises services,
//! copies every container's output to the console and `/var/log`, reaps children, and shuts
//! down on request.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcontainer::container::Container;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Result, SysContext};
use crate::signals::{self, Action};
use crate::{container, runtime};
use crate::{error, info};

/// How long services get between SIGTERM and SIGKILL at shutdown.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long each onshutdown container may run before it is killed, unless the kernel command
/// line sets `linuxkit.onshutdown_timeout=SECONDS` (a hung container must not keep the
/// machine from powering off).
pub const ONSHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The onshutdown timeout for kernel command line `cmdline`.
pub fn onshutdown_timeout(cmdline: &str) -> Duration {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("linuxkit.onshutdown_timeout="))
        .and_then(|v| v.parse().ok())
        .map_or(ONSHUTDOWN_TIMEOUT, Duration::from_secs)
}
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A service that ran this long before crashing restarts after the minimum delay again.
const BACKOFF_RESET: Duration = Duration::from_secs(10);

/// One output pipe of a container.
struct Stream {
    fd: OwnedFd,
    owner: String,
    prefix: String,
    partial: Vec<u8>,
    log: Option<fs::File>,
}

impl Stream {
    fn emit(&mut self, line: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(self.prefix.as_bytes());
        let _ = out.write_all(b": ");
        let _ = out.write_all(line);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
        if let Some(log) = &mut self.log {
            let _ = log.write_all(line);
            let _ = log.write_all(b"\n");
        }
    }

    /// Consumes bytes; returns complete lines to the console.
    fn feed(&mut self, data: &[u8]) {
        self.partial.extend_from_slice(data);
        while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if self.partial.len() > 4096 {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
    }

    fn finish(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
    }
}

enum State {
    Running {
        container: Box<Container>,
        pid: i32,
        since: Instant,
    },
    Waiting {
        until: Instant,
    },
    Stopped,
}

struct Service {
    name: String,
    bundle: PathBuf,
    state: State,
    backoff: Duration,
    /// Restarts after the service ended, and how its last run ended (for the status file).
    restarts: u32,
    last_exit: Option<String>,
    /// `CLOCK_BOOTTIME` (ms) of the last start.
    started_ms: u64,
}

/// PID 1's runtime state.
pub struct Supervisor {
    sigpipe: OwnedFd,
    streams: Vec<Stream>,
    exited: HashMap<i32, WaitStatus>,
    services: Vec<Service>,
    request: Option<Action>,
    /// Onboot containers that did not exit with status 0.
    onboot_failed: Vec<String>,
}

/// Sorted subdirectories of `dir` (none when it does not exist).
pub fn bundles(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn dir_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `000-name` -> `name`.
pub fn display_name(dir: &str) -> &str {
    match dir.split_once('-') {
        Some((n, rest)) if n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => dir,
    }
}

fn describe(status: &WaitStatus) -> (String, bool) {
    match status {
        WaitStatus::Exited(_, 0) => ("exited with status 0".into(), true),
        WaitStatus::Exited(_, c) => (format!("exited with status {c}"), false),
        WaitStatus::Signaled(_, s, _) => (format!("killed by {s}"), false),
        other => (format!("ended ({other:?})"), false),
    }
}

impl Supervisor {
    /// A supervisor reading signals from `sigpipe`.
    pub fn new(sigpipe: OwnedFd) -> Self {
        Supervisor {
            sigpipe,
            streams: Vec::new(),
            exited: HashMap::new(),
            services: Vec::new(),
            request: None,
            onboot_failed: Vec::new(),
        }
    }

    /// The shutdown action requested so far, if any.
    pub fn requested(&self) -> Option<Action> {
        self.request
    }

    fn add_stream(&mut self, owner: &str, prefix: &str, log: &Path) -> Result<OwnedFd> {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).sys(|| "pipe".into())?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .ok();
        self.streams.push(Stream {
            fd: r,
            owner: owner.into(),
            prefix: prefix.into(),
            partial: Vec::new(),
            log,
        });
        Ok(w)
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(st) => {
                    if let Some(pid) = st.pid() {
                        self.exited.insert(pid.as_raw(), st);
                    }
                }
            }
        }
        // Keep only exits someone may ask for (containers); drop orphans' statuses.
        let known: Vec<i32> = self
            .services
            .iter()
            .filter_map(|s| match s.state {
                State::Running { pid, .. } => Some(pid),
                _ => None,
            })
            .collect();
        if self.exited.len() > 256 {
            self.exited.retain(|pid, _| known.contains(pid));
        }
    }

    /// Waits up to `timeout` for output, signals or exits, and handles them.
    fn pump(&mut self, timeout: Duration) {
        let ms = timeout.as_millis().min(60_000) as u16;
        let mut ready = Vec::new();
        let mut sig_ready = false;
        {
            let mut fds = Vec::with_capacity(self.streams.len() + 1);
            fds.push(PollFd::new(self.sigpipe.as_fd(), PollFlags::POLLIN));
            for s in &self.streams {
                fds.push(PollFd::new(s.fd.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) => {
                    for (i, f) in fds.iter().enumerate() {
                        let hit = f.revents().is_some_and(|r| !r.is_empty());
                        if hit && i == 0 {
                            sig_ready = true;
                        } else if hit {
                            ready.push(i - 1);
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => error!("poll: {e}"),
            }
        }
        if sig_ready {
            let mut buf = [0u8; 64];
            while let Ok(n) = nix::unistd::read(self.sigpipe.as_raw_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                for &b in &buf[..n] {
                    if let Some(a) = signals::action(i32::from(b)) {
                        if self.request.is_none() {
                            info!("received {:?} request", a);
                        }
                        self.request.get_or_insert(a);
                    }
                }
                if n < buf.len() {
                    break;
                }
            }
        }
        let mut closed = Vec::new();
        for i in ready {
            let s = &mut self.streams[i];
            let mut buf = [0u8; 16384];
            match nix::unistd::read(s.fd.as_raw_fd(), &mut buf) {
                Ok(0) => closed.push(i),
                Ok(n) => s.feed(&buf[..n]),
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            let mut s = self.streams.remove(i);
            s.finish();
        }
        self.reap();
    }

    /// Waits until the output streams of `owner` are closed, or `timeout` passes.
    fn drain(&mut self, owner: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.streams.iter().any(|s| s.owner == owner) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.pump(deadline - now);
        }
        for mut s in self.streams.extract_if_owner(owner) {
            s.finish();
        }
    }

    /// Creates container `id` from `bundle` with runtime.json applied, starts it, and returns
    /// it with its pid.
    fn launch(
        &mut self,
        id: &str,
        bundle: &Path,
        prefix: &str,
        log: &Path,
    ) -> Result<(Container, i32)> {
        let t0 = Instant::now();
        let rt = runtime::load(bundle)?;
        runtime::prepare_filesystem(bundle, &rt)?;
        runtime::resolve_volume_binds(bundle, &Path::new("/").join(linuxkit_bundle::VOLUMES))?;
        let t_prep = t0.elapsed().as_millis();
        let out = self.add_stream(id, prefix, log)?;
        let err = self.add_stream(id, prefix, log)?;
        let created = container::create(id, bundle, out, err);
        let t_create = t0.elapsed().as_millis();
        let mut c = match created {
            Ok(c) => c,
            Err(e) => {
                self.drain(id, Duration::ZERO);
                return Err(e);
            }
        };
        let pid = c.pid().map(|p| p.as_raw()).unwrap_or(0);
        let started = runtime::prepare_process(&rt, pid).and_then(|()| container::start(&mut c));
        if let Err(e) = started {
            let _ = container::delete(c);
            self.drain(id, Duration::ZERO);
            return Err(e);
        }
        info!(
            "{id}: runtime.json {t_prep} ms, created at {t_create} ms, started at {} ms",
            t0.elapsed().as_millis()
        );
        Ok((c, pid))
    }

    /// Runs every bundle in `dir` (sorted) to completion, one after another; a failure is
    /// logged and the next bundle runs. Stops early when a shutdown is requested and
    /// `interruptible` is set. A container still running after `timeout` is killed.
    pub fn run_sequence(
        &mut self,
        dir: &Path,
        section: &str,
        interruptible: bool,
        timeout: Option<Duration>,
    ) {
        for bundle in bundles(dir) {
            if interruptible && self.request.is_some() {
                info!("{section}: shutdown requested, skipping the remaining containers");
                return;
            }
            let id = dir_name(&bundle);
            let name = display_name(&id).to_string();
            let log = PathBuf::from(format!("/var/log/{section}.{name}.log"));
            let t0 = Instant::now();
            match self.launch(&id, &bundle, &name, &log) {
                Ok((mut c, pid)) => {
                    let status = self.wait_for(&mut c, pid, timeout, &format!("{section} {name}"));
                    self.drain(&id, Duration::from_millis(500));
                    let (what, ok) = status.map_or_else(
                        || ("did not exit after SIGKILL; abandoned".to_string(), false),
                        |st| describe(&st),
                    );
                    if !ok && section == "onboot" {
                        self.onboot_failed.push(name.clone());
                    }
                    info!("{section} {name} {what} ({} ms)", t0.elapsed().as_millis());
                    if let Err(e) = container::delete(c) {
                        error!("{e}");
                    }
                }
                Err(e) => {
                    error!("{section} {name}: {e}");
                    if section == "onboot" {
                        self.onboot_failed.push(name.clone());
                    }
                }
            }
            runtime::cleanup(&bundle);
        }
    }

    /// Waits for container process `pid` to exit, handling output and signals meanwhile. After
    /// `timeout` the container is killed (SIGKILL) and given 5 more seconds; None when it
    /// still has not exited.
    fn wait_for(
        &mut self,
        c: &mut Container,
        pid: i32,
        timeout: Option<Duration>,
        what: &str,
    ) -> Option<WaitStatus> {
        let mut deadline = timeout.map(|t| Instant::now() + t);
        let mut killed = false;
        loop {
            if let Some(st) = self.exited.remove(&pid) {
                return Some(st);
            }
            let now = Instant::now();
            let mut wait = Duration::from_secs(1);
            if let Some(d) = deadline {
                if now >= d {
                    if killed {
                        return None;
                    }
                    error!(
                        "{what} still running after {} s: killing it",
                        timeout.unwrap_or_default().as_secs()
                    );
                    if let Err(e) = container::kill(c, Signal::SIGKILL) {
                        error!("{e}");
                    }
                    killed = true;
                    deadline = Some(now + Duration::from_secs(5));
                    continue;
                }
                wait = wait.min(d - now);
            }
            self.pump(wait);
        }
    }

    /// Starts every service bundle in `dir` (sorted); ids are the directory names.
    pub fn start_services(&mut self, dir: &Path) {
        for bundle in bundles(dir) {
            let name = dir_name(&bundle);
            self.services.push(Service {
                name,
                bundle,
                state: State::Waiting {
                    until: Instant::now(),
                },
                backoff: BACKOFF_MIN,
                restarts: 0,
                last_exit: None,
                started_ms: 0,
            });
        }
        // Before any service starts, so that one can bind the status directory.
        self.write_status();
        for i in 0..self.services.len() {
            self.start_service(i);
        }
    }

    /// Rewrites the service status file (`linuxkit_bundle::status`), atomically.
    fn write_status(&self) {
        use linuxkit_bundle::status::{ServiceStatus, ServicesStatus, SERVICES_FILE, STATUS_DIR};
        let status = ServicesStatus {
            services: self
                .services
                .iter()
                .map(|s| ServiceStatus {
                    name: s.name.clone(),
                    pid: match s.state {
                        State::Running { pid, .. } => Some(pid),
                        _ => None,
                    },
                    running_since_ms: matches!(s.state, State::Running { .. })
                        .then_some(s.started_ms),
                    restarts: s.restarts,
                    last_exit: s.last_exit.clone(),
                })
                .collect(),
            onboot_failed: self.onboot_failed.clone(),
        };
        let write = || -> std::io::Result<()> {
            fs::create_dir_all(STATUS_DIR)?;
            let tmp = format!("{SERVICES_FILE}.tmp");
            fs::write(&tmp, serde_json::to_vec(&status).unwrap_or_default())?;
            fs::rename(&tmp, SERVICES_FILE)
        };
        if let Err(e) = write() {
            error!("{SERVICES_FILE}: {e}");
        }
    }

    fn start_service(&mut self, i: usize) {
        let (name, bundle) = (
            self.services[i].name.clone(),
            self.services[i].bundle.clone(),
        );
        let log = PathBuf::from(format!("/var/log/{name}.log"));
        match self.launch(&name, &bundle, &name, &log) {
            Ok((container, pid)) => {
                info!("service {name} started (pid {pid})");
                self.services[i].state = State::Running {
                    container: Box::new(container),
                    pid,
                    since: Instant::now(),
                };
                self.services[i].started_ms = boottime_ms();
                self.write_status();
            }
            Err(e) => {
                runtime::cleanup(&bundle);
                let s = &mut self.services[i];
                error!("service {name}: {e}; retrying in {} s", s.backoff.as_secs());
                s.state = State::Waiting {
                    until: Instant::now() + s.backoff,
                };
                s.backoff = (s.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    /// Handles exited services: logs, cleans up, schedules a restart with backoff.
    fn handle_service_exits(&mut self, restart: bool) {
        let mut changed = false;
        for i in 0..self.services.len() {
            let pid = match &self.services[i].state {
                State::Running { pid, .. } => *pid,
                _ => continue,
            };
            let Some(status) = self.exited.remove(&pid) else {
                continue;
            };
            changed = true;
            let name = self.services[i].name.clone();
            self.drain(&name, Duration::from_millis(200));
            let s = &mut self.services[i];
            let State::Running {
                container: c,
                since,
                ..
            } = std::mem::replace(&mut s.state, State::Stopped)
            else {
                continue;
            };
            if let Err(e) = container::delete(*c) {
                error!("{e}");
            }
            runtime::cleanup(&s.bundle);
            let (what, _) = describe(&status);
            s.last_exit = Some(what.clone());
            if !restart {
                info!("service {name} {what}");
                continue;
            }
            if since.elapsed() >= BACKOFF_RESET {
                s.backoff = BACKOFF_MIN;
            }
            info!(
                "service {name} {what}; restarting in {} s",
                s.backoff.as_secs()
            );
            s.restarts += 1;
            s.state = State::Waiting {
                until: Instant::now() + s.backoff,
            };
            s.backoff = (s.backoff * 2).min(BACKOFF_MAX);
        }
        if changed {
            self.write_status();
        }
    }

    /// Supervises until a shutdown is requested; returns the requested action.
    pub fn supervise(&mut self) -> Action {
        loop {
            if let Some(a) = self.request {
                return a;
            }
            let now = Instant::now();
            let mut next = Duration::from_secs(60);
            for i in 0..self.services.len() {
                if let State::Waiting { until } = self.services[i].state {
                    if until <= now {
                        self.start_service(i);
                    } else {
                        next = next.min(until - now);
                    }
                }
            }
            self.pump(next);
            self.handle_service_exits(true);
        }
    }

    /// Stops every service: SIGTERM, up to `grace` to exit, then SIGKILL.
    pub fn stop_services(&mut self, grace: Duration) {
        for s in &mut self.services {
            match &mut s.state {
                State::Running { container: c, .. } => {
                    info!("stopping service {}", s.name);
                    if let Err(e) = container::kill(c, Signal::SIGTERM) {
                        error!("{e}");
                    }
                }
                state => *state = State::Stopped,
            }
        }
        let running = |sv: &Self| {
            sv.services
                .iter()
                .any(|s| matches!(s.state, State::Running { .. }))
        };
        let deadline = Instant::now() + grace;
        while running(self) && Instant::now() < deadline {
            self.pump(Duration::from_millis(100));
            self.handle_service_exits(false);
        }
        for s in &mut self.services {
            if let State::Running { container: c, .. } = &mut s.state {
                info!(
                    "service {} did not stop in {} s: killing it",
                    s.name,
                    grace.as_secs()
                );
                if let Err(e) = container::kill(c, Signal::SIGKILL) {
                    error!("{e}");
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while running(self) && Instant::now() < deadline {
            self.pump(Duration::from_millis(100));
            self.handle_service_exits(false);
        }
    }
}

/// `CLOCK_BOOTTIME` in milliseconds (the clock the status file's times are on).
fn boottime_ms() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
        .unwrap_or(0)
}

/// Removing the streams of one owner (a small extension to keep `drain` readable).
trait ExtractOwner {
    fn extract_if_owner(&mut self, owner: &str) -> Vec<Stream>;
}

impl ExtractOwner for Vec<Stream> {
    fn extract_if_owner(&mut self, owner: &str) -> Vec<Stream> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.len() {
            if self[i].owner == owner {
                out.push(self.remove(i));
            } else {
                i += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onboot_directory_names_lose_their_index() {
        assert_eq!(display_name("000-sysctl"), "sysctl");
        assert_eq!(display_name("012-a-b"), "a-b");
        assert_eq!(display_name("getty"), "getty");
        assert_eq!(display_name("ab-c"), "ab-c");
    }

    #[test]
    fn onshutdown_timeout_comes_from_the_command_line() {
        assert_eq!(onshutdown_timeout("console=ttyS0"), ONSHUTDOWN_TIMEOUT);
        assert_eq!(
            onshutdown_timeout("quiet linuxkit.onshutdown_timeout=3 x"),
            Duration::from_secs(3)
        );
        assert_eq!(
            onshutdown_timeout("linuxkit.onshutdown_timeout=x"),
            ONSHUTDOWN_TIMEOUT
        );
    }

    #[test]
    fn bundles_are_sorted_directories() {
        let d = std::env::temp_dir().join(format!("lk-init-test-{}", std::process::id()));
        for n in ["010-b", "000-a", "002-c"] {
            fs::create_dir_all(d.join(n)).unwrap();
        }
        fs::write(d.join("001-file"), b"").unwrap();
        let names: Vec<String> = bundles(&d).iter().map(|p| dir_name(p)).collect();
        assert_eq!(names, ["000-a", "002-c", "010-b"]);
        fs::remove_dir_all(&d).unwrap();
    }
}
