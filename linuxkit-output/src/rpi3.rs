//! `rpi3`: a tarball to extract onto the FAT partition of a Raspberry Pi 3 SD card, laid out as
//! upstream's `linuxkit/mkimage-rpi3` writes it (`cd /boot && tar cf - .`):
//!
//! | file | what |
//! |---|---|
//! | `bootcode.bin`, `start*.elf`, `fixup*.dat` (plain, `_cd`, `_x`), `LICENCE.broadcom` | the GPU firmware (Debian `raspi-firmware`) |
//! | `config.txt` | 64-bit mode, UART, `kernel=u-boot.bin` (upstream's text) |
//! | `u-boot.bin` | U-Boot for the Pi 3 in 64-bit mode (Debian `u-boot-rpi`, `rpi_3`) |
//! | `boot.script`, `boot.scr` | upstream's U-Boot script, and the same as a script uImage |
//! | `kernel.uimg` | the kernel as a gzip'd arm64 kernel uImage loaded at 0x80000 |
//! | `initrd.uimg` | the initrd (root filesystem without `boot/`) as a ramdisk uImage |
//! | `dtb/broadcom/bcm2837-rpi-3-b*.dtb` | the Pi 3 device trees from the kernel image's `boot/dtb` |
//! | `uboot.log` | the listing of the three uImages (upstream logs `mkimage`'s output there) |
//!
//! Differences: entries are sorted (upstream's follow its directory order), uImage times are
//! LinuxKit's fixed time, the firmware and U-Boot are Debian's (upstream downloads a pinned
//! firmware and builds U-Boot 2019.04 with a 64 MiB `CONFIG_SYS_BOOTM_LEN`, Debian's 2023.01
//! default on arm64), `LICENCE.broadcom` is the `raspi-firmware` package's copyright file, and
//! an uncompressed kernel (Debian's `Image`) is gzip'd for `kernel.uimg`, which upstream
//! declares gzip'd (LinuxKit's arm64 kernels are `Image.gz`).
//!
//! Firmware and U-Boot come from this machine when installed (`/usr/lib/raspi-firmware`,
//! `/usr/lib/u-boot/rpi_3`), else from the package files in the Debian package directories.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::{Format, OutputError, DEFAULT_MTIME};

/// Upstream's `config.txt`.
pub(crate) const CONFIG_TXT: &str = "avoid_warnings=2\n# 64bit mode, serial and kernel\narm_control=0x200\nenable_uart=1\nkernel=u-boot.bin\n";

/// Upstream's `boot.script`.
pub(crate) const BOOT_SCRIPT: &str = "setenv bootargs \"dwc_otg.lpm_enable=0 earlyprintk console=tty1 console=ttyS0,115200 root=/dev/ram0 rw\"\nsetenv loadaddr 0x01000000\nsetenv machid 0x00000c42\nsaveenv\n\nfatload mmc 0:1 ${loadaddr} kernel.uimg\nfatload mmc 0:1 ${fdt_addr_r} dtb/${fdtfile}\nfatload mmc 0:1 ${ramdisk_addr_r} initrd.uimg\nbootm ${loadaddr} ${ramdisk_addr_r} ${fdt_addr_r}\n";

/// The GPU firmware files upstream ships.
const FIRMWARE: [&str; 7] = [
    "bootcode.bin",
    "fixup.dat",
    "fixup_cd.dat",
    "fixup_x.dat",
    "start.elf",
    "start_cd.elf",
    "start_x.elf",
];

/// What a uImage holds (`ih_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ImageType {
    Kernel = 2,
    Ramdisk = 3,
    Script = 6,
}

