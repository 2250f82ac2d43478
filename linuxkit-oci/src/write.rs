//! Writing OCI image layout directories (LinuxKit's cache, exported or packaged images).
//!
//! Invariants:
//! - A blob lands in `blobs/sha256/<hex>` only after its bytes were hashed and matched the digest:
//!   it is streamed to a temporary file under `<dir>/.partial/`, fsynced, then renamed into place.
//!   A killed writer leaves at most a stray temporary file, which readers never look at.
//! - `index.json` is rewritten as a whole (temporary file + rename) while holding an exclusive
//!   `flock` on `<dir>/.lock`, the lock file LinuxKit's cache uses too.
//! - JSON written here is deterministic: struct field order, sorted annotation maps, no spaces.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::digest::Digest;
use sha2::{Digest as _, Sha256};

use crate::store::{
    blob_path, media, Descriptor, Index, StoreError, ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME,
};

/// Content of the `oci-layout` marker file.
pub const OCI_LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Directory (inside the layout) holding blobs being written.
pub const PARTIAL_DIR: &str = ".partial";

/// Temporary files older than this are removed by [`LayoutWriter::clean_partials`].
const STALE_PARTIAL: Duration = Duration::from_secs(3600);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Errors of writing an OCI layout.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading the blob's content failed (network, source file, ...).
    #[error("reading blob {what}: {source}")]
    Read {
        /// The expected digest, or `content` when none was given.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The content does not hash to the expected digest; nothing was stored.
    #[error("blob content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the content should have.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// `index.json` of the layout could not be parsed.
    #[error("{path}: invalid index.json: {source}")]
    Json {
        /// The index file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
}

impl From<WriteError> for StoreError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Io { path, source } => StoreError::Io { path, source },
            other => StoreError::Source {
                reference: "OCI layout".into(),
                source: Box::new(other),
            },
        }
    }
}

/// A writable OCI image layout directory.
#[derive(Debug, Clone)]
pub struct LayoutWriter {
    dir: PathBuf,
}

