//! `linuxkit-verity`: opens the verified root in the guest (run by the root loader's `/init`).
//!
//! Reads `root=` and `linuxkit.verity=` from `/proc/cmdline`, waits for the root device
//! (`/dev/...` or `PARTLABEL=<GPT partition name>`), creates the dm-verity mapping through the
//! device-mapper ioctls on `/dev/mapper/control` (Debian has no static `dmsetup`; the ioctls
//! are a handful of fixed structs), then reads the whole mapped device once: the kernel checks
//! every block against the hash tree, so a block changed after the build fails that read, and
//! the boot stops here with a message that says so. On success it prints the verified device
//! (`/dev/dm-N`) on stdout; every message goes to stderr (the console).
//!
//! Exit status: 0 verified, 1 the root does not match its hash (or anything else failed).

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use linuxkit_verity::{Params, BLOCK_SIZE, DM_NAME};

const TAG: &str = "linuxkit-verity";

fn main() -> ExitCode {
    match run() {
        Ok(dev) => {
            println!("{dev}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("{TAG}: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let cmdline = fs::read_to_string("/proc/cmdline")
        .map_err(|e| format!("cannot read /proc/cmdline: {e}"))?;
    let params = match Params::from_cmdline(&cmdline) {
        Some(p) => p?,
        None => return Err("no linuxkit.verity= on the kernel command line".into()),
    };
    let root = cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("root="))
        .next_back()
        .ok_or("no root= on the kernel command line")?;
    let dev = wait_for(root, Duration::from_secs(30))?;
    let rdev = fs::metadata(&dev)
        .map_err(|e| format!("{}: {e}", dev.display()))?
        .rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let table = params.table(&format!("{major}:{minor}"));
    let sectors = params.data_blocks * (BLOCK_SIZE / 512);
    let mapped = dm::create_verity(DM_NAME, sectors, &table)
        .map_err(|e| format!("cannot set up dm-verity on {}: {e}", dev.display()))?;
    eprintln!(
        "{TAG}: checking {} ({} MiB) against root hash {}",
        dev.display(),
        (params.data_blocks * BLOCK_SIZE) >> 20,
        linuxkit_verity::hex(&params.root_hash)
    );
    let start = Instant::now();
    if let Err((offset, e)) = read_all(&mapped) {
        let status = dm::status(DM_NAME).unwrap_or_default();
        return Err(format!(
            "the root file system on {} does not match the root hash on the kernel command line \
             (reading block {} failed: {e}; dm-verity status `{}`): it was changed after it was \
             built. Refusing to boot it; rebuild the image or restore the disk.",
            dev.display(),
            offset / BLOCK_SIZE,
            status.trim()
        ));
    }
    eprintln!(
        "{TAG}: {} verified in {:.1}s",
        dev.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(mapped.display().to_string())
}

/// Waits for `root` (`/dev/...` or `PARTLABEL=name`) to be a block device.
fn wait_for(root: &str, timeout: Duration) -> Result<PathBuf, String> {
    let start = Instant::now();
    loop {
        let found = match root.strip_prefix("PARTLABEL=") {
            Some(label) => by_partlabel(label),
            None => Some(PathBuf::from(root)),
        };
        if let Some(p) = found {
            if fs::metadata(&p).is_ok_and(|m| m.file_type().is_block_device()) {
                return Ok(p);
            }
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "the root device {root} did not appear in {} s",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The partition whose GPT name is `label` (the kernel's `PARTNAME` uevent field).
fn by_partlabel(label: &str) -> Option<PathBuf> {
    for e in fs::read_dir("/sys/class/block").ok()?.flatten() {
        let Ok(uevent) = fs::read_to_string(e.path().join("uevent")) else {
            continue;
        };
        if uevent
            .lines()
            .any(|l| l.strip_prefix("PARTNAME=") == Some(label))
        {
            let name = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME="))?;
            return Some(Path::new("/dev").join(name));
        }
    }
    None
}

/// Reads `dev` to its end; on failure, the offset and the error.
fn read_all(dev: &Path) -> Result<(), (u64, io::Error)> {
    let mut f = fs::File::open(dev).map_err(|e| (0, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => offset += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((offset, e)),
        }
    }
}

/// The device-mapper ioctl interface (`linux/dm-ioctl.h`, version 4).
mod dm {
    use super::*;

    const DM_NAME_LEN: usize = 128;
    const DM_UUID_LEN: usize = 129;
    /// `struct dm_ioctl`.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct DmIoctl {
        version: [u32; 3],
        data_size: u32,
        data_start: u32,
        target_count: u32,
        open_count: i32,
        flags: u32,
        event_nr: u32,
        padding: u32,
        dev: u64,
        name: [u8; DM_NAME_LEN],
        uuid: [u8; DM_UUID_LEN],
        data: [u8; 7],
    }
    /// `struct dm_target_spec`.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct DmTargetSpec {
        sector_start: u64,
        length: u64,
        status: i32,
        next: u32,
        target_type: [u8; 16],
    }
    const HEADER: usize = std::mem::size_of::<DmIoctl>();
    const SPEC: usize = std::mem::size_of::<DmTargetSpec>();
    const _: () = assert!(HEADER == 312 && SPEC == 40);

    const DM_READONLY_FLAG: u32 = 1 << 0;
    const DM_BUFFER_FULL_FLAG: u32 = 1 << 8;

    /// `_IOWR(0xfd, nr, struct dm_ioctl)`.
    const fn request(nr: u32) -> u32 {
        (3 << 30) | ((HEADER as u32) << 16) | (0xfd << 8) | nr
    }
    const DM_DEV_CREATE: u32 = request(3);
    const DM_DEV_REMOVE: u32 = request(4);
    const DM_DEV_SUSPEND: u32 = request(6);
    const DM_TABLE_LOAD: u32 = request(9);
    const DM_TABLE_STATUS: u32 = request(12);

    fn header(name: &str, flags: u32, data_size: usize) -> io::Result<DmIoctl> {
        if name.len() >= DM_NAME_LEN {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "name too long"));
        }
        let mut h = DmIoctl {
            version: [4, 0, 0],
            data_size: data_size as u32,
            data_start: HEADER as u32,
            target_count: 0,
            open_count: 0,
            flags,
            event_nr: 0,
            padding: 0,
            dev: 0,
            name: [0; DM_NAME_LEN],
            uuid: [0; DM_UUID_LEN],
            data: [0; 7],
        };
        h.name[..name.len()].copy_from_slice(name.as_bytes());
        Ok(h)
    }

    /// Issues `req` with `buf` (a `dm_ioctl` followed by its data, 8-byte aligned storage).
    fn ioctl(control: &fs::File, req: u32, buf: &mut [u64]) -> io::Result<DmIoctl> {
        // SAFETY: `buf` is a live, writable, 8-aligned buffer of at least `data_size` bytes
        // starting with a `dm_ioctl` (checked by the callers); the kernel reads and writes
        // only within `data_size`.
        let r = unsafe { libc::ioctl(control.as_raw_fd(), req as _, buf.as_mut_ptr()) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `buf` holds at least HEADER bytes, initialised, and `DmIoctl` is plain data.
        Ok(unsafe { std::ptr::read(buf.as_ptr() as *const DmIoctl) })
    }

    fn buffer(h: &DmIoctl, extra: &[u8]) -> Vec<u64> {
        let total = (HEADER + extra.len()).max(h.data_size as usize);
        let mut buf = vec![0u64; total.div_ceil(8)];
        // SAFETY: `buf` has room for HEADER + extra bytes; both sources are plain data.
        unsafe {
            let p = buf.as_mut_ptr() as *mut u8;
            std::ptr::copy_nonoverlapping(h as *const DmIoctl as *const u8, p, HEADER);
            std::ptr::copy_nonoverlapping(extra.as_ptr(), p.add(HEADER), extra.len());
        }
        buf
    }

    fn control() -> io::Result<fs::File> {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/mapper/control")
    }

    /// Creates `name` as a read-only dm-verity device of `sectors` with `table`; returns its
    /// `/dev/dm-N` node.
    pub(super) fn create_verity(name: &str, sectors: u64, table: &str) -> io::Result<PathBuf> {
        let control = control()?;
        let h = header(name, 0, HEADER)?;
        let created = ioctl(&control, DM_DEV_CREATE, &mut buffer(&h, &[]))?;
        let result = (|| {
            let params = CString::new(table)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in table"))?;
            let params = params.as_bytes_with_nul();
            let mut spec = DmTargetSpec {
                sector_start: 0,
                length: sectors,
                status: 0,
                next: 0,
                target_type: [0; 16],
            };
            spec.target_type[..6].copy_from_slice(b"verity");
            let mut extra = vec![0u8; SPEC];
            // SAFETY: `extra` has SPEC bytes; `DmTargetSpec` is plain data.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    &spec as *const DmTargetSpec as *const u8,
                    extra.as_mut_ptr(),
                    SPEC,
                );
            }
            extra.extend_from_slice(params);
            extra.resize(extra.len().next_multiple_of(8), 0);
            let mut h = header(name, DM_READONLY_FLAG, HEADER + extra.len())?;
            h.target_count = 1;
            ioctl(&control, DM_TABLE_LOAD, &mut buffer(&h, &extra))?;
            // Resume: makes the loaded table live.
            let h = header(name, 0, HEADER)?;
            ioctl(&control, DM_DEV_SUSPEND, &mut buffer(&h, &[]))
        })();
        if let Err(e) = result {
            let h = header(name, 0, HEADER)?;
            let _ = ioctl(&control, DM_DEV_REMOVE, &mut buffer(&h, &[]));
            return Err(e);
        }
        // The kernel's huge_encode_dev: minor bits 0-7 and 20-31.
        let minor = (created.dev & 0xff) | ((created.dev >> 12) & 0xfff00);
        let node = PathBuf::from(format!("/dev/dm-{minor}"));
        let start = Instant::now();
        while !node.exists() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(node)
    }

    /// The target's status line (`V` verified so far, `C` corruption seen).
    pub(super) fn status(name: &str) -> io::Result<String> {
        let control = control()?;
        let size = HEADER + 4096;
        let h = header(name, 0, size)?;
        let mut buf = buffer(&h, &[]);
        let out = ioctl(&control, DM_TABLE_STATUS, &mut buf)?;
        if out.flags & DM_BUFFER_FULL_FLAG != 0 || out.target_count == 0 {
            return Ok(String::new());
        }
        // SAFETY: the buffer is `size` bytes; the reply lies within it.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, size) };
        let text = &bytes[out.data_start as usize + SPEC..];
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        Ok(String::from_utf8_lossy(&text[..end]).into_owned())
    }
}