/// A legacy U-Boot image (what `mkimage -A arm64 -O linux -T <type> -C <comp>` writes): the
/// 64-byte big-endian header with CRC-32s of itself and of the data, then the data. A script's
/// data is prefixed by its length table (one length, then 0), as mkimage does.
pub(crate) fn uimage(
    kind: ImageType,
    gzip: bool,
    load: u32,
    name: &str,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    let mut data = Vec::with_capacity(payload.len() + 8);
    if kind == ImageType::Script {
        let len = u32::try_from(payload.len()).map_err(|_| "script too large")?;
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(&0u32.to_be_bytes());
    }
    data.extend_from_slice(payload);
    let size = u32::try_from(data.len()).map_err(|_| "image larger than 4 GiB".to_string())?;
    if name.len() > 32 {
        return Err(format!("image name {name:?} is longer than 32 bytes"));
    }
    let mut h = [0u8; 64];
    h[0..4].copy_from_slice(&0x2705_1956u32.to_be_bytes());
    h[8..12].copy_from_slice(&(DEFAULT_MTIME as u32).to_be_bytes());
    h[12..16].copy_from_slice(&size.to_be_bytes());
    h[16..20].copy_from_slice(&load.to_be_bytes());
    h[20..24].copy_from_slice(&load.to_be_bytes());
    h[24..28].copy_from_slice(&crc32fast::hash(&data).to_be_bytes());
    h[28] = 5; // IH_OS_LINUX
    h[29] = 22; // IH_ARCH_ARM64
    h[30] = kind as u8;
    h[31] = u8::from(gzip); // IH_COMP_NONE / IH_COMP_GZIP
    h[32..32 + name.len()].copy_from_slice(name.as_bytes());
    let hcrc = crc32fast::hash(&h);
    h[4..8].copy_from_slice(&hcrc.to_be_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(&data);
    Ok(out)
}

/// The `uboot.log` lines of one image.
fn listing(file: &str, image: &[u8]) -> String {
    let kind = match image[30] {
        2 => "AArch64 Linux Kernel Image",
        3 => "AArch64 Linux RAMDisk Image",
        _ => "AArch64 Linux Script",
    };
    let comp = if image[31] == 1 {
        "gzip"
    } else {
        "uncompressed"
    };
    let size = u32::from_be_bytes([image[12], image[13], image[14], image[15]]);
    let load = u32::from_be_bytes([image[16], image[17], image[18], image[19]]);
    let name = String::from_utf8_lossy(&image[32..64]);
    format!(
        "{file}\nImage Name:   {}\nImage Type:   {kind} ({comp})\nData Size:    {size} Bytes\nLoad Address: {load:08x}\nEntry Point:  {load:08x}\n",
        name.trim_end_matches('\0')
    )
}

fn image_err(message: String) -> OutputError {
    OutputError::Image {
        format: Format::Rpi3.name().into(),
        message,
    }
}

/// A file of Debian package `package`: from this machine under `dir` when installed, else
/// from the package file for `arch`.
fn debian_files(
    package: &str,
    arch: &str,
    dir: &str,
    names: &[&str],
) -> Result<Vec<Vec<u8>>, OutputError> {
    let host: Vec<_> = names.iter().map(|n| Path::new(dir).join(n)).collect();
    if host.iter().all(|p| p.is_file()) {
        return host
            .iter()
            .map(|p| {
                std::fs::read(p).map_err(|source| OutputError::Read {
                    path: p.clone(),
                    source,
                })
            })
            .collect();
    }
    let pkg = linuxkit_debian::find(package, arch, false)
        .map_err(|e| image_err(format!("{dir} is not installed here: {e}")))?;
    let rel: Vec<String> = names
        .iter()
        .map(|n| format!("{}/{n}", dir.trim_start_matches('/')))
        .collect();
    let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
    linuxkit_debian::Deb::open(&pkg.path)
        .read_files(&rel)
        .map_err(|e| image_err(e.to_string()))
}

/// The Raspberry Pi 3 device trees (`boot/dtb/broadcom/bcm2837-rpi-3-b*.dtb`) of the root
/// filesystem tar, sorted by name.
pub(crate) fn device_trees<R: Read>(
    tar: R,
    path: &Path,
) -> Result<Vec<(String, Vec<u8>)>, OutputError> {
    let read_err = |source: io::Error| OutputError::ReadTar {
        path: path.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(file) = name.strip_prefix("boot/dtb/broadcom/") else {
            continue;
        };
        if file.starts_with("bcm2837-rpi-3-b")
            && file.ends_with(".dtb")
            && entry.header().entry_type().is_file()
        {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(read_err)?;
            out.retain(|(n, _)| n != file);
            out.push((file.to_string(), data));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes the `rpi3` tarball for `kernel`, the gzip'd `initrd` and the device trees `dtbs`.
pub(crate) fn write(
    out: &mut dyn Write,
    kernel: &[u8],
    initrd: &mut dyn Read,
    dtbs: &[(String, Vec<u8>)],
) -> Result<(), OutputError> {
    if dtbs.is_empty() {
        return Err(image_err(
            "the kernel image has no Raspberry Pi 3 device trees (boot/dtb/broadcom/\
             bcm2837-rpi-3-b*.dtb): use a kernel image that ships them (with kernel:debian, \
             add &dtbs=broadcom)"
                .into(),
        ));
    }
    let firmware = debian_files(
        "raspi-firmware",
        "all",
        "/usr/lib/raspi-firmware",
        &FIRMWARE,
    )?;
    let licence = debian_files(
        "raspi-firmware",
        "all",
        "/usr/share/doc/raspi-firmware",
        &["copyright"],
    )?;
    let uboot = debian_files(
        "u-boot-rpi",
        "arm64",
        "/usr/lib/u-boot/rpi_3",
        &["u-boot.bin"],
    )?;
    let [kernel_img, script_img, initrd_img] = uimages(kernel, initrd)?;
    let log = [
        listing("kernel.uimg", &kernel_img),
        listing("boot.scr", &script_img),
        listing("initrd.uimg", &initrd_img),
    ]
    .join("\n");

    let mut files: Vec<(String, &[u8])> = vec![
        ("LICENCE.broadcom".into(), &licence[0]),
        ("boot.scr".into(), &script_img),
        ("boot.script".into(), BOOT_SCRIPT.as_bytes()),
        ("config.txt".into(), CONFIG_TXT.as_bytes()),
        ("initrd.uimg".into(), &initrd_img),
        ("kernel.uimg".into(), &kernel_img),
        ("u-boot.bin".into(), &uboot[0]),
        ("uboot.log".into(), log.as_bytes()),
    ];
    for (name, data) in FIRMWARE.iter().zip(&firmware) {
        files.push((name.to_string(), data));
    }
    for (name, data) in dtbs {
        files.push((format!("dtb/broadcom/{name}"), data));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    write_tar(out, &files)
}

fn write_err(e: io::Error) -> OutputError {
    image_err(format!("writing the tarball: {e}"))
}

/// The kernel (gzip'd if it is not), boot script and initrd uImages.
fn uimages(kernel: &[u8], initrd: &mut dyn Read) -> Result<[Vec<u8>; 3], OutputError> {
    let werr = write_err;
    let gz_kernel;
    let kernel = if kernel.starts_with(&[0x1f, 0x8b]) {
        kernel
    } else {
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::new(9));
        gz.write_all(kernel).map_err(werr)?;
        gz_kernel = gz.finish().map_err(werr)?;
        &gz_kernel
    };
    let kernel_img = uimage(ImageType::Kernel, true, 0x80000, "", kernel).map_err(image_err)?;
    let script_img =
        uimage(ImageType::Script, false, 0, "RPi3", BOOT_SCRIPT.as_bytes()).map_err(image_err)?;
    let mut rd = Vec::new();
    initrd.read_to_end(&mut rd).map_err(werr)?;
    let initrd_img = uimage(ImageType::Ramdisk, false, 0, "", &rd).map_err(image_err)?;
    Ok([kernel_img, script_img, initrd_img])
}

/// Writes `files` (sorted by name) as `tar cf - .` writes them, each parent directory first.
fn write_tar(out: &mut dyn Write, files: &[(String, &[u8])]) -> Result<(), OutputError> {
    let werr = write_err;
    let mut tar = tar::Builder::new(out);
    // Names are written as GNU tar writes `tar cf - .` (`./x`), which the tar crate's path
    // setters would normalise away: the name field is filled directly (all are short).
    let header = |name: &str, kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        let field = &mut h.as_old_mut().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(DEFAULT_MTIME);
        h.set_uid(0);
        h.set_gid(0);
        let _ = h.set_username("root");
        let _ = h.set_groupname("root");
        h.set_cksum();
        h
    };
    let mut dirs_done: Vec<String> = Vec::new();
    let mut dir = |tar: &mut tar::Builder<&mut dyn Write>, d: &str| -> io::Result<()> {
        if dirs_done.iter().any(|x| x == d) {
            return Ok(());
        }
        dirs_done.push(d.to_string());
        let h = header(d, tar::EntryType::Directory, 0o755, 0);
        tar.append(&h, io::empty())
    };
    dir(&mut tar, "./").map_err(werr)?;
    for (name, data) in files {
        if let Some((parent, _)) = name.rsplit_once('/') {
            let mut acc = String::from(".");
            for part in parent.split('/') {
                acc.push('/');
                acc.push_str(part);
                dir(&mut tar, &format!("{acc}/")).map_err(werr)?;
            }
        }
        let path = format!("./{name}");
        if path.len() > 99 {
            return Err(image_err(format!("{path}: name too long for the tarball")));
        }
        let h = header(&path, tar::EntryType::Regular, 0o644, data.len() as u64);
        tar.append(&h, *data).map_err(werr)?;
    }
    tar.finish().map_err(werr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uimage_header_and_checksums() {
        let img = uimage(ImageType::Script, false, 0, "RPi3", b"echo hi\n").unwrap();
        assert_eq!(&img[..4], &[0x27, 0x05, 0x19, 0x56]);
        // Data: the length table (8, 0) then the script.
        assert_eq!(&img[64..72], &[0, 0, 0, 8, 0, 0, 0, 0]);
        assert_eq!(&img[72..], b"echo hi\n");
        let mut h = img[..64].to_vec();
        let hcrc = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        h[4..8].fill(0);
        assert_eq!(crc32fast::hash(&h), hcrc);
        assert_eq!((img[28], img[29], img[30], img[31]), (5, 22, 6, 0));
        assert!(uimage(ImageType::Kernel, true, 0, &"x".repeat(33), b"").is_err());
    }
}
