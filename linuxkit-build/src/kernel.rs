//! Upstream's `kernelFilter` (build spec §3.2): of the flattened kernel image keep only the
//! kernel (as `boot/kernel`, after `boot` and `boot/cmdline`), the contents of the kernel tar
//! (streamed entry by entry, not buffered), and the optional ucode cpio (`boot/ucode.cpio`).

use std::io::Read;

use flate2::read::MultiGzDecoder;
use linuxkit_sbom::kernel::KernelVersion;

use crate::error::BuildError;
use crate::gotar::{type_flag, GoTime, Header, Reader};
use crate::image_tar::{DEFAULT_MTIME, PAX_LOCATION, PAX_SOURCE};
use crate::sink::{EntrySink, TarOut};

/// The kernel section's file names, with upstream's defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct KernelNames {
    /// The kernel binary (`kernel`).
    pub binary: String,
    /// The kernel tar (`kernel.tar`; empty when disabled with `none` or `""`).
    pub tar: String,
    /// The ucode cpio (empty when unset).
    pub ucode: String,
}

impl KernelNames {
    pub fn of(k: &linuxkit_dsl::Kernel) -> Self {
        let tar = match k.tar.as_deref() {
            None => "kernel.tar".to_string(),
            Some("none") => String::new(),
            Some(t) => t.to_string(),
        };
        let binary = match k.binary.as_deref() {
            None | Some("") => "kernel".to_string(),
            Some(b) => b.to_string(),
        };
        KernelNames {
            binary,
            tar,
            ucode: k.ucode.clone().unwrap_or_default(),
        }
    }
}

/// The filter, sitting in front of the output.
pub(crate) struct KernelFilter<'a, 'w> {
    pub out: &'a mut TarOut<'w>,
    pub names: KernelNames,
    pub cmdline: String,
    pub reference: String,
    pub decompress: bool,
    found_kernel: bool,
    found_tar: bool,
    found_ucode: bool,
    /// The version in the kernel's bzImage header, if it has one.
    banner_version: Option<KernelVersion>,
    /// The release named by the kernel tar's `lib/modules/<release>/`.
    modules_version: Option<KernelVersion>,
}

impl<'a, 'w> KernelFilter<'a, 'w> {
    pub fn new(
        out: &'a mut TarOut<'w>,
        names: KernelNames,
        cmdline: String,
        reference: String,
        decompress: bool,
    ) -> Self {
        KernelFilter {
            out,
            names,
            cmdline,
            reference,
            decompress,
            found_kernel: false,
            found_tar: false,
            found_ucode: false,
            banner_version: None,
            modules_version: None,
        }
    }

    /// The kernel's version: from the bzImage header, else from the kernel tar's modules.
    pub fn version(&self) -> Option<KernelVersion> {
        self.banner_version
            .clone()
            .or_else(|| self.modules_version.clone())
    }

    /// Upstream's `Close`: the kernel (and the tar, unless disabled) must have been seen.
    pub fn close(&self) -> Result<(), BuildError> {
        if !self.found_kernel {
            return Err(BuildError::Kernel(
                "did not find kernel in kernel image".into(),
            ));
        }
        if !self.found_tar && !self.names.tar.is_empty() {
            return Err(BuildError::Kernel(
                "did not find kernel tar in kernel image".into(),
            ));
        }
        Ok(())
    }

    fn boot_header(&self, src: &Header, name: &str, flag: u8, mode: i64) -> Header {
        let mut h = Header::new(name, flag);
        h.mode = mode;
        h.mtime = Some(GoTime::from_secs(DEFAULT_MTIME as i64));
        h.pax = src.pax.clone();
        h
    }

    /// `tarAppend`: every entry of the inner tar, forced to PAX with the LINUXKIT records.
    fn append_tar(&mut self, data: &mut dyn Read) -> Result<(), BuildError> {
        let read_err = |source| BuildError::ImageRead {
            reference: self.reference.clone(),
            source,
        };
        let mut tr = Reader::new(data);
        while let Some(mut h) = tr.next_header().map_err(read_err)? {
            if self.modules_version.is_none() {
                self.modules_version = KernelVersion::from_modules_path(&h.name);
            }
            h.set_pax(PAX_SOURCE, &self.reference);
            h.set_pax(PAX_LOCATION, "kernel");
            self.out.entry(h, &mut tr.data())?;
        }
        Ok(())
    }
}

