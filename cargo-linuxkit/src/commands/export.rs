//! `cargo linuxkit export`: an image definition as LinuxKit YAML.

use std::path::Path;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::source::load;

/// Prints (or writes to `output`) the LinuxKit YAML of the image named by `inputs`.
pub fn run(inputs: &[String], output: Option<&Path>, cfg: &Config) -> Result<i32> {
    let loaded = load(inputs, cfg)?;
    let mut text = String::new();
    let many = loaded.definitions.len() > 1;
    for d in &loaded.definitions {
        if many {
            text.push_str(&format!("# {}\n", d.name));
        }
        let local = local_sources(&d.image);
        if !local.is_empty() {
            // Upstream LinuxKit cannot build these: say so in the file and on stderr.
            text.push_str(
                "# cargo-linuxkit extension: these images are built from the Cargo workspace and \
                 are not registry references (upstream LinuxKit cannot build this file as is):\n",
            );
            for r in &local {
                text.push_str(&format!("#   {r}\n"));
            }
            cfg.shell.warn(format!(
                "image `{}` uses local image sources (a cargo-linuxkit extension): {}",
                d.name,
                local.join(", ")
            ));
        }
        text.push_str(&linuxkit_dsl::to_yaml_string(&d.image)?);
    }
    match output {
        Some(p) => crate::fsutil::write_atomic(p, text.as_bytes()).map_err(Error::io(p))?,
        None => print!("{text}"),
    }
    Ok(0)
}

/// The image strings of `image` that are local sources (`cargo:`, `kernel:`, `init:`, `dir:`).
fn local_sources(image: &linuxkit_dsl::Image) -> Vec<String> {
    let kernel = image.kernel.iter().map(|k| k.image.clone());
    let containers = image
        .onboot
        .iter()
        .chain(&image.onshutdown)
        .chain(&image.services)
        .map(|c| c.image.clone());
    let volumes = image.volumes.iter().filter_map(|v| v.image.clone());
    let mut out: Vec<String> = kernel
        .chain(image.init.iter().cloned())
        .chain(containers)
        .chain(volumes)
        .filter(|r| linuxkit_pkg::is_local(r))
        .collect();
    out.dedup();
    out
}
