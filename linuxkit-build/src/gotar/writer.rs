//! Go `archive/tar` `Writer`: `WriteHeader` + data, with Go's format selection and encoding.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::header::{type_flag, GoTime, Header};
use super::path;

const BLOCK: usize = 512;
const NAME_SIZE: usize = 100;
const PREFIX_SIZE: usize = 155;

/// PAX keys that restate header fields (Go's `basicKeys`).
fn is_basic_key(k: &[u8]) -> bool {
    matches!(
        k,
        b"path"
            | b"linkpath"
            | b"size"
            | b"uid"
            | b"gid"
            | b"uname"
            | b"gname"
            | b"mtime"
            | b"atime"
            | b"ctime"
    )
}

/// A Go-compatible tar writer over any byte sink. Counts the bytes written.
pub struct Writer<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> Writer<W> {
    /// A writer over `out`.
    pub fn new(out: W) -> Self {
        Writer { out, written: 0 }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    /// Writes one entry: its header(s), then exactly [`Header::data_len`] bytes from `data`,
    /// then padding. Errors say whether reading `data` or writing the output failed; `data`
    /// ending early is a read error.
    pub fn write_entry(&mut self, hdr: &Header, data: &mut dyn Read) -> Result<(), EntryError> {
        let mut h = hdr.clone();
        if h.typeflag == type_flag::REG_A {
            h.typeflag = if h.name.ends_with(b"/") {
                type_flag::DIR
            } else {
                type_flag::REG
            };
        }
        let (ustar_ok, prefer_pax, pax) = allowed_formats(&h);
        if ustar_ok && !prefer_pax {
            self.write_ustar(&h).map_err(EntryError::Write)?;
        } else {
            self.write_pax(&h, &pax).map_err(EntryError::Write)?;
        }
        let len = h.data_len();
        let mut left = len;
        let mut buf = vec![0u8; (len.min(256 * 1024) as usize).max(1)];
        while left > 0 {
            let want = buf.len().min(left.min(usize::MAX as u64) as usize);
            let n = match data.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(EntryError::Read(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{}: expected {len} bytes of content, got {}",
                            h.name_lossy(),
                            len - left
                        ),
                    )))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(EntryError::Read(e)),
            };
            self.put(&buf[..n]).map_err(EntryError::Write)?;
            left -= n as u64;
        }
        self.pad(len).map_err(EntryError::Write)
    }

    /// Writes an entry whose content is in memory.
    pub fn write_bytes(&mut self, hdr: &Header, data: &[u8]) -> Result<(), EntryError> {
        self.write_entry(hdr, &mut &data[..])
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.put(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Ends the archive with two zero blocks (no record padding) and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[0u8; BLOCK * 2])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_ustar(&mut self, h: &Header) -> io::Result<()> {
        let mut blk = [0u8; BLOCK];
        let mut name: &[u8] = &h.name;
        let mut prefix: &[u8] = &[];
        if let Some((p, s)) = split_ustar_path(&h.name) {
            prefix = p;
            name = s;
        }
        template_v7_plus(&mut blk, h, name, &h.linkname, &h.uname, &h.gname);
        format_string(&mut blk[345..500], prefix);
        set_format_ustar(&mut blk);
        self.put(&blk)
    }

    fn write_pax(&mut self, h: &Header, pax: &BTreeMap<Vec<u8>, Vec<u8>>) -> io::Result<()> {
        if !pax.is_empty() {
            let mut data = Vec::new();
            for (k, v) in pax {
                data.extend_from_slice(&format_pax_record(k, v));
            }
            let (dir, file) = path::split(&h.name);
            let mut name = to_ascii(&path::join(&[dir, b"PaxHeaders.0", file]));
            name.truncate(NAME_SIZE);
            while name.last() == Some(&b'/') {
                name.pop();
            }
            let mut blk = [0u8; BLOCK];
            blk[156] = type_flag::X_HEADER;
            format_string(&mut blk[0..100], &name);
            format_octal(&mut blk[100..108], 0);
            format_octal(&mut blk[108..116], 0);
            format_octal(&mut blk[116..124], 0);
            format_octal(&mut blk[124..136], data.len() as i64);
            format_octal(&mut blk[136..148], 0);
            set_format_ustar(&mut blk);
            self.put(&blk)?;
            self.put(&data)?;
            self.pad(data.len() as u64)?;
        }
        let mut blk = [0u8; BLOCK];
        template_v7_plus(
            &mut blk,
            h,
            &to_ascii(&h.name),
            &to_ascii(&h.linkname),
            &to_ascii(&h.uname),
            &to_ascii(&h.gname),
        );
        set_format_ustar(&mut blk);
        self.put(&blk)
    }
}

