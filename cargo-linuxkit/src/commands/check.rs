//! `cargo linuxkit check`: every check that needs no image contents, reported at the
//! file:line:col where the offending item was written (Rust builder call or YAML node).

use linuxkit_dsl::check::{check, Problem, Severity};

use crate::config::Config;
use crate::diag::{Diagnostic, Level};
use crate::error::{Error, Result};
use crate::source::{load, Definition, Origin};

/// What a denied warning's hint ends with.
pub const DENIED: &str = "a warning, denied by --deny-warnings (or `deny-warnings = true` in [package.metadata.linuxkit])";

/// The problems of one definition as diagnostics. With `deny_warnings`, warnings are reported
/// as errors (and say so), as `-D warnings` does for rustc.
pub fn diagnostics(def: &Definition, deny_warnings: bool) -> Vec<Diagnostic> {
    let reader: &[linuxkit_dsl::YamlWarning] = match &def.origin {
        Origin::Yaml { warnings, .. } => warnings,
        Origin::Rust { .. } => &[],
    };
    let from_reader = reader.iter().map(|w| Diagnostic {
        span: Some(crate::diag::Span {
            file: w.file.clone(),
            line: w.line,
            column: w.column,
        }),
        ..problem_diagnostic(
            def,
            Problem {
                severity: Severity::Warning,
                message: w.message.clone(),
                hint: w.hint.clone(),
                path: String::new(),
            },
            deny_warnings,
        )
    });
    let from_check = check(&def.image)
        .into_iter()
        .map(|p| problem_diagnostic(def, p, deny_warnings));
    from_reader.chain(from_check).collect()
}

/// One problem as a diagnostic at its item's span (a warning reported as an error when denied).
fn problem_diagnostic(def: &Definition, p: Problem, deny_warnings: bool) -> Diagnostic {
    let denied = deny_warnings && p.severity == Severity::Warning;
    let hint = match (denied, p.hint.is_empty()) {
        (true, true) => Some(DENIED.to_string()),
        (true, false) => Some(format!("{}; {DENIED}", p.hint)),
        (false, _) => Some(p.hint).filter(|h| !h.is_empty()),
    };
    Diagnostic {
        level: match p.severity {
            Severity::Warning if !denied => Level::Warning,
            _ => Level::Error,
        },
        message: p.message,
        span: def.span(&p.path),
        item: Some(p.path).filter(|s| !s.is_empty()),
        image: Some(def.name.clone()),
        hint,
    }
}

/// Whether the warnings of `def` are errors: `--deny-warnings` (or its environment variable),
/// or `deny-warnings = true` in the metadata of the package that defines it.
pub fn denies_warnings(def: &Definition, cfg: &Config) -> bool {
    cfg.deny_warnings || matches!(&def.origin, Origin::Rust { target, .. } if target.deny_warnings)
}

/// Prints the problems of `defs`; returns the number of errors (denied warnings included).
pub fn report(defs: &[Definition], cfg: &Config) -> usize {
    let mut errors = 0;
    for d in defs {
        for diag in diagnostics(d, denies_warnings(d, cfg)) {
            if diag.level == Level::Error {
                errors += 1;
            }
            cfg.shell.diagnostic(&diag);
        }
    }
    errors
}

/// Runs `check` on `inputs`; exit code 1 when any error was found.
pub fn run(inputs: &[String], cfg: &Config) -> Result<i32> {
    let loaded = load(inputs, cfg)?;
    let errors = report(&loaded.definitions, cfg);
    let names: Vec<&str> = loaded.definitions.iter().map(|d| d.name.as_str()).collect();
    if errors > 0 {
        return Err(Error::Problems {
            count: errors,
            what: names.join(", "),
        });
    }
    cfg.shell.status(
        "Checked",
        format!("{} image(s): {}", names.len(), names.join(", ")),
    );
    cfg.shell.json_message(
        serde_json::json!({"reason": "check-finished", "success": true, "images": names}),
    );
    Ok(0)
}
