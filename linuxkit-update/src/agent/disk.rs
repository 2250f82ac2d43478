//! Finding the ESP the system booted from: the GPT partition whose unique GUID systemd-boot
//! reported in `LoaderDevicePartUUID`, among the block devices in `/sys/block`.
//!
//! The agent's container has its own `/dev` (a tmpfs): binding the host's `/dev` over it
//! makes container setup fail. It creates the nodes of the disks it reads and of the ESP
//! itself, from their numbers in sysfs (`CAP_MKNOD`; its label allows block devices in the
//! device cgroup).

use std::fs;
use std::path::{Path, PathBuf};

/// The device node of the partition with GUID `part_uuid` (case-insensitive), with the name of
/// its GPT partition.
pub fn find_partition(part_uuid: &str) -> Result<(PathBuf, String), String> {
    let wanted = part_uuid.trim().to_ascii_lowercase();
    let mut disks: Vec<String> = fs::read_dir("/sys/block")
        .map_err(|e| format!("/sys/block: {e}"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("dm-"))
        .collect();
    disks.sort();
    for disk in disks {
        let Ok(dev) = node(&Path::new("/sys/block").join(&disk), &disk) else {
            continue;
        };
        let Ok(gpt) = gpt::GptConfig::new().writable(false).open(&dev) else {
            continue;
        };
        for (number, p) in gpt.partitions() {
            if p.part_guid.to_string().to_ascii_lowercase() != wanted {
                continue;
            }
            let node = partition_node(&disk, *number).ok_or_else(|| {
                format!(
                    "{} has partition {number} but no device node for it",
                    dev.display()
                )
            })?;
            return Ok((node, p.name.clone()));
        }
    }
    Err(format!(
        "no disk has the partition {wanted} the system booted from (LoaderDevicePartUUID)"
    ))
}

/// `/dev/<child>` of partition `number` of `disk` (`vda1`, `nvme0n1p1`), from sysfs.
fn partition_node(disk: &str, number: u32) -> Option<PathBuf> {
    let dir = Path::new("/sys/block").join(disk);
    for e in fs::read_dir(&dir).ok()?.flatten() {
        let n = fs::read_to_string(e.path().join("partition")).ok();
        if n.as_deref().map(str::trim) == Some(&number.to_string()) {
            return node(&e.path(), &e.file_name().to_string_lossy()).ok();
        }
    }
    None
}

/// `/dev/<name>`, the block device whose sysfs directory is `sys` (its `dev` file holds
/// `MAJOR:MINOR`), created when missing.
fn node(sys: &Path, name: &str) -> Result<PathBuf, String> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let path = Path::new("/dev").join(name);
    if path.exists() {
        return Ok(path);
    }
    let numbers =
        fs::read_to_string(sys.join("dev")).map_err(|e| format!("{}: {e}", sys.display()))?;
    let (major, minor) = numbers
        .trim()
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .ok_or_else(|| format!("{}/dev: not MAJOR:MINOR", sys.display()))?;
    mknod(
        &path,
        SFlag::S_IFBLK,
        Mode::from_bits_truncate(0o600),
        makedev(major, minor),
    )
    .map_err(|e| format!("creating {}: {e}", path.display()))?;
    Ok(path)
}
