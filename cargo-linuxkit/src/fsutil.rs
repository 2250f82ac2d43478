//! Small file helpers: atomic writes (temporary file in the same directory, then rename).

use std::io::Write;
use std::path::Path;

/// Writes `data` to `dest` through a temporary file in the same directory and a rename, so
/// readers never see a partial file and a failure leaves the previous file intact.
pub fn write_atomic(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".cargo-linuxkit.")
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    set_mode_0644(tmp.as_file())?;
    tmp.as_file().sync_data()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

/// Temporary files are created 0600; outputs are 0644 like upstream's.
pub fn set_mode_0644(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o644))
}

/// A file one thread writes while others read it from its start as it grows: the writer
/// publishes how far it got ([`Growing::writer`]) and then whether it finished; a reader
/// ([`Growing::reader`]) waits for bytes not yet written and ends at the end of a finished
/// file (with an error when the writer failed). Assembly and output formats run together
/// this way.
#[derive(Debug, Default)]
pub struct Growing {
    state: std::sync::Mutex<(u64, Option<bool>)>,
    cv: std::sync::Condvar,
}

impl Growing {
    /// A file nothing was written to yet.
    pub fn new() -> Growing {
        Growing::default()
    }

    fn publish(&self, len: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = len;
        self.cv.notify_all();
    }

    /// The writer is done: `ok` when the file is complete, not when it failed.
    pub fn finish(&self, ok: bool) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 = Some(ok);
        self.cv.notify_all();
    }

    /// Wraps the writer's `file`, publishing what reaches it.
    pub fn writer<'a>(&'a self, file: &'a mut std::fs::File) -> GrowingWriter<'a> {
        GrowingWriter {
            file,
            growing: self,
            len: 0,
        }
    }

    /// A reader of `path` from its start.
    pub fn reader<'a>(&'a self, path: &Path) -> std::io::Result<GrowingReader<'a>> {
        Ok(GrowingReader {
            file: std::fs::File::open(path)?,
            pos: 0,
            growing: self,
        })
    }
}

/// The writing side of a [`Growing`] file.
#[derive(Debug)]
pub struct GrowingWriter<'a> {
    file: &'a mut std::fs::File,
    growing: &'a Growing,
    len: u64,
}

impl Write for GrowingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.len += n as u64;
        self.growing.publish(self.len);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A reader of a [`Growing`] file.
#[derive(Debug)]
pub struct GrowingReader<'a> {
    file: std::fs::File,
    pos: u64,
    growing: &'a Growing,
}

impl std::io::Read for GrowingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = {
            let mut s = self.growing.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match *s {
                    (_, Some(false)) => {
                        return Err(std::io::Error::other(
                            "the root filesystem was not assembled",
                        ))
                    }
                    (len, _) if len > self.pos => break len - self.pos,
                    (_, Some(true)) => return Ok(0),
                    _ => {
                        s = self.growing.cv.wait(s).unwrap_or_else(|p| p.into_inner());
                    }
                }
            }
        };
        let want = buf.len().min(available.min(usize::MAX as u64) as usize);
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod growing_tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn readers_follow_the_writer_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = std::fs::File::create(&path).unwrap();
        let g = Growing::new();
        std::thread::scope(|s| {
            let r = s.spawn(|| {
                let mut all = Vec::new();
                g.reader(&path).unwrap().read_to_end(&mut all).unwrap();
                all
            });
            let mut w = g.writer(&mut file);
            for i in 0..100u8 {
                w.write_all(&[i; 1000]).unwrap();
            }
            g.finish(true);
            let all = r.join().unwrap();
            assert_eq!(all.len(), 100_000);
            assert!(all
                .chunks(1000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&b| b == i as u8)));
        });
        // A failed writer fails its readers.
        let g = Growing::new();
        g.finish(false);
        assert!(g
            .reader(&path)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .is_err());
    }
}
