//! Parallel gzip as concatenated members.
//!
//! The producer writes a byte stream and marks the places where a member may end
//! ([`Members::boundary`]); a new member starts at the first boundary after [`MEMBER_SIZE`]
//! bytes. Members are compressed on worker threads and written in order. Where the members
//! end depends only on the data, never on the thread count, so the output is deterministic.
//!
//! For an initrd, boundaries are cpio entry boundaries: the kernel's initramfs unpacker accepts
//! one compressed stream after another as long as each ends between two entries, and
//! `gzip -d` yields exactly the uncompressed stream. An entry larger than a member is streamed
//! into a member of its own by the writer thread, so memory stays bounded by a few members.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use flate2::write::GzEncoder;
use flate2::Compression;

/// Uncompressed size after which the next boundary ends a gzip member.
pub(crate) const MEMBER_SIZE: usize = 2 << 20;
/// Size of the blocks a large entry is streamed in.
const STREAM_BLOCK: usize = 256 << 10;

enum Done {
    /// A member compressed by a worker.
    Member(u64, Vec<u8>),
    /// A member whose uncompressed bytes arrive on the channel; the writer compresses it.
    Stream(u64, Receiver<Vec<u8>>),
}

/// The producer's side: a `Write` whose data ends up as gzip members.
pub(crate) struct Members<'a> {
    buf: Vec<u8>,
    seq: u64,
    jobs: Option<SyncSender<(u64, Vec<u8>)>>,
    done: Option<SyncSender<Done>>,
    tokens: &'a Mutex<Receiver<()>>,
    stream: Option<SyncSender<Vec<u8>>>,
    failed: &'a AtomicBool,
}

