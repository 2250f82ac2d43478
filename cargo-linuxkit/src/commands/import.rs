//! `cargo linuxkit import`: a LinuxKit YAML file as Rust builder code, formatted with `rustfmt`
//! when it is installed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::source::load_yaml;

/// A valid Rust function name from a file stem (`linuxkit-sshd.yml` -> `linuxkit_sshd`).
pub fn function_name(stem: &str) -> String {
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "image_");
    }
    s
}

/// Formats Rust code with the `rustfmt` binary; the input unchanged when it is missing or fails.
pub fn rustfmt(code: &str) -> String {
    let child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return code.to_string();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(code.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            String::from_utf8(out.stdout).unwrap_or_else(|_| code.to_string())
        }
        _ => code.to_string(),
    }
}

/// Converts `file` and prints the code (or writes it to `output`).
pub fn run(
    file: &Path,
    output: Option<&Path>,
    function: Option<&str>,
    cfg: &Config,
) -> Result<i32> {
    let f = file.to_string_lossy().into_owned();
    let def = load_yaml(&[f], cfg)?;
    let name = function
        .map(str::to_string)
        .unwrap_or_else(|| function_name(&def.name));
    let code = rustfmt(&linuxkit_dsl::codegen::to_rust(&def.image, &name));
    match output {
        Some(p) => {
            crate::fsutil::write_atomic(p, code.as_bytes()).map_err(Error::io(p))?;
            cfg.shell
                .status("Imported", format!("{} -> {}", file.display(), p.display()));
        }
        None => print!("{code}"),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_are_identifiers() {
        assert_eq!(function_name("linuxkit-sshd"), "linuxkit_sshd");
        assert_eq!(function_name("9p"), "image_9p");
    }
}
