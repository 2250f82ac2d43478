//! The EFI System Partition of an updatable disk.
//!
//! ```text
//! EFI/BOOT/BOOTX64.EFI                  systemd-boot (signed with the UKIs' key when they are)
//! loader/loader.conf                    timeout 0, no editor, no automatic entries
//! EFI/Linux/linuxkit-1-0123456789ab.efi the version the disk was built with (blessed)
//! EFI/Linux/linuxkit-2-fedcba987654+3.efi  a new version with three tries left
//! linuxkit/update.json                  what the agent knows about each version (State)
//! linuxkit/incoming.partial             a version being written (never an entry)
//! ```
//!
//! Entry names follow the Boot Loader Specification's boot counting: `NAME+LEFT[-DONE].efi`.
//! systemd-boot (Debian 12's 252 included: it parses the counter of Type #2 entries as of
//! Type #1) renames `+LEFT-DONE` to `+(LEFT-1)-(DONE+1)` before it starts an entry, sorts
//! entries with no tries left after every other one, and otherwise orders entries of one OS by
//! their file name, newest version first (`strverscmp`, descending). The sequence number after
//! `linuxkit-` therefore decides which version boots: the newest one with tries left, else the
//! newest blessed one. Blessing drops the counter (`NAME.efi`), as `systemd-bless-boot` does.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// systemd-boot, at the removable-media default path the firmware boots.
pub const BOOTLOADER_PATH: &str = "EFI/BOOT/BOOTX64.EFI";
/// The directory of Type #2 entries.
pub const ENTRIES_DIR: &str = "EFI/Linux";
/// systemd-boot's configuration.
pub const LOADER_CONF_PATH: &str = "loader/loader.conf";
/// The agent's directory.
pub const STATE_DIR: &str = "linuxkit";
/// The agent's state.
pub const STATE_PATH: &str = "linuxkit/update.json";
/// Where a version is written before it is renamed into [`ENTRIES_DIR`].
pub const INCOMING_PATH: &str = "linuxkit/incoming.partial";
/// The GPT name of an updatable disk's ESP (what `cargo linuxkit run` recognises it by).
pub const PARTITION_NAME: &str = "linuxkit-ab-esp";
/// The prefix of entry names.
pub const ENTRY_PREFIX: &str = "linuxkit-";
/// Hex digits of the UKI's SHA-256 in an entry name.
pub const ID_LEN: usize = 12;

/// `loader/loader.conf`: boot the default entry at once, no menu editor (a signed system must
/// not let the console change its command line), no firmware or automatic entries. No
/// `default`: systemd-boot would boot a matching entry even with no tries left, so the order
/// of entry names decides instead.
pub fn loader_conf() -> &'static str {
    "timeout 0\neditor no\nauto-entries no\nauto-firmware no\n"
}

/// Boot counting tries of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tries {
    /// Tries left.
    pub left: u32,
    /// Tries done.
    pub done: u32,
}

/// A Type #2 entry of ours: `linuxkit-<seq>-<id>[+LEFT[-DONE]].efi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Installation order: 1 for the version the disk was built with, one more per install.
    pub seq: u64,
    /// The first [`ID_LEN`] hex digits of the UKI's SHA-256.
    pub id: String,
    /// The boot counter; `None` once blessed.
    pub tries: Option<Tries>,
}

impl Entry {
    /// An entry for the UKI with digest `sha256:<hex>` (or bare hex), installed `seq`-th.
    pub fn new(seq: u64, uki_digest: &str, tries: Option<u32>) -> Entry {
        let hex = uki_digest.strip_prefix("sha256:").unwrap_or(uki_digest);
        Entry {
            seq,
            id: hex.chars().take(ID_LEN).collect::<String>().to_lowercase(),
            tries: tries.map(|left| Tries { left, done: 0 }),
        }
    }

    /// The name without counter and suffix, which stays the same while the entry is counted
    /// and blessed: `linuxkit-<seq>-<id>`.
    pub fn base(&self) -> String {
        format!("{ENTRY_PREFIX}{}-{}", self.seq, self.id)
    }

