//! `cargo linuxkit cache ls|rm|clean|export|import|pull|push` (upstream `linuxkit cache`), and
//! `cache verify [--repair]`.

use std::io::{BufWriter, Write};
use std::path::Path;

use linuxkit_oci::store::Platform;
use linuxkit_resolve::Cache;
use serde_json::json;

use crate::cli::CacheArgs;
use crate::config::Config;
use crate::error::{Error, Result};

fn resolve_err(e: linuxkit_resolve::ResolveError) -> Error {
    Error::Resolve(Box::new(e))
}

fn open(cfg: &Config) -> Result<Cache> {
    Cache::open(&cfg.cache_dir).map_err(resolve_err)
}

/// Runs a cache subcommand.
pub fn run(args: &CacheArgs, cfg: &Config) -> Result<i32> {
    match args {
        CacheArgs::Ls => {
            for e in open(cfg)?.list().map_err(resolve_err)? {
                if cfg.shell.is_json() {
                    cfg.shell.json_message(json!({
                        "reason": "cache-entry", "name": e.name, "digest": e.digest,
                        "media_type": e.media_type, "size": e.size,
                    }));
                } else {
                    println!("{} {}", e.name, e.digest);
                }
            }
        }
        CacheArgs::Rm { names } => {
            for n in open(cfg)?.remove(names).map_err(resolve_err)? {
                cfg.shell.status("Removed", n);
            }
        }
        CacheArgs::Clean => {
            open(cfg)?.clean().map_err(resolve_err)?;
            cfg.shell
                .status("Removed", format!("cache {}", cfg.cache_dir.display()));
        }
        CacheArgs::Import { files } => {
            let cache = open(cfg)?;
            for f in files {
                for name in cache.import(f).map_err(resolve_err)? {
                    cfg.shell.status("Imported", &name);
                    cfg.shell
                        .json_message(json!({"reason": "cache-imported", "name": name}));
                }
            }
        }
        CacheArgs::Export {
            name,
            outfile,
            format,
            platform,
        } => {
            if format != "oci" {
                return Err(Error::Usage(format!(
                    "cache export --format {format} is not supported yet; use --format oci"
                )));
            }
            let _ = platform;
            let cache = open(cfg)?;
            if outfile.as_os_str() == "-" {
                let stdout = std::io::stdout();
                let mut out = BufWriter::new(stdout.lock());
                cache.export_oci(name, &mut out).map_err(resolve_err)?;
                out.flush().map_err(Error::io("<stdout>"))?;
            } else {
                export_to_file(&cache, name, outfile)?;
                cfg.shell
                    .status("Exported", format!("{name} to {}", outfile.display()));
            }
        }
        CacheArgs::Verify { repair } => return verify(cfg, *repair),
        CacheArgs::Push {
            names,
            registry,
            remote_name,
            r#override,
        } => push(
            cfg,
            names,
            registry.as_deref(),
            remote_name.as_deref(),
            *r#override,
        )?,
        CacheArgs::Pull { names } => {
            let resolver = crate::resolve::resolver(cfg, Platform::host(), true)?;
            // Offline, nothing is downloaded: every image must already be cached (as with
            // `cargo fetch --offline`), and is reported fresh.
            let (verb, reason) = if cfg.offline {
                ("Fresh", "cache-fresh")
            } else {
                ("Pulled", "cache-pulled")
            };
            for n in resolver.pull(names).map_err(resolve_err)? {
                cfg.shell.status(verb, &n);
                cfg.shell.json_message(json!({"reason": reason, "name": n}));
            }
        }
    }
    Ok(0)
}

/// Where `cache push --registry HOST[/PREFIX]` puts `image`: `HOST/PREFIX/<repository>` with
/// its tag or digest (`linuxkit/init:v1` -> `HOST/PREFIX/linuxkit/init:v1`), so that
/// `--mirror docker.io=http://HOST` finds Docker Hub images pushed with no prefix.
pub fn remote_name(image: &linuxkit_resolve::ImageRef, registry: &str) -> Result<String> {
    let registry = registry.trim_end_matches('/');
    let host = registry.split('/').next().unwrap_or_default();
    if !(host.contains('.') || host.contains(':') || host == "localhost") {
        return Err(Error::Usage(format!(
            "--registry {registry}: the first part must be a registry host (with a dot or a \
             port, or localhost), e.g. 127.0.0.1:5000 or registry.example/team"
        )));
    }
    let mut remote = format!("{registry}/{}", image.repository);
    if let Some(t) = &image.tag {
        remote.push(':');
        remote.push_str(t);
    }
    if let Some(d) = &image.digest {
        remote.push('@');
        remote.push_str(d);
    }
    linuxkit_resolve::ImageRef::parse(&remote)
        .map_err(|e| Error::Usage(format!("--registry {registry}: {e}")))?;
    Ok(remote)
}

