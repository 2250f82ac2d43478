//! `cargo linuxkit`: the command-line edge of the engine (argument parsing, error printing,
//! exit codes).

use std::process::ExitCode;

use clap::Parser;

use cargo_linuxkit::cli::{normalize_args, RawArgs};
use cargo_linuxkit::config::Config;

fn main() -> ExitCode {
    let args = RawArgs::parse_from(normalize_args(std::env::args_os()));
    let cfg = match Config::from_args(&args.global) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cargo_linuxkit::execute(&args, &cfg) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            // Every error's message already includes its cause.
            let code = match &e {
                cargo_linuxkit::Error::Usage(_) => 2,
                _ => 1,
            };
            cfg.shell.error(anyhow::Error::from(e));
            ExitCode::from(code)
        }
    }
}