    /// The file name in [`ENTRIES_DIR`].
    pub fn file_name(&self) -> String {
        match self.tries {
            None => format!("{}.efi", self.base()),
            Some(Tries { left, done: 0 }) => format!("{}+{left}.efi", self.base()),
            Some(Tries { left, done }) => format!("{}+{left}-{done}.efi", self.base()),
        }
    }

    /// The path of the entry on the ESP.
    pub fn path(&self) -> String {
        format!("{ENTRIES_DIR}/{}", self.file_name())
    }

    /// Parses a file name (or an entry id as systemd-boot reports it in `LoaderEntrySelected`,
    /// which is lowercased). `None` for any other file.
    pub fn parse(file_name: &str) -> Option<Entry> {
        let lower = file_name.to_ascii_lowercase();
        let stem = lower.strip_suffix(".efi")?;
        let rest = stem.strip_prefix(ENTRY_PREFIX)?;
        let (name, counter) = match rest.rsplit_once('+') {
            Some((n, c)) => (n, Some(c)),
            None => (rest, None),
        };
        let (seq, id) = name.split_once('-')?;
        let seq: u64 = seq.parse().ok()?;
        if id.len() != ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let tries = match counter {
            None => None,
            Some(c) => {
                let (left, done) = match c.split_once('-') {
                    Some((l, d)) => (l.parse().ok()?, d.parse().ok()?),
                    None => (c.parse().ok()?, 0),
                };
                Some(Tries { left, done })
            }
        };
        Some(Entry {
            seq,
            id: id.to_string(),
            tries,
        })
    }

    /// Whether the entry ran out of tries: systemd-boot starts it only when nothing else is
    /// left, and the agent treats it as failed.
    pub fn is_bad(&self) -> bool {
        matches!(self.tries, Some(Tries { left: 0, .. }))
    }

    /// Whether the entry is being tried (has a counter with tries left).
    pub fn is_trial(&self) -> bool {
        matches!(self.tries, Some(Tries { left, .. }) if left > 0)
    }

    /// The entry blessed: its counter dropped.
    pub fn blessed(&self) -> Entry {
        Entry {
            tries: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_name())
    }
}

/// One version on the ESP, as the agent (or the build) recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Version {
    /// SHA-256 of the UKI (`sha256:<hex>`).
    pub uki: String,
    /// The artifact's manifest digest, when it came from a registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The image name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The version annotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The registry reference it was pulled from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why this version was found unhealthy, when the agent of that version found it so (it
    /// then rebooted to try again or fall back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy: Option<String>,
}

impl Version {
    /// `name version` or what is known of it, for messages.
    pub fn describe(&self) -> String {
        let short = self
            .uki
            .strip_prefix("sha256:")
            .unwrap_or(&self.uki)
            .chars()
            .take(ID_LEN)
            .collect::<String>();
        match (&self.image, &self.version) {
            (Some(i), Some(v)) => format!("{i} {v}"),
            (Some(i), None) => format!("{i} (uki {short})"),
            (None, Some(v)) => v.clone(),
            (None, None) => format!("uki {short}"),
        }
    }
}

/// A version that failed and is never installed again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Failed {
    /// SHA-256 of its UKI.
    pub uki: String,
    /// The artifact's manifest digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// What it was.
    pub version: String,
    /// Why it failed.
    pub reason: String,
}

/// `linuxkit/update.json`: what the agent knows about the versions on the ESP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// Versions present, by entry base name ([`Entry::base`]).
    pub versions: BTreeMap<String, Version>,
    /// Versions that failed to boot or to become healthy, oldest first.
    pub failed: Vec<Failed>,
}

