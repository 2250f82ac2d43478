//! The cpio "newc" writer, byte-compatible with upstream's (`github.com/surma/gocpio`).
//!
//! Hand-written rather than using the `cpio` crate (which the tests use as an independent
//! reader): entry names in a tar are bytes, not UTF-8 strings; upstream's trailer carries the
//! running inode counter and device 3:1, which the crate's `trailer()` does not; and the crate
//! flushes its inner writer after every entry, which a compressor turns into sync points.

use std::io::{self, Read, Write};

/// The first inode number upstream gives out.
pub(crate) const FIRST_INO: u64 = 721;

/// File type bits of the newc `mode` field (upper 4 bits of 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Regular file.
    Regular,
    /// Directory.
    Directory,
    /// Symbolic link (the data is the target).
    Symlink,
    /// Character device.
    Char,
    /// Block device.
    Block,
    /// Named pipe.
    Fifo,
}

impl Kind {
    fn bits(self) -> u64 {
        match self {
            Kind::Regular => 0o10,
            Kind::Directory => 0o04,
            Kind::Symlink => 0o12,
            Kind::Char => 0o02,
            Kind::Block => 0o06,
            Kind::Fifo => 0o01,
        }
    }
}

/// One entry's metadata, as upstream maps it from a tar header.
#[derive(Clone, Debug)]
pub(crate) struct Header<'a> {
    /// Name, verbatim from the tar.
    pub name: &'a [u8],
    /// Entry type.
    pub kind: Kind,
    /// Permission bits (masked to 0o7777).
    pub perm: u64,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time, Unix seconds.
    pub mtime: u64,
    /// Data size (for symlinks: the target length).
    pub size: u64,
    /// Device numbers of a char/block device (0 otherwise).
    pub rdev: (u64, u64),
}

/// Length of a newc header plus name and padding.
pub(crate) fn header_len(name_len: usize) -> u64 {
    pad4(110 + name_len as u64 + 1)
}

fn pad4(n: u64) -> u64 {
    (n + 3) & !3
}

/// Streams newc entries into `W`, counting inodes and bytes like upstream.
pub(crate) struct NewcWriter {
    ino: u64,
    len: u64,
}

impl NewcWriter {
    pub(crate) fn new() -> Self {
        NewcWriter {
            ino: FIRST_INO,
            len: 0,
        }
    }

    /// Writes one entry: header, name, padding, `data` (exactly `hdr.size` bytes), padding.
    pub(crate) fn entry<W: Write + ?Sized>(
        &mut self,
        w: &mut W,
        hdr: &Header<'_>,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        let nlink = if hdr.kind == Kind::Directory { 2 } else { 1 };
        self.raw_header(
            w,
            hdr.name,
            (hdr.perm & 0xfff) | (hdr.kind.bits() << 12),
            hdr.uid,
            hdr.gid,
            nlink,
            hdr.mtime,
            hdr.size,
            hdr.rdev,
        )?;
        let copied = io::copy(
            &mut data.take(hdr.size),
            &mut CountingWrite(w, &mut self.len),
        )?;
        if copied != hdr.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "entry {} is truncated: {copied} of {} bytes",
                    String::from_utf8_lossy(hdr.name),
                    hdr.size
                ),
            ));
        }
        self.pad(w, 4)
    }

    /// Writes the `TRAILER!!!` entry and pads the whole stream to a multiple of 512 bytes.
    pub(crate) fn finish<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        self.raw_header(w, b"TRAILER!!!", 0, 0, 0, 1, 0, 0, (0, 0))?;
        self.pad(w, 512)
    }

    /// Total bytes written so far.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    #[allow(clippy::too_many_arguments)]
    fn raw_header<W: Write + ?Sized>(
        &mut self,
        w: &mut W,
        name: &[u8],
        mode: u64,
        uid: u64,
        gid: u64,
        nlink: u64,
        mtime: u64,
        size: u64,
        rdev: (u64, u64),
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(header_len(name.len()) as usize);
        let fields = [
            self.ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            size,
            3, // devmajor: a constant upstream
            1, // devminor
            rdev.0,
            rdev.1,
            name.len() as u64 + 1,
            0, // check
        ];
        buf.extend_from_slice(b"070701");
        for f in fields {
            // `write!` to a Vec cannot fail.
            let _ = write!(buf, "{f:08x}");
        }
        buf.extend_from_slice(name);
        buf.push(0);
        while (self.len + buf.len() as u64) & 3 != 0 {
            buf.push(0);
        }
        self.ino += 1;
        self.len += buf.len() as u64;
        w.write_all(&buf)
    }

    fn pad<W: Write + ?Sized>(&mut self, w: &mut W, to: u64) -> io::Result<()> {
        let n = (to - self.len % to) % to;
        const ZEROS: [u8; 512] = [0; 512];
        w.write_all(&ZEROS[..n as usize])?;
        self.len += n;
        Ok(())
    }
}

struct CountingWrite<'a, W: ?Sized>(&'a mut W, &'a mut u64);

impl<W: Write + ?Sized> Write for CountingWrite<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        *self.1 += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_match_upstream_layout() {
        let mut w = NewcWriter::new();
        let mut out = Vec::new();
        let hdr = Header {
            name: b"etc/hostname",
            kind: Kind::Regular,
            perm: 0o100644,
            uid: 1,
            gid: 2,
            mtime: 1492533000,
            size: 5,
            rdev: (0, 0),
        };
        w.entry(&mut out, &hdr, &mut &b"hello"[..]).unwrap();
        let text = String::from_utf8_lossy(&out[..110]).to_string();
        assert_eq!(
            text,
            "070701000002d1000081a400000001000000020000000158f63f0800000005000000030000000100000000000000000000000d00000000"
        );
        // 110 + 13 name bytes = 123 -> padded to 124, then 5 data bytes padded to 8.
        assert_eq!(out.len(), 124 + 8);
        assert_eq!(&out[124..129], b"hello");
        w.finish(&mut out).unwrap();
        assert_eq!(out.len() % 512, 0);
        assert_eq!(w.len(), out.len() as u64);
        let trailer = String::from_utf8_lossy(&out[132..242]).to_string();
        assert!(
            trailer.starts_with("070701000002d2000000000000000000000000000000010000000000000000")
        );
        assert_eq!(&out[242..253], b"TRAILER!!!\0");
    }

    #[test]
    fn short_data_is_an_error() {
        let mut w = NewcWriter::new();
        let hdr = Header {
            name: b"f",
            kind: Kind::Regular,
            perm: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 10,
            rdev: (0, 0),
        };
        let err = w
            .entry(&mut Vec::new(), &hdr, &mut &b"abc"[..])
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
