//! Go `archive/tar` `Reader`: USTAR, PAX (local records), GNU long names, base-256 numbers.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::header::{type_flag, GoTime, Header};

const BLOCK: usize = 512;
/// Go's `maxSpecialFileSize`.
const MAX_SPECIAL: i64 = 1 << 20;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("archive/tar: {}", msg.into()),
    )
}

/// Reads tar entries one by one; the data of the current entry is read through [`Reader::data`]
/// (unread data is skipped by the next [`Reader::next_header`]).
pub struct Reader<R: Read> {
    r: R,
    remaining: u64,
    pad: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// A reader over a tar stream.
    pub fn new(r: R) -> Self {
        Reader {
            r,
            remaining: 0,
            pad: 0,
            done: false,
        }
    }

    /// The next entry's header, or `None` at the end of the archive.
    pub fn next_header(&mut self) -> io::Result<Option<Header>> {
        if self.done {
            return Ok(None);
        }
        self.skip(self.remaining + self.pad)?;
        self.remaining = 0;
        self.pad = 0;
        let mut pax: Option<BTreeMap<Vec<u8>, Vec<u8>>> = None;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            let Some(blk) = self.read_block()? else {
                self.done = true;
                return Ok(None);
            };
            let mut h = parse_header(&blk)?;
            let size = h.size;
            match h.typeflag {
                type_flag::X_HEADER | type_flag::X_GLOBAL => {
                    let data = self.read_special(size)?;
                    let records = parse_pax(&data)?;
                    if h.typeflag == type_flag::X_HEADER {
                        if records.keys().any(|k| k.starts_with(b"GNU.sparse.")) {
                            let name = [&b"GNU.sparse.name"[..], b"path"]
                                .iter()
                                .find_map(|k| records.get(*k))
                                .unwrap_or(&h.name);
                            return Err(bad(format!(
                                "{}: sparse files are not supported",
                                String::from_utf8_lossy(name)
                            )));
                        }
                        pax = Some(records);
                    }
                    // Global headers are read past and not applied to later entries, as by Go's
                    // reader (which hands them to the caller; they are not emitted here).
                    continue;
                }
                type_flag::GNU_LONG_NAME => {
                    long_name = Some(cstr(&self.read_special(size)?).to_vec());
                    continue;
                }
                type_flag::GNU_LONG_LINK => {
                    long_link = Some(cstr(&self.read_special(size)?).to_vec());
                    continue;
                }
                type_flag::GNU_SPARSE => {
                    return Err(bad(format!(
                        "{}: sparse files are not supported",
                        h.name_lossy()
                    )))
                }
                _ => {}
            }
            if let Some(records) = pax {
                merge_pax(&mut h, records)?;
            }
            if let Some(n) = long_name {
                h.name = n;
            }
            if let Some(l) = long_link {
                h.linkname = l;
            }
            if h.typeflag == type_flag::REG_A {
                h.typeflag = if h.name.ends_with(b"/") {
                    type_flag::DIR
                } else {
                    type_flag::REG
                };
            }
            if h.size < 0 {
                return Err(bad("negative size"));
            }
            self.remaining = h.data_len();
            self.pad = (BLOCK as u64 - self.remaining % BLOCK as u64) % BLOCK as u64;
            return Ok(Some(h));
        }
    }

    /// The underlying stream (positioned after what was read so far).
    pub fn into_inner(self) -> R {
        self.r
    }

    /// Reads from the current entry's data.
    pub fn data(&mut self) -> EntryData<'_, R> {
        EntryData { tr: self }
    }

    fn read_special(&mut self, size: i64) -> io::Result<Vec<u8>> {
        if !(0..=MAX_SPECIAL).contains(&size) {
            return Err(bad("special header too large"));
        }
        let mut buf = vec![0u8; size as usize];
        self.r.read_exact(&mut buf).map_err(unexpected)?;
        let pad = (BLOCK - buf.len() % BLOCK) % BLOCK;
        self.skip(pad as u64)?;
        Ok(buf)
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let copied = io::copy(&mut (&mut self.r).take(n), &mut io::sink())?;
        if copied != n {
            return Err(unexpected(io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }

    /// One header block; `None` at a clean end (EOF or two zero blocks).
    fn read_block(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        let mut blk = [0u8; BLOCK];
        if !read_full_or_eof(&mut self.r, &mut blk)? {
            return Ok(None);
        }
        if blk.iter().all(|&b| b == 0) {
            if !read_full_or_eof(&mut self.r, &mut blk)? {
                return Ok(None);
            }
            if blk.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            return Err(bad("invalid tar header (zero block followed by data)"));
        }
        Ok(Some(blk))
    }
}

fn unexpected(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(io::ErrorKind::UnexpectedEof, "archive/tar: unexpected EOF")
    } else {
        e
    }
}

/// Fills `buf`; false if the stream ended before the first byte.
fn read_full_or_eof(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => {
                if n == 0 {
                    return Ok(false);
                }
                return Err(unexpected(io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The data of the current entry.
pub struct EntryData<'a, R: Read> {
    tr: &'a mut Reader<R>,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tr.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(self.tr.remaining.min(usize::MAX as u64) as usize);
        let n = self.tr.r.read(&mut buf[..max])?;
        if n == 0 {
            return Err(unexpected(io::ErrorKind::UnexpectedEof.into()));
        }
        self.tr.remaining -= n as u64;
        Ok(n)
    }
}

fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Go's `parser.parseNumeric`: base-256 or octal.
fn parse_numeric(b: &[u8]) -> io::Result<i64> {
    if !b.is_empty() && b[0] & 0x80 != 0 {
        let inv: u8 = if b[0] & 0x40 != 0 { 0xff } else { 0 };
        let mut x: u64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                return Err(bad("integer overflow"));
            }
            x = x << 8 | u64::from(c);
        }
        if x >> 63 > 0 {
            return Err(bad("integer overflow"));
        }
        return Ok(if inv == 0xff { !(x as i64) } else { x as i64 });
    }
    parse_octal(b)
}

fn parse_octal(b: &[u8]) -> io::Result<i64> {
    let start = b.iter().position(|&c| c != b' ' && c != 0);
    let Some(start) = start else { return Ok(0) };
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .unwrap_or(start)
        + 1;
    let s = cstr(&b[start..end]);
    let s = std::str::from_utf8(s).map_err(|_| bad("invalid octal field"))?;
    u64::from_str_radix(s, 8)
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| bad(format!("invalid octal field {s:?}")))
}

