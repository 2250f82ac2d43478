//! Where entries go: the output tar writer, with upstream's apk-database capture for `init`.

use std::io::{self, Read, Write};

use crate::error::BuildError;
use crate::gotar::{EntryError, Header, Writer};

/// The path of apk's installed-packages database.
pub(crate) const APK_INSTALLED: &[u8] = b"lib/apk/db/installed";

/// Something entries are written to: the output itself, or a filter in front of it (kernel).
pub(crate) trait EntrySink {
    /// Writes one entry; `data` yields its content ([`Header::data_len`] bytes).
    fn entry(&mut self, h: Header, data: &mut dyn Read) -> Result<(), BuildError>;
}

/// The output tar stream.
pub(crate) struct TarOut<'w> {
    tw: Writer<&'w mut dyn Write>,
    /// The image whose content is being copied (names read errors).
    pub source: String,
    /// While `Some`, the contents of every `lib/apk/db/installed` entry are captured (init).
    pub apk_dbs: Option<Vec<Vec<u8>>>,
    /// Entries written.
    pub entries: u64,
}

impl<'w> TarOut<'w> {
    pub fn new(out: &'w mut dyn Write) -> Self {
        TarOut {
            tw: Writer::new(out),
            source: String::new(),
            apk_dbs: None,
            entries: 0,
        }
    }

    /// Writes an entry whose content is in memory.
    pub fn write_bytes(&mut self, h: Header, data: &[u8]) -> Result<(), BuildError> {
        self.entry(h, &mut &data[..])
    }

    /// Ends the archive; returns the number of bytes written.
    pub fn finish(self) -> Result<u64, BuildError> {
        let n = self.tw.bytes_written() + 1024;
        self.tw.finish().map_err(BuildError::Output)?;
        Ok(n)
    }

    fn map_err(&self, e: EntryError) -> BuildError {
        match e {
            EntryError::Write(e) => BuildError::Output(e),
            EntryError::Read(e) => BuildError::ImageRead {
                reference: self.source.clone(),
                source: e,
            },
        }
    }
}

impl EntrySink for TarOut<'_> {
    fn entry(&mut self, h: Header, data: &mut dyn Read) -> Result<(), BuildError> {
        self.entries += 1;
        // Like upstream, any entry with that name starts a capture (a link captures nothing).
        let capture = self.apk_dbs.is_some() && h.name == APK_INSTALLED;
        let res = if capture {
            let mut tee = Tee {
                inner: data,
                copy: Vec::new(),
            };
            let r = self.tw.write_entry(&h, &mut tee);
            if let Some(dbs) = self.apk_dbs.as_mut() {
                dbs.push(tee.copy);
            }
            r
        } else {
            self.tw.write_entry(&h, data)
        };
        res.map_err(|e| self.map_err(e))
    }
}

struct Tee<'a> {
    inner: &'a mut dyn Read,
    copy: Vec<u8>,
}

/// The largest apk database kept in memory (real ones are a few hundred KiB).
const MAX_APK_DB: usize = 64 << 20;

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.copy.len() + n > MAX_APK_DB {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is larger than {} MiB: not an apk database",
                    String::from_utf8_lossy(APK_INSTALLED),
                    MAX_APK_DB >> 20
                ),
            ));
        }
        self.copy.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}
