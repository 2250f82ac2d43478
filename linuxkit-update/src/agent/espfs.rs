//! The mounted ESP: entries, the state file, and writes that survive power loss.
//!
//! Every file the agent writes goes to a temporary name first, is fsynced, renamed into place,
//! and the directory is fsynced; a version is written to `linuxkit/incoming.partial`, which
//! systemd-boot never looks at, and renamed into `EFI/Linux/` only when it is complete and
//! checked. Power lost at any point leaves the previous entries as they were, plus at most a
//! partial file the agent removes at its next start.
//!
//! FAT has no journal: a cluster chain that grows while power is lost can disagree with its
//! directory entry, and Linux then remounts the ESP read-only at the first write near it. So a
//! version's clusters are allocated in one step before its bytes are written
//! (`fallocate(FALLOC_FL_KEEP_SIZE)`, then the whole file system synced): Linux writes into
//! preallocated clusters without touching the table, so a cut during the long write leaves a
//! chain longer than the file, which deleting it frees cleanly.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::esp::{self, Entry, State};
use nix::mount::{mount, MsFlags};

/// The ESP, mounted.
pub struct Esp {
    root: PathBuf,
}

/// fsyncs a directory (its entries: a rename or an unlink in it), then the whole file system:
/// on FAT the allocation table's sectors are shared by every file, and a sector dirtied by an
/// unlink is not written by an fsync of anything else.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = fs::File::open(dir)?;
    d.sync_all()?;
    nix::unistd::syncfs(d.as_raw_fd()).map_err(std::io::Error::from)
}

impl Esp {
    /// Mounts the FAT file system on `device` at `dir` (in the agent's mount namespace).
    pub fn mount(device: &Path, dir: &Path) -> Result<Esp, String> {
        let _ = fs::create_dir_all(dir);
        mount(
            Some(device),
            dir,
            Some("vfat"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("umask=0077,shortname=mixed,errors=remount-ro"),
        )
        .map_err(|e| {
            format!(
                "mounting the ESP {} on {}: {e}",
                device.display(),
                dir.display()
            )
        })?;
        Ok(Esp {
            root: dir.to_path_buf(),
        })
    }

    /// A path on the ESP.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Our entries in `EFI/Linux`, by sequence number.
    pub fn entries(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = fs::read_dir(self.path(esp::ENTRIES_DIR))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| Entry::parse(&e.file_name().to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|e| e.seq);
        v
    }

    /// The state file (empty when missing or damaged).
    pub fn state(&self) -> State {
        fs::read(self.path(esp::STATE_PATH))
            .ok()
            .and_then(|b| State::parse(&b).ok())
            .unwrap_or_default()
    }

    /// Writes `bytes` to `rel` atomically and durably.
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(rel);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)?;
        let tmp = dir.join(".write.partial");
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(&dir)
    }

    /// Saves the state file.
    pub fn save_state(&self, state: &State) -> std::io::Result<()> {
        self.write_file(esp::STATE_PATH, &state.to_bytes())
    }

    /// Renames entry `from` to `to` durably.
    pub fn rename_entry(&self, from: &Entry, to: &Entry) -> std::io::Result<()> {
        fs::rename(self.path(&from.path()), self.path(&to.path()))?;
        sync_dir(&self.path(esp::ENTRIES_DIR))
    }

    /// Removes an entry durably.
    pub fn remove_entry(&self, e: &Entry) -> std::io::Result<()> {
        fs::remove_file(self.path(&e.path()))?;
        sync_dir(&self.path(esp::ENTRIES_DIR))
    }

    /// Removes leftovers of interrupted writes; returns their names.
    pub fn clean_partials(&self) -> Vec<String> {
        let mut removed = Vec::new();
        let incoming = self.path(esp::INCOMING_PATH);
        if incoming.exists() && fs::remove_file(&incoming).is_ok() {
            removed.push(esp::INCOMING_PATH.to_string());
        }
        for dir in [esp::STATE_DIR, esp::ENTRIES_DIR] {
            let Ok(d) = fs::read_dir(self.path(dir)) else {
                continue;
            };
            for e in d.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".partial") && fs::remove_file(e.path()).is_ok() {
                    removed.push(format!("{dir}/{name}"));
                }
            }
        }
        let _ = sync_dir(&self.path(esp::STATE_DIR));
        removed
    }

    /// Free bytes on the ESP.
    pub fn free(&self) -> u64 {
        nix::sys::statvfs::statvfs(&self.root)
            .map(|s| s.blocks_available() * s.fragment_size())
            .unwrap_or(0)
    }

    /// The size of an entry's file.
    pub fn entry_len(&self, e: &Entry) -> u64 {
        fs::metadata(self.path(&e.path())).map_or(0, |m| m.len())
    }

    /// Writes the file `src` (a complete, checked UKI) to `incoming.partial`: its clusters
    /// allocated and made durable first, then its bytes, then fsynced.
    /// `allocated` runs once the space is allocated and durable, before the bytes are written.
    pub fn write_incoming(&self, src: &Path, allocated: impl FnOnce()) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let incoming = self.path(esp::INCOMING_PATH);
        let dir = incoming.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)?;
        let mut input = fs::File::open(src)?;
        let len = input.metadata()?.len();
        let mut out = fs::File::create(&incoming)?;
        nix::fcntl::fallocate(
            out.as_raw_fd(),
            nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE,
            0,
            len as nix::libc::off_t,
        )
        .map_err(std::io::Error::from)?;
        out.sync_all()?;
        sync_dir(&dir)?;
        allocated();
        std::io::copy(&mut input, &mut out)?;
        out.sync_all()?;
        sync_dir(&dir)
    }

    /// Moves the complete, checked `incoming.partial` into place as `entry`, durably.
    pub fn install_incoming(&self, entry: &Entry) -> std::io::Result<()> {
        let incoming = self.path(esp::INCOMING_PATH);
        fs::File::open(&incoming)?.sync_all()?;
        let dir = self.path(esp::ENTRIES_DIR);
        fs::create_dir_all(&dir)?;
        fs::rename(&incoming, self.path(&entry.path()))?;
        sync_dir(&dir)?;
        sync_dir(&self.path(esp::STATE_DIR))
    }
}
