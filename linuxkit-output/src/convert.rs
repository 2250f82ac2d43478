//! Disk format conversion with `qemu-img convert` (Debian `qemu-utils`): qcow2, VHD, VMDK.
//! No maintained Rust crate writes these formats; qemu-img is what upstream's containers use.

use std::path::Path;
use std::process::Command;

use crate::{Format, OutputError};

/// Converts the raw image `raw` to `out` in qemu-img format `fmt` with extra `-o` options.
pub(crate) fn qemu_img(
    format: Format,
    raw: &Path,
    out: &Path,
    fmt: &str,
    options: Option<&str>,
) -> Result<(), OutputError> {
    let mut cmd = Command::new("qemu-img");
    cmd.args(["convert", "-q", "-f", "raw", "-O", fmt]);
    if let Some(o) = options {
        cmd.args(["-o", o]);
    }
    cmd.arg(raw).arg(out);
    let tool_err = |message: String| OutputError::Tool {
        tool: "qemu-img".into(),
        format: format.name().into(),
        message,
    };
    let o = cmd.output().map_err(|e| {
        tool_err(format!(
            "cannot run qemu-img ({e}): install it with `apt-get install -y qemu-utils`"
        ))
    })?;
    if !o.status.success() {
        return Err(tool_err(
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        ));
    }
    Ok(())
}
