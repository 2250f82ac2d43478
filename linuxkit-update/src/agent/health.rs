//! Whether the running version is healthy: every other service has been up for
//! `--healthy-after` seconds (as the init's status file says), no onboot container failed, and
//! the optional health command, run inside a service's container, exits with status 0.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::settings::{HealthCheck, Settings};
use linuxkit_bundle::status::{ServicesStatus, SERVICES_FILE};

/// A judgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Healthy.
    Healthy,
    /// Not yet; why.
    Waiting(String),
}

/// `CLOCK_BOOTTIME` in milliseconds, the status file's clock.
pub fn now_ms() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
        .unwrap_or(0)
}

/// The init's service status (`None` when the init writes none: another init).
pub fn services() -> Option<ServicesStatus> {
    let bytes = std::fs::read(SERVICES_FILE).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Judges the services from `status` (ours, pid `own_pid`, excluded) at `now_ms`.
pub fn judge_services(status: &ServicesStatus, own_pid: i32, after_ms: u64, now_ms: u64) -> Health {
    if let Some(f) = status.onboot_failed.first() {
        return Health::Waiting(format!("onboot container {f} failed"));
    }
    for s in &status.services {
        if s.pid == Some(own_pid) {
            continue;
        }
        match s.running_since_ms {
            None => {
                return Health::Waiting(match &s.last_exit {
                    Some(e) => format!("service {} is not running (it {e})", s.name),
                    None => format!("service {} is not running", s.name),
                })
            }
            Some(since) if now_ms.saturating_sub(since) < after_ms => {
                let restarts = if s.restarts > 0 {
                    format!(
                        ", restarted {} times, last {}",
                        s.restarts,
                        s.last_exit.as_deref().unwrap_or("ended")
                    )
                } else {
                    String::new()
                };
                return Health::Waiting(format!(
                    "service {} up for {:.0} s of {} s{restarts}",
                    s.name,
                    now_ms.saturating_sub(since) as f64 / 1000.0,
                    after_ms / 1000
                ));
            }
            Some(_) => {}
        }
    }
    Health::Healthy
}

/// The whole judgement, with the health command run when the services are healthy.
pub fn judge(settings: &Settings, started: Instant) -> Health {
    let after_ms = settings.healthy_after * 1000;
    let status = services();
    match &status {
        Some(s) => {
            let h = judge_services(s, nix::unistd::getpid().as_raw(), after_ms, now_ms());
            if h != Health::Healthy {
                return h;
            }
        }
        None if started.elapsed() < Duration::from_millis(after_ms) => {
            return Health::Waiting(format!(
                "up for {} s of {} s (no service status from the init)",
                started.elapsed().as_secs(),
                settings.healthy_after
            ))
        }
        None => {}
    }
    if let Some(check) = &settings.health_check {
        if let Err(why) = run_check(check, status.as_ref()) {
            return Health::Waiting(why);
        }
    }
    Health::Healthy
}

/// Runs the health command inside the service's container: the agent starts itself again as
/// `linuxkit-update exec-in PID -- COMMAND...`, which enters the service's namespaces and
/// runs the command (a fresh, single-threaded process can change namespaces).
fn run_check(check: &HealthCheck, status: Option<&ServicesStatus>) -> Result<(), String> {
    let pid = status
        .and_then(|s| s.services.iter().find(|x| x.name == check.service))
        .and_then(|s| s.pid)
        .ok_or_else(|| format!("health check: service {} is not running", check.service))?;
    let mut child = Command::new("/proc/self/exe")
        .arg("exec-in")
        .arg(pid.to_string())
        .arg("--")
        .args(&check.command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("health check: cannot start: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                let err = err.lines().last().unwrap_or_default().to_string();
                return Err(format!(
                    "health check `{}` in {} failed ({st}){}{err}",
                    check.command.join(" "),
                    check.service,
                    if err.is_empty() { "" } else { ": " }
                ));
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "health check `{}` ran for more than 30 s",
                    check.command.join(" ")
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("health check: {e}")),
        }
    }
}

/// `exec-in PID -- COMMAND...`: enters the namespaces of process `pid` (IPC, UTS, network,
/// then mount, which also makes the container's root ours) and executes the command.
pub fn exec_in(args: &[String]) -> ! {
    let fail = |m: String| -> ! {
        eprintln!("linuxkit-update exec-in: {m}");
        std::process::exit(126)
    };
    let (pid, command) = match args {
        [pid, dash, command @ ..] if dash == "--" && !command.is_empty() => (pid, command),
        _ => fail("usage: exec-in PID -- COMMAND [ARGS...]".into()),
    };
    use nix::sched::CloneFlags;
    let mut fds = Vec::new();
    for (ns, flag) in [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ] {
        let path = format!("/proc/{pid}/ns/{ns}");
        match std::fs::File::open(&path) {
            Ok(f) => fds.push((f, flag, path)),
            Err(e) => fail(format!("{path}: {e}")),
        }
    }
    for (f, flag, path) in &fds {
        if let Err(e) = nix::sched::setns(f, *flag) {
            fail(format!("entering {path}: {e}"));
        }
    }
    let _ = std::env::set_current_dir("/");
    let e = Command::new(&command[0])
        .args(&command[1..])
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .exec();
    fail(format!("{}: {e}", command[0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use linuxkit_bundle::status::ServiceStatus;

    fn svc(name: &str, pid: Option<i32>, since: Option<u64>, restarts: u32) -> ServiceStatus {
        ServiceStatus {
            name: name.into(),
            pid,
            running_since_ms: since,
            restarts,
            last_exit: (restarts > 0).then(|| "exited with status 1".into()),
        }
    }

    #[test]
    fn every_other_service_must_be_up_long_enough() {
        let mut s = ServicesStatus {
            services: vec![
                svc("web", Some(10), Some(1_000), 0),
                svc("update", Some(20), Some(9_000), 0),
            ],
            onboot_failed: vec![],
        };
        assert_eq!(judge_services(&s, 20, 5_000, 7_000), Health::Healthy);
        let Health::Waiting(w) = judge_services(&s, 20, 5_000, 3_000) else {
            panic!()
        };
        assert!(w.contains("service web up for 2 s of 5 s"), "{w}");
        s.services[0] = svc("web", Some(11), Some(6_500), 3);
        let Health::Waiting(w) = judge_services(&s, 20, 5_000, 7_000) else {
            panic!()
        };
        assert!(
            w.contains("restarted 3 times, last exited with status 1"),
            "{w}"
        );
        s.services[0] = svc("web", None, None, 4);
        let Health::Waiting(w) = judge_services(&s, 20, 5_000, 7_000) else {
            panic!()
        };
        assert!(w.contains("not running (it exited with status 1)"), "{w}");
        s.services[0] = svc("web", Some(10), Some(1_000), 0);
        s.onboot_failed.push("net".into());
        assert!(
            matches!(judge_services(&s, 20, 5_000, 7_000), Health::Waiting(w) if w.contains("onboot container net"))
        );
    }
}
