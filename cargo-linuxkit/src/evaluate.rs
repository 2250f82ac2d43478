//! Evaluating Rust definitions: `cargo build` the definition targets, run each binary with
//! `CARGO_LINUXKIT_EMIT=json`, parse the one JSON document it prints (the evaluation protocol).
//!
//! Results are cached in `<target-dir>/linuxkit/eval/`, keyed by the binary's path, size and
//! modification time, so a repeated `list` or `check` costs one no-op `cargo build`.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

use cargo_metadata::Message;
use linuxkit_dsl::emit::{Document, EMIT_ENV, FORMAT_VERSION};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::workspace::{DefinitionTarget, Workspace};

/// The images one definition target produced.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The target.
    pub target: DefinitionTarget,
    /// Its document.
    pub document: Document,
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    exe: PathBuf,
    size: u64,
    mtime_ns: u128,
    document: Document,
}

fn exe_key(exe: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(exe).ok()?;
    let t = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((m.len(), t.as_nanos()))
}

/// Builds and runs `targets` (all of them belong to `ws`).
pub fn evaluate(
    ws: &Workspace,
    targets: &[DefinitionTarget],
    cfg: &Config,
) -> Result<Vec<Evaluated>> {
    // One cargo invocation per package, selecting all its definition targets.
    let mut by_package: BTreeMap<&str, Vec<&DefinitionTarget>> = BTreeMap::new();
    for t in targets {
        by_package.entry(&t.package).or_default().push(t);
    }
    let mut exes: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for (package, ts) in &by_package {
        for (name, exe) in cargo_build(package, ts, cfg)? {
            exes.insert((package.to_string(), name), exe);
        }
    }
    let cache_dir = ws.target_dir.join("linuxkit").join("eval");
    let mut out = Vec::new();
    for t in targets {
        let exe = exes
            .get(&(t.package.clone(), t.target.clone()))
            .ok_or_else(|| Error::Emit {
                target: t.target.clone(),
                message: "cargo built no executable for it".into(),
            })?;
        let cache_file = cache_dir.join(format!(
            "{}.{}.{}.json",
            t.package,
            t.kind.cargo_flag().trim_start_matches('-'),
            t.target
        ));
        let key = exe_key(exe);
        let cached: Option<CacheEntry> = std::fs::read(&cache_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let document = match cached {
            Some(c) if &c.exe == exe && key == Some((c.size, c.mtime_ns)) => c.document,
            _ => {
                let document = run_target(t, exe, &ws.root)?;
                if let Some((size, mtime_ns)) = key {
                    let entry = CacheEntry {
                        exe: exe.clone(),
                        size,
                        mtime_ns,
                        document,
                    };
                    // The cache is an optimisation: failing to write it is not an error.
                    let _ = std::fs::create_dir_all(&cache_dir);
                    if let Ok(bytes) = serde_json::to_vec(&entry) {
                        let tmp = cache_file.with_extension("json.tmp");
                        if std::fs::write(&tmp, bytes).is_ok() {
                            let _ = std::fs::rename(&tmp, &cache_file);
                        }
                    }
                    entry.document
                } else {
                    document
                }
            }
        };
        out.push(Evaluated {
            target: t.clone(),
            document,
        });
    }
    Ok(out)
}

/// `cargo build -p PACKAGE --example A --bin B ...`; returns target name -> executable.
fn cargo_build(
    package: &str,
    targets: &[&DefinitionTarget],
    cfg: &Config,
) -> Result<Vec<(String, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "--message-format=json-render-diagnostics",
        "-p",
        package,
    ]);
    for t in targets {
        cmd.args([t.kind.cargo_flag(), &t.target]);
    }
    if let Some(m) = &cfg.manifest_path {
        cmd.arg("--manifest-path").arg(m);
    }
    cmd.args(cfg.cargo.args());
    if cfg.shell.is_quiet() || cfg.shell.is_json() {
        cmd.arg("--quiet");
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        program: "cargo".into(),
        source,
    })?;
    let mut exes = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for msg in Message::parse_stream(BufReader::new(stdout)).flatten() {
            if let Message::CompilerArtifact(a) = msg {
                if let Some(exe) = a.executable {
                    exes.push((a.target.name.clone(), exe.into_std_path_buf()));
                }
            }
        }
    }
    let status = child.wait().map_err(|source| Error::Spawn {
        program: "cargo".into(),
        source,
    })?;
    if !status.success() {
        return Err(Error::CargoBuild {
            package: package.to_string(),
        });
    }
    Ok(exes)
}

/// Runs one definition binary with `CARGO_LINUXKIT_EMIT=json` in the workspace root.
fn run_target(t: &DefinitionTarget, exe: &Path, root: &Path) -> Result<Document> {
    let out = Command::new(exe)
        .env(EMIT_ENV, "json")
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: exe.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Emit {
            target: t.target.clone(),
            message: format!(
                "the definition failed ({}):\n{}",
                out.status,
                stderr.trim_end()
            ),
        });
    }
    let doc: Document = serde_json::from_slice(&out.stdout).map_err(|e| Error::Emit {
        target: t.target.clone(),
        message: format!(
            "its output is not an evaluation document ({e}); is its main generated by linuxkit_dsl::main!?"
        ),
    })?;
    if doc.format != FORMAT_VERSION {
        return Err(Error::Emit {
            target: t.target.clone(),
            message: format!(
                "evaluation document format {} is not {FORMAT_VERSION}; rebuild with a matching linuxkit-dsl",
                doc.format
            ),
        });
    }
    Ok(doc)
}