impl State {
    /// Parses the state file; a damaged file reads as empty (the agent then works from the
    /// entry names alone and writes a new one).
    pub fn parse(bytes: &[u8]) -> Result<State, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The file's bytes (stable: sorted keys, pretty, final newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Whether an artifact with manifest digest `manifest` or UKI digest `uki` failed before.
    pub fn failed_before(&self, manifest: Option<&str>, uki: &str) -> Option<&Failed> {
        self.failed
            .iter()
            .find(|f| f.uki == uki || (manifest.is_some() && f.manifest.as_deref() == manifest))
    }
}

/// The size of an updatable ESP holding a `uki_len`-byte UKI and a `loader_len`-byte boot
/// loader: room for two versions with half as much again for growth, in whole MiB, at least
/// 32 MiB. `esp_mib` (the agent's `--esp-size`) overrides it.
pub fn esp_size(uki_len: u64, loader_len: u64, esp_mib: Option<u64>) -> u64 {
    const MIB: u64 = 1 << 20;
    if let Some(m) = esp_mib {
        return m * MIB;
    }
    let slot = uki_len + uki_len / 2;
    let content = 2 * slot + loader_len + MIB;
    // FAT tables, directories and cluster slack.
    let with_fat = content + content / 32 + 2 * MIB;
    (with_fat.div_ceil(MIB) * MIB).max(32 * MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_round_trip_with_counters() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let e = Entry::new(2, digest, Some(3));
        assert_eq!(e.file_name(), "linuxkit-2-0123456789ab+3.efi");
        assert_eq!(e.base(), "linuxkit-2-0123456789ab");
        assert_eq!(Entry::parse(&e.file_name()), Some(e.clone()));
        // What systemd-boot renames it to, and what it reports (lowercased) as selected.
        let bumped = Entry::parse("linuxkit-2-0123456789AB+2-1.EFI").unwrap();
        assert_eq!(bumped.tries, Some(Tries { left: 2, done: 1 }));
        assert_eq!(bumped.base(), e.base());
        assert!(bumped.is_trial() && !bumped.is_bad());
        let bad = Entry::parse("linuxkit-2-0123456789ab+0-3.efi").unwrap();
        assert!(bad.is_bad() && !bad.is_trial());
        assert_eq!(bad.blessed().file_name(), "linuxkit-2-0123456789ab.efi");
        for other in [
            "BOOTX64.EFI",
            "linuxkit-x-0123456789ab.efi",
            "linuxkit-2-0123456789.efi",
            "linuxkit-2-0123456789ab+x.efi",
            "linuxkit-2-0123456789ab.conf",
            "linuxkit-2-0123456789zz.efi",
        ] {
            assert_eq!(Entry::parse(other), None, "{other}");
        }
    }

    #[test]
    fn state_round_trips_and_finds_failures() {
        let mut s = State::default();
        s.versions.insert(
            "linuxkit-1-0123456789ab".into(),
            Version {
                uki: "sha256:01".into(),
                image: Some("os".into()),
                version: Some("1.0".into()),
                ..Version::default()
            },
        );
        s.failed.push(Failed {
            uki: "sha256:02".into(),
            manifest: Some("sha256:m2".into()),
            version: "os 2.0".into(),
            reason: "panicked".into(),
        });
        let back = State::parse(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        assert!(back.failed_before(Some("sha256:m2"), "sha256:zz").is_some());
        assert!(back.failed_before(None, "sha256:02").is_some());
        assert!(back.failed_before(Some("sha256:m3"), "sha256:03").is_none());
        assert_eq!(
            back.versions["linuxkit-1-0123456789ab"].describe(),
            "os 1.0"
        );
    }

    #[test]
    fn esp_holds_two_versions_and_margin() {
        let mib = 1 << 20;
        let esp = esp_size(20 * mib, mib / 2, None);
        assert!(
            esp >= 2 * 20 * mib + 20 * mib && esp.is_multiple_of(mib),
            "{esp}"
        );
        assert_eq!(esp_size(1, 1, None), 32 * mib);
        assert_eq!(esp_size(20 * mib, 0, Some(200)), 200 * mib);
    }
}
