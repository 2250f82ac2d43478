//! The EFI variables systemd-boot and its stub leave for the OS (Boot Loader Interface): which
//! entry was booted (`LoaderEntrySelected`) and which partition it came from
//! (`LoaderDevicePartUUID`). Read through efivarfs, mounted read-only in the agent's own mount
//! namespace.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

/// The vendor GUID of the Boot Loader Interface's variables.
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// Mounted efivarfs.
pub struct EfiVars {
    dir: PathBuf,
}

impl EfiVars {
    /// Mounts efivarfs at `dir` (read-only). An error when the system did not boot with UEFI.
    pub fn mount(dir: &Path) -> Result<EfiVars, String> {
        if !Path::new("/sys/firmware/efi").exists() {
            return Err("the system did not boot through UEFI (no /sys/firmware/efi)".into());
        }
        let _ = fs::create_dir_all(dir);
        if !dir.join(format!("LoaderInfo-{LOADER_GUID}")).exists() {
            mount(
                Some("efivarfs"),
                dir,
                Some("efivarfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| format!("mounting efivarfs on {}: {e}", dir.display()))?;
        }
        Ok(EfiVars {
            dir: dir.to_path_buf(),
        })
    }

    /// A loader variable as text (UTF-16 in the variable, after 4 bytes of attributes).
    pub fn loader_string(&self, name: &str) -> Option<String> {
        let raw = fs::read(self.dir.join(format!("{name}-{LOADER_GUID}"))).ok()?;
        decode_utf16(raw.get(4..)?)
    }
}

/// UTF-16LE to a string, up to the first NUL.
pub fn decode_utf16(bytes: &[u8]) -> Option<String> {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_utf16_up_to_nul() {
        let mut b = Vec::new();
        for u in "linuxkit-2-0123456789ab+3.efi"
            .encode_utf16()
            .chain([0, 65])
        {
            b.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(
            decode_utf16(&b).as_deref(),
            Some("linuxkit-2-0123456789ab+3.efi")
        );
    }
}
