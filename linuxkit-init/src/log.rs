//! Console logging for PID 1: every line goes to the console (our stdout) with a prefix.

use std::io::Write;

/// Writes one line to the console, prefixed with `linuxkit-init: ` and the guest uptime in
/// seconds (once /proc is mounted). Errors are ignored: there is nowhere else to report them.
pub fn line(msg: std::fmt::Arguments<'_>) {
    let up = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split(' ').next().map(str::to_string))
        .map(|u| format!("[{u:>7}] "))
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "linuxkit-init: {up}{msg}");
    let _ = out.flush();
}

/// Logs a formatted line to the console.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}

/// Logs a formatted error line to the console (`error: ` prefix).
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::line(format_args!("error: {}", format_args!($($arg)*))) };
}
