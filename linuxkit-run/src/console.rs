//! [`Vm`]: a running QEMU whose serial console (its stdout) is read line by line and written
//! to (its stdin), for tests and tools that drive a guest.
//!
//! Waiting is bounded by console progress as well as by wall time, so that a guest that keeps
//! printing on a loaded machine is not cut off while a hung one still fails: a wait's timeout
//! is extended while lines arrive (by half the timeout from the latest line), up to
//! [`PROGRESS_LIMIT`] times the timeout in all.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many times its timeout a wait may last while the console keeps making progress.
pub const PROGRESS_LIMIT: u32 = 4;

/// What went wrong while driving a VM; the console so far is part of the message.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// QEMU could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The error.
        source: std::io::Error,
    },
    /// A wait ended without what was waited for.
    #[error("{what} (waited {waited:?})\n--- console ---\n{console}\n--- end of console ---")]
    Console {
        /// What was waited for, and why it ended.
        what: String,
        /// How long the wait lasted.
        waited: Duration,
        /// The whole console so far.
        console: String,
    },
}

/// A booted VM. Dropping it stops QEMU.
#[derive(Debug)]
pub struct Vm {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Duration, String)>,
    reader: Option<JoinHandle<()>>,
    /// Collects stderr when it is piped.
    stderr: Option<JoinHandle<String>>,
    stderr_text: String,
    console: Vec<(Duration, String)>,
    /// Console lines already matched by [`Vm::wait_for`].
    seen: usize,
    started: Instant,
    exited: bool,
}