impl EntrySink for KernelFilter<'_, '_> {
    fn entry(&mut self, h: Header, data: &mut dyn Read) -> Result<(), BuildError> {
        let name = h.name.as_slice();
        if name == self.names.binary.as_bytes() {
            if self.found_kernel {
                return Err(BuildError::Kernel(
                    "found more than one possible kernel image".into(),
                ));
            }
            self.found_kernel = true;
            if !self.found_ucode {
                let b = self.boot_header(&h, "boot", type_flag::DIR, 0o755);
                self.out.entry(b, &mut std::io::empty())?;
            }
            let mut c = self.boot_header(&h, "boot/cmdline", type_flag::REG, 0o644);
            c.size = self.cmdline.len() as i64;
            let cmdline = self.cmdline.clone();
            self.out.write_bytes(c, cmdline.as_bytes())?;
            // Upstream buffers the kernel (it may be decompressed); so do we.
            let mut buf = Vec::with_capacity(h.data_len().min(64 << 20) as usize);
            data.read_to_end(&mut buf)
                .map_err(|source| BuildError::ImageRead {
                    reference: self.reference.clone(),
                    source,
                })?;
            self.banner_version = KernelVersion::from_bzimage(&buf);
            let mut k = self.boot_header(&h, "boot/kernel", type_flag::REG, h.mode);
            k.size = h.size;
            if self.decompress {
                buf = decompress_kernel(&buf).map_err(BuildError::Kernel)?;
                k.size = buf.len() as i64;
            }
            self.out.write_bytes(k, &buf)
        } else if !self.names.tar.is_empty() && name == self.names.tar.as_bytes() {
            self.found_tar = true;
            self.append_tar(data)
        } else if !self.names.ucode.is_empty() && name == self.names.ucode.as_bytes() {
            self.found_ucode = true;
            if !self.found_kernel {
                let b = self.boot_header(&h, "boot", type_flag::DIR, 0o755);
                self.out.entry(b, &mut std::io::empty())?;
            }
            let mut u = self.boot_header(&h, "boot/ucode.cpio", type_flag::REG, h.mode);
            u.size = h.size;
            self.out.entry(u, data)
        } else {
            Ok(())
        }
    }
}

/// Upstream's `decompressKernel`: a gzip file, or the gzip payload of an x86 bzImage.
fn decompress_kernel(s: &[u8]) -> Result<Vec<u8>, String> {
    const GZIP: &[u8] = b"\x1f\x8b";
    let gunzip = |b: &[u8]| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        MultiGzDecoder::new(b)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    };
    if s.starts_with(GZIP) {
        return gunzip(s);
    }
    if s.len() > 0x250 && s[0x1fe..0x200] == [0x55, 0xaa] && &s[0x202..0x206] == b"HdrS" {
        let (major, minor) = (s[0x206], s[0x207]);
        if major < 2 && minor < 8 {
            return Err(format!("unsupported bzImage version: {major}.{minor}"));
        }
        let setup_sectors = u32::from(s[0x1f1]);
        let le = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        let off = le(0x248).wrapping_add((setup_sectors + 1) * 512) as usize;
        let len = le(0x24c) as usize;
        if s.len() < off.saturating_add(len) {
            return Err("compressed bzImage payload exceeds size of image".into());
        }
        if s[off..].starts_with(GZIP) {
            return gunzip(&s[off..off + len]);
        }
        return Err(format!(
            "unsupported bzImage payload format at offset {off}"
        ));
    }
    Err("no compressed kernel or no supported format found".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_upstream_defaults() {
        let k = linuxkit_dsl::Kernel {
            tar: Some("none".into()),
            ..Default::default()
        };
        let n = KernelNames::of(&k);
        assert_eq!(
            (n.binary.as_str(), n.tar.as_str(), n.ucode.as_str()),
            ("kernel", "", "")
        );
        let n = KernelNames::of(&linuxkit_dsl::Kernel::default());
        assert_eq!(n.tar, "kernel.tar");
    }

    #[test]
    fn decompress_rejects_unknown_formats() {
        assert!(decompress_kernel(b"plain").is_err());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"vmlinux").unwrap();
        assert_eq!(
            decompress_kernel(&gz.finish().unwrap()).unwrap(),
            b"vmlinux"
        );
    }
}
