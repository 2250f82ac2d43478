//! Unified Kernel Image: systemd-stub with `.osrel`, `.cmdline`, `.initrd` and `.linux` sections
//! appended (what `ukify build` does; Debian 12 has no `ukify`).
//!
//! The stub's PE headers are patched in memory and the image is streamed out, so the initrd
//! is never held in memory. Sections follow the stub's last one, `.linux` last as ukify puts it.

use std::io::{self, Read, Write};

/// The `.osrel` contents: the boot menu entry name.
pub(crate) const OS_RELEASE: &[u8] = b"NAME=\"LinuxKit\"\nID=linuxkit\n";

/// One section to append.
pub(crate) struct Section<'a> {
    /// Section name (at most 8 bytes).
    pub name: &'static [u8],
    /// Length of the contents.
    pub len: u64,
    /// The contents.
    pub data: &'a mut dyn Read,
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn put_u16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn align(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// A stub whose headers were checked, ready to have sections appended.
#[derive(Clone)]
pub(crate) struct Stub {
    bytes: Vec<u8>,
    sections_off: usize,
    count: usize,
    file_align: u64,
    section_align: u64,
    next_va: u64,
    opt: usize,
    machine: u16,
}

/// The PE machine type of an EFI image (`MZ` ... `PE\0\0` then the COFF machine field).
pub(crate) fn pe_machine(bytes: &[u8]) -> Option<u16> {
    if bytes.get(..2) != Some(b"MZ") {
        return None;
    }
    let pe = u32_at(bytes, 0x3c)? as usize;
    if bytes.get(pe..pe.checked_add(4)?) != Some(b"PE\0\0") {
        return None;
    }
    u16_at(bytes, pe + 4)
}

/// The architecture name of a PE machine type, for messages.
pub(crate) fn machine_name(m: u16) -> &'static str {
    match m {
        0x8664 => "x86_64",
        0xaa64 => "aarch64",
        0x5064 => "riscv64",
        0x014c => "i386",
        _ => "unknown",
    }
}

