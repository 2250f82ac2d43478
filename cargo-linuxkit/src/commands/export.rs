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
        text.push_str(&linuxkit_dsl::to_yaml_string(&d.image)?);
    }
    match output {
        Some(p) => crate::fsutil::write_atomic(p, text.as_bytes()).map_err(Error::io(p))?,
        None => print!("{text}"),
    }
    Ok(0)
}
