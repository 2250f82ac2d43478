//! dm-verity for LinuxKit root file systems.
//!
//! - [`Params`]: what the guest needs to open a verified root, carried on the kernel command
//!   line as `linuxkit.verity=<root hash>,<salt>,<data blocks>,<hash start block>` (format 1,
//!   SHA-256, 4096-byte data and hash blocks; the data and the hash tree are on the device
//!   `root=` names). Inside a signed UKI the command line is signed too, so the root hash — and
//!   with it every block of the root — is covered by the signature.
//! - [`tree`] (feature `tree`): writes the hash tree after the data, with a superblock that
//!   `veritysetup verify DATA DATA ROOT_HASH --hash-offset=N` reads.
//! - The `linuxkit-verity` binary (feature `guest`): run by the root loader in the guest, it
//!   waits for the device, creates the dm-verity mapping through the device-mapper ioctls,
//!   reads every block once (so a modified block stops the boot here, with a clear message,
//!   rather than at some later read) and prints the verified device's path.
//!
//! [`SOURCE_DIR`] lets linuxkit-local's build script find this package's source to build the
//! binary static and embed it, as it does for linuxkit-init.

#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

#[cfg(feature = "tree")]
pub mod tree;

/// The directory of this package's source (with `Cargo.toml`).
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The package (and binary) name.
pub const PACKAGE: &str = env!("CARGO_PKG_NAME");
/// The package version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Data and hash block size.
pub const BLOCK_SIZE: u64 = 4096;
/// The kernel command-line parameter.
pub const PARAM: &str = "linuxkit.verity";
/// The device-mapper name of the verified root.
pub const DM_NAME: &str = "linuxkit-root";

/// Where the data and the hash tree are, and the hashes that check them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The root hash (SHA-256 of the top hash block, salted).
    pub root_hash: [u8; 32],
    /// The salt, prepended to every hashed block.
    pub salt: Vec<u8>,
    /// Number of 4096-byte data blocks, from the device's start.
    pub data_blocks: u64,
    /// The first block of the hash tree on the same device (after the superblock).
    pub hash_start_block: u64,
}

impl Params {
    /// `linuxkit.verity=...` as it goes on the kernel command line.
    pub fn cmdline_arg(&self) -> String {
        format!("{PARAM}={self}")
    }

    /// The parameters from a kernel command line: `None` when it has no `linuxkit.verity=`.
    pub fn from_cmdline(cmdline: &str) -> Option<Result<Params, String>> {
        let prefix = format!("{PARAM}=");
        cmdline
            .split_ascii_whitespace()
            .filter_map(|w| w.strip_prefix(&prefix))
            .next_back()
            .map(str::parse)
    }

    /// The dm-verity target's table line for data and hash on device `dev` (`major:minor`).
    pub fn table(&self, dev: &str) -> String {
        format!(
            "1 {dev} {dev} {BLOCK_SIZE} {BLOCK_SIZE} {} {} sha256 {} {}",
            self.data_blocks,
            self.hash_start_block,
            hex(&self.root_hash),
            if self.salt.is_empty() {
                "-".to_string()
            } else {
                hex(&self.salt)
            }
        )
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            hex(&self.root_hash),
            hex(&self.salt),
            self.data_blocks,
            self.hash_start_block
        )
    }
}

impl FromStr for Params {
    type Err = String;

    fn from_str(s: &str) -> Result<Params, String> {
        let bad = |what: &str| format!("{PARAM}={s}: {what}");
        let parts: Vec<&str> = s.split(',').collect();
        let [root, salt, data, start] = parts[..] else {
            return Err(bad(
                "expected <root hash>,<salt>,<data blocks>,<hash start block>",
            ));
        };
        let root_hash: [u8; 32] = unhex(root)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("the root hash is not 64 hex digits"))?;
        let salt = unhex(salt).ok_or_else(|| bad("the salt is not hex"))?;
        if salt.len() > 256 {
            return Err(bad("the salt is longer than 256 bytes"));
        }
        let data_blocks: u64 = data
            .parse()
            .map_err(|_| bad("the data block count is not a number"))?;
        let hash_start_block: u64 = start
            .parse()
            .map_err(|_| bad("the hash start block is not a number"))?;
        if data_blocks == 0 || hash_start_block < data_blocks {
            return Err(bad("the hash tree must follow at least one data block"));
        }
        Ok(Params {
            root_hash,
            salt,
            data_blocks,
            hash_start_block,
        })
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_through_the_command_line() {
        let p = Params {
            root_hash: [0xab; 32],
            salt: vec![1, 2, 3],
            data_blocks: 10,
            hash_start_block: 11,
        };
        let line = format!("console=ttyS0 {} root=/dev/sda", p.cmdline_arg());
        assert_eq!(Params::from_cmdline(&line), Some(Ok(p.clone())));
        assert_eq!(Params::from_cmdline("console=ttyS0"), None);
        assert_eq!(
            p.table("8:0"),
            format!(
                "1 8:0 8:0 4096 4096 10 11 sha256 {} 010203",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn malformed_params_are_explained() {
        for (bad, what) in [
            ("x", "expected"),
            ("00,00,1,2", "64 hex digits"),
            (&format!("{},zz,1,2", "0".repeat(64)), "salt"),
            (&format!("{},00,5,2", "0".repeat(64)), "must follow"),
        ] {
            let e = bad.parse::<Params>().unwrap_err();
            assert!(e.contains(what), "{bad}: {e}");
        }
    }
}