/// Why writing an entry failed.
#[derive(Debug)]
pub enum EntryError {
    /// Reading the entry's content failed or it ended early.
    Read(io::Error),
    /// Writing to the output failed.
    Write(io::Error),
}

impl std::fmt::Display for EntryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryError::Read(e) | EntryError::Write(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for EntryError {}

/// Go's `Header.allowedFormats`, for a header whose wanted format is PAX: returns whether USTAR
/// can encode it, whether PAX is preferred, and the PAX records to write.
fn allowed_formats(h: &Header) -> (bool, bool, BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut pax: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut ustar_ok = true;
    let mut prefer_pax = false;

    let mut verify_string = |s: &[u8], size: usize, key: &[u8], ustar_ok: &mut bool| {
        let too_long = s.len() > size;
        if !is_ascii(s) || too_long {
            let can_split = key == b"path" && split_ustar_path(s).is_some();
            if !can_split {
                *ustar_ok = false;
            }
            pax.insert(key.to_vec(), s.to_vec());
        }
        if h.pax.get(key).is_some_and(|v| v == s) {
            pax.insert(key.to_vec(), s.to_vec());
        }
    };
    verify_string(&h.name, NAME_SIZE, b"path", &mut ustar_ok);
    verify_string(&h.linkname, NAME_SIZE, b"linkpath", &mut ustar_ok);
    verify_string(&h.uname, 32, b"uname", &mut ustar_ok);
    verify_string(&h.gname, 32, b"gname", &mut ustar_ok);

    let mut verify_numeric = |n: i64, size: usize, key: Option<&[u8]>, ustar_ok: &mut bool| {
        if !fits_in_octal(size, n) {
            *ustar_ok = false;
            if let Some(k) = key {
                pax.insert(k.to_vec(), n.to_string().into_bytes());
            }
        }
        if let Some(k) = key {
            if h.pax.get(k).is_some_and(|v| v == n.to_string().as_bytes()) {
                pax.insert(k.to_vec(), n.to_string().into_bytes());
            }
        }
    };
    verify_numeric(h.mode, 8, None, &mut ustar_ok);
    verify_numeric(h.uid, 8, Some(b"uid"), &mut ustar_ok);
    verify_numeric(h.gid, 8, Some(b"gid"), &mut ustar_ok);
    verify_numeric(h.size, 12, Some(b"size"), &mut ustar_ok);
    verify_numeric(h.devmajor, 8, None, &mut ustar_ok);
    verify_numeric(h.devminor, 8, None, &mut ustar_ok);

    let mut verify_time =
        |t: Option<GoTime>, key: &[u8], ustar_ok: &mut bool, prefer: &mut bool| {
            let Some(ts) = t else { return };
            let is_mtime = key == b"mtime";
            let fits = fits_in_octal(12, ts.secs);
            if !is_mtime || !fits {
                *ustar_ok = false;
            }
            if !is_mtime || !fits || ts.nanos != 0 {
                *prefer = true;
                pax.insert(key.to_vec(), ts.format_pax().into_bytes());
            }
            if h.pax
                .get(key)
                .is_some_and(|v| v == ts.format_pax().as_bytes())
            {
                pax.insert(key.to_vec(), ts.format_pax().into_bytes());
            }
        };
    verify_time(h.mtime, b"mtime", &mut ustar_ok, &mut prefer_pax);
    verify_time(h.atime, b"atime", &mut ustar_ok, &mut prefer_pax);
    verify_time(h.ctime, b"ctime", &mut ustar_ok, &mut prefer_pax);

    if !h.pax.is_empty() {
        for (k, v) in &h.pax {
            if pax.contains_key(k) {
                continue;
            }
            if !is_basic_key(k) && !k.starts_with(b"GNU.sparse.") {
                pax.insert(k.clone(), v.clone());
            }
        }
        ustar_ok = false;
    }
    (ustar_ok, prefer_pax, pax)
}

fn is_ascii(s: &[u8]) -> bool {
    s.iter().all(|&b| b < 0x80)
}

/// Go's `toASCII`: drops non-ASCII and NUL bytes.
fn to_ascii(s: &[u8]) -> Vec<u8> {
    if is_ascii(s) {
        return s.to_vec();
    }
    s.iter().copied().filter(|&b| b < 0x80 && b != 0).collect()
}

/// Go's `splitUSTARPath`.
fn split_ustar_path(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = name.len();
    if length <= NAME_SIZE || !is_ascii(name) {
        return None;
    } else if length > PREFIX_SIZE + 1 {
        length = PREFIX_SIZE + 1;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].iter().rposition(|&b| b == b'/')?;
    let nlen = name.len() - i - 1;
    let plen = i;
    if i == 0 || nlen > NAME_SIZE || nlen == 0 || plen > PREFIX_SIZE {
        return None;
    }
    Some((&name[..i], &name[i + 1..]))
}

/// Go's `fitsInOctal`.
fn fits_in_octal(n: usize, x: i64) -> bool {
    let oct_bits = (n as u32 - 1) * 3;
    x >= 0 && (n >= 22 || x < (1i64 << oct_bits))
}

/// Go's `formatter.formatString`.
fn format_string(b: &mut [u8], s: &[u8]) {
    let n = s.len().min(b.len());
    b[..n].copy_from_slice(&s[..n]);
    if s.len() < b.len() {
        b[s.len()] = 0;
    }
    if s.len() > b.len() && b[b.len() - 1] == b'/' {
        let mut m = b.len() - 1;
        while m > 0 && s[m - 1] == b'/' {
            m -= 1;
        }
        b[m] = 0;
    }
}

/// Go's `formatter.formatOctal`: zero-padded octal leaving room for a NUL; 0 if it does not fit.
fn format_octal(b: &mut [u8], x: i64) {
    let x = if fits_in_octal(b.len(), x) { x } else { 0 };
    let s = format!("{x:o}");
    let width = b.len() - 1;
    let s = if s.len() < width {
        format!("{}{}", "0".repeat(width - s.len()), s)
    } else {
        s
    };
    format_string(b, s.as_bytes());
}

/// Go's `templateV7Plus` with already-converted strings.
fn template_v7_plus(
    blk: &mut [u8; BLOCK],
    h: &Header,
    name: &[u8],
    linkname: &[u8],
    uname: &[u8],
    gname: &[u8],
) {
    blk[156] = h.typeflag;
    format_string(&mut blk[0..100], name);
    format_string(&mut blk[157..257], linkname);
    format_octal(&mut blk[100..108], h.mode);
    format_octal(&mut blk[108..116], h.uid);
    format_octal(&mut blk[116..124], h.gid);
    format_octal(&mut blk[124..136], h.size);
    format_octal(&mut blk[136..148], h.mtime.map_or(0, |t| t.secs));
    format_string(&mut blk[265..297], uname);
    format_string(&mut blk[297..329], gname);
    format_octal(&mut blk[329..337], h.devmajor);
    format_octal(&mut blk[337..345], h.devminor);
}

/// Sets the USTAR/PAX magic and the checksum (`%06o\0 `).
fn set_format_ustar(blk: &mut [u8; BLOCK]) {
    blk[257..263].copy_from_slice(b"ustar\0");
    blk[263..265].copy_from_slice(b"00");
    let sum: u32 = blk
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    format_octal(&mut blk[148..155], i64::from(sum));
    blk[155] = b' ';
}

/// Go's `formatPAXRecord`: `"<len> <key>=<value>\n"` where len counts itself.
fn format_pax_record(k: &[u8], v: &[u8]) -> Vec<u8> {
    let base = k.len() + v.len() + 3;
    let mut size = base + base.to_string().len();
    if (base + size.to_string().len()) != size {
        size = base + size.to_string().len();
    }
    let mut rec = Vec::with_capacity(size);
    rec.extend_from_slice(size.to_string().as_bytes());
    rec.push(b' ');
    rec.extend_from_slice(k);
    rec.push(b'=');
    rec.extend_from_slice(v);
    rec.push(b'\n');
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(h: &Header, data: &[u8]) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        w.write_bytes(h, data).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(format_pax_record(b"a", b"b"), b"6 a=b\n");
        let rec = format_pax_record(b"k", &[b'x'; 92]);
        assert_eq!((rec.len(), &rec[..3]), (98, &b"98 "[..]));
        let rec = format_pax_record(b"k", &[b'x'; 93]);
        assert_eq!((rec.len(), &rec[..3]), (99, &b"99 "[..]));
        let rec = format_pax_record(b"k", &[b'x'; 94]);
        assert_eq!((rec.len(), &rec[..4]), (101, &b"101 "[..]));
    }

    #[test]
    fn plain_header_is_ustar_with_go_fields() {
        let mut h = Header::new("Dockerfile", type_flag::REG);
        h.mode = 0o644;
        h.size = 3;
        h.mtime = Some(GoTime::from_secs(1492533000));
        let out = entry(&h, b"abc");
        assert_eq!(out.len(), 512 * 4);
        assert_eq!(&out[100..108], b"0000644\0");
        assert_eq!(&out[124..136], b"00000000003\0");
        assert_eq!(&out[136..148], b"13075437410\0");
        assert_eq!(&out[257..265], b"ustar\x0000");
        assert_eq!(out[155], b' ');
        assert_eq!(out[154], 0);
        assert_eq!(&out[512..515], b"abc");
        assert!(out[512 * 2..].iter().all(|&b| b == 0));
    }

    #[test]
    fn records_force_pax_header_named_like_go() {
        let mut h = Header::new("etc/hosts", type_flag::REG);
        h.set_pax("LINUXKIT.source", "img");
        h.set_pax("LINUXKIT.location", "init[0]");
        h.set_pax("path", "stale");
        let out = entry(&h, b"");
        assert_eq!(&out[..22], b"etc/PaxHeaders.0/hosts");
        assert_eq!(out[156], b'x');
        let data = &out[512..512 + 52];
        assert_eq!(
            std::str::from_utf8(data).unwrap(),
            "29 LINUXKIT.location=init[0]\n23 LINUXKIT.source=img\n"
        );
        assert_eq!(&out[1024..1033], b"etc/hosts");
    }

    #[test]
    fn long_names_go_to_pax_path_and_are_truncated_in_the_header() {
        let long = format!("{}/file", "d".repeat(120));
        let mut h = Header::new(long.clone(), type_flag::REG);
        h.set_pax("LINUXKIT.source", "s");
        let out = entry(&h, b"");
        let text = String::from_utf8_lossy(&out[512..1024]);
        assert!(text.contains(&format!(" path={long}\n")));
        assert_eq!(&out[1024..1124], &long.as_bytes()[..100]);
        // the PAX header's own name is truncated to 100 bytes
        assert_eq!(out[99], b'd');
    }

    #[test]
    fn kept_basic_record_only_when_equal() {
        let mut h = Header::new("a", type_flag::DIR);
        h.set_pax("path", "a");
        h.set_pax("SCHILY.xattr.user.x", "v");
        let (_, _, pax) = allowed_formats(&h);
        assert_eq!(pax.len(), 2);
        h.name = b"b".to_vec();
        let (_, _, pax) = allowed_formats(&h);
        assert_eq!(pax.len(), 1);
    }

    #[test]
    fn ustar_split_for_long_names_without_records() {
        let long = format!("{}/{}", "p".repeat(60), "n".repeat(60));
        let mut h = Header::new(long, type_flag::REG);
        h.mtime = Some(GoTime::from_secs(0));
        let out = entry(&h, b"");
        assert_eq!(out[156], b'0');
        assert_eq!(&out[0..60], "n".repeat(60).as_bytes());
        assert_eq!(&out[345..405], "p".repeat(60).as_bytes());
    }
}
