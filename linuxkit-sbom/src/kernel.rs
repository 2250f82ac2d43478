//! The kernel's version, from the kernel image as it is streamed.
//!
//! An x86 bzImage names its version in its setup header (`kernel_version`, a pointer at offset
//! 0x20e to a NUL-terminated string such as `6.1.0-28-amd64 (debian-kernel@lists.debian.org)
//! #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)`); other kernels (arm64 `Image`) do
//! not, and their release is taken from the `lib/modules/<release>/` directory of the kernel
//! tar instead.

/// What is known of the kernel's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVersion {
    /// The release (`uname -r`), e.g. `6.1.0-28-amd64`.
    pub release: String,
    /// The whole version string of the bzImage header, when there is one.
    pub banner: Option<String>,
}

/// The version string of an x86 bzImage's setup header (boot protocol 2.00 and later).
pub fn bzimage_banner(image: &[u8]) -> Option<String> {
    if image.len() < 0x210 || &image[0x202..0x206] != b"HdrS" {
        return None;
    }
    let protocol = u16::from_le_bytes([image[0x206], image[0x207]]);
    if protocol < 0x200 {
        return None;
    }
    let pointer = u16::from_le_bytes([image[0x20e], image[0x20f]]) as usize;
    if pointer == 0 {
        return None;
    }
    let start = pointer + 0x200;
    let rest = image.get(start..)?;
    let end = rest.iter().take(512).position(|&b| b == 0)?;
    let text = std::str::from_utf8(&rest[..end]).ok()?.trim();
    (!text.is_empty()).then(|| text.to_string())
}

impl KernelVersion {
    /// From a bzImage's header.
    pub fn from_bzimage(image: &[u8]) -> Option<Self> {
        let banner = bzimage_banner(image)?;
        let release = banner.split_whitespace().next()?.to_string();
        Some(KernelVersion {
            release,
            banner: Some(banner),
        })
    }

    /// From an entry name of the kernel tar: `lib/modules/<release>/...`.
    pub fn from_modules_path(name: &[u8]) -> Option<Self> {
        let name = std::str::from_utf8(name).ok()?;
        let name = name.strip_prefix("./").unwrap_or(name);
        let rest = name
            .strip_prefix("lib/modules/")
            .or_else(|| name.strip_prefix("usr/lib/modules/"))?;
        let release = rest.split('/').next().filter(|r| !r.is_empty())?;
        Some(KernelVersion {
            release: release.to_string(),
            banner: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bzimage(version: &str) -> Vec<u8> {
        let mut b = vec![0u8; 0x1000];
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        b[0x20e..0x210].copy_from_slice(&0x0600u16.to_le_bytes());
        b[0x800..0x800 + version.len()].copy_from_slice(version.as_bytes());
        b
    }

    #[test]
    fn bzimage_header_names_the_version() {
        let v = KernelVersion::from_bzimage(&fake_bzimage(
            "6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP",
        ))
        .unwrap();
        assert_eq!(v.release, "6.1.0-28-amd64");
        assert!(v.banner.unwrap().contains("debian-kernel"));
        assert_eq!(KernelVersion::from_bzimage(b"not a kernel"), None);
    }

    #[test]
    fn modules_directory_names_the_release() {
        let v = KernelVersion::from_modules_path(b"lib/modules/6.12.59-linuxkit/kernel/x.ko");
        assert_eq!(v.unwrap().release, "6.12.59-linuxkit");
        assert_eq!(KernelVersion::from_modules_path(b"lib/modules/"), None);
        assert_eq!(KernelVersion::from_modules_path(b"etc/passwd"), None);
    }
}
