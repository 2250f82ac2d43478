//! Small file helpers: atomic writes (temporary file in the same directory, then rename).

use std::io::Write;
use std::path::Path;

/// Writes `data` to `dest` through a temporary file in the same directory and a rename, so
/// readers never see a partial file and a failure leaves the previous file intact.
pub fn write_atomic(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".cargo-linuxkit.")
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    set_mode_0644(tmp.as_file())?;
    tmp.as_file().sync_data()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

/// Temporary files are created 0600; outputs are 0644 like upstream's.
pub fn set_mode_0644(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o644))
}