fn parse_header(blk: &[u8; BLOCK]) -> io::Result<Header> {
    // checksum
    let stored = parse_octal(&blk[148..156])?;
    let mut unsigned: i64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in blk.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    if stored != unsigned && stored != signed {
        return Err(bad("invalid tar header (checksum mismatch)"));
    }
    let magic = &blk[257..263];
    let version = &blk[263..265];
    let ustar = magic == b"ustar\0";
    let gnu = magic == b"ustar " && version == b" \0";
    let star = ustar && &blk[508..512] == b"tar\0";
    let mut h = Header::new(cstr(&blk[0..100]).to_vec(), blk[156]);
    h.mode = parse_numeric(&blk[100..108])?;
    h.uid = parse_numeric(&blk[108..116])?;
    h.gid = parse_numeric(&blk[116..124])?;
    h.size = parse_numeric(&blk[124..136])?;
    h.mtime = Some(GoTime::from_secs(parse_numeric(&blk[136..148])?));
    h.linkname = cstr(&blk[157..257]).to_vec();
    if ustar || gnu {
        h.uname = cstr(&blk[265..297]).to_vec();
        h.gname = cstr(&blk[297..329]).to_vec();
        h.devmajor = parse_numeric(&blk[329..337])?;
        h.devminor = parse_numeric(&blk[337..345])?;
        let prefix: &[u8] = if star {
            h.atime = Some(GoTime::from_secs(parse_numeric(&blk[476..488])?));
            h.ctime = Some(GoTime::from_secs(parse_numeric(&blk[488..500])?));
            cstr(&blk[345..476])
        } else if ustar {
            cstr(&blk[345..500])
        } else {
            if blk[345] != 0 {
                h.atime = Some(GoTime::from_secs(parse_numeric(&blk[345..357])?));
            }
            if blk[357] != 0 {
                h.ctime = Some(GoTime::from_secs(parse_numeric(&blk[357..369])?));
            }
            &[]
        };
        if !prefix.is_empty() {
            let mut n = prefix.to_vec();
            n.push(b'/');
            n.extend_from_slice(&h.name);
            h.name = n;
        }
    }
    Ok(h)
}