impl Vm {
    /// Starts `cmd` with stdout piped (the console; stdin piped too unless the command set
    /// it) and reads its lines from now on.
    pub fn spawn(mut cmd: Command) -> Result<Vm, VmError> {
        cmd.stdout(Stdio::piped());
        let child = cmd.spawn().map_err(|source| VmError::Spawn {
            program: cmd.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        Ok(Vm::new(child))
    }

    /// Reads the console of an already started QEMU (its stdout must be piped).
    pub fn new(mut child: Child) -> Vm {
        let stdin = child.stdin.take();
        let started = Instant::now();
        let (tx, rx) = channel();
        let reader = child.stdout.take().map(|stdout| {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).split(b'\n') {
                    let Ok(line) = line else { break };
                    let l = String::from_utf8_lossy(&line).trim_end().to_string();
                    if std::env::var_os("LINUXKIT_TESTING_VERBOSE").is_some() {
                        eprintln!("console: {l}");
                    }
                    if tx.send((started.elapsed(), l)).is_err() {
                        break;
                    }
                }
            })
        });
        let stderr = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut err, &mut s);
                s
            })
        });
        Vm {
            child,
            stdin,
            lines: rx,
            reader,
            stderr,
            stderr_text: String::new(),
            console: Vec::new(),
            seen: 0,
            started,
            exited: false,
        }
    }

    /// Every console line so far.
    pub fn console(&self) -> Vec<&str> {
        self.console.iter().map(|(_, l)| l.as_str()).collect()
    }

    /// Every console line so far, with the time since QEMU started.
    pub fn timed_console(&self) -> &[(Duration, String)] {
        &self.console
    }

    /// The console so far as one text.
    pub fn console_text(&self) -> String {
        self.console().join("\n")
    }

    /// What the process wrote to stderr, when it was piped: complete once it has exited (after
    /// [`Vm::wait_exit`] or [`Vm::shutdown`]).
    pub fn stderr(&mut self) -> &str {
        if self.exited {
            if let Some(t) = self.stderr.take() {
                self.stderr_text = t.join().unwrap_or_default();
            }
        }
        &self.stderr_text
    }

    /// Whether QEMU has exited (the guest powered off, or QEMU failed).
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// Waits until a console line after the last matched one contains `needle`; returns it.
    /// Fails (with the whole console in the message) on timeout or when QEMU exits first.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, VmError> {
        let start = Instant::now();
        let mut deadline = Deadline::new(timeout);
        loop {
            if let Some(i) = self.console[self.seen..]
                .iter()
                .position(|(_, l)| l.contains(needle))
            {
                self.seen += i + 1;
                return Ok(self.console[self.seen - 1].1.clone());
            }
            if self.exited {
                return Err(self.console_error(format!("QEMU exited before {needle:?}"), start));
            }
            let Some(left) = deadline.left() else {
                return Err(
                    self.console_error(format!("no console line contains {needle:?}"), start)
                );
            };
            if self.receive(left) {
                deadline.progress();
            }
        }
    }

    /// Writes `input` to the serial console (add `\n` to end a line).
    pub fn send(&mut self, input: &str) -> Result<(), VmError> {
        let result = match &mut self.stdin {
            Some(s) => s.write_all(input.as_bytes()).and_then(|()| s.flush()),
            None => Err(std::io::Error::other("the console input is closed")),
        };
        result.map_err(|e| {
            self.console_error(format!("cannot write to the console: {e}"), Instant::now())
        })
    }

    /// Waits for QEMU to exit by itself (the guest powered off), collecting the console.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, VmError> {
        let start = Instant::now();
        let mut deadline = Deadline::new(timeout);
        while !self.exited {
            let Some(left) = deadline.left() else {
                return Err(self.console_error("the VM did not power off".into(), start));
            };
            if self.receive(left) {
                deadline.progress();
            }
        }
        self.child
            .wait()
            .map_err(|e| self.console_error(format!("waiting for QEMU: {e}"), start))
    }

    /// Stops the VM now: QEMU's quit key (`Ctrl-A x` on a `-nographic` console), then a kill
    /// if it is still running after 5 seconds. The console read so far is kept.
    pub fn shutdown(&mut self) {
        if !self.exited && self.stdin.is_some() {
            let _ = self.send("\x01x");
            let _ = self.wait_exit(Duration::from_secs(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exited = true;
        self.stdin = None;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        while let Ok(l) = self.lines.try_recv() {
            self.console.push(l);
        }
    }

    /// Waits up to `left` (at most 200 ms) for one console line; notes QEMU's exit. Returns
    /// whether a line arrived.
    fn receive(&mut self, left: Duration) -> bool {
        match self
            .lines
            .recv_timeout(left.min(Duration::from_millis(200)))
        {
            Ok(l) => {
                self.console.push(l);
                true
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.exited = true;
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    fn console_error(&self, what: String, start: Instant) -> VmError {
        VmError::Console {
            what: format!("{what} ({:?} since boot)", self.started.elapsed()),
            waited: start.elapsed(),
            console: self.console_text(),
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A wait's end: `timeout` from its start, pushed to half the timeout after each console line,
/// never beyond [`PROGRESS_LIMIT`] times the timeout.
struct Deadline {
    start: Instant,
    timeout: Duration,
    at: Instant,
}

impl Deadline {
    fn new(timeout: Duration) -> Deadline {
        let start = Instant::now();
        Deadline {
            start,
            timeout,
            at: start + timeout,
        }
    }

    fn progress(&mut self) {
        let limit = self.start + self.timeout * PROGRESS_LIMIT;
        self.at = self.at.max(Instant::now() + self.timeout / 2).min(limit);
    }

    fn left(&self) -> Option<Duration> {
        let left = self.at.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]).stdin(Stdio::piped());
        c
    }

    #[test]
    fn waits_for_lines_and_exit() {
        let mut vm = Vm::spawn(shell("echo one; read x; echo got $x; echo two")).unwrap();
        assert_eq!(vm.wait_for("one", Duration::from_secs(10)).unwrap(), "one");
        vm.send("hello\n").unwrap();
        assert_eq!(
            vm.wait_for("got", Duration::from_secs(10)).unwrap(),
            "got hello"
        );
        assert!(vm.wait_exit(Duration::from_secs(10)).unwrap().success());
        assert_eq!(vm.console(), ["one", "got hello", "two"]);
        let mut vm = Vm::spawn({
            let mut c = shell("echo out; echo err >&2");
            c.stderr(Stdio::piped());
            c
        })
        .unwrap();
        vm.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(vm.stderr(), "err\n");
    }

    #[test]
    fn a_silent_process_times_out_with_the_console() {
        let mut vm = Vm::spawn(shell("echo started; exec sleep 30")).unwrap();
        let err = vm
            .wait_for("never", Duration::from_millis(400))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no console line contains \"never\""), "{err}");
        assert!(err.contains("started"), "{err}");
    }

    #[test]
    fn progress_extends_a_wait() {
        // Lines every 100 ms for 0.8 s, then the marker: more than the 0.5 s timeout, less
        // than four times it.
        let mut vm = Vm::spawn(shell(
            "for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.1; done; echo done",
        ))
        .unwrap();
        assert_eq!(
            vm.wait_for("done", Duration::from_millis(500)).unwrap(),
            "done"
        );
    }

    #[test]
    fn exit_before_the_marker_is_an_error() {
        let mut vm = Vm::spawn(shell("echo bye")).unwrap();
        let err = vm.wait_for("never", Duration::from_secs(10)).unwrap_err();
        assert!(err.to_string().contains("QEMU exited before"), "{err}");
    }
}
