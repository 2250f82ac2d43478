//! Status output like cargo's: right-aligned verbs on stderr (`   Resolving`, `  Assembling`,
//! `    Finished`), nothing with `--quiet`, and one JSON object per line on stdout with
//! `--message-format json`.

use std::io::{IsTerminal, Write};

use serde_json::Value;

use crate::cli::MessageFormat;
use crate::diag::Diagnostic;

/// Where human and machine messages go.
#[derive(Debug, Clone)]
pub struct Shell {
    quiet: bool,
    json: bool,
    color: bool,
}

impl Shell {
    /// A shell for the given verbosity and message format.
    pub fn new(quiet: bool, format: MessageFormat) -> Shell {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Shell {
            quiet,
            json: format == MessageFormat::Json,
            color,
        }
    }

    /// Is `--message-format json` on?
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Is `--quiet` on?
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A status line: `{verb:>12} {message}` on stderr (green verb on a terminal).
    pub fn status(&self, verb: &str, message: impl std::fmt::Display) {
        if self.quiet {
            return;
        }
        let line = if self.color {
            format!("\x1b[1;32m{verb:>12}\x1b[0m {message}\n")
        } else {
            format!("{verb:>12} {message}\n")
        };
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// A warning on stderr (shown even with `--quiet`, like cargo).
    pub fn warn(&self, message: impl std::fmt::Display) {
        let label = if self.color {
            "\x1b[1;33mwarning\x1b[0m"
        } else {
            "warning"
        };
        let _ = writeln!(std::io::stderr(), "{label}: {message}");
    }

    /// An error on stderr, or a JSON `error` message with `--message-format json`.
    pub fn error(&self, message: impl std::fmt::Display) {
        if self.json {
            self.json_message(
                serde_json::json!({"reason": "error", "message": message.to_string()}),
            );
            return;
        }
        let label = if self.color {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        let _ = writeln!(std::io::stderr(), "{label}: {message}");
    }

    /// A diagnostic (check problem, YAML error): human text on stderr or a JSON message.
    pub fn diagnostic(&self, d: &Diagnostic) {
        if self.json {
            self.json_message(d.to_json());
        } else {
            let _ = std::io::stderr().write_all(d.render(self.color).as_bytes());
        }
    }

    /// One JSON message line on stdout (only with `--message-format json`).
    pub fn json_message(&self, value: Value) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{value}");
            let _ = out.flush();
        }
    }
}