impl Stub {
    /// Parses a PE32+ EFI stub; the error says what is wrong with it.
    pub(crate) fn parse(bytes: Vec<u8>, room_for: usize) -> Result<Stub, String> {
        let bad = |what: &str| format!("not a usable PE32+ EFI stub: {what}");
        if bytes.get(..2) != Some(b"MZ") {
            return Err(bad("no MZ header"));
        }
        let pe = u32_at(&bytes, 0x3c).ok_or_else(|| bad("truncated"))? as usize;
        if bytes.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err(bad("no PE signature"));
        }
        let coff = pe + 4;
        let machine = u16_at(&bytes, coff).ok_or_else(|| bad("truncated"))?;
        let count = u16_at(&bytes, coff + 2).ok_or_else(|| bad("truncated"))? as usize;
        let opt_size = u16_at(&bytes, coff + 16).ok_or_else(|| bad("truncated"))? as usize;
        let opt = coff + 20;
        if u16_at(&bytes, opt) != Some(0x20b) {
            return Err(bad("not PE32+"));
        }
        let section_align = u64::from(u32_at(&bytes, opt + 32).ok_or_else(|| bad("truncated"))?);
        let file_align = u64::from(u32_at(&bytes, opt + 36).ok_or_else(|| bad("truncated"))?);
        let headers = u32_at(&bytes, opt + 60).ok_or_else(|| bad("truncated"))? as usize;
        if section_align == 0 || file_align == 0 {
            return Err(bad("zero alignment"));
        }
        let sections_off = opt + opt_size;
        let mut next_va = 0u64;
        let mut first_raw = usize::MAX;
        for i in 0..count {
            let s = sections_off + i * 40;
            let vsize = u64::from(u32_at(&bytes, s + 8).ok_or_else(|| bad("truncated"))?);
            let va = u64::from(u32_at(&bytes, s + 12).ok_or_else(|| bad("truncated"))?);
            let raw_size = u64::from(u32_at(&bytes, s + 16).ok_or_else(|| bad("truncated"))?);
            let raw_ptr = u32_at(&bytes, s + 20).ok_or_else(|| bad("truncated"))? as usize;
            next_va = next_va.max(va + vsize.max(raw_size));
            if raw_ptr != 0 {
                first_raw = first_raw.min(raw_ptr);
            }
        }
        let table_end = sections_off + (count + room_for) * 40;
        if table_end > headers.min(first_raw) {
            return Err(bad("no room in the headers for more sections"));
        }
        Ok(Stub {
            bytes,
            sections_off,
            count,
            file_align,
            section_align,
            next_va: align(next_va, section_align),
            opt,
            machine,
        })
    }

    /// The PE machine type of the stub.
    pub(crate) fn machine(&self) -> u16 {
        self.machine
    }

    /// Where UEFI firmware looks for a removable medium's loader of this machine type:
    /// `EFI/BOOT/BOOTX64.EFI`, `BOOTAA64.EFI`, ...
    pub(crate) fn boot_path(&self) -> &'static str {
        match self.machine {
            0xaa64 => "EFI/BOOT/BOOTAA64.EFI",
            0x5064 => "EFI/BOOT/BOOTRISCV64.EFI",
            0x014c => "EFI/BOOT/BOOTIA32.EFI",
            _ => "EFI/BOOT/BOOTX64.EFI",
        }
    }

    /// Size of the image with these section lengths.
    pub(crate) fn image_len(&self, lens: &[u64]) -> u64 {
        let mut end = align(self.bytes.len() as u64, self.file_align);
        for &l in lens {
            end += align(l, self.file_align);
        }
        end
    }

    /// Writes the stub with `sections` appended.
    pub(crate) fn write(
        mut self,
        out: &mut dyn Write,
        sections: &mut [Section<'_>],
    ) -> io::Result<()> {
        let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "UKI larger than 4 GiB");
        let mut raw = align(self.bytes.len() as u64, self.file_align);
        let mut va = self.next_va;
        for (i, s) in sections.iter().enumerate() {
            let h = self.sections_off + (self.count + i) * 40;
            let mut name = [0u8; 8];
            name[..s.name.len()].copy_from_slice(s.name);
            self.bytes[h..h + 8].copy_from_slice(&name);
            let raw_size = align(s.len, self.file_align);
            put_u32(
                &mut self.bytes,
                h + 8,
                u32::try_from(s.len).map_err(|_| too_big())?,
            );
            put_u32(
                &mut self.bytes,
                h + 12,
                u32::try_from(va).map_err(|_| too_big())?,
            );
            put_u32(
                &mut self.bytes,
                h + 16,
                u32::try_from(raw_size).map_err(|_| too_big())?,
            );
            put_u32(
                &mut self.bytes,
                h + 20,
                u32::try_from(raw).map_err(|_| too_big())?,
            );
            self.bytes[h + 24..h + 36].fill(0);
            // IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
            put_u32(&mut self.bytes, h + 36, 0x4000_0040);
            raw += raw_size;
            va = align(va + s.len, self.section_align);
        }
        let coff = self.opt - 20;
        put_u16(
            &mut self.bytes,
            coff + 2,
            (self.count + sections.len()) as u16,
        );
        put_u32(
            &mut self.bytes,
            self.opt + 56,
            u32::try_from(va).map_err(|_| too_big())?,
        );
        // No checksum and no signature: they would not match the new contents.
        put_u32(&mut self.bytes, self.opt + 64, 0);
        if self.bytes.len() >= self.opt + 112 + 40 {
            self.bytes[self.opt + 112 + 32..self.opt + 112 + 40].fill(0);
        }
        out.write_all(&self.bytes)?;
        pad(out, self.bytes.len() as u64, self.file_align)?;
        for s in sections.iter_mut() {
            let n = io::copy(&mut s.data.take(s.len), out)?;
            if n != s.len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "UKI section is short",
                ));
            }
            pad(out, s.len, self.file_align)?;
        }
        Ok(())
    }
}

fn pad(out: &mut dyn Write, len: u64, a: u64) -> io::Result<()> {
    let n = align(len, a) - len;
    io::copy(&mut io::repeat(0).take(n), out)?;
    Ok(())
}
