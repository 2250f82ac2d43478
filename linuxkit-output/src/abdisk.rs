//! Updatable EFI disks (`raw-efi`, `qcow2-efi` of an image with the update service): an ESP
//! laid out for A/B updates (`linuxkit_update::esp`), booted through systemd-boot with the
//! built version as a blessed Type #2 entry; and reading a built disk's UKI and dm-verity root
//! back for `cargo linuxkit push`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use linuxkit_update::esp::{self, Entry, State, Version};
use sha2::{Digest, Sha256};

use crate::bootfiles::BootFile;
use crate::disk::{self, FatFile, Window, MIB};
use crate::efi::{self, RootPartition, Uki};
use crate::secureboot::SigningKey;
use crate::{Format, OutputError};

/// systemd-boot (`systemd-boot-efi`), the boot manager of updatable disks.
pub(crate) const SYSTEMD_BOOT: BootFile = BootFile {
    paths: &["/usr/lib/systemd/boot/efi/systemd-bootx64.efi"],
    package: "systemd-boot-efi",
};

/// The seconds a panicking kernel waits before it reboots, added to the command line of an
/// updatable image that sets no `panic=`: a version that panics must use up its boot tries
/// and fall back, not hang.
pub const PANIC_TIMEOUT: u32 = 5;

/// An updatable disk: what the build knows of the version it writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateDisk {
    /// The ESP's size in MiB (default: [`linuxkit_update::esp::esp_size`]).
    pub esp_mib: Option<u64>,
    /// The image name, recorded for the version the disk is built with.
    pub image: String,
    /// Its version, when known.
    pub version: Option<String>,
}

/// The command line of an updatable image's UKI: `panic=` added when it has none.
pub(crate) fn cmdline(cmdline: String, update: Option<&UpdateDisk>) -> String {
    if update.is_some() && !cmdline.split_whitespace().any(|w| w.starts_with("panic=")) {
        format!("{cmdline} panic={PANIC_TIMEOUT}")
    } else {
        cmdline
    }
}

/// `sha256:<hex>` of the UKI (a pass over it when it is streamed).
fn uki_digest(uki: &mut Uki<'_>) -> io::Result<String> {
    let mut h = Sha256::new();
    match uki {
        Uki::Bytes(b, _) => h.write_all(b)?,
        Uki::Stream {
            stub: Some(stub),
            payload,
        } => efi::write_uki(stub.clone(), payload, &mut h)?,
        Uki::Stream { stub: None, .. } => return Err(io::Error::other("UKI written twice")),
    }
    Ok(linuxkit_validate::Digest::from_sha256_sum(h.finalize().into()).into_string())
}

/// systemd-boot, signed with `key` when the UKIs are.
pub(crate) fn boot_manager(
    format: Format,
    key: Option<&SigningKey>,
) -> Result<Vec<u8>, OutputError> {
    let mut bytes = SYSTEMD_BOOT.read(format)?;
    if let Some(key) = key {
        key.sign_pe(&mut bytes, &format!("systemd-boot of {format}"))?;
    }
    Ok(bytes)
}

/// `raw-efi` or `raw-efi` (and `qcow2-efi`'s raw disk), A/B-updatable when `update` is set.
pub(crate) fn write_disk(
    out: &mut File,
    uki: &mut Uki<'_>,
    root: Option<RootPartition<'_>>,
    seed: &[&[u8]],
    update: Option<(&UpdateDisk, &[u8])>,
) -> io::Result<u64> {
    let Some((update, loader)) = update else {
        return efi::write_raw_efi(out, uki, root, seed);
    };
    if root.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "A/B updates of --verity systems are not supported: build the updatable disk without --verity",
        ));
    }
    let uki_len = uki.len()?;
    let digest = uki_digest(uki)?;
    let entry = Entry::new(1, &digest, None);
    let mut state = State::default();
    state.versions.insert(
        entry.base(),
        Version {
            uki: digest,
            image: Some(update.image.clone()),
            version: update.version.clone(),
            ..Version::default()
        },
    );
    let state = state.to_bytes();
    let loader_len = loader.len() as u64;
    let esp_len = esp::esp_size(uki_len, loader_len, update.esp_mib);
    let needed = disk::fat_size(uki_len + loader_len + state.len() as u64);
    if esp_len < needed {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--esp-size {} MiB is too small for this version ({} MiB at least; two versions \
                 need twice that)",
                esp_len / MIB,
                needed / MIB
            ),
        ));
    }
    let disk_len = MIB + esp_len + MIB;
    out.set_len(disk_len)?;
    {
        let conf = esp::loader_conf().as_bytes();
        let mut write_loader = |w: &mut dyn Write| w.write_all(loader);
        let mut write_conf = |w: &mut dyn Write| w.write_all(conf);
        let mut write_uki = |w: &mut dyn Write| uki.write(w);
        let mut write_state = |w: &mut dyn Write| w.write_all(&state);
        let entry_path = entry.path();
        disk::write_fat(
            Window::new(out, MIB, esp_len),
            disk::fnv64(seed) as u32,
            b"LINUXKIT   ",
            &mut [
                FatFile {
                    path: esp::BOOTLOADER_PATH,
                    write: &mut write_loader,
                },
                FatFile {
                    path: esp::LOADER_CONF_PATH,
                    write: &mut write_conf,
                },
                FatFile {
                    path: &entry_path,
                    write: &mut write_uki,
                },
                FatFile {
                    path: esp::STATE_PATH,
                    write: &mut write_state,
                },
            ],
        )?;
    }
    let first = MIB / 512;
    disk::write_gpt_parts(
        out,
        disk_len,
        &[disk::GptPart {
            part_type: gpt::partition_types::EFI,
            name: esp::PARTITION_NAME,
            first_lba: first,
            last_lba: first + esp_len / 512 - 1,
            flags: 1 << 2,
        }],
        seed,
    )?;
    out.flush()?;
    Ok(disk_len)
}

