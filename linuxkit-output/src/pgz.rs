//! Parallel, cached compression of a stream as concatenated members of independently
//! compressed pieces (gzip members, zstd frames, or plain bytes).
//!
//! The producer writes a byte stream and marks the places where a member may end
//! ([`Members::boundary`]); a member ends at the first boundary after [`MEMBER_SIZE`] bytes. An
//! entry larger than that is announced with [`Members::begin_large`]: it gets a member of its
//! own. Where pieces and members end depends only on the data, never on the thread count or
//! the cache, so the output is deterministic.
//!
//! - gzip: a large entry is cut into [`PIECE_SIZE`] pieces. Every piece is deflated on its
//!   own (a fresh raw deflate stream, sync-flushed, or finished when it ends a member), so
//!   pieces compress on all worker threads, and the writer joins them into gzip members
//!   (header, pieces, combined CRC-32 and size).
//! - zstd: every member is one zstd frame (with content size and checksum). A frame cannot be
//!   joined from independently compressed parts (a block continues the repeat offsets of the
//!   blocks before it), and the kernel needs every frame to end between two cpio entries, so
//!   a large entry is one piece, compressed with zstd's own worker threads (whose output
//!   does not depend on their number); small members compress on all worker threads.
//! - none: the pieces are the bytes themselves.
//!
//! With a piece cache ([`PieceCache`]) the compressed bytes of every piece are kept under the
//! BLAKE3 hash of (compressor, level, final flag, uncompressed bytes) (BLAKE3 rather than
//! SHA-256: every uncompressed byte is hashed, and it is several times faster); a later build
//! with the same content — another output directory, or the same image after one service
//! changed — copies them instead of compressing again. A cached piece is verified (BLAKE3 of
//! its compressed bytes, CRC-32 and length of the data it stands for) before use; a bad one
//! is recompressed and replaced. Pieces fetched from elsewhere (a registry build cache, see
//! [`PieceCache::with_fetched`]) are also decompressed and compared with the data they stand
//! for before they are used and kept.
//!
//! For an initrd, boundaries are cpio entry boundaries: the kernel's initramfs unpacker accepts
//! one compressed stream after another as long as each ends between two entries, and
//! `gzip -d` / `zstd -d` yield exactly the uncompressed stream. Memory stays bounded by a few
//! pieces per thread (plus, with zstd, the largest entry).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Uncompressed size after which the next boundary ends a member.
pub(crate) const MEMBER_SIZE: usize = 2 << 20;
/// Uncompressed size of the pieces a large entry is cut into (gzip, none).
pub(crate) const PIECE_SIZE: usize = 1 << 20;
/// The zstd level of initrds: fast to compress, and decompressed by the kernel at a few
/// hundred MB/s.
pub const ZSTD_LEVEL: i32 = 1;
/// Names the gzip compressor in cache keys: a new deflate implementation or a change in how
/// pieces are cut must not reuse old pieces.
const GZIP_ID: &[u8] = b"cargo-linuxkit pgz v1, flate2 zlib-rs raw deflate";

/// How an initrd is compressed (`--compression`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compressor {
    /// gzip members (upstream's format, the default).
    #[default]
    Gzip,
    /// zstd frames (needs a kernel with `CONFIG_RD_ZSTD`).
    Zstd,
    /// An uncompressed cpio archive.
    None,
}

impl Compressor {
    /// Every compressor, in the order the CLI lists them.
    pub const ALL: [Compressor; 3] = [Compressor::Gzip, Compressor::Zstd, Compressor::None];

    /// The name on the command line (`gzip`, `zstd`, `none`).
    pub fn name(self) -> &'static str {
        match self {
            Compressor::Gzip => "gzip",
            Compressor::Zstd => "zstd",
            Compressor::None => "none",
        }
    }

    /// The kernel option that lets the initramfs unpacker read this compression
    /// (`CONFIG_RD_GZIP`, `CONFIG_RD_ZSTD`); none for an uncompressed archive.
    pub fn kernel_option(self) -> Option<&'static str> {
        match self {
            Compressor::Gzip => Some("CONFIG_RD_GZIP"),
            Compressor::Zstd => Some("CONFIG_RD_ZSTD"),
            Compressor::None => None,
        }
    }

    /// What names this compressor and its settings in piece keys.
    fn cache_id(self, level: u32) -> Vec<u8> {
        match self {
            Compressor::Gzip => GZIP_ID.to_vec(),
            Compressor::Zstd => format!(
                "cargo-linuxkit pzstd v1, zstd {} level {ZSTD_LEVEL}",
                zstd::zstd_safe::version_number()
            )
            .into_bytes(),
            Compressor::None => format!("none {level}").into_bytes(),
        }
    }
}