/// `cache push`: each named image to its remote name; one that the registry already has
/// under that name is skipped unless `override_`, as upstream.
fn push(
    cfg: &Config,
    names: &[String],
    registry: Option<&str>,
    remote: Option<&str>,
    override_: bool,
) -> Result<()> {
    if remote.is_some() && names.len() != 1 {
        return Err(Error::Usage(
            "--remote-name needs exactly one image to push".into(),
        ));
    }
    let resolver = crate::resolve::resolver(cfg, Platform::host(), false)?;
    let cache = resolver.cache();
    for name in names {
        if linuxkit_pkg::is_local(name) {
            return Err(Error::Usage(format!(
                "{name} is a local image source, not an image name: push the image built from \
                 it under its cache name (see `cargo linuxkit cache ls`, e.g. \
                 linuxkit-local/<package>:<tag>), or share local images through a build cache \
                 (`cargo linuxkit build --cache-to REGISTRY/REPO`)"
            )));
        }
        let image = linuxkit_resolve::ImageRef::parse(name).map_err(|e| resolve_err(e.into()))?;
        let root = cache.find(&image).map_err(resolve_err)?.ok_or_else(|| {
            Error::Usage(format!(
                "{name} is not in the cache {}: pull it first (`cargo linuxkit cache pull {name}`)",
                cfg.cache_dir.display()
            ))
        })?;
        let target = match (remote, registry) {
            (Some(r), _) => r.to_string(),
            (None, Some(reg)) => remote_name(&image, reg)?,
            (None, None) => image.name.clone(),
        };
        if !override_ {
            if let Some((_, there)) = resolver.fetch_manifest(&target).map_err(resolve_err)? {
                let why = if there.digest == root.digest {
                    "already there".to_string()
                } else {
                    format!(
                        "the registry has {} under that name; pass --override to replace it",
                        there.digest
                    )
                };
                cfg.shell
                    .status("Skipped", format!("{name} as {target}: {why}"));
                cfg.shell.json_message(json!({
                    "reason": "cache-pushed", "name": name, "remote": target,
                    "digest": root.digest, "skipped": true,
                }));
                continue;
            }
        }
        resolver.push(name, Some(&target)).map_err(resolve_err)?;
        cfg.shell.status("Pushed", format!("{name} as {target}"));
        cfg.shell.json_message(json!({
            "reason": "cache-pushed", "name": name, "remote": target,
            "digest": root.digest, "skipped": false,
        }));
    }
    Ok(())
}

fn export_to_file(cache: &Cache, name: &str, outfile: &Path) -> Result<()> {
    let dir = outfile
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".cargo-linuxkit.")
        .tempfile_in(dir)
        .map_err(Error::io(dir))?;
    {
        let mut out = BufWriter::new(tmp.as_file_mut());
        cache.export_oci(name, &mut out).map_err(resolve_err)?;
        out.flush().map_err(Error::io(outfile))?;
    }
    crate::fsutil::set_mode_0644(tmp.as_file()).map_err(Error::io(outfile))?;
    tmp.persist(outfile).map_err(|e| Error::Io {
        path: outfile.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// `cache verify`: one line per problem (what, images, fix), a summary; exit 1 on any problem
/// left unrepaired.
fn verify(cfg: &Config, repair: bool) -> Result<i32> {
    let report = open(cfg)?.verify(repair).map_err(resolve_err)?;
    let mut unrepaired = 0;
    for p in &report.problems {
        if !p.repaired {
            unrepaired += 1;
        }
        let images = if p.images.is_empty() {
            String::new()
        } else {
            format!(" (used by {})", p.images.join(", "))
        };
        if cfg.shell.is_json() {
            cfg.shell.json_message(json!({
                "reason": "cache-problem", "what": p.what, "images": p.images,
                "fix": p.fix, "repaired": p.repaired,
            }));
        } else if p.repaired {
            cfg.shell
                .status("Repaired", format!("{}{images}: {}", p.what, p.fix));
        } else {
            eprintln!("error: {}{images}\n  = fix: {}", p.what, p.fix);
        }
    }
    let summary = format!(
        "{} blobs ({} KiB), {} images in {}: {}",
        report.blobs,
        report.bytes / 1024,
        report.roots,
        cfg.cache_dir.display(),
        match (report.problems.len(), unrepaired) {
            (0, _) => "ok".to_string(),
            (n, 0) => format!("{n} problems repaired"),
            (n, u) => format!("{n} problems, {u} not repaired"),
        }
    );
    cfg.shell.status("Verified", summary);
    Ok(if unrepaired > 0 { 1 } else { 0 })
}
