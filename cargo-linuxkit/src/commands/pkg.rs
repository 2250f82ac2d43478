//! `cargo linuxkit pkg build|push`: workspace packages as images, tagged by content hash
//! (upstream `linuxkit pkg`, without Docker).

use serde_json::json;

use crate::cli::PkgArgs;
use crate::config::Config;
use crate::error::{Error, Result};

/// Runs a `pkg` subcommand.
pub fn run(args: &PkgArgs, cfg: &Config) -> Result<i32> {
    let root = crate::workspace::discover(cfg.manifest_path.as_deref(), &cfg.cargo)?.root;
    let pkg_err = |e: linuxkit_pkg::PkgError| Error::Resolve(Box::new(e));
    match args {
        PkgArgs::Build { package, force } => {
            let opts = linuxkit_pkg::PrepareOptions {
                offline: cfg.offline,
                force: *force,
                ..Default::default()
            };
            let built =
                linuxkit_pkg::pkg_build(package, &root, &cfg.cache_dir, &opts).map_err(pkg_err)?;
            let verb = if built.fresh { "Fresh" } else { "Built" };
            cfg.shell.status(
                verb,
                format!(
                    "{} as {} ({})",
                    built.reference, built.name, built.manifest_digest
                ),
            );
            cfg.shell.json_message(json!({
                "reason": "pkg-built", "reference": built.reference, "name": built.name,
                "tag": built.tag, "digest": built.manifest_digest, "fresh": built.fresh,
            }));
            if !cfg.shell.is_json() {
                println!("{}", built.name);
            }
        }
        PkgArgs::Push { package, registry } => {
            let platform = linuxkit_oci::store::Platform::host();
            let resolver = crate::resolve::resolver(cfg, platform, false)?;
            let opts = linuxkit_pkg::PrepareOptions {
                offline: cfg.offline,
                ..Default::default()
            };
            let remote = linuxkit_pkg::pkg_push(package, registry, &root, &resolver, &opts)
                .map_err(pkg_err)?;
            cfg.shell
                .json_message(json!({"reason": "pkg-pushed", "remote": remote}));
            if !cfg.shell.is_json() {
                println!("{remote}");
            }
        }
    }
    Ok(0)
}