/// What a built `raw-efi` disk holds for `cargo linuxkit push`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltDisk {
    /// Whether its ESP is laid out for A/B updates.
    pub updatable: bool,
    /// The UKI's path on the ESP.
    pub uki_path: String,
    /// The byte range of the dm-verity root partition, for `--verity` builds.
    pub verity_root: Option<(u64, u64)>,
}

/// Reads a built `raw-efi` disk: copies its UKI (the entry of an updatable disk, else the
/// removable-media boot file) to `uki_out`, and says where its dm-verity root is.
pub fn read_built_disk(path: &Path, uki_out: &mut dyn Write) -> Result<BuiltDisk, OutputError> {
    let bad = |message: String| OutputError::Image {
        format: Format::RawEfi.name().into(),
        message: format!("{}: {message}", path.display()),
    };
    let mut file = File::open(path).map_err(|source| OutputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let gpt = gpt::GptConfig::new()
        .writable(false)
        .open_from_device(&mut file)
        .map_err(|e| bad(format!("not a GPT disk: {e}")))?;
    let parts: Vec<gpt::partition::Partition> = gpt.partitions().values().cloned().collect();
    drop(gpt);
    let lb = 512u64;
    let esp_part = parts
        .iter()
        .find(|p| p.part_type_guid == gpt::partition_types::EFI)
        .ok_or_else(|| bad("no EFI System Partition".into()))?;
    let verity_root = parts
        .iter()
        .find(|p| p.part_type_guid == gpt::partition_types::LINUX_ROOT_X64)
        .map(|p| (p.first_lba * lb, (p.last_lba - p.first_lba + 1) * lb));
    let start = esp_part.first_lba * lb;
    let len = (esp_part.last_lba - esp_part.first_lba + 1) * lb;
    let updatable = esp_part.name == esp::PARTITION_NAME;
    let fs = fatfs::FileSystem::new(Window::new(&mut file, start, len), disk::fat_options())
        .map_err(|e| bad(format!("its ESP: {e}")))?;
    let uki_path = if updatable {
        let dir = fs
            .root_dir()
            .open_dir(esp::ENTRIES_DIR)
            .map_err(|e| bad(format!("{}: {e}", esp::ENTRIES_DIR)))?;
        let mut entries: Vec<(Entry, String)> = dir
            .iter()
            .flatten()
            .filter_map(|e| Entry::parse(&e.file_name()).map(|p| (p, e.file_name())))
            .collect();
        entries.sort_by_key(|(e, _)| e.seq);
        let (_, name) = entries
            .pop()
            .ok_or_else(|| bad(format!("no version in {}", esp::ENTRIES_DIR)))?;
        format!("{}/{name}", esp::ENTRIES_DIR)
    } else {
        esp::BOOTLOADER_PATH.to_string()
    };
    {
        let mut f = fs
            .root_dir()
            .open_file(&uki_path)
            .map_err(|e| bad(format!("{uki_path}: {e}")))?;
        let mut buf = vec![0u8; MIB as usize];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| bad(format!("{uki_path}: {e}")))?;
            if n == 0 {
                break;
            }
            uki_out
                .write_all(&buf[..n])
                .map_err(|e| bad(format!("copying {uki_path}: {e}")))?;
        }
    }
    drop(fs);
    Ok(BuiltDisk {
        updatable,
        uki_path,
        verity_root,
    })
}

/// Copies `len` bytes at `offset` of the disk at `path` (a partition) to `out`.
pub fn copy_range(path: &Path, offset: u64, len: u64, out: &mut dyn Write) -> io::Result<()> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let n = io::copy(&mut f.take(len), out)?;
    if n != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the disk is short",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updatable_command_lines_reboot_on_panic() {
        let u = UpdateDisk::default();
        assert_eq!(
            cmdline("console=ttyS0 text".into(), Some(&u)),
            "console=ttyS0 text panic=5"
        );
        assert_eq!(cmdline("panic=1 text".into(), Some(&u)), "panic=1 text");
        assert_eq!(cmdline("console=ttyS0".into(), None), "console=ttyS0");
    }
}
