//! A small image around the host's static busybox (Debian `busybox-static`), for tests,
//! examples and debugging shells.

use std::path::{Path, PathBuf};

use crate::error::LocalError;
use crate::layer::Layer;

/// Where Debian's `busybox-static` installs the binary.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// The applets linked in `/bin` of a busybox layer.
pub const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "echo", "ls", "sleep", "grep", "sed", "awk", "kill", "ps", "mount",
    "umount", "mkdir", "rm", "touch", "readlink", "id", "head", "tail", "wc", "tr", "cut", "test",
    "true", "false", "printf", "env", "hostname", "poweroff", "reboot", "halt", "sync", "date",
    "uname", "stat", "find", "xargs", "sort", "tee", "dmesg", "ip", "ifconfig", "nc", "wget", "vi",
    "less",
];

/// The host's static busybox, if installed and statically linked (an ELF without an
/// interpreter).
pub fn host_busybox() -> Option<PathBuf> {
    let p = Path::new(HOST_BUSYBOX);
    let data = std::fs::read(p).ok()?;
    let is_elf = data.starts_with(b"\x7fELF");
    // A dynamically linked binary names its interpreter.
    let dynamic = data
        .windows(b"/lib64/ld-linux".len())
        .any(|w| w == b"/lib64/ld-linux");
    (is_elf && !dynamic).then(|| p.to_path_buf())
}

/// A layer with `bin/busybox` from `busybox` and the [`APPLETS`] as symlinks to it.
pub fn busybox_layer(busybox: &Path) -> Result<Layer, LocalError> {
    let mut l = Layer::new();
    add_busybox(&mut l, busybox)?;
    Ok(l)
}

/// Adds `bin/busybox` and its applet links to `layer`.
pub fn add_busybox(layer: &mut Layer, busybox: &Path) -> Result<(), LocalError> {
    layer.file("bin/busybox", 0o755, busybox)?;
    for a in APPLETS {
        layer.symlink(&format!("bin/{a}"), "busybox")?;
    }
    Ok(())
}