impl LayoutWriter {
    /// Opens the layout at `dir`, creating `oci-layout`, an empty `index.json` and
    /// `blobs/sha256/` when they are missing.
    pub fn create_or_open(dir: impl Into<PathBuf>) -> Result<Self, WriteError> {
        let dir = dir.into();
        let w = LayoutWriter { dir };
        mkdirs(&w.blobs_dir())?;
        mkdirs(&w.dir.join(PARTIAL_DIR))?;
        let marker = w.dir.join("oci-layout");
        if !marker.is_file() {
            w.write_atomic(&marker, OCI_LAYOUT_CONTENT.as_bytes())?;
        }
        let index = w.dir.join("index.json");
        if !index.is_file() {
            let _lock = w.lock()?;
            if !index.is_file() {
                w.write_index_unlocked(&empty_index())?;
            }
        }
        Ok(w)
    }

    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `blobs/sha256` directory.
    pub fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs").join("sha256")
    }

    /// Where the blob `digest` is (or would be) stored.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path(&self.blobs_dir(), digest)
    }

    /// Is the blob present? Blobs are only ever put in place verified, so presence is trusted.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores `bytes` as a blob and returns its descriptor (no platform, no annotations).
    pub fn put_blob(&self, bytes: &[u8], media_type: &str) -> Result<Descriptor, WriteError> {
        let digest = crate::digest::sha256_digest(bytes);
        if !self.has_blob(&digest) {
            self.put_blob_from_reader(bytes, media_type, Some(&digest))?;
        }
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: bytes.len() as u64,
            platform: None,
            annotations: None,
        })
    }

    /// Streams `reader` into a blob: written to a temporary file, hashed, checked against
    /// `expected` (when given), fsynced and renamed into `blobs/sha256/<hex>`. On any error the
    /// temporary file is removed and nothing is stored.
    pub fn put_blob_from_reader(
        &self,
        mut reader: impl Read,
        media_type: &str,
        expected: Option<&Digest>,
    ) -> Result<Descriptor, WriteError> {
        let mut w = self.blob_writer()?;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(WriteError::Read {
                        what: expected.map_or("content", |d| d.as_str()).to_string(),
                        source,
                    })
                }
            };
            w.write(&buf[..n])?;
        }
        w.commit(media_type, expected)
    }

    /// Starts a streamed blob write (for sources that push bytes, such as async downloads).
    /// Nothing is stored unless [`BlobWriter::commit`] succeeds; dropping the writer removes
    /// its temporary file.
    pub fn blob_writer(&self) -> Result<BlobWriter, WriteError> {
        let (tmp_path, file) = self.temp_file()?;
        Ok(BlobWriter {
            guard: RemoveOnDrop(Some(tmp_path.clone())),
            tmp_path,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            blobs_dir: self.blobs_dir(),
        })
    }

    /// Reads `index.json` (under the lock, like LinuxKit's index reads).
    pub fn read_index(&self) -> Result<Index, WriteError> {
        let _lock = self.lock()?;
        self.read_index_unlocked()
    }

    /// Applies `f` to the root index and writes the result atomically, all under the layout lock.
    pub fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> T) -> Result<T, WriteError> {
        let _lock = self.lock()?;
        let mut index = self.read_index_unlocked()?;
        let out = f(&mut index);
        self.write_index_unlocked(&index)?;
        Ok(out)
    }

    /// Adds `desc` as a root named `name`, like LinuxKit's cache: both
    /// `org.opencontainers.image.ref.name` and `io.containerd.image.name` are set to `name`
    /// (other annotations of `desc` are kept), and any root already carrying that
    /// `org.opencontainers.image.ref.name` is replaced.
    pub fn add_root(&self, desc: &Descriptor, name: &str) -> Result<Descriptor, WriteError> {
        let mut root = desc.clone();
        let ann = root.annotations.get_or_insert_with(BTreeMap::new);
        ann.insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
        ann.insert(ANNOTATION_CONTAINERD_NAME.to_string(), name.to_string());
        let stored = root.clone();
        self.update_index(move |index| {
            index.manifests.retain(|d| root_name(d) != Some(name));
            index.manifests.push(root);
        })?;
        Ok(stored)
    }

    /// Adds `desc` as a root with exactly the annotations it carries (for copying layouts whose
    /// naming differs from LinuxKit's). A root with identical annotations is replaced.
    pub fn add_root_raw(&self, desc: &Descriptor) -> Result<(), WriteError> {
        let desc = desc.clone();
        self.update_index(move |index| {
            index
                .manifests
                .retain(|d| !(d.annotations.is_some() && d.annotations == desc.annotations));
            index.manifests.push(desc);
        })
    }

    /// Removes every root whose `org.opencontainers.image.ref.name` or `io.containerd.image.name`
    /// is `name`; returns how many were removed. Blobs are left in place.
    pub fn remove_roots(&self, name: &str) -> Result<usize, WriteError> {
        self.update_index(|index| {
            let before = index.manifests.len();
            index.manifests.retain(|d| {
                let a = d.annotations.as_ref();
                let hit = |k: &str| a.and_then(|a| a.get(k)).is_some_and(|v| v == name);
                !(hit(ANNOTATION_REF_NAME) || hit(ANNOTATION_CONTAINERD_NAME))
            });
            before - index.manifests.len()
        })
    }

    /// Removes temporary files left by killed writers (older than an hour, so concurrent
    /// writers are not disturbed). Returns how many were removed.
    pub fn clean_partials(&self) -> Result<usize, WriteError> {
        let dir = self.dir.join(PARTIAL_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(WriteError::Io { path: dir, source }),
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() > STALE_PARTIAL)
                .unwrap_or(false);
            if stale && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Takes the exclusive layout lock (`flock` on `<dir>/.lock`); released on drop.
    pub fn lock(&self) -> Result<LayoutLock, WriteError> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| WriteError::Io {
                path: path.clone(),
                source,
            })?;
        file.lock()
            .map_err(|source| WriteError::Io { path, source })?;
        Ok(LayoutLock { _file: file })
    }

    fn read_index_unlocked(&self) -> Result<Index, WriteError> {
        let path = self.dir.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| WriteError::Json { path, source })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(empty_index()),
            Err(source) => Err(WriteError::Io { path, source }),
        }
    }

    fn write_index_unlocked(&self, index: &Index) -> Result<(), WriteError> {
        let path = self.dir.join("index.json");
        let bytes = serde_json::to_vec(index).map_err(|source| WriteError::Json {
            path: path.clone(),
            source,
        })?;
        self.write_atomic(&path, &bytes)
    }

    /// Writes `bytes` to `dest` through a temporary file and a rename.
    fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), WriteError> {
        let (tmp, mut file) = self.temp_file()?;
        let guard = RemoveOnDrop(Some(tmp.clone()));
        let io_err = |source| WriteError::Io {
            path: tmp.clone(),
            source,
        };
        file.write_all(bytes).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        drop(file);
        fs::rename(&tmp, dest).map_err(|source| WriteError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        guard.disarm();
        Ok(())
    }

    fn temp_file(&self) -> Result<(PathBuf, File), WriteError> {
        let dir = self.dir.join(PARTIAL_DIR);
        mkdirs(&dir)?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{}-{nanos}-{n}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => return Ok((path, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(WriteError::Io { path, source }),
            }
        }
    }
}

/// The `org.opencontainers.image.ref.name` of a root descriptor.
pub fn root_name(d: &Descriptor) -> Option<&str> {
    d.annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REF_NAME))
        .map(String::as_str)
}

/// An empty OCI index (`schemaVersion` 2, OCI index media type).
pub fn empty_index() -> Index {
    Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_string()),
        manifests: Vec::new(),
        annotations: None,
    }
}

/// A blob being written: bytes go to a temporary file and are hashed on the way.
pub struct BlobWriter {
    guard: RemoveOnDrop,
    tmp_path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    size: u64,
    blobs_dir: PathBuf,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("tmp_path", &self.tmp_path)
            .field("size", &self.size)
            .finish()
    }
}

