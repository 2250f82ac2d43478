//! Extracting the `vmlinux` ELF from a bzImage, for fast PVH boots under TCG.
//!
//! About 4 s of a TCG boot of a bzImage is the emulated decompression of the kernel. The
//! compressed payload sits at `(setup_sects + 1) * 512 + payload_offset` (boot protocol >= 2.08);
//! when the header is unusable the xz magic `FD 37 7A 58 5A 00` is searched instead. xz (the
//! usual compression, with the x86 BCJ filter, hence liblzma through `xz2`) and gzip payloads
//! are decompressed. The result is used only when it is an ELF with a PVH entry note
//! (`XEN_ELFNOTE_PHYS32_ENTRY`), which QEMU's `-kernel` boots directly; otherwise the bzImage is
//! booted as is. The ELF note scan is a few lines over the program headers, so no ELF crate.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::RunError;

const XZ_MAGIC: &[u8] = &[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];
const GZIP_MAGIC: &[u8] = &[0x1F, 0x8B, 0x08];
/// `XEN_ELFNOTE_PHYS32_ENTRY`: the PVH entry point note.
const PVH_NOTE: u32 = 18;

/// Is this file a bzImage (`HdrS` at 0x202)?
pub fn is_bzimage(data: &[u8]) -> bool {
    data.len() > 0x250 && &data[0x202..0x206] == b"HdrS"
}

/// Where the compressed payload starts, from the boot header, else by xz magic search.
fn payload(data: &[u8]) -> Option<&[u8]> {
    let version = u16::from_le_bytes([data[0x206], data[0x207]]);
    if version >= 0x0208 {
        let setup_sects = match data[0x1f1] {
            0 => 4,
            n => usize::from(n),
        };
        let off = u32::from_le_bytes(data[0x248..0x24c].try_into().ok()?) as usize;
        let len = u32::from_le_bytes(data[0x24c..0x250].try_into().ok()?) as usize;
        let start = (setup_sects + 1) * 512 + off;
        if let Some(p) = data.get(start..start + len) {
            if p.starts_with(XZ_MAGIC) || p.starts_with(GZIP_MAGIC) {
                return Some(p);
            }
        }
    }
    let pos = data.windows(XZ_MAGIC.len()).position(|w| w == XZ_MAGIC)?;
    Some(&data[pos..])
}

/// Decompresses the bzImage payload to the embedded ELF image.
pub fn extract_vmlinux(bzimage: &[u8]) -> Result<Vec<u8>, String> {
    let out = decompress_payload(bzimage)?;
    if !out.starts_with(b"\x7fELF") {
        return Err("payload is not an ELF image".into());
    }
    Ok(out)
}

/// The decompressed payload of a bzImage (xz or gzip).
fn decompress_payload(bzimage: &[u8]) -> Result<Vec<u8>, String> {
    if !is_bzimage(bzimage) {
        return Err("not a bzImage (no HdrS boot header)".into());
    }
    let payload = payload(bzimage).ok_or("no xz or gzip payload found")?;
    let mut out = Vec::with_capacity(payload.len() * 4);
    if payload.starts_with(XZ_MAGIC) {
        unxz(payload, &mut out)?;
    } else {
        flate2::read::GzDecoder::new(payload)
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip payload: {e}"))?;
    }
    Ok(out)
}

/// Where the kernel keeps its configuration with `CONFIG_IKCONFIG`: gzip'd text between these.
const IKCFG_START: &[u8] = b"IKCFG_ST";
const IKCFG_END: &[u8] = b"IKCFG_ED";

/// The release of a bzImage from its boot header's version string (`6.1.0-57-amd64 (...)`
/// -> `6.1.0-57-amd64`), when it has one.
pub fn bzimage_release(bzimage: &[u8]) -> Option<String> {
    if !is_bzimage(bzimage) {
        return None;
    }
    let off = u16::from_le_bytes([bzimage[0x20e], bzimage[0x20f]]) as usize;
    let s = bzimage.get(0x200 + off..)?;
    let end = s.iter().position(|&b| b == 0 || b == b' ')?;
    let v = std::str::from_utf8(&s[..end]).ok()?;
    v.starts_with(|c: char| c.is_ascii_digit())
        .then(|| v.to_string())
}

/// The kernel configuration embedded in a kernel image (`CONFIG_IKCONFIG`, as
/// `scripts/extract-ikconfig` finds it): the gzip'd text between `IKCFG_ST` and `IKCFG_ED`,
/// in the image itself (an uncompressed kernel) or in a bzImage's gzip payload (LinuxKit's
/// kernels), decompressed only up to the config. xz payloads (Debian's kernels, which keep
/// their config in `/boot` instead) are not searched: decompressing one costs about half a
/// second. `Ok(None)`: no config found.
pub fn ikconfig(kernel: &[u8]) -> Result<Option<String>, String> {
    if let Some(c) = find_ikconfig(std::io::Cursor::new(kernel))? {
        return Ok(Some(c));
    }
    if !is_bzimage(kernel) {
        return Ok(None);
    }
    match payload(kernel) {
        Some(p) if p.starts_with(GZIP_MAGIC) => find_ikconfig(flate2::read::GzDecoder::new(p)),
        _ => Ok(None),
    }
}

