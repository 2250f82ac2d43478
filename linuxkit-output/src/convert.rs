//! Disk format conversion with `qemu-img convert` (Debian `qemu-utils`): qcow2, VHD, VMDK.
//! No maintained Rust crate writes these formats; qemu-img is what upstream's containers use.
//! What qemu-img stamps from the clock or randomness is then fixed ([`make_reproducible`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
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

/// Seconds from the Unix epoch to 2000-01-01, where VHD timestamps count from.
const VHD_EPOCH: u64 = 946_684_800;

/// Replaces what `qemu-img` stamps from the clock or randomness so the same inputs give the
/// same bytes: a VHD footer's timestamp and UUID (both copies of a dynamic VHD's), a VMDK
/// descriptor's `CID` and extent file name (qemu-img writes the temporary file's name).
pub(crate) fn make_reproducible(
    format: Format,
    out: &Path,
    final_name: &str,
    seed: &[&[u8]],
) -> Result<(), OutputError> {
    let werr = |source: io::Error| OutputError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(out)
        .map_err(werr)?;
    match format {
        Format::Vhd | Format::DynamicVhd => {
            let len = f.metadata().map_err(werr)?.len();
            for at in [0, len.saturating_sub(512)] {
                let mut footer = [0u8; 512];
                read_at(&mut f, at, &mut footer).map_err(werr)?;
                if &footer[..8] == b"conectix" {
                    fix_vhd_footer(&mut footer, seed);
                    write_at(&mut f, at, &footer).map_err(werr)?;
                }
            }
        }
        Format::Vmdk => {
            let mut header = [0u8; 512];
            read_at(&mut f, 0, &mut header).map_err(werr)?;
            if &header[..4] != b"KDMV" {
                return Ok(());
            }
            let u64_at = |o: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&header[o..o + 8]);
                u64::from_le_bytes(b)
            };
            let (offset, sectors) = (u64_at(28) * 512, u64_at(36));
            if sectors == 0 || sectors > 2048 {
                return Ok(());
            }
            let mut desc = vec![0u8; (sectors * 512) as usize];
            read_at(&mut f, offset, &mut desc).map_err(werr)?;
            let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
            let text = String::from_utf8_lossy(&desc[..end]).into_owned();
            let fixed = fix_vmdk_descriptor(&text, final_name, seed);
            if fixed.len() > desc.len() {
                return Err(OutputError::Image {
                    format: format.name().into(),
                    message: "the VMDK descriptor does not fit its space".into(),
                });
            }
            desc.fill(0);
            desc[..fixed.len()].copy_from_slice(fixed.as_bytes());
            write_at(&mut f, offset, &desc).map_err(werr)?;
        }
        _ => {}
    }
    f.sync_all().map_err(werr)
}

/// Sets the footer's timestamp to LinuxKit's fixed time and its UUID from `seed`, and
/// recomputes the checksum (ones' complement of the byte sum without the checksum field).
fn fix_vhd_footer(footer: &mut [u8; 512], seed: &[&[u8]]) {
    let ts = crate::DEFAULT_MTIME.saturating_sub(VHD_EPOCH) as u32;
    footer[24..28].copy_from_slice(&ts.to_be_bytes());
    let mut s = seed.to_vec();
    s.push(b"vhd");
    footer[68..84].copy_from_slice(crate::disk::uuid_from(&s).as_bytes());
    footer[64..68].fill(0);
    let sum = footer
        .iter()
        .fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
    footer[64..68].copy_from_slice(&(!sum).to_be_bytes());
}

/// The descriptor with `CID` derived from `seed` and the extent naming `final_name`.
fn fix_vmdk_descriptor(text: &str, final_name: &str, seed: &[&[u8]]) -> String {
    let mut s = seed.to_vec();
    s.push(b"vmdk");
    let cid = crate::disk::fnv64(&s) as u32;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("CID=") {
            out.push_str(&format!("CID={cid:08x}"));
        } else if let (true, Some(q)) = (
            line.starts_with("RW ") || line.starts_with("RDONLY "),
            line.find('"'),
        ) {
            out.push_str(&format!("{}\"{final_name}\"", &line[..q]));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn read_at(f: &mut File, at: u64, buf: &mut [u8]) -> io::Result<()> {
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}

fn write_at(f: &mut File, at: u64, buf: &[u8]) -> io::Result<()> {
    f.seek(SeekFrom::Start(at))?;
    f.write_all(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhd_footer_checksum_and_fixed_fields() {
        let mut footer = [0u8; 512];
        footer[..8].copy_from_slice(b"conectix");
        footer[24..28].copy_from_slice(&[1, 2, 3, 4]);
        fix_vhd_footer(&mut footer, &[b"x"]);
        let again = {
            let mut f = footer;
            fix_vhd_footer(&mut f, &[b"x"]);
            f
        };
        assert_eq!(footer, again);
        let stored = u32::from_be_bytes([footer[64], footer[65], footer[66], footer[67]]);
        let mut zeroed = footer;
        zeroed[64..68].fill(0);
        let sum = zeroed
            .iter()
            .fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
        assert_eq!(stored, !sum);
        assert_eq!(
            u32::from_be_bytes([footer[24], footer[25], footer[26], footer[27]]),
            (crate::DEFAULT_MTIME - VHD_EPOCH) as u32
        );
    }

    #[test]
    fn vmdk_descriptor_names_the_final_file() {
        let text = "# Disk DescriptorFile\nversion=1\nCID=3a270545\nparentCID=ffffffff\nRW 32768 SPARSE \".x.vmdk.qrBE2s\"\n";
        let fixed = fix_vmdk_descriptor(text, "x.vmdk", &[b"s"]);
        assert!(fixed.contains("RW 32768 SPARSE \"x.vmdk\"\n"), "{fixed}");
        assert!(!fixed.contains("3a270545"));
        assert!(fixed.contains("parentCID=ffffffff"));
        assert_eq!(fixed, fix_vmdk_descriptor(text, "x.vmdk", &[b"s"]));
    }
}