impl BlobWriter {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        file.write_all(bytes).map_err(|source| WriteError::Io {
            path: self.tmp_path.clone(),
            source,
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Checks the digest against `expected` (when given), fsyncs and renames the blob into
    /// place. On a mismatch nothing is stored.
    pub fn commit(
        mut self,
        media_type: &str,
        expected: Option<&Digest>,
    ) -> Result<Descriptor, WriteError> {
        let actual = crate::digest::finish(self.hasher.clone().finalize().into());
        if let Some(e) = expected {
            if *e != actual {
                return Err(WriteError::DigestMismatch {
                    expected: e.to_string(),
                    actual: actual.into_string(),
                });
            }
        }
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(|source| WriteError::Io {
                path: self.tmp_path.clone(),
                source,
            })?;
        }
        let dest = blob_path(&self.blobs_dir, &actual);
        fs::rename(&self.tmp_path, &dest).map_err(|source| WriteError::Io {
            path: dest.clone(),
            source,
        })?;
        self.guard.0 = None;
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest: actual,
            size: self.size,
            platform: None,
            annotations: None,
        })
    }
}

/// The held layout lock.
#[derive(Debug)]
pub struct LayoutLock {
    _file: File,
}

struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn mkdirs(dir: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(|source| WriteError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// A writer that passes everything to `inner` and keeps its sha256 digest and length: the
/// digest of a blob (or a diff id) computed while it is written.
pub struct DigestingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W> DigestingWriter<W> {
    /// Digests what is written to `inner`.
    pub fn new(inner: W) -> Self {
        DigestingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, the digest and the length of what was written.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            Digest::from_sha256_sum(self.hasher.finalize().into()),
            self.len,
        )
    }
}

impl<W: Write> Write for DigestingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::OciLayout;
    use crate::store::{ImageProvider, Manifest, Platform};

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "lk-oci-write-{name}-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn blobs_are_verified_and_roots_replaced() {
        let dir = tmpdir("roots");
        let w = LayoutWriter::create_or_open(&dir).unwrap();
        let layer = w.put_blob(b"layer bytes", media::OCI_LAYER_TAR).unwrap();
        let config = w
            .put_blob(
                br#"{"architecture":"amd64","os":"linux","config":{}}"#,
                media::OCI_CONFIG,
            )
            .unwrap();
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config,
            layers: vec![layer.clone()],
            annotations: None,
        };
        let mdesc = w
            .put_blob(&serde_json::to_vec(&manifest).unwrap(), media::OCI_MANIFEST)
            .unwrap();
        w.add_root(&mdesc, "docker.io/library/x:1").unwrap();
        w.add_root(&mdesc, "docker.io/library/x:1").unwrap();
        w.add_root(&mdesc, "docker.io/library/y").unwrap();
        let index = w.read_index().unwrap();
        assert_eq!(index.manifests.len(), 2);
        let img = OciLayout::open(&dir, false)
            .unwrap()
            .resolve("docker.io/library/x:1", &Platform::linux("amd64"))
            .unwrap();
        assert_eq!(img.layers[0].digest, layer.digest);
        assert_eq!(fs::read(&img.layers[0].path).unwrap(), b"layer bytes");
        assert_eq!(w.remove_roots("docker.io/library/x:1").unwrap(), 1);
        assert_eq!(w.read_index().unwrap().manifests.len(), 1);
        // Deterministic: the same operations give the same index bytes.
        let first = fs::read(dir.join("index.json")).unwrap();
        w.add_root(&mdesc, "docker.io/library/y").unwrap();
        assert_eq!(fs::read(dir.join("index.json")).unwrap(), first);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_digest_stores_nothing() {
        let dir = tmpdir("mismatch");
        let w = LayoutWriter::create_or_open(&dir).unwrap();
        let wrong = Digest::from_sha256_hex(&"0".repeat(64)).unwrap();
        let err = w
            .put_blob_from_reader(&b"abc"[..], media::OCI_LAYER_TAR, Some(&wrong))
            .unwrap_err();
        assert!(matches!(err, WriteError::DigestMismatch { .. }), "{err}");
        assert!(!w.has_blob(&wrong));
        assert_eq!(fs::read_dir(w.blobs_dir()).unwrap().count(), 0);
        assert_eq!(fs::read_dir(dir.join(PARTIAL_DIR)).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failing_reader_stores_nothing() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let dir = tmpdir("failing");
        let w = LayoutWriter::create_or_open(&dir).unwrap();
        let err = w
            .put_blob_from_reader(Failing(3), media::OCI_LAYER_TAR, None)
            .unwrap_err();
        assert!(matches!(err, WriteError::Read { .. }), "{err}");
        assert_eq!(fs::read_dir(w.blobs_dir()).unwrap().count(), 0);
        assert_eq!(fs::read_dir(dir.join(PARTIAL_DIR)).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
