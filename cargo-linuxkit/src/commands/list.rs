//! `cargo linuxkit list`: the workspace's images with package, target and source location.

use serde_json::json;

use crate::config::Config;
use crate::error::Result;
use crate::source::{load, Origin};

/// Prints one line per image: name, package, target, file:line.
pub fn run(cfg: &Config) -> Result<i32> {
    let loaded = load(&[], cfg)?;
    let mut rows: Vec<[String; 4]> = Vec::new();
    for d in &loaded.definitions {
        if let Origin::Rust { target, .. } = &d.origin {
            let tgt = format!(
                "{} {}",
                target.kind.cargo_flag().trim_start_matches('-'),
                target.target
            );
            if cfg.shell.is_json() {
                cfg.shell.json_message(json!({
                    "reason": "linuxkit-image",
                    "name": d.name,
                    "package": target.package,
                    "target": target.target,
                    "kind": target.kind,
                    "location": d.declared_at(),
                }));
            }
            rows.push([d.name.clone(), target.package.clone(), tgt, d.declared_at()]);
        }
    }
    if !cfg.shell.is_json() {
        let mut w = [0usize; 3];
        for r in &rows {
            for i in 0..3 {
                w[i] = w[i].max(r[i].len());
            }
        }
        for r in rows {
            println!(
                "{:w0$}  {:w1$}  {:w2$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2]
            );
        }
    }
    Ok(0)
}
