//! `cargo linuxkit run [IMAGE|DIR|PATH]`: boot a build output in QEMU; an image name (or YAML
//! file) is built as `kernel+initrd` first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use linuxkit_output::Format;
use linuxkit_run::{detect, qemu::prepare, RunOptions};
use serde_json::json;

use crate::cli::RunArgs;
use crate::config::{BuildConfig, Config, Destination};
use crate::error::{Error, Result};
use crate::source::{is_yaml_input, load};

/// Resolves the raw run arguments into runner options.
pub fn options(a: &RunArgs) -> Result<RunOptions> {
    let timeout = match a.timeout {
        Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => {
            return Err(Error::Usage(format!(
                "--timeout {t}: expected a positive number of seconds"
            )))
        }
        None => None,
    };
    Ok(RunOptions {
        cpus: a.cpus,
        mem_mb: a.mem,
        accel: a.accel.parse()?,
        disks: parse_all(&a.disk)?,
        networking: a.networking.parse()?,
        publish: parse_all(&a.publish)?,
        state_dir: a.state.clone(),
        timeout,
        uefi: a.uefi.then_some(true),
        firmware: a.fw.clone(),
        qemu: a.qemu.clone(),
        pvh: !a.no_pvh,
        devices: a.device.clone(),
        gui: a.gui,
        secure_boot: if a.secure_boot {
            Some(
                crate::secureboot::run_certificate(a.secure_boot_cert.as_deref())?
                    .der()
                    .to_vec(),
            )
        } else {
            None
        },
    })
}

fn parse_all<T: std::str::FromStr<Err = linuxkit_run::RunError>>(v: &[String]) -> Result<Vec<T>> {
    v.iter().map(|s| s.parse().map_err(Error::Run)).collect()
}

fn with_suffix(p: &Path, s: &str) -> PathBuf {
    let mut o = p.as_os_str().to_os_string();
    o.push(s);
    PathBuf::from(o)
}

/// What to boot: an existing output, or the prefix of a fresh `kernel+initrd` build.
fn boot_path(target: Option<&str>, cfg: &Config) -> Result<PathBuf> {
    if let Some(t) = target {
        let p = Path::new(t);
        if !is_yaml_input(t) && (p.exists() || with_suffix(p, "-kernel").exists()) {
            return Ok(p.to_path_buf());
        }
    }
    let inputs: Vec<String> = target.map(|t| vec![t.to_string()]).unwrap_or_default();
    let loaded = load(&inputs, cfg)?;
    if loaded.definitions.len() != 1 {
        return Err(Error::Usage(format!(
            "the workspace defines {} images ({}); name the one to run",
            loaded.definitions.len(),
            loaded.names()
        )));
    }
    let bc = BuildConfig {
        formats: vec![Format::KernelInitrd],
        destination: Destination::Dir {
            dir: None,
            name: None,
        },
        arch: crate::commands::build::metadata_arch(&loaded)?
            .unwrap_or_else(|| linuxkit_oci::store::Platform::host().architecture),
        pull: false,
        decompress_kernel: false,
        size_mb: 1024,
        force: false,
        compression: None,
        cache_from: None,
        cache_to: None,
        sbom: Some(linuxkit_build::DEFAULT_SBOM_PATH.to_string()),
        secure_boot_key: None,
        secure_boot_cert: None,
        verity: false,
    };
    let dir = crate::commands::build::default_dir(&loaded);
    crate::commands::build::build_loaded(&loaded, &bc, cfg)?;
    Ok(dir.join(&loaded.definitions[0].name))
}

/// Boots the target; the exit code is the guest's status (0 for a poweroff).
pub fn run(a: &RunArgs, cfg: &Config) -> Result<i32> {
    let opts = options(a)?;
    let path = boot_path(a.target.as_deref(), cfg)?;
    let target = detect(&path)?;
    let plan = prepare(&target, &opts)?;
    let kernel_note = match (&plan.pvh_kernel, plan.reboot) {
        (Some(_), _) => ", PVH vmlinux",
        (None, true) => ", A/B updatable: a guest reboot restarts it",
        (None, false) => "",
    };
    cfg.shell.status(
        "Booting",
        format!(
            "{} ({}, {}{kernel_note}, {} MiB, {} vCPU)",
            crate::source::display_path(&target.prefix),
            target.describe(),
            plan.accel.qemu_name(),
            opts.mem_mb,
            opts.cpus
        ),
    );
    let outcome = plan.run()?;
    let code = outcome.status.exit_code();
    cfg.shell.status(
        "Stopped",
        format!(
            "{} after {:.1}s",
            outcome.status,
            outcome.elapsed.as_secs_f64()
        ),
    );
    cfg.shell.json_message(json!({
        "reason": "run-finished",
        "status": outcome.status.to_string(),
        "exit_code": code,
        "elapsed_s": outcome.elapsed.as_secs_f64(),
    }));
    Ok(code)
}
