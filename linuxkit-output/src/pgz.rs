//! Parallel, cached gzip as concatenated members of independently deflated pieces.
//!
//! The producer writes a byte stream and marks the places where a gzip member may end
//! ([`Members::boundary`]); a member ends at the first boundary after [`MEMBER_SIZE`] bytes. An
//! entry larger than that is announced with [`Members::begin_large`]: it gets a member of its
//! own, cut into [`PIECE_SIZE`] pieces. Every piece is deflated on its own (a fresh raw deflate
//! stream, sync-flushed, or finished when it ends a member), so pieces compress on all worker
//! threads, and the writer joins them into gzip members (header, pieces, combined CRC-32 and
//! size). Where pieces and members end depends only on the data, never on the thread count or
//! the cache, so the output is deterministic.
//!
//! With a piece cache ([`PieceCache`]) the deflated bytes of every piece are kept under the
//! SHA-256 of (compressor, level, final flag, uncompressed bytes); a later build with the same
//! content — another output directory, or the same image after one service changed — copies
//! them instead of compressing again. A cached piece is verified (SHA-256 of its deflated
//! bytes, CRC-32 and length of the data it stands for) before use; a bad one is recompressed
//! and replaced.
//!
//! For an initrd, boundaries are cpio entry boundaries: the kernel's initramfs unpacker accepts
//! one compressed stream after another as long as each ends between two entries, and
//! `gzip -d` yields exactly the uncompressed stream. Memory stays bounded by a few pieces per
//! thread.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, FlushCompress, Status};
use sha2::{Digest, Sha256};

/// Uncompressed size after which the next boundary ends a gzip member.
pub(crate) const MEMBER_SIZE: usize = 2 << 20;
/// Uncompressed size of the pieces a large entry is cut into.
pub(crate) const PIECE_SIZE: usize = 1 << 20;
/// Names the compressor in cache keys: a new deflate implementation or a change in how pieces
/// are cut must not reuse old pieces.
const COMPRESSOR: &[u8] = b"cargo-linuxkit pgz v1, flate2 zlib-rs raw deflate";

/// A directory of deflated pieces, shared by builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceCache {
    dir: PathBuf,
}

/// What a piece file starts with.
const PIECE_MAGIC: &[u8; 8] = b"LKPIECE1";

impl PieceCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PieceCache { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        let hex = hex(key);
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// The verified deflated bytes stored for `key`, standing for data with `crc` and `len`.
    fn load(&self, key: &[u8; 32], crc: u32, len: u64) -> Option<Vec<u8>> {
        let path = self.path(key);
        let mut f = fs::File::open(&path).ok()?;
        let mut head = [0u8; 8 + 4 + 8 + 32];
        f.read_exact(&mut head).ok()?;
        let mut body = Vec::new();
        f.read_to_end(&mut body).ok()?;
        let ok = &head[..8] == PIECE_MAGIC
            && head[8..12] == crc.to_le_bytes()
            && head[12..20] == len.to_le_bytes()
            && head[20..52] == Sha256::digest(&body)[..];
        if !ok {
            // Not what it claims to be: drop it; the caller compresses and stores it anew.
            let _ = fs::remove_file(&path);
            return None;
        }
        // Recently used pieces survive pruning.
        let _ = f.set_modified(std::time::SystemTime::now());
        Some(body)
    }

