//! The tar header model (Go's `tar.Header`, restricted to what LinuxKit uses).

use std::collections::BTreeMap;

/// Type flags.
pub mod type_flag {
    /// Regular file.
    pub const REG: u8 = b'0';
    /// Legacy regular file (`\0`).
    pub const REG_A: u8 = 0;
    /// Hard link.
    pub const LINK: u8 = b'1';
    /// Symbolic link.
    pub const SYMLINK: u8 = b'2';
    /// Character device.
    pub const CHAR: u8 = b'3';
    /// Block device.
    pub const BLOCK: u8 = b'4';
    /// Directory.
    pub const DIR: u8 = b'5';
    /// FIFO.
    pub const FIFO: u8 = b'6';
    /// PAX extended header.
    pub const X_HEADER: u8 = b'x';
    /// PAX global header.
    pub const X_GLOBAL: u8 = b'g';
    /// GNU long name.
    pub const GNU_LONG_NAME: u8 = b'L';
    /// GNU long link name.
    pub const GNU_LONG_LINK: u8 = b'K';
    /// GNU sparse file.
    pub const GNU_SPARSE: u8 = b'S';

    /// Types that never carry data (Go's `isHeaderOnlyType`).
    pub fn is_header_only(flag: u8) -> bool {
        matches!(flag, LINK | SYMLINK | CHAR | BLOCK | DIR | FIFO)
    }
}

/// A point in time with Go's precision: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoTime {
    /// Seconds since the epoch.
    pub secs: i64,
    /// Nanoseconds, `0..1e9`.
    pub nanos: u32,
}

impl GoTime {
    /// Whole seconds.
    pub fn from_secs(secs: i64) -> Self {
        GoTime { secs, nanos: 0 }
    }

    /// Go's `formatPAXTime`.
    pub fn format_pax(&self) -> String {
        if self.nanos == 0 {
            return self.secs.to_string();
        }
        let (sign, secs, nanos) = if self.secs < 0 {
            ("-", -(self.secs + 1), 1_000_000_000 - self.nanos)
        } else {
            ("", self.secs, self.nanos)
        };
        let s = format!("{sign}{secs}.{nanos:09}");
        s.trim_end_matches('0').to_string()
    }

    /// Go's `parsePAXTime` (sub-nanosecond digits are truncated).
    pub fn parse_pax(s: &str) -> Option<Self> {
        let (ss, sn) = match s.split_once('.') {
            Some((a, b)) => (a, b),
            None => (s, ""),
        };
        let secs: i64 = ss.parse().ok()?;
        if sn.is_empty() {
            return Some(GoTime::from_secs(secs));
        }
        if !sn.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut digits = sn.as_bytes().to_vec();
        digits.resize(9, b'0');
        let nanos: u32 = std::str::from_utf8(&digits[..9]).ok()?.parse().ok()?;
        if ss.starts_with('-') && nanos != 0 {
            return Some(GoTime {
                secs: secs - 1,
                nanos: 1_000_000_000 - nanos,
            });
        }
        Some(GoTime { secs, nanos })
    }
}

/// One tar entry's metadata, as Go's `tar.Header` holds it.
///
/// Strings are byte strings because tar names need not be UTF-8. `mtime == None` is Go's zero
/// `time.Time` (written as 0); a header read from an archive always has `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Entry name.
    pub name: Vec<u8>,
    /// Link target of a symlink or hard link.
    pub linkname: Vec<u8>,
    /// Type flag.
    pub typeflag: u8,
    /// Mode bits as stored (permissions plus setuid/setgid/sticky).
    pub mode: i64,
    /// Owner id.
    pub uid: i64,
    /// Group id.
    pub gid: i64,
    /// Size of the data (as recorded; header-only types carry no data whatever it says).
    pub size: i64,
    /// Modification time.
    pub mtime: Option<GoTime>,
    /// Access time.
    pub atime: Option<GoTime>,
    /// Change time.
    pub ctime: Option<GoTime>,
    /// Owner name.
    pub uname: Vec<u8>,
    /// Group name.
    pub gname: Vec<u8>,
    /// Device major number.
    pub devmajor: i64,
    /// Device minor number.
    pub devminor: i64,
    /// PAX records (as read, plus any added); sorted by key like Go writes them.
    pub pax: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Header {
    /// A header with the given name and type, everything else zero.
    pub fn new(name: impl Into<Vec<u8>>, typeflag: u8) -> Self {
        Header {
            name: name.into(),
            linkname: Vec::new(),
            typeflag,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: None,
            atime: None,
            ctime: None,
            uname: Vec::new(),
            gname: Vec::new(),
            devmajor: 0,
            devminor: 0,
            pax: BTreeMap::new(),
        }
    }

    /// Sets a PAX record.
    pub fn set_pax(&mut self, key: &str, value: &str) {
        self.pax
            .insert(key.as_bytes().to_vec(), value.as_bytes().to_vec());
    }

    /// Number of data bytes that follow this header in an archive.
    pub fn data_len(&self) -> u64 {
        if type_flag::is_header_only(self.typeflag) || self.size < 0 {
            0
        } else {
            self.size as u64
        }
    }

    /// The name as (lossy) UTF-8, for messages.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_time_roundtrip() {
        let t = GoTime::parse_pax("1700000000.5").unwrap();
        assert_eq!(
            t,
            GoTime {
                secs: 1700000000,
                nanos: 500_000_000
            }
        );
        assert_eq!(t.format_pax(), "1700000000.5");
        assert_eq!(
            GoTime::parse_pax("1700000000.0").unwrap().format_pax(),
            "1700000000"
        );
        assert_eq!(GoTime::from_secs(12).format_pax(), "12");
    }
}