impl fmt::Display for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compressor {
    type Err = crate::OutputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compressor::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| crate::OutputError::UnknownCompression(s.to_string()))
    }
}

/// What the pieces of builds that used a [`PieceCache`] came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PieceUsage {
    /// Pieces compressed.
    pub compressed: u64,
    /// Pieces copied from the local cache.
    pub local: u64,
    /// Pieces taken from the fetched pieces (verified, then kept in the local cache).
    pub fetched: u64,
    /// Fetched pieces that did not decompress to the data they stand for (compressed instead).
    pub rejected: u64,
    /// The keys (hex) of every piece used, sorted.
    pub keys: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Pieces fetched from elsewhere, `<fetched>/<key hex>`, used only after verification.
    fetched: Option<PathBuf>,
    usage: Mutex<PieceUsage>,
}

/// A directory of compressed pieces, shared by builds.
#[derive(Clone, Debug)]
pub struct PieceCache {
    dir: PathBuf,
    shared: Arc<Shared>,
}

impl PartialEq for PieceCache {
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir
    }
}

impl Eq for PieceCache {}

/// What a piece file starts with.
const PIECE_MAGIC: &[u8; 8] = b"LKPIECE2";
/// Magic, CRC-32 and length of the data, BLAKE3 of the compressed bytes.
const PIECE_HEAD: usize = 8 + 4 + 8 + 32;

/// Where a piece came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Compressed,
    Local,
    Fetched,
}