    /// Stores `deflated` for `key` atomically; failures only cost a later recompression.
    fn store(&self, key: &[u8; 32], crc: u32, len: u64, deflated: &[u8]) {
        let path = self.path(key);
        let Some(dir) = path.parent() else { return };
        if fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
            return;
        };
        let mut head = Vec::with_capacity(52);
        head.extend_from_slice(PIECE_MAGIC);
        head.extend_from_slice(&crc.to_le_bytes());
        head.extend_from_slice(&len.to_le_bytes());
        head.extend_from_slice(&Sha256::digest(deflated));
        if tmp.write_all(&head).is_ok() && tmp.write_all(deflated).is_ok() {
            let _ = tmp.persist(&path);
        }
    }

    /// Removes the least recently used pieces until the cache holds at most `max_bytes`.
    /// Returns the number of bytes removed.
    pub fn prune(&self, max_bytes: u64) -> io::Result<u64> {
        let mut files = Vec::new();
        let mut total = 0u64;
        let top = match fs::read_dir(&self.dir) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for sub in top.flatten() {
            let Ok(entries) = fs::read_dir(sub.path()) else {
                continue;
            };
            for e in entries.flatten() {
                if let Ok(m) = e.metadata() {
                    total += m.len();
                    let t = m.modified().unwrap_or(std::time::UNIX_EPOCH);
                    files.push((t, m.len(), e.path()));
                }
            }
        }
        files.sort();
        let mut removed = 0;
        for (_, len, path) in files {
            if total - removed <= max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                removed += len;
            }
        }
        Ok(removed)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A piece to compress: sequence number, uncompressed data, whether it ends its member.
type Job = (u64, Vec<u8>, bool);

/// A compressed piece: raw deflate bytes, CRC-32 and length of the data, end of member.
struct Piece {
    deflated: Vec<u8>,
    crc: u32,
    len: u64,
    last: bool,
}

/// The producer's side: a `Write` whose data ends up as gzip members.
pub(crate) struct Members<'a> {
    buf: Vec<u8>,
    seq: u64,
    jobs: Option<SyncSender<Job>>,
    tokens: &'a Mutex<Receiver<()>>,
    large: bool,
    failed: &'a AtomicBool,
}

impl Members<'_> {
    /// Marks a place where a member may end; ends one if the current member is large enough
    /// or a large entry was being written.
    pub(crate) fn boundary(&mut self) -> io::Result<()> {
        if self.large {
            self.large = false;
            return self.dispatch(true);
        }
        if self.buf.len() >= MEMBER_SIZE {
            self.dispatch(true)?;
        }
        Ok(())
    }

    /// Announces that the next entry (up to the next boundary) is larger than a member: the
    /// current member ends here and the entry gets a member of its own, in pieces.
    pub(crate) fn begin_large(&mut self) -> io::Result<()> {
        if self.large {
            return Ok(());
        }
        if !self.buf.is_empty() {
            self.dispatch(true)?;
        }
        self.large = true;
        Ok(())
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let cap = if self.large {
            PIECE_SIZE
        } else {
            MEMBER_SIZE + (64 << 10)
        };
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(cap));
        // A token bounds the pieces in flight (compressing or waiting to be written).
        let token = self.tokens.lock().map_err(|_| broken())?.recv();
        if token.is_err() {
            return Err(broken());
        }
        let jobs = self.jobs.as_ref().ok_or_else(broken)?;
        jobs.send((self.seq, data, last)).map_err(|_| broken())?;
        self.seq += 1;
        Ok(())
    }

    fn close(&mut self) -> io::Result<()> {
        if self.large || !self.buf.is_empty() {
            self.large = false;
            self.dispatch(true)?;
        }
        self.jobs = None;
        Ok(())
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the compressed output failed")
}

impl Write for Members<'_> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(broken());
        }
        let n = data.len();
        if self.large {
            // Pieces of a large entry are cut at fixed offsets from its start.
            while self.buf.len() + data.len() >= PIECE_SIZE {
                let take = PIECE_SIZE - self.buf.len();
                self.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                self.dispatch(false)?;
            }
        }
        self.buf.extend_from_slice(data);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Raw deflate of `data` as one independent stream: finished when `last`, otherwise ended
/// with a sync flush so the next piece can follow on a byte boundary.
fn deflate(level: u32, data: &[u8], last: bool) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = c.total_in() as usize;
        let status = c.compress_vec(&data[consumed..], &mut out, flush);
        let all_in = c.total_in() as usize == data.len();
        match status {
            Ok(Status::StreamEnd) => break,
            // A flush is complete when it returns with output space to spare.
            Ok(_) if !last && all_in && out.len() < out.capacity() => break,
            Ok(_) => {}
            // Only a misuse of the stream can fail; nothing is left to do with it.
            Err(_) => break,
        }
    }
    out
}

