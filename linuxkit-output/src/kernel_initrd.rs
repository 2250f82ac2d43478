//! `kernel+initrd` and `tar-kernel-initrd` (upstream `outputKernelInitrd`,
//! `outputKernelInitrdTarball`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::initrd::BootFiles;
use crate::staging::Staging;
use crate::OutputError;

pub use linuxkit_validate::DEFAULT_MTIME;

/// `<name>-initrd.img` (ucode first, then the gzip'd cpio), `<name>-kernel` if there is a
/// kernel, `<name>-cmdline` if the command line is not empty.
pub(crate) fn write(
    staging: &mut Staging,
    name: &str,
    boot: &BootFiles,
    initrd_gz: &mut File,
) -> Result<(), OutputError> {
    let i = staging.create(&format!("{name}-initrd.img"))?;
    let s = staging.get(i);
    let r = (|| -> io::Result<()> {
        let f = s.file();
        f.write_all(&boot.ucode)?;
        initrd_gz.seek(SeekFrom::Start(0))?;
        io::copy(initrd_gz, f)?;
        Ok(())
    })();
    r.map_err(|e| s.err(e))?;
    if !boot.kernel.is_empty() {
        staging.write_bytes(&format!("{name}-kernel"), &boot.kernel)?;
    }
    if !boot.cmdline.is_empty() {
        staging.write_bytes(&format!("{name}-cmdline"), boot.cmdline.as_bytes())?;
    }
    Ok(())
}

/// `<name>-initrd.tar`: `kernel`, `initrd.img` (without ucode), `cmdline`, `ucode.cpio`, each
/// only when not empty, mode 0644, LinuxKit's fixed mtime, ustar headers as Go writes them.
pub(crate) fn write_tar(
    staging: &mut Staging,
    name: &str,
    boot: &BootFiles,
    initrd_gz: &mut File,
) -> Result<(), OutputError> {
    let i = staging.create(&format!("{name}-initrd.tar"))?;
    let s = staging.get(i);
    let r = (|| -> io::Result<()> {
        let initrd_len = initrd_gz.seek(SeekFrom::End(0))?;
        initrd_gz.seek(SeekFrom::Start(0))?;
        let mut b = tar::Builder::new(s.file());
        let add = |b: &mut tar::Builder<&mut File>, n: &str, len: u64, data: &mut dyn Read| {
            if len == 0 {
                return Ok(());
            }
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(DEFAULT_MTIME);
            h.set_size(len);
            h.set_device_major(0)?;
            h.set_device_minor(0)?;
            b.append_data(&mut h, n, data)
        };
        add(
            &mut b,
            "kernel",
            boot.kernel.len() as u64,
            &mut boot.kernel.as_slice(),
        )?;
        add(&mut b, "initrd.img", initrd_len, &mut *initrd_gz)?;
        add(
            &mut b,
            "cmdline",
            boot.cmdline.len() as u64,
            &mut boot.cmdline.as_bytes(),
        )?;
        add(
            &mut b,
            "ucode.cpio",
            boot.ucode.len() as u64,
            &mut boot.ucode.as_slice(),
        )?;
        // Two zero blocks, no padding to a 10 KiB record: as Go writes it.
        b.into_inner()?;
        Ok(())
    })();
    r.map_err(|e| s.err(e))
}