impl PieceCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PieceCache {
            dir: dir.into(),
            shared: Arc::default(),
        }
    }

    /// The same cache, also taking pieces from `fetched` (files named by the key's hex, in
    /// the piece file format, e.g. fetched from a registry): such a piece is used only after
    /// it decompressed to exactly the data it stands for, and is then kept in the cache.
    /// Usage counts start from zero.
    pub fn with_fetched(&self, fetched: impl Into<PathBuf>) -> Self {
        PieceCache {
            dir: self.dir.clone(),
            shared: Arc::new(Shared {
                fetched: Some(fetched.into()),
                usage: Mutex::default(),
            }),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the pieces used so far (by every build with this cache value and its clones)
    /// came from.
    pub fn usage(&self) -> PieceUsage {
        self.shared
            .usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, origin: Origin, key: &[u8; 32], rejected: bool) {
        let mut u = self.shared.usage.lock().unwrap_or_else(|p| p.into_inner());
        match origin {
            Origin::Compressed => u.compressed += 1,
            Origin::Local => u.local += 1,
            Origin::Fetched => u.fetched += 1,
        }
        if rejected {
            u.rejected += 1;
        }
        u.keys.insert(hex(key));
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        let hex = hex(key);
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// The file of the piece with key `key` (64 lowercase hex digits), when the cache has it.
    /// Its bytes are what [`PieceCache::with_fetched`] takes.
    pub fn piece_file(&self, key: &str) -> Option<PathBuf> {
        let k = parse_key(key)?;
        let p = self.path(&k);
        p.is_file().then_some(p)
    }

    /// Whether `bytes` has the structure of a piece file (magic, hash of the compressed
    /// bytes); what it stands for is checked only when it is used.
    pub fn is_piece_file(bytes: &[u8]) -> bool {
        bytes.len() >= PIECE_HEAD
            && &bytes[..8] == PIECE_MAGIC
            && bytes[20..52] == *blake3::hash(&bytes[PIECE_HEAD..]).as_bytes()
    }

    /// The verified compressed bytes stored for `key`, standing for data with `crc` and `len`.
    fn load(&self, key: &[u8; 32], crc: u32, len: u64) -> Option<Vec<u8>> {
        let path = self.path(key);
        let body = read_piece(&path, crc, len)?;
        // Recently used pieces survive pruning.
        if let Ok(f) = fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Some(body)
    }

    /// A fetched piece for `key`, when there is one (not yet checked against the data).
    fn load_fetched(&self, key: &[u8; 32], crc: u32, len: u64) -> Option<Vec<u8>> {
        let dir = self.shared.fetched.as_ref()?;
        read_piece(&dir.join(hex(key)), crc, len)
    }

    /// Stores `compressed` for `key` atomically; failures only cost a later recompression.
    fn store(&self, key: &[u8; 32], crc: u32, len: u64, compressed: &[u8]) {
        let path = self.path(key);
        let Some(dir) = path.parent() else { return };
        if fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
            return;
        };
        let mut head = Vec::with_capacity(PIECE_HEAD);
        head.extend_from_slice(PIECE_MAGIC);
        head.extend_from_slice(&crc.to_le_bytes());
        head.extend_from_slice(&len.to_le_bytes());
        head.extend_from_slice(blake3::hash(compressed).as_bytes());
        if tmp.write_all(&head).is_ok() && tmp.write_all(compressed).is_ok() {
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

/// Reads a piece file, checking its structure and that it stands for data with `crc` and
/// `len`. A bad file is removed.
fn read_piece(path: &Path, crc: u32, len: u64) -> Option<Vec<u8>> {
    let mut f = fs::File::open(path).ok()?;
    let mut head = [0u8; PIECE_HEAD];
    f.read_exact(&mut head).ok()?;
    let mut body = Vec::new();
    f.read_to_end(&mut body).ok()?;
    let ok = &head[..8] == PIECE_MAGIC
        && head[8..12] == crc.to_le_bytes()
        && head[12..20] == len.to_le_bytes()
        && head[20..52] == *blake3::hash(&body).as_bytes();
    if !ok {
        // Not what it claims to be: drop it; the caller compresses and stores it anew.
        let _ = fs::remove_file(path);
        return None;
    }
    Some(body)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_key(key: &str) -> Option<[u8; 32]> {
    if key.len() != 64 || !key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&key[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A piece to compress: sequence number, uncompressed data, whether it ends its member, and
/// the in-flight tokens it holds.
struct Job {
    seq: u64,
    data: Vec<u8>,
    last: bool,
    tokens: usize,
}

/// A compressed piece: its bytes, CRC-32 and length of the data, end of member, tokens held.
struct Piece {
    bytes: Vec<u8>,
    crc: u32,
    len: u64,
    last: bool,
    tokens: usize,
}

/// How pieces are compressed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// The compressor.
    pub compressor: Compressor,
    /// gzip level.
    pub level: u32,
    /// Worker threads (zstd also uses them inside one large piece).
    pub threads: usize,
}

/// The producer's side: a `Write` whose data ends up as members.
pub(crate) struct Members<'a> {
    buf: Vec<u8>,
    seq: u64,
    jobs: Option<SyncSender<Job>>,
    tokens: &'a Mutex<Receiver<()>>,
    in_flight: usize,
    large: bool,
    /// Whether large entries are cut into pieces (not with zstd).
    cut_large: bool,
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
        // Tokens bound the data in flight (compressing or waiting to be written): one per
        // member's worth, so a whole large entry (zstd) waits for the pieces before it.
        let tokens = data.len().div_ceil(MEMBER_SIZE).clamp(1, self.in_flight);
        {
            let rx = self.tokens.lock().map_err(|_| broken())?;
            for _ in 0..tokens {
                if rx.recv().is_err() {
                    return Err(broken());
                }
            }
        }
        let jobs = self.jobs.as_ref().ok_or_else(broken)?;
        jobs.send(Job {
            seq: self.seq,
            data,
            last,
            tokens,
        })
        .map_err(|_| broken())?;
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
        if self.large && self.cut_large {
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

thread_local! {
    /// A zstd context per worker thread (allocating one costs more than a small member).
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// `data` as one zstd frame with content size and checksum. Members of up to a member's size
/// compress on the calling thread; larger ones on `workers` zstd threads, whose output does
/// not depend on their number (zstd's multi-threaded format is fixed by the job size).
fn zstd_frame(data: &[u8], workers: usize) -> io::Result<Vec<u8>> {
    use zstd::zstd_safe::CParameter;
    if data.len() <= MEMBER_SIZE + (64 << 10) {
        return ZSTD.with(|cell| {
            let mut slot = cell.borrow_mut();
            let c = match &mut *slot {
                Some(c) => c,
                None => {
                    let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
                    c.include_checksum(true)?;
                    c.include_contentsize(true)?;
                    slot.insert(c)
                }
            };
            c.compress(data)
        });
    }
    let mut enc =
        zstd::stream::Encoder::new(Vec::with_capacity(data.len() / 2 + 4096), ZSTD_LEVEL)?;
    enc.include_checksum(true)?;
    enc.include_contentsize(true)?;
    enc.set_pledged_src_size(Some(data.len() as u64))?;
    enc.multithread(workers.max(1) as u32)?;
    enc.set_parameter(CParameter::JobSize(MEMBER_SIZE as u32))?;
    // Input goes in with "continue" before the final "end", which keeps zstd's job split
    // independent of the thread count.
    for chunk in data.chunks(PIECE_SIZE) {
        enc.write_all(chunk)?;
    }
    enc.finish()
}

/// Whether `bytes` (a piece of `compressor`) decompresses to exactly `data`.
fn decodes_to(compressor: Compressor, bytes: &[u8], data: &[u8], last: bool) -> bool {
    match compressor {
        Compressor::Gzip => {
            let mut d = Decompress::new(false);
            let mut out = Vec::with_capacity(data.len() + 1);
            match d.decompress_vec(bytes, &mut out, FlushDecompress::Sync) {
                Ok(Status::StreamEnd) => {
                    last && d.total_in() as usize == bytes.len() && out == data
                }
                Ok(_) => !last && d.total_in() as usize == bytes.len() && out == data,
                Err(_) => false,
            }
        }
        Compressor::Zstd => zstd::bulk::decompress(bytes, data.len()).is_ok_and(|out| out == data),
        Compressor::None => bytes == data,
    }
}

fn compress_piece(
    s: &Settings,
    cache: Option<&PieceCache>,
    data: Vec<u8>,
    last: bool,
    tokens: usize,
) -> io::Result<Piece> {
    let len = data.len() as u64;
    if s.compressor == Compressor::None {
        return Ok(Piece {
            bytes: data,
            crc: 0,
            len,
            last,
            tokens,
        });
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&data);
    let crc = crc.finalize();
    let piece = |bytes| Piece {
        bytes,
        crc,
        len,
        last,
        tokens,
    };
    let Some(cache) = cache else {
        return Ok(piece(compress(s, &data, last)?));
    };
    let mut h = blake3::Hasher::new();
    h.update(&s.compressor.cache_id(s.level));
    h.update(&[s.level as u8, last as u8]);
    h.update(&data);
    let key = *h.finalize().as_bytes();
    if let Some(bytes) = cache.load(&key, crc, len) {
        cache.record(Origin::Local, &key, false);
        return Ok(piece(bytes));
    }
    let mut rejected = false;
    if let Some(bytes) = cache.load_fetched(&key, crc, len) {
        if decodes_to(s.compressor, &bytes, &data, last) {
            cache.store(&key, crc, len, &bytes);
            cache.record(Origin::Fetched, &key, false);
            return Ok(piece(bytes));
        }
        rejected = true;
    }
    let bytes = compress(s, &data, last)?;
    cache.store(&key, crc, len, &bytes);
    cache.record(Origin::Compressed, &key, rejected);
    Ok(piece(bytes))
}

fn compress(s: &Settings, data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    match s.compressor {
        Compressor::Gzip => Ok(deflate(s.level, data, last)),
        Compressor::Zstd => zstd_frame(data, s.threads),
        Compressor::None => Ok(data.to_vec()),
    }
}

/// The gzip header flate2's `GzEncoder` writes: no name, mtime 0, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Runs `produce` with a [`Members`] writer; the members go to `out` in order.
/// Returns `produce`'s result, or the first output error.
pub(crate) fn compress_members<W, R, E, F>(
    out: &mut W,
    settings: Settings,
    cache: Option<&PieceCache>,
    out_err: impl FnOnce(io::Error) -> E,
    produce: F,
) -> Result<R, E>
where
    W: Write + Send,
    F: FnOnce(&mut Members<'_>) -> Result<R, E>,
{
    let threads = settings.threads.max(1);
    let in_flight = threads * 2 + 1;
    let (token_tx, token_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(());
    }
    let token_rx = Mutex::new(token_rx);
    let failed = AtomicBool::new(false);
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, io::Result<Piece>)>(in_flight + 2);
    let gzip = settings.compressor == Compressor::Gzip;

    std::thread::scope(|s| {
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let settings = &settings;
            s.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let piece = compress_piece(settings, cache, job.data, job.last, job.tokens);
                if done_tx.send((job.seq, piece)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let failed_ref = &failed;
        let writer = s.spawn(move || -> io::Result<()> {
            let mut pending: BTreeMap<u64, io::Result<Piece>> = BTreeMap::new();
            let mut next = 0u64;
            let mut result = Ok(());
            // The gzip member being written: combined CRC-32 and length so far.
            let mut member: Option<crc32fast::Hasher> = None;
            let mut member_len = 0u64;
            for (seq, piece) in done_rx.iter() {
                pending.insert(seq, piece);
                while let Some(p) = pending.remove(&next) {
                    next += 1;
                    let tokens = p.as_ref().map_or(1, |p| p.tokens);
                    for _ in 0..tokens {
                        let _ = token_tx.send(());
                    }
                    if result.is_err() {
                        continue;
                    }
                    let r = p.and_then(|p| {
                        if !gzip {
                            return out.write_all(&p.bytes);
                        }
                        let hasher = match &mut member {
                            Some(h) => h,
                            None => {
                                out.write_all(&GZIP_HEADER)?;
                                member_len = 0;
                                member.insert(crc32fast::Hasher::new())
                            }
                        };
                        out.write_all(&p.bytes)?;
                        hasher.combine(&crc32fast::Hasher::new_with_initial_len(p.crc, p.len));
                        member_len += p.len;
                        if p.last {
                            if let Some(h) = member.take() {
                                out.write_all(&h.finalize().to_le_bytes())?;
                                out.write_all(&(member_len as u32).to_le_bytes())?;
                            }
                        }
                        Ok(())
                    });
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
            in_flight,
            large: false,
            cut_large: settings.compressor != Compressor::Zstd,
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

    fn settings(compressor: Compressor, threads: usize) -> Settings {
        Settings {
            compressor,
            level: 6,
            threads,
        }
    }

    fn run_with(s: Settings, cache: Option<&PieceCache>, pieces: &[(usize, u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        compress_members::<_, _, io::Error, _>(
            &mut out,
            s,
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

    fn run(threads: usize, cache: Option<&PieceCache>, pieces: &[(usize, u8)]) -> Vec<u8> {
        run_with(settings(Compressor::Gzip, threads), cache, pieces)
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

    /// Decodes concatenated zstd frames, returning the frames' sizes too.
    fn unzstd(z: &[u8]) -> (Vec<u8>, Vec<usize>) {
        let mut plain = Vec::new();
        let mut sizes = Vec::new();
        let mut rest = z;
        while !rest.is_empty() {
            let n = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
            let frame = zstd::stream::decode_all(&rest[..n]).unwrap();
            sizes.push(frame.len());
            plain.extend_from_slice(&frame);
            rest = &rest[n..];
        }
        (plain, sizes)
    }

    fn corrupt_every_piece(dir: &Path) -> usize {
        let mut corrupted = 0;
        for sub in fs::read_dir(dir).unwrap() {
            for f in fs::read_dir(sub.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                let mut bytes = fs::read(&p).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x55;
                fs::write(&p, bytes).unwrap();
                corrupted += 1;
            }
        }
        corrupted
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
    fn zstd_frames_end_on_boundaries_whatever_the_threads() {
        let one = run_with(settings(Compressor::Zstd, 1), None, &PIECES);
        let three = run_with(settings(Compressor::Zstd, 3), None, &PIECES);
        assert_eq!(one, three, "output must not depend on the thread count");
        let (plain, frames) = unzstd(&one);
        assert_eq!(plain, expected(&PIECES));
        // One frame per member, large entries whole: a frame never ends inside an entry.
        assert_eq!(
            frames,
            [
                100 + MEMBER_SIZE,
                10,
                MEMBER_SIZE * 2 + 7,
                5 + MEMBER_SIZE / 2,
                PIECE_SIZE * 3
            ]
        );
        let none = run_with(settings(Compressor::None, 2), None, &PIECES);
        assert_eq!(none, expected(&PIECES));
    }

    #[test]
    fn cached_pieces_give_the_same_bytes_and_bad_pieces_are_replaced() {
        for c in [Compressor::Gzip, Compressor::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            let cache = PieceCache::new(dir.path().join("pieces"));
            let plain = run_with(settings(c, 2), None, &PIECES);
            let cold = run_with(settings(c, 2), Some(&cache), &PIECES);
            let u = cache.usage();
            assert_eq!((u.local, u.fetched), (0, 0), "{c}: {u:?}");
            assert!(u.compressed > 4 && !u.keys.is_empty(), "{c}: {u:?}");
            let warm = run_with(settings(c, 2), Some(&cache), &PIECES);
            let u2 = cache.usage();
            assert_eq!(
                u2.compressed, u.compressed,
                "{c}: warm build compressed nothing"
            );
            assert_eq!(u2.local, u.compressed, "{c}: every piece copied");
            assert_eq!(u2.keys, u.keys);
            assert_eq!(cold, plain, "{c}: the cache must not change the output");
            assert_eq!(warm, plain, "{c}: cached pieces must give the same output");
            // Corrupt every stored piece: each is detected, recompressed and stored again.
            let corrupted = corrupt_every_piece(cache.dir());
            assert!(corrupted >= 5, "{c}: pieces were stored: {corrupted}");
            assert_eq!(run_with(settings(c, 2), Some(&cache), &PIECES), plain);
            assert_eq!(run_with(settings(c, 1), Some(&cache), &PIECES), plain);
            for k in &u.keys {
                let f = cache.piece_file(k).expect("piece stored again");
                assert!(PieceCache::is_piece_file(&fs::read(f).unwrap()));
            }
            // Pruning to nothing empties the cache.
            assert!(cache.prune(0).unwrap() > 0);
            assert_eq!(cache.prune(0).unwrap(), 0);
        }
    }

    #[test]
    fn fetched_pieces_are_used_only_when_they_decode_to_their_data() {
        for c in [Compressor::Gzip, Compressor::Zstd] {
            let a = tempfile::tempdir().unwrap();
            let cache_a = PieceCache::new(a.path().join("pieces"));
            let plain = run_with(settings(c, 2), Some(&cache_a), &PIECES);
            let keys = cache_a.usage().keys;
            // Another machine: an empty cache and A's pieces fetched into a staging dir.
            let b = tempfile::tempdir().unwrap();
            let staged = b.path().join("fetched");
            fs::create_dir_all(&staged).unwrap();
            for k in &keys {
                fs::copy(cache_a.piece_file(k).unwrap(), staged.join(k)).unwrap();
            }
            let cache_b = PieceCache::new(b.path().join("pieces")).with_fetched(&staged);
            assert_eq!(run_with(settings(c, 2), Some(&cache_b), &PIECES), plain);
            let u = cache_b.usage();
            assert_eq!((u.compressed, u.local), (0, 0), "{c}: {u:?}");
            assert_eq!(u.fetched as usize, keys.len(), "{c}: {u:?}");
            // Now kept locally: a plain cache on B copies them.
            let again = PieceCache::new(b.path().join("pieces"));
            assert_eq!(run_with(settings(c, 1), Some(&again), &PIECES), plain);
            assert_eq!(again.usage().local as usize, keys.len());

            // A fetched piece with a consistent header but other compressed bytes (as a
            // lying or broken registry could serve) is rejected and compressed instead.
            let d = tempfile::tempdir().unwrap();
            let staged = d.path().join("fetched");
            fs::create_dir_all(&staged).unwrap();
            for k in &keys {
                let bytes = fs::read(cache_a.piece_file(k).unwrap()).unwrap();
                let head = &bytes[..PIECE_HEAD];
                let body = match c {
                    Compressor::Gzip => deflate(1, b"something else", true),
                    _ => zstd::bulk::compress(b"something else", 1).unwrap(),
                };
                let _ = body.len();
                let mut forged = head[..20].to_vec();
                forged.extend_from_slice(blake3::hash(&body).as_bytes());
                forged.extend_from_slice(&body);
                assert!(PieceCache::is_piece_file(&forged));
                fs::write(staged.join(k), forged).unwrap();
            }
            let cache_d = PieceCache::new(d.path().join("pieces")).with_fetched(&staged);
            assert_eq!(run_with(settings(c, 2), Some(&cache_d), &PIECES), plain);
            let u = cache_d.usage();
            assert_eq!(u.fetched, 0, "{c}: {u:?}");
            assert_eq!(u.rejected as usize, keys.len(), "{c}: {u:?}");
        }
    }

    #[test]
    fn compressor_names() {
        for c in Compressor::ALL {
            assert_eq!(c.name().parse::<Compressor>().unwrap(), c);
        }
        assert_eq!(
            "xz".parse::<Compressor>().unwrap_err().to_string(),
            "unknown initrd compression xz: use gzip, zstd or none"
        );
        assert_eq!(parse_key(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_key("AB"), None);
    }

    #[test]
    fn producer_error_is_returned() {
        let mut out = Vec::new();
        let r = compress_members::<_, (), io::Error, _>(
            &mut out,
            settings(Compressor::Gzip, 2),
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