fn compress_piece(level: u32, cache: Option<&PieceCache>, data: &[u8], last: bool) -> Piece {
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    let crc = crc.finalize();
    let len = data.len() as u64;
    let key = cache.map(|_| {
        let mut h = Sha256::new();
        h.update(COMPRESSOR);
        h.update([level as u8, last as u8]);
        h.update(data);
        <[u8; 32]>::from(h.finalize())
    });
    if let (Some(c), Some(k)) = (cache, &key) {
        if let Some(deflated) = c.load(k, crc, len) {
            return Piece {
                deflated,
                crc,
                len,
                last,
            };
        }
    }
    let deflated = deflate(level, data, last);
    if let (Some(c), Some(k)) = (cache, &key) {
        c.store(k, crc, len, &deflated);
    }
    Piece {
        deflated,
        crc,
        len,
        last,
    }
}

/// The gzip header flate2's `GzEncoder` writes: no name, mtime 0, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Runs `produce` with a [`Members`] writer; the gzip members go to `out` in order.
/// Returns `produce`'s result, or the first output error.
pub(crate) fn compress_members<W, R, E, F>(
    out: &mut W,
    level: u32,
    threads: usize,
    cache: Option<&PieceCache>,
    out_err: impl FnOnce(io::Error) -> E,
    produce: F,
) -> Result<R, E>
where
    W: Write + Send,
    F: FnOnce(&mut Members<'_>) -> Result<R, E>,
{
    let threads = threads.max(1);
    let in_flight = threads * 2 + 1;
    let (token_tx, token_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(());
    }
    let token_rx = Mutex::new(token_rx);
    let failed = AtomicBool::new(false);
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, Piece)>(in_flight + 2);

    std::thread::scope(|s| {
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            s.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((seq, data, last)) = job else { return };
                let piece = compress_piece(level, cache, &data, last);
                if done_tx.send((seq, piece)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let failed_ref = &failed;
        let writer = s.spawn(move || -> io::Result<()> {
            let mut pending: BTreeMap<u64, Piece> = BTreeMap::new();
            let mut next = 0u64;
            let mut result = Ok(());
            // The member being written: combined CRC-32 and length so far.
            let mut member: Option<crc32fast::Hasher> = None;
            let mut member_len = 0u64;
            for (seq, piece) in done_rx.iter() {
                pending.insert(seq, piece);
                while let Some(p) = pending.remove(&next) {
                    next += 1;
                    let _ = token_tx.send(());
                    if result.is_err() {
                        continue;
                    }
                    let r = (|| {
                        let hasher = match &mut member {
                            Some(h) => h,
                            None => {
                                out.write_all(&GZIP_HEADER)?;
                                member_len = 0;
                                member.insert(crc32fast::Hasher::new())
                            }
                        };
                        out.write_all(&p.deflated)?;
                        hasher.combine(&crc32fast::Hasher::new_with_initial_len(p.crc, p.len));
                        member_len += p.len;
                        if p.last {
                            if let Some(h) = member.take() {
                                out.write_all(&h.finalize().to_le_bytes())?;
                                out.write_all(&(member_len as u32).to_le_bytes())?;
                            }
                        }
                        Ok(())
                    })();
                    if let Err(e) = r {
                        failed_ref.store(true, Ordering::Relaxed);
                        result = Err(e);
                    }
                }
            }
            result
        });
        let mut members = Members {
            buf: Vec::with_capacity(MEMBER_SIZE + (64 << 10)),
            seq: 0,
            jobs: Some(job_tx),
            tokens: &token_rx,
            large: false,
            failed: &failed,
        };
        let produced = produce(&mut members);
        let closed = members.close();
        drop(members);
        let written = writer.join().unwrap_or_else(|_| Err(broken()));
        // An output error explains a producer's broken pipe better than the pipe itself.
        written.map_err(out_err)?;
        let r = produced?;
        // `closed` only fails when the writer did, which was reported above.
        let _ = closed;
        Ok(r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;

    fn run(threads: usize, cache: Option<&PieceCache>, pieces: &[(usize, u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        compress_members::<_, _, io::Error, _>(
            &mut out,
            6,
            threads,
            cache,
            |e| e,
            |m| {
                for &(len, byte) in pieces {
                    if len > MEMBER_SIZE {
                        m.begin_large()?;
                    }
                    // Varied content, written in odd-sized slices.
                    let data: Vec<u8> = (0..len).map(|i| byte ^ (i % 251) as u8).collect();
                    for chunk in data.chunks(100_003) {
                        m.write_all(chunk)?;
                    }
                    m.boundary()?;
                }
                Ok(())
            },
        )
        .unwrap();
        out
    }

    fn expected(pieces: &[(usize, u8)]) -> Vec<u8> {
        pieces
            .iter()
            .flat_map(|&(len, byte)| (0..len).map(move |i| byte ^ (i % 251) as u8))
            .collect()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        MultiGzDecoder::new(gz).read_to_end(&mut plain).unwrap();
        plain
    }

    const PIECES: [(usize, u8); 7] = [
        (100, 1u8),
        (MEMBER_SIZE, 2),
        (10, 3),
        (MEMBER_SIZE * 2 + 7, 4),
        (5, 5),
        (MEMBER_SIZE / 2, 6),
        (PIECE_SIZE * 3, 7),
    ];

    #[test]
    fn members_decompress_to_the_input_whatever_the_threads() {
        let one = run(1, None, &PIECES);
        let three = run(3, None, &PIECES);
        assert_eq!(one, three, "output must not depend on the thread count");
        assert_eq!(gunzip(&one), expected(&PIECES));
        // Members: [100+MEMBER_SIZE], [10], [large], [5 + half], [large]
        let members = one.windows(4).filter(|w| *w == &GZIP_HEADER[..4]).count();
        assert!(
            members >= 5,
            "expected at least 5 gzip members, found {members}"
        );
        // Every member is a valid gzip stream on its own (CRC and size checked by the decoder).
        let mut single = flate2::read::GzDecoder::new(&one[..]);
        let mut first = Vec::new();
        single.read_to_end(&mut first).unwrap();
        assert_eq!(first.len(), 100 + MEMBER_SIZE);
    }

    #[test]
    fn cached_pieces_give_the_same_bytes_and_bad_pieces_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PieceCache::new(dir.path().join("pieces"));
        let plain = run(2, None, &PIECES);
        let cold = run(2, Some(&cache), &PIECES);
        let warm = run(2, Some(&cache), &PIECES);
        assert_eq!(cold, plain, "the cache must not change the output");
        assert_eq!(warm, plain, "cached pieces must give the same output");
        // Corrupt every stored piece: each is detected, recompressed and stored again.
        let mut corrupted = 0;
        for sub in fs::read_dir(cache.dir()).unwrap() {
            for f in fs::read_dir(sub.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                let mut bytes = fs::read(&p).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x55;
                fs::write(&p, bytes).unwrap();
                corrupted += 1;
            }
        }
        assert!(corrupted > 5, "pieces were stored: {corrupted}");
        assert_eq!(run(2, Some(&cache), &PIECES), plain);
        assert_eq!(run(1, Some(&cache), &PIECES), plain);
        // Pruning to nothing empties the cache.
        assert!(cache.prune(0).unwrap() > 0);
        assert_eq!(cache.prune(0).unwrap(), 0);
    }

    #[test]
    fn producer_error_is_returned() {
        let mut out = Vec::new();
        let r = compress_members::<_, (), io::Error, _>(
            &mut out,
            6,
            2,
            None,
            |e| e,
            |m| {
                m.write_all(b"abc")?;
                Err(io::Error::other("boom"))
            },
        );
        assert_eq!(r.unwrap_err().to_string(), "boom");
    }
}