/// Searches a stream for the embedded config, reading only up to its end.
fn find_ikconfig(mut image: impl Read) -> Result<Option<String>, String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut start: Option<usize> = None;
    let mut scanned: usize = 0;
    loop {
        let n = image
            .read(&mut chunk)
            .map_err(|e| format!("kernel payload: {e}"))?;
        let at_end = n == 0;
        buf.extend_from_slice(&chunk[..n]);
        if start.is_none() {
            let from = scanned.saturating_sub(IKCFG_START.len());
            match buf[from..]
                .windows(IKCFG_START.len())
                .position(|w| w == IKCFG_START)
            {
                Some(i) => {
                    let s = from + i + IKCFG_START.len();
                    buf.drain(..s);
                    start = Some(0);
                    scanned = 0;
                }
                None => {
                    // Keep only a tail that could hold the start of the marker.
                    let keep = buf.len().min(IKCFG_START.len());
                    buf.drain(..buf.len() - keep);
                    scanned = buf.len();
                }
            }
        }
        if start.is_some() {
            let from = scanned.saturating_sub(IKCFG_END.len());
            let end = buf[from..]
                .windows(IKCFG_END.len())
                .position(|w| w == IKCFG_END)
                .map(|i| from + i);
            scanned = buf.len();
            if let Some(end) = end.or(at_end.then_some(buf.len())) {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&buf[..end])
                    .read_to_string(&mut text)
                    .map_err(|e| format!("embedded kernel config (IKCONFIG): {e}"))?;
                return Ok(Some(text));
            }
        }
        if at_end {
            return Ok(None);
        }
    }
}

/// Decodes one xz stream and stops at its end: the kernel appends the uncompressed size after
/// the stream, which a plain reader would take for a corrupt second stream.
fn unxz(payload: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    use xz2::stream::{Action, Status, Stream};
    let mut stream =
        Stream::new_stream_decoder(u64::MAX, 0).map_err(|e| format!("xz payload: {e}"))?;
    loop {
        if out.capacity() - out.len() < 1 << 20 {
            out.reserve(8 << 20);
        }
        let consumed = stream.total_in() as usize;
        let produced = out.len();
        let status = stream
            .process_vec(&payload[consumed..], out, Action::Run)
            .map_err(|e| format!("xz payload: {e}"))?;
        if status == Status::StreamEnd {
            return Ok(());
        }
        if stream.total_in() as usize == consumed && out.len() == produced {
            return Err("xz payload: truncated stream".into());
        }
    }
}