/// Go's `parsePAX` for local records.
fn parse_pax(mut data: &[u8]) -> io::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out = BTreeMap::new();
    while !data.is_empty() {
        let sp = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("invalid PAX record"))?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("invalid PAX record length"))?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad("invalid PAX record"));
        }
        let rec = &data[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("invalid PAX record"))?;
        let key = rec[..eq].to_vec();
        let value = rec[eq + 1..].to_vec();
        out.insert(key, value);
        data = &data[len..];
    }
    Ok(out)
}

/// Go's `mergePAX`.
fn merge_pax(h: &mut Header, records: BTreeMap<Vec<u8>, Vec<u8>>) -> io::Result<()> {
    let num = |v: &[u8]| -> io::Result<i64> {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("invalid PAX number"))
    };
    let time = |v: &[u8]| -> io::Result<GoTime> {
        std::str::from_utf8(v)
            .ok()
            .and_then(GoTime::parse_pax)
            .ok_or_else(|| bad("invalid PAX time"))
    };
    for (k, v) in &records {
        if v.is_empty() {
            continue;
        }
        match k.as_slice() {
            b"path" => h.name = v.clone(),
            b"linkpath" => h.linkname = v.clone(),
            b"uname" => h.uname = v.clone(),
            b"gname" => h.gname = v.clone(),
            b"uid" => h.uid = num(v)?,
            b"gid" => h.gid = num(v)?,
            b"size" => h.size = num(v)?,
            b"mtime" => h.mtime = Some(time(v)?),
            b"atime" => h.atime = Some(time(v)?),
            b"ctime" => h.ctime = Some(time(v)?),
            _ => {}
        }
    }
    h.pax = records;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Writer;
    use super::*;

    #[test]
    fn roundtrip_through_go_writer() {
        let mut w = Writer::new(Vec::new());
        let long = format!("{}/name", "x".repeat(150));
        let mut h = Header::new(long.clone(), type_flag::REG);
        h.size = 5;
        h.mode = 0o4755;
        h.mtime = Some(GoTime {
            secs: 1700000000,
            nanos: 250_000_000,
        });
        h.set_pax("SCHILY.xattr.user.a", "b");
        w.write_bytes(&h, b"hello").unwrap();
        let mut d = Header::new("dev/sda", type_flag::BLOCK);
        d.devmajor = 8;
        d.mtime = Some(GoTime::from_secs(7));
        w.write_bytes(&d, b"").unwrap();
        let bytes = w.finish().unwrap();

        let mut r = Reader::new(&bytes[..]);
        let got = r.next_header().unwrap().unwrap();
        assert_eq!(got.name, long.as_bytes());
        assert_eq!(got.mode, 0o4755);
        assert_eq!(got.mtime, h.mtime);
        assert_eq!(got.pax.get(&b"SCHILY.xattr.user.a"[..]).unwrap(), b"b");
        let mut s = String::new();
        r.data().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        let dev = r.next_header().unwrap().unwrap();
        assert_eq!((dev.typeflag, dev.devmajor), (type_flag::BLOCK, 8));
        assert!(r.next_header().unwrap().is_none());
    }

    #[test]
    fn unread_data_is_skipped_and_truncation_is_an_error() {
        let mut w = Writer::new(Vec::new());
        let mut h = Header::new("a", type_flag::REG);
        h.size = 600;
        w.write_bytes(&h, &[1u8; 600]).unwrap();
        let mut h2 = Header::new("b", type_flag::REG);
        h2.size = 1;
        w.write_bytes(&h2, b"z").unwrap();
        let bytes = w.finish().unwrap();
        let mut r = Reader::new(&bytes[..]);
        r.next_header().unwrap();
        assert_eq!(r.next_header().unwrap().unwrap().name, b"b");

        let mut r = Reader::new(&bytes[..700]);
        r.next_header().unwrap();
        assert!(r.next_header().is_err());
    }
}