impl Members<'_> {
    /// Marks a place where a member may end; ends one if the current member is large enough
    /// or a large entry was being streamed.
    pub(crate) fn boundary(&mut self) -> io::Result<()> {
        if self.stream.is_some() {
            self.flush_stream_block()?;
            self.stream = None;
            return Ok(());
        }
        if self.buf.len() >= MEMBER_SIZE {
            self.dispatch()?;
        }
        Ok(())
    }

    /// Announces that the next entry (up to the next boundary) is larger than a member: the
    /// current member ends here and the entry is streamed into a member of its own.
    pub(crate) fn begin_large(&mut self) -> io::Result<()> {
        if self.stream.is_some() {
            return Ok(());
        }
        if !self.buf.is_empty() {
            self.dispatch()?;
        }
        let (tx, rx) = sync_channel(2);
        self.send_done(Done::Stream(self.seq, rx))?;
        self.seq += 1;
        self.stream = Some(tx);
        Ok(())
    }

    fn dispatch(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(MEMBER_SIZE + (64 << 10)));
        // A token bounds the members in flight (compressing or waiting to be written).
        let token = self.tokens.lock().map_err(|_| broken())?.recv();
        if token.is_err() {
            return Err(broken());
        }
        let jobs = self.jobs.as_ref().ok_or_else(broken)?;
        jobs.send((self.seq, data)).map_err(|_| broken())?;
        self.seq += 1;
        Ok(())
    }

    fn send_done(&self, d: Done) -> io::Result<()> {
        self.done
            .as_ref()
            .ok_or_else(broken)?
            .send(d)
            .map_err(|_| broken())
    }

    fn flush_stream_block(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let block = std::mem::take(&mut self.buf);
        match &self.stream {
            Some(tx) => tx.send(block).map_err(|_| broken()),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> io::Result<()> {
        if self.stream.is_some() {
            self.flush_stream_block()?;
            self.stream = None;
        }
        if !self.buf.is_empty() {
            self.dispatch()?;
        }
        self.jobs = None;
        self.done = None;
        Ok(())
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the compressed output failed")
}

impl Write for Members<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(broken());
        }
        self.buf.extend_from_slice(data);
        if self.stream.is_some() && self.buf.len() >= STREAM_BLOCK {
            self.flush_stream_block()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn compress(level: u32, data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 3 + 64),
        Compression::new(level),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Runs `produce` with a [`Members`] writer; the gzip members go to `out` in order.
/// Returns `produce`'s result, or the first output error.
pub(crate) fn compress_members<W, R, E, F>(
    out: &mut W,
    level: u32,
    threads: usize,
    out_err: impl FnOnce(io::Error) -> E,
    produce: F,
) -> Result<R, E>
where
    W: Write + Send,
    F: FnOnce(&mut Members<'_>) -> Result<R, E>,
{
    let threads = threads.max(1);
    let in_flight = threads * 2;
    let (token_tx, token_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(());
    }
    let token_rx = Mutex::new(token_rx);
    let failed = AtomicBool::new(false);
    let (job_tx, job_rx) = sync_channel::<(u64, Vec<u8>)>(threads);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = sync_channel::<Done>(in_flight + 2);

    std::thread::scope(|s| {
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            s.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((seq, data)) = job else { return };
                if done_tx
                    .send(Done::Member(seq, compress(level, &data)))
                    .is_err()
                {
                    return;
                }
            });
        }
        let failed_ref = &failed;
        let writer = s.spawn(move || -> io::Result<()> {
            let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
            let mut next = 0u64;
            let mut result = Ok(());
            for d in done_rx.iter() {
                let seq = match &d {
                    Done::Member(seq, _) | Done::Stream(seq, _) => *seq,
                };
                pending.insert(seq, d);
                while let Some(d) = pending.remove(&next) {
                    next += 1;
                    let r = match d {
                        Done::Member(_, bytes) => {
                            let r = if result.is_ok() {
                                out.write_all(&bytes)
                            } else {
                                Ok(())
                            };
                            let _ = token_tx.send(());
                            r
                        }
                        Done::Stream(_, rx) => {
                            let mut enc = GzEncoder::new(&mut *out, Compression::new(level));
                            let mut r = Ok(());
                            for block in rx.iter() {
                                if r.is_ok() && result.is_ok() {
                                    r = enc.write_all(&block);
                                }
                            }
                            if r.is_ok() && result.is_ok() {
                                r = enc.try_finish();
                            }
                            r
                        }
                    };
                    if let Err(e) = r {
                        if result.is_ok() {
                            failed_ref.store(true, Ordering::Relaxed);
                            result = Err(e);
                        }
                    }
                }
            }
            result
        });
        let mut members = Members {
            buf: Vec::with_capacity(MEMBER_SIZE + (64 << 10)),
            seq: 0,
            jobs: Some(job_tx),
            done: Some(done_tx),
            tokens: &token_rx,
            stream: None,
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
    use std::io::Read;

    fn run(threads: usize, pieces: &[(usize, u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        compress_members::<_, _, io::Error, _>(
            &mut out,
            6,
            threads,
            |e| e,
            |m| {
                for &(len, byte) in pieces {
                    if len > MEMBER_SIZE {
                        m.begin_large()?;
                    }
                    m.write_all(&vec![byte; len])?;
                    m.boundary()?;
                }
                Ok(())
            },
        )
        .unwrap();
        out
    }

    #[test]
    fn members_decompress_to_the_input_whatever_the_threads() {
        let pieces = [
            (100, 1u8),
            (MEMBER_SIZE, 2),
            (10, 3),
            (MEMBER_SIZE * 2 + 7, 4),
            (5, 5),
            (MEMBER_SIZE / 2, 6),
        ];
        let one = run(1, &pieces);
        let three = run(3, &pieces);
        assert_eq!(one, three, "output must not depend on the thread count");
        let mut plain = Vec::new();
        MultiGzDecoder::new(&one[..])
            .read_to_end(&mut plain)
            .unwrap();
        let want: Vec<u8> = pieces.iter().flat_map(|&(l, b)| vec![b; l]).collect();
        assert_eq!(plain, want);
        // Members: [100+MEMBER_SIZE], [10], [large], [5 + half]
        let members = one.windows(3).filter(|w| w == &[0x1f, 0x8b, 8]).count();
        assert!(
            members >= 4,
            "expected at least 4 gzip members, found {members}"
        );
    }

    #[test]
    fn producer_error_is_returned() {
        let mut out = Vec::new();
        let r = compress_members::<_, (), io::Error, _>(
            &mut out,
            6,
            2,
            |e| e,
            |m| {
                m.write_all(b"abc")?;
                Err(io::Error::other("boom"))
            },
        );
        assert_eq!(r.unwrap_err().to_string(), "boom");
    }
}