/// Does this 64-bit little-endian ELF carry a PVH entry note?
pub fn has_pvh_note(elf: &[u8]) -> bool {
    let rd16 = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let rd32 = |o: usize| {
        elf.get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let rd64 = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // ELFCLASS64, little-endian.
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (rd64(0x20), rd16(0x36), rd16(0x38)) else {
        return false;
    };
    for i in 0..usize::from(phnum) {
        let ph = phoff as usize + i * usize::from(phentsize);
        if rd32(ph) != Some(4) {
            continue; // not PT_NOTE
        }
        let (Some(off), Some(size)) = (rd64(ph + 8), rd64(ph + 32)) else {
            continue;
        };
        let (mut n, end) = (off as usize, (off + size) as usize);
        while n + 12 <= end {
            let (Some(namesz), Some(descsz), Some(kind)) = (rd32(n), rd32(n + 4), rd32(n + 8))
            else {
                break;
            };
            if kind == PVH_NOTE && elf.get(n + 12..n + 15) == Some(b"Xen") {
                return true;
            }
            let align = |x: u32| (x as usize + 3) & !3;
            n += 12 + align(namesz) + align(descsz);
        }
    }
    false
}

/// Returns a PVH-bootable `vmlinux` for `kernel`, extracting it once and caching it as
/// `<kernel>.vmlinux` (or in `fallback_dir` when the kernel's directory is read-only).
/// `Ok(None)` means the kernel cannot be booted through PVH; boot it as it is.
pub fn pvh_kernel(kernel: &Path, fallback_dir: &Path) -> Result<Option<PathBuf>, RunError> {
    let meta = fs::metadata(kernel).map_err(RunError::io(kernel))?;
    let file_name = kernel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kernel".into());
    let beside = kernel.with_file_name(format!("{file_name}.vmlinux"));
    let fallback = fallback_dir.join(format!("{file_name}.vmlinux"));
    for cached in [&beside, &fallback] {
        if let Ok(m) = fs::metadata(cached) {
            if m.modified().ok() >= meta.modified().ok() && m.len() > 0 {
                return Ok(Some(cached.clone()));
            }
        }
    }
    let data = fs::read(kernel).map_err(RunError::io(kernel))?;
    if !is_bzimage(&data) {
        // Already an ELF (or something QEMU loads as is).
        return Ok(None);
    }
    let elf = extract_vmlinux(&data).map_err(|reason| RunError::Kernel {
        path: kernel.to_path_buf(),
        reason,
    })?;
    if !has_pvh_note(&elf) {
        return Ok(None);
    }
    for dest in [&beside, &fallback] {
        if write_atomic(dest, &elf).is_ok() {
            return Ok(Some(dest.clone()));
        }
    }
    Ok(None)
}

fn write_atomic(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    fs::write(&tmp, data)?;
    fs::rename(&tmp, dest).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal ELF64 with one PT_NOTE program header holding a Xen note of type `kind`.
    fn elf_with_note(kind: u32) -> Vec<u8> {
        let mut e = vec![0u8; 64];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // phoff
        e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        e[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // phnum
        let mut ph = vec![0u8; 56];
        ph[..4].copy_from_slice(&4u32.to_le_bytes());
        ph[8..16].copy_from_slice(&120u64.to_le_bytes());
        ph[32..40].copy_from_slice(&20u64.to_le_bytes());
        e.extend(ph);
        e.extend(4u32.to_le_bytes());
        e.extend(4u32.to_le_bytes());
        e.extend(kind.to_le_bytes());
        e.extend(b"Xen\0");
        e.extend(0x1000000u32.to_le_bytes());
        e
    }

    /// A fake bzImage: boot header with an xz-compressed ELF payload.
    fn bzimage(elf: &[u8]) -> Vec<u8> {
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(elf).unwrap();
        let payload = xz.finish().unwrap();
        let mut b = vec![0u8; 5 * 512];
        b[0x1f1] = 4;
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        b[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        b[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend(vec![0u8; 16]);
        b.extend(payload);
        b.extend(vec![0u8; 64]);
        b
    }

    #[test]
    fn embedded_config_is_found_in_the_image_or_its_payload() {
        let config = "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(config.as_bytes()).unwrap();
        let mut image = b"\x7fELF....IKCFG_ST".to_vec();
        image.extend_from_slice(&gz.finish().unwrap());
        image.extend_from_slice(b"IKCFG_ED....");
        assert_eq!(ikconfig(&image).unwrap().as_deref(), Some(config));
        assert_eq!(ikconfig(b"\x7fELF no config here").unwrap(), None);
        // Inside a bzImage's gzip payload (found), not searched in an xz payload.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&image).unwrap();
        let mut bz = bzimage(b"");
        let payload = gz.finish().unwrap();
        bz.truncate(5 * 512 + 16);
        bz[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        bz.extend_from_slice(&payload);
        assert_eq!(ikconfig(&bz).unwrap().as_deref(), Some(config));
        assert_eq!(ikconfig(&bzimage(&image)).unwrap(), None);
        assert_eq!(ikconfig(&bzimage(b"\x7fELF none")).unwrap(), None);
        // The release from the boot header.
        let mut bz = bzimage(b"");
        bz[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        bz[0x300..0x320].copy_from_slice(b"5.4.0-1 (x@y) #1 SMP\0...........");
        assert_eq!(bzimage_release(&bz).as_deref(), Some("5.4.0-1"));
    }

    #[test]
    fn pvh_note_is_found_only_when_present() {
        assert!(has_pvh_note(&elf_with_note(PVH_NOTE)));
        assert!(!has_pvh_note(&elf_with_note(17)));
        assert!(!has_pvh_note(b"\x7fELF"));
    }

    #[test]
    fn extracts_and_caches_vmlinux_beside_the_kernel() {
        let elf = elf_with_note(PVH_NOTE);
        let d = tempfile::tempdir().unwrap();
        let k = d.path().join("vm-kernel");
        fs::write(&k, bzimage(&elf)).unwrap();
        let out = pvh_kernel(&k, d.path()).unwrap().unwrap();
        assert_eq!(out, d.path().join("vm-kernel.vmlinux"));
        assert_eq!(fs::read(&out).unwrap(), elf);
        // A non-bzImage kernel is booted as is.
        let plain = d.path().join("plain");
        fs::write(&plain, &elf).unwrap();
        assert_eq!(pvh_kernel(&plain, d.path()).unwrap(), None);
    }

    #[test]
    fn garbage_payload_is_an_error_not_a_panic() {
        let mut b = bzimage(b"not an elf at all");
        assert!(extract_vmlinux(&b).unwrap_err().contains("not an ELF"));
        b.truncate(0x300);
        assert!(extract_vmlinux(&b).is_err());
    }
}
