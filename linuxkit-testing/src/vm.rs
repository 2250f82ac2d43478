//! [`Vm`]: a running QEMU whose serial console a test reads and writes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ExitStatus};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::TestingError;

/// A booted VM. Dropping it stops QEMU.
#[derive(Debug)]
pub struct Vm {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    console: Vec<String>,
    /// Console lines already matched by [`Vm::wait_for`].
    seen: usize,
    started: Instant,
    exited: bool,
}

impl Vm {
    pub(crate) fn new(mut child: Child) -> Vm {
        let stdin = child.stdin.take();
        let (tx, rx) = channel();
        let reader = child.stdout.take().map(|stdout| {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).split(b'\n') {
                    let Ok(line) = line else { break };
                    let l = String::from_utf8_lossy(&line).trim_end().to_string();
                    if std::env::var_os("LINUXKIT_TESTING_VERBOSE").is_some() {
                        eprintln!("console: {l}");
                    }
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            })
        });
        Vm {
            child,
            stdin,
            lines: rx,
            reader,
            console: Vec::new(),
            seen: 0,
            started: Instant::now(),
            exited: false,
        }
    }

    /// A VM whose serial console is `child`'s stdout, such as a `cargo linuxkit run` started
    /// with stdin and stdout piped: [`Vm::send`] writes to its stdin (QEMU's `-nographic`
    /// console), and dropping the `Vm` quits QEMU.
    pub fn from_child(child: Child) -> Vm {
        Vm::new(child)
    }

    /// Every console line so far.
    pub fn console(&self) -> &[String] {
        &self.console
    }

    /// The console so far as one text.
    pub fn console_text(&self) -> String {
        self.console.join("\n")
    }

    /// Waits until a console line after the last matched one contains `needle`; returns it.
    /// Fails (with the whole console in the message) on timeout or when QEMU exits first.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, TestingError> {
        let start = Instant::now();
        loop {
            if let Some(i) = self.console[self.seen..]
                .iter()
                .position(|l| l.contains(needle))
            {
                self.seen += i + 1;
                return Ok(self.console[self.seen - 1].clone());
            }
            if self.exited {
                return Err(self.console_error(format!("QEMU exited before {needle:?}"), start));
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(
                    self.console_error(format!("no console line contains {needle:?}"), start)
                );
            }
            self.receive(left);
        }
    }

    /// Writes `input` to the serial console (add `\n` to end a line).
    pub fn send(&mut self, input: &str) -> Result<(), TestingError> {
        let result = match &mut self.stdin {
            Some(s) => s.write_all(input.as_bytes()).and_then(|()| s.flush()),
            None => Err(std::io::Error::other("the console input is closed")),
        };
        result.map_err(|e| {
            self.console_error(format!("cannot write to the console: {e}"), Instant::now())
        })
    }

    /// Waits for QEMU to exit by itself (the guest powered off), collecting the console.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, TestingError> {
        let start = Instant::now();
        while !self.exited {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(self.console_error("the VM did not power off".into(), start));
            }
            self.receive(left);
        }
        self.child
            .wait()
            .map_err(|e| self.console_error(format!("waiting for QEMU: {e}"), start))
    }

    /// Stops the VM now: QEMU's quit key (`Ctrl-A x` on the `-nographic` console), then a kill
    /// if it is still running after 5 seconds.
    pub fn shutdown(&mut self) {
        if !self.exited {
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

    /// Waits up to `left` (at most 200 ms) for one console line; notes QEMU's exit.
    fn receive(&mut self, left: Duration) {
        match self
            .lines
            .recv_timeout(left.min(Duration::from_millis(200)))
        {
            Ok(l) => self.console.push(l),
            Err(RecvTimeoutError::Disconnected) => self.exited = true,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }

    fn console_error(&self, what: String, start: Instant) -> TestingError {
        TestingError::Console {
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
