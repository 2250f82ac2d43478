//! The local image cache: an OCI image layout laid out like LinuxKit's `~/.linuxkit/cache`
//! (`index.json` roots named by `org.opencontainers.image.ref.name` = the expanded reference,
//! `blobs/sha256/`, `.lock`), plus the `cache ls | rm | clean | import | export` operations.
//!
//! Blobs are verified once, when they are inserted; afterwards their content address is
//! trusted, so a warm resolution only reads `index.json`, a manifest and a config.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use linuxkit_oci::digest::Digest;
use linuxkit_oci::layout::OciLayout;
use linuxkit_oci::store::{
    media, Descriptor, Index, Manifest, Platform, ResolvedImage, StoreError,
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
};
use linuxkit_oci::write::{LayoutWriter, OCI_LAYOUT_CONTENT};

use crate::error::ResolveError;
use crate::reference::{expand, ImageRef};

/// One named root of the cache (`cache ls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The name (`org.opencontainers.image.ref.name`, else `io.containerd.image.name`).
    pub name: String,
    /// The root digest.
    pub digest: Digest,
    /// The root media type (index or manifest).
    pub media_type: String,
    /// Size of the root document.
    pub size: u64,
}

/// What [`Cache::resolve_cached`] found.
#[derive(Debug)]
pub enum Cached {
    /// Every blob is present (layers are verified while read).
    Ready(Box<ResolvedImage>),
    /// A blob was never stored (another platform was pulled, or the root only).
    Missing,
    /// A blob was damaged (wrong digest or size) and has been removed; what was wrong.
    Damaged(String),
}

/// One problem [`Cache::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheProblem {
    /// The images (root names) affected, when known.
    pub images: Vec<String>,
    /// What is wrong.
    pub what: String,
    /// How to fix it (or what `repair` did).
    pub fix: String,
    /// Whether `repair` fixed it.
    pub repaired: bool,
}

/// The result of [`Cache::verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blobs hashed.
    pub blobs: usize,
    /// Their total size.
    pub bytes: u64,
    /// Roots of `index.json` checked.
    pub roots: usize,
    /// What is wrong; empty for a healthy cache.
    pub problems: Vec<CacheProblem>,
}

fn root_label(d: &Descriptor) -> String {
    d.annotations
        .as_ref()
        .and_then(|a| {
            a.get(ANNOTATION_REF_NAME)
                .or(a.get(ANNOTATION_CONTAINERD_NAME))
        })
        .cloned()
        .unwrap_or_else(|| d.digest.to_string())
}

fn empty_index_doc() -> Index {
    linuxkit_oci::write::empty_index()
}

fn hash_file(path: &Path) -> Result<(String, u64), ResolveError> {
    use sha2::{Digest as _, Sha256};
    let io_err = |source| ResolveError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::File::open(path).map_err(io_err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((format!("sha256:{}", hex::encode(h.finalize())), size))
}

/// The LinuxKit-compatible image cache.
#[derive(Debug, Clone)]
pub struct Cache {
    writer: LayoutWriter,
    reader: OciLayout,
}

/// The default cache directory: `$LINUXKIT_CACHE`, else `~/.linuxkit/cache` (LinuxKit's).
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LINUXKIT_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".linuxkit")
        .join("cache")
}

impl Cache {
    /// Opens (creating when needed) the cache at `dir` and drops stale temporary files.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ResolveError> {
        let dir = dir.into();
        let writer =
            LayoutWriter::create_or_open(&dir).map_err(|e| ResolveError::write("(cache)", e))?;
        let _ = writer.clean_partials();
        // The cache holds only blobs verified on insertion: no verify-on-read.
        let reader = OciLayout::open(&dir, false)?;
        Ok(Cache { writer, reader })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        self.writer.dir()
    }

    /// The writer of the underlying layout.
    pub fn writer(&self) -> &LayoutWriter {
        &self.writer
    }

    /// The reader of the underlying layout.
    pub fn layout(&self) -> &OciLayout {
        &self.reader
    }

    /// Finds the root descriptor of `image` like LinuxKit's `FindDescriptor`: by name (the
    /// expanded reference), and for a digest-pinned reference by digest.
    pub fn find(&self, image: &ImageRef) -> Result<Option<Descriptor>, ResolveError> {
        let index = self.reader.index().map_err(|e| match e {
            StoreError::Json { source, .. } => ResolveError::CacheIndex {
                cache: self.dir().to_path_buf(),
                reason: source.to_string(),
            },
            other => other.into(),
        })?;
        Ok(find_in_index(&index, image))
    }

    /// Resolves a cached root for `platform`. Returns `Ok(None)` when blobs of the selected
    /// manifest are missing (another platform of the index was cached) or damaged (removed
    /// here): the caller pulls.
    pub fn resolve_root(
        &self,
        reference: &str,
        root: Descriptor,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        match self.resolve_cached(reference, root, platform)? {
            Cached::Ready(img) => Ok(Some(*img)),
            Cached::Missing | Cached::Damaged(_) => Ok(None),
        }
    }

    /// Like [`Cache::resolve_root`], telling a blob that was never pulled (another platform)
    /// from a damaged one: a blob whose digest or size is wrong is removed from the cache (so
    /// that a pull stores it again) and reported as [`Cached::Damaged`]. Layers are verified
    /// while they are read (their size is checked here).
    pub fn resolve_cached(
        &self,
        reference: &str,
        root: Descriptor,
        platform: &Platform,
    ) -> Result<Cached, ResolveError> {
        let small = |digest: &Digest| -> Result<Option<Vec<u8>>, ResolveError> {
            match self.reader.read_blob(digest, reference) {
                Ok(raw) => Ok(Some(raw)),
                Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    Ok(None)
                }
                Err(StoreError::DigestMismatch { actual, .. }) => {
                    let _ = fs::remove_file(self.writer.blob_path(digest));
                    Err(ResolveError::Io {
                        path: self.writer.blob_path(digest),
                        source: io::Error::other(format!(
                            "damaged (its content hashes to {actual})"
                        )),
                    })
                }
                Err(e) => Err(e.into()),
            }
        };
        let damaged = |e: ResolveError| -> Result<Cached, ResolveError> {
            match e {
                ResolveError::Io { path, source } => {
                    Ok(Cached::Damaged(format!("{}: {source}", path.display())))
                }
                other => Err(other),
            }
        };
        let mut manifest_desc = root.clone();
        if media::is_index(&root.media_type) {
            let raw = match small(&root.digest) {
                Ok(Some(raw)) => raw,
                Ok(None) => return Ok(Cached::Missing),
                Err(e) => return damaged(e),
            };
            let index: Index = serde_json::from_slice(&raw).map_err(|source| StoreError::Json {
                what: format!("index of {reference}"),
                source,
            })?;
            manifest_desc = linuxkit_oci::layout::select_platform(reference, &index, platform)?;
        }
        match small(&manifest_desc.digest) {
            Ok(Some(raw)) => {
                if let Ok(m) = serde_json::from_slice::<Manifest>(&raw) {
                    match small(&m.config.digest) {
                        Ok(Some(_)) => {}
                        Ok(None) => return Ok(Cached::Missing),
                        Err(e) => return damaged(e),
                    }
                }
            }
            Ok(None) => return Ok(Cached::Missing),
            Err(e) => return damaged(e),
        }
        let mut img = self.reader.resolve_descriptor(reference, root, platform)?;
        for (layer, desc) in img.layers.iter_mut().zip(&img.manifest.layers) {
            match fs::metadata(&layer.path) {
                Err(_) => return Ok(Cached::Missing),
                Ok(m) if m.len() != desc.size => {
                    let _ = fs::remove_file(&layer.path);
                    return Ok(Cached::Damaged(format!(
                        "{}: {} bytes instead of {} (truncated or damaged)",
                        layer.path.display(),
                        m.len(),
                        desc.size
                    )));
                }
                Ok(_) => {}
            }
            // Hashing while streaming costs little next to decompression and catches damage
            // that happened after insertion (a flipped bit).
            layer.verify = true;
        }
        Ok(Cached::Ready(Box::new(img)))
    }

    /// Checks the whole cache: `index.json` parses, every blob's content matches its name,
    /// every blob a root needs is present with the recorded size (manifests of an index may be
    /// absent: only the platforms used are pulled). With `repair`, damaged blobs are removed
    /// (the next build pulls them again) and an unreadable `index.json` is moved aside and
    /// replaced by an empty one (images are pulled again; present blobs are reused).
    pub fn verify(&self, repair: bool) -> Result<VerifyReport, ResolveError> {
        let _lock = self
            .writer
            .lock()
            .map_err(|e| ResolveError::write("(cache)", e))?;
        let mut report = VerifyReport::default();
        let index_path = self.dir().join("index.json");
        let index: Index = match fs::read(&index_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(i) => i,
            Err(why) => {
                let mut p = CacheProblem {
                    images: Vec::new(),
                    what: format!("{}: {why}", index_path.display()),
                    fix: "run `cargo linuxkit cache verify --repair` (moves it aside and starts an empty index; images are pulled again, present blobs are reused)".into(),
                    repaired: false,
                };
                if repair {
                    let aside = self.dir().join("index.json.damaged");
                    let _ = fs::rename(&index_path, &aside);
                    // Under the lock already held: write the new index atomically by hand.
                    let tmp = self.dir().join("index.json.new");
                    let io_err = |source| ResolveError::Io {
                        path: index_path.clone(),
                        source,
                    };
                    let bytes = serde_json::to_vec(&empty_index_doc())
                        .map_err(|e| io_err(io::Error::other(e)))?;
                    fs::write(&tmp, bytes).map_err(io_err)?;
                    fs::rename(&tmp, &index_path).map_err(io_err)?;
                    p.repaired = true;
                    p.fix = format!(
                        "moved to {} and replaced by an empty index",
                        aside.display()
                    );
                }
                report.problems.push(p);
                empty_index_doc()
            }
        };
        // Every blob: the name is its digest.
        let mut damaged: BTreeMap<Digest, String> = BTreeMap::new();
        let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
        for (digest, path) in self.blob_files()? {
            let Ok(digest) = Digest::parse(&digest) else {
                report.problems.push(CacheProblem {
                    images: Vec::new(),
                    what: format!("{}: not a blob name", path.display()),
                    fix: "remove the file".into(),
                    repaired: false,
                });
                continue;
            };
            let (actual, size) = hash_file(&path)?;
            report.blobs += 1;
            report.bytes += size;
            if actual != digest {
                damaged.insert(digest.clone(), format!("content hashes to {actual}"));
            } else {
                sizes.insert(digest, size);
            }
        }
        // Every root: what it needs is present, intact and of the recorded size.
        let mut missing: BTreeMap<Digest, (String, BTreeSet<String>)> = BTreeMap::new();
        let mut blame: BTreeMap<Digest, BTreeSet<String>> = BTreeMap::new();
        for root in &index.manifests {
            report.roots += 1;
            let name = root_label(root);
            let mut todo = vec![(root.clone(), true)];
            let mut seen = BTreeSet::new();
            while let Some((d, required)) = todo.pop() {
                if !seen.insert(d.digest.clone()) {
                    continue;
                }
                blame
                    .entry(d.digest.clone())
                    .or_default()
                    .insert(name.clone());
                if damaged.contains_key(&d.digest) {
                    continue;
                }
                let Some(&size) = sizes.get(&d.digest) else {
                    if required {
                        let e = missing
                            .entry(d.digest.clone())
                            .or_insert_with(|| ("missing".into(), BTreeSet::new()));
                        e.1.insert(name.clone());
                    }
                    continue;
                };
                if size != d.size {
                    damaged.insert(
                        d.digest.clone(),
                        format!("{size} bytes, but {name} records {}", d.size),
                    );
                    continue;
                }
                let path = self.writer.blob_path(&d.digest);
                if media::is_index(&d.media_type) {
                    if let Ok(i) = serde_json::from_slice::<Index>(&read(&path)?) {
                        // Manifests of other platforms need not be pulled.
                        todo.extend(i.manifests.into_iter().map(|m| (m, false)));
                    }
                } else if d.media_type == media::OCI_MANIFEST
                    || d.media_type == media::DOCKER_MANIFEST
                {
                    if let Ok(m) = serde_json::from_slice::<Manifest>(&read(&path)?) {
                        todo.push((m.config, true));
                        todo.extend(m.layers.into_iter().map(|l| (l, true)));
                    }
                }
            }
        }
        for (digest, why) in damaged {
            let images: Vec<String> = blame.get(&digest).into_iter().flatten().cloned().collect();
            let mut p = CacheProblem {
                what: format!("blob {digest} is damaged: {why}"),
                fix: "run `cargo linuxkit cache verify --repair` (removes it; the next build pulls it again)".into(),
                images,
                repaired: false,
            };
            if repair {
                p.repaired = fs::remove_file(self.writer.blob_path(&digest)).is_ok();
                p.fix = "removed; the next build pulls it again".into();
            }
            report.problems.push(p);
        }
        for (digest, (why, images)) in missing {
            report.problems.push(CacheProblem {
                what: format!("blob {digest} is {why}"),
                fix: "build again while online (the image is pulled again), or `cargo linuxkit cache pull` the image".into(),
                images: images.into_iter().collect(),
                repaired: false,
            });
        }
        Ok(report)
    }

    /// Every named root (`cache ls`), in index order.
    pub fn list(&self) -> Result<Vec<CacheEntry>, ResolveError> {
        let index = self.reader.index()?;
        Ok(index
            .manifests
            .iter()
            .filter_map(|d| {
                let a = d.annotations.as_ref()?;
                let name = a
                    .get(ANNOTATION_REF_NAME)
                    .or(a.get(ANNOTATION_CONTAINERD_NAME))?;
                Some(CacheEntry {
                    name: name.clone(),
                    digest: d.digest.clone(),
                    media_type: d.media_type.clone(),
                    size: d.size,
                })
            })
            .collect())
    }

    /// Removes the named images (names are expanded like references) and then every blob no
    /// remaining root needs. Returns the names that were found.
    pub fn remove(&self, names: &[String]) -> Result<Vec<String>, ResolveError> {
        let mut removed = Vec::new();
        for name in names {
            let full = expand(name);
            let n = self
                .writer
                .remove_roots(&full)
                .map_err(|e| ResolveError::write(name, e))?;
            let n2 = if full != *name {
                self.writer
                    .remove_roots(name)
                    .map_err(|e| ResolveError::write(name, e))?
            } else {
                0
            };
            if n + n2 > 0 {
                removed.push(full);
            }
        }
        self.gc()?;
        Ok(removed)
    }

    /// Deletes blobs that no root references (directly or through indexes and manifests).
    /// Returns how many were deleted.
    pub fn gc(&self) -> Result<usize, ResolveError> {
        let _lock = self
            .writer
            .lock()
            .map_err(|e| ResolveError::write("(cache)", e))?;
        let index = self.reader.index()?;
        let mut live = BTreeSet::new();
        let mut todo: Vec<Descriptor> = index.manifests.clone();
        while let Some(d) = todo.pop() {
            if !live.insert(d.digest.clone()) {
                continue;
            }
            let path = self.writer.blob_path(&d.digest);
            if !path.is_file() {
                continue;
            }
            if media::is_index(&d.media_type) {
                if let Ok(i) = serde_json::from_slice::<Index>(&read(&path)?) {
                    todo.extend(i.manifests);
                }
            } else if d.media_type == media::OCI_MANIFEST || d.media_type == media::DOCKER_MANIFEST
            {
                if let Ok(m) = serde_json::from_slice::<Manifest>(&read(&path)?) {
                    todo.push(m.config);
                    todo.extend(m.layers);
                }
            }
        }
        let mut deleted = 0;
        for (digest, path) in self.blob_files()? {
            if !live.contains(digest.as_str()) && fs::remove_file(path).is_ok() {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Every file in `blobs/sha256/` as (`sha256:<file name>`, path); names are not checked.
    fn blob_files(&self) -> Result<Vec<(String, PathBuf)>, ResolveError> {
        let blobs = self.writer.blobs_dir();
        let io = |source| ResolveError::Io {
            path: blobs.clone(),
            source,
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(&blobs).map_err(io)? {
            let entry = entry.map_err(io)?;
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            files.push((digest, entry.path()));
        }
        Ok(files)
    }

    /// Deletes the whole cache directory (`cache clean`), like upstream's `rm -rf`.
    pub fn clean(self) -> Result<(), ResolveError> {
        let dir = self.dir().to_path_buf();
        fs::remove_dir_all(&dir).map_err(|source| ResolveError::Io { path: dir, source })
    }

    /// Imports an OCI image layout directory, an OCI archive (tar of a layout), or a
    /// `docker save` archive. Every blob is verified. Roots carrying `io.containerd.image.name`
    /// are registered under that name (expanded), like `linuxkit cache import`; roots with only
    /// an `org.opencontainers.image.ref.name` that is a full reference are registered too.
    /// Returns the names registered.
    pub fn import(&self, path: &Path) -> Result<Vec<String>, ResolveError> {
        if path.is_dir() {
            return self.import_dir(path);
        }
        let file = fs::File::open(path).map_err(|source| ResolveError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = io::BufReader::new(file);
        let mut magic = [0u8; 2];
        let n = peek(&mut reader, &mut magic).map_err(|source| ResolveError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let input: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
            Box::new(flate2::read::MultiGzDecoder::new(reader))
        } else {
            Box::new(reader)
        };
        self.import_tar(path, input)
    }

    fn import_dir(&self, dir: &Path) -> Result<Vec<String>, ResolveError> {
        let index_path = dir.join("index.json");
        let index: Index =
            serde_json::from_slice(&read(&index_path)?).map_err(|e| ResolveError::Archive {
                path: index_path.clone(),
                message: format!("invalid index.json: {e}"),
            })?;
        let blobs = dir.join("blobs").join("sha256");
        let entries = fs::read_dir(&blobs).map_err(|source| ResolveError::Io {
            path: blobs.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ResolveError::Io {
                path: blobs.clone(),
                source,
            })?;
            let Ok(digest) = Digest::from_sha256_hex(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            if self.writer.has_blob(&digest) {
                continue;
            }
            let f = fs::File::open(entry.path()).map_err(|source| ResolveError::Io {
                path: entry.path(),
                source,
            })?;
            self.writer
                .put_blob_from_reader(f, "application/octet-stream", Some(&digest))
                .map_err(|e| ResolveError::Archive {
                    path: entry.path(),
                    message: e.to_string(),
                })?;
        }
        self.register_roots(dir, &index)
    }

    fn import_tar(
        &self,
        path: &Path,
        input: Box<dyn Read + '_>,
    ) -> Result<Vec<String>, ResolveError> {
        let archive_err = |message: String| ResolveError::Archive {
            path: path.to_path_buf(),
            message,
        };
        let mut archive = tar::Archive::new(input);
        let mut index: Option<Index> = None;
        let mut docker_manifest: Option<Vec<DockerSaveEntry>> = None;
        // docker-save archives: file name -> digest of the blobs stored.
        let mut stored: BTreeMap<String, (Digest, u64)> = BTreeMap::new();
        for entry in archive
            .entries()
            .map_err(|e| archive_err(format!("not a tar archive: {e}")))?
        {
            let mut entry = entry.map_err(|e| archive_err(format!("reading the archive: {e}")))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map_err(|e| archive_err(e.to_string()))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            if name == "index.json" {
                let mut buf = Vec::new();
                entry
                    .read_to_end(&mut buf)
                    .map_err(|e| archive_err(e.to_string()))?;
                index = Some(
                    serde_json::from_slice(&buf)
                        .map_err(|e| archive_err(format!("invalid index.json: {e}")))?,
                );
            } else if name == "manifest.json" {
                let mut buf = Vec::new();
                entry
                    .read_to_end(&mut buf)
                    .map_err(|e| archive_err(e.to_string()))?;
                docker_manifest = Some(
                    serde_json::from_slice(&buf)
                        .map_err(|e| archive_err(format!("invalid manifest.json: {e}")))?,
                );
            } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                let digest = Digest::from_sha256_hex(hex)
                    .map_err(|e| archive_err(format!("{name}: {e}")))?;
                if self.writer.has_blob(&digest) {
                    continue;
                }
                self.writer
                    .put_blob_from_reader(&mut entry, "application/octet-stream", Some(&digest))
                    .map_err(|e| archive_err(format!("{name}: {e}")))?;
            } else if name.ends_with(".tar") || name.ends_with(".json") {
                // Possibly a docker-save layer or config: store it by its content address.
                let d = self
                    .writer
                    .put_blob_from_reader(&mut entry, "application/octet-stream", None)
                    .map_err(|e| archive_err(format!("{name}: {e}")))?;
                stored.insert(name, (d.digest, d.size));
            }
        }
        if let Some(index) = index {
            return self.register_roots(path, &index);
        }
        if let Some(entries) = docker_manifest {
            return self.register_docker_save(path, &entries, &stored);
        }
        Err(archive_err(
            "neither an OCI archive (no index.json) nor a docker-save archive (no manifest.json)"
                .into(),
        ))
    }

    fn register_roots(&self, source: &Path, index: &Index) -> Result<Vec<String>, ResolveError> {
        let mut names = Vec::new();
        for d in &index.manifests {
            let a = d.annotations.clone().unwrap_or_default();
            let name = match (
                a.get(ANNOTATION_CONTAINERD_NAME),
                a.get(ANNOTATION_REF_NAME),
            ) {
                (Some(n), _) => n.clone(),
                (None, Some(n)) if ImageRef::parse(n).is_ok() && n.contains('/') => n.clone(),
                _ => continue,
            };
            if !self.writer.has_blob(&d.digest) {
                return Err(ResolveError::Archive {
                    path: source.to_path_buf(),
                    message: format!("{name}: root blob {} is missing", d.digest),
                });
            }
            let full = expand(&name);
            let mut root = d.clone();
            root.annotations = None;
            self.writer
                .add_root(&root, &full)
                .map_err(|e| ResolveError::write(&name, e))?;
            names.push(full);
        }
        Ok(names)
    }

    fn register_docker_save(
        &self,
        path: &Path,
        entries: &[DockerSaveEntry],
        stored: &BTreeMap<String, (Digest, u64)>,
    ) -> Result<Vec<String>, ResolveError> {
        let lookup = |file: &str| {
            stored
                .get(file)
                .cloned()
                .ok_or_else(|| ResolveError::Archive {
                    path: path.to_path_buf(),
                    message: format!("manifest.json names {file}, which is not in the archive"),
                })
        };
        let mut names = Vec::new();
        for e in entries {
            let (cdigest, csize) = lookup(&e.config)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let (digest, size) = lookup(l)?;
                let media_type = if sniff_gzip(&self.writer.blob_path(&digest)) {
                    media::DOCKER_LAYER_GZIP
                } else {
                    "application/vnd.docker.image.rootfs.diff.tar"
                };
                layers.push(Descriptor {
                    media_type: media_type.into(),
                    digest,
                    size,
                    platform: None,
                    annotations: None,
                });
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(media::DOCKER_MANIFEST.into()),
                config: Descriptor {
                    media_type: media::DOCKER_CONFIG.into(),
                    digest: cdigest,
                    size: csize,
                    platform: None,
                    annotations: None,
                },
                layers,
                annotations: None,
            };
            let raw = serde_json::to_vec(&manifest).map_err(|e| ResolveError::Archive {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            let desc = self
                .writer
                .put_blob(&raw, media::DOCKER_MANIFEST)
                .map_err(|e| ResolveError::write("(import)", e))?;
            for tag in &e.repo_tags {
                let full = expand(tag);
                self.writer
                    .add_root(&desc, &full)
                    .map_err(|e| ResolveError::write(tag, e))?;
                names.push(full);
            }
        }
        Ok(names)
    }

    /// Writes the cached image `name` as an OCI archive (a tar of an OCI layout holding only
    /// that image) to `out`. The tar is deterministic (sorted, mtime 0, root-owned, 0644).
    /// The root carries both name annotations set to the expanded name.
    pub fn export_oci(&self, name: &str, out: impl Write) -> Result<(), ResolveError> {
        let image = ImageRef::parse(name)?;
        let root = self.find(&image)?.ok_or_else(|| {
            ResolveError::Store(StoreError::NotFound {
                reference: name.to_string(),
                location: self.dir().display().to_string(),
            })
        })?;
        // Collect the blobs of the root (all platforms present in the cache).
        let mut blobs = BTreeSet::new();
        let mut todo = vec![root.clone()];
        while let Some(d) = todo.pop() {
            let path = self.writer.blob_path(&d.digest);
            if !path.is_file() {
                if d.digest == root.digest {
                    return Err(ResolveError::Archive {
                        path,
                        message: format!("root blob of {name} is missing from the cache"),
                    });
                }
                continue; // platforms that were never pulled
            }
            if !blobs.insert(d.digest.clone()) {
                continue;
            }
            if media::is_index(&d.media_type) {
                let i: Index =
                    serde_json::from_slice(&read(&path)?).map_err(|e| ResolveError::Archive {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                todo.extend(i.manifests);
            } else if d.media_type == media::OCI_MANIFEST || d.media_type == media::DOCKER_MANIFEST
            {
                let m: Manifest =
                    serde_json::from_slice(&read(&path)?).map_err(|e| ResolveError::Archive {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                todo.push(m.config);
                todo.extend(m.layers);
            }
        }
        let mut root_desc = root.clone();
        let mut ann = BTreeMap::new();
        ann.insert(
            ANNOTATION_CONTAINERD_NAME.to_string(),
            image.cache_name().to_string(),
        );
        ann.insert(
            ANNOTATION_REF_NAME.to_string(),
            image.cache_name().to_string(),
        );
        root_desc.annotations = Some(ann);
        let mut index = linuxkit_oci::write::empty_index();
        index.manifests.push(root_desc);
        let index_raw =
            serde_json::to_vec(&index).map_err(|e| ResolveError::Options(e.to_string()))?;
        let io_err = |source| ResolveError::Io {
            path: PathBuf::from("(export stream)"),
            source,
        };
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        let append_dir = |tar: &mut tar::Builder<_>, p: &str| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_mtime(0);
            h.set_cksum();
            tar.append_data(&mut h, p, io::empty())
        };
        append_dir(&mut tar, "blobs/").map_err(io_err)?;
        append_dir(&mut tar, "blobs/sha256/").map_err(io_err)?;
        for digest in &blobs {
            let path = self.writer.blob_path(digest);
            let f = fs::File::open(&path).map_err(|source| ResolveError::Io {
                path: path.clone(),
                source,
            })?;
            let size = f
                .metadata()
                .map_err(|source| ResolveError::Io {
                    path: path.clone(),
                    source,
                })?
                .len();
            let mut h = file_header(size);
            let hex = digest.trim_start_matches("sha256:");
            tar.append_data(&mut h, format!("blobs/sha256/{hex}"), f)
                .map_err(io_err)?;
        }
        let mut h = file_header(index_raw.len() as u64);
        tar.append_data(&mut h, "index.json", &index_raw[..])
            .map_err(io_err)?;
        let mut h = file_header(OCI_LAYOUT_CONTENT.len() as u64);
        tar.append_data(&mut h, "oci-layout", OCI_LAYOUT_CONTENT.as_bytes())
            .map_err(io_err)?;
        tar.into_inner().map_err(io_err)?.flush().map_err(io_err)?;
        Ok(())
    }
}

/// Finds a root for `image` in a layout index (name first, then a pinned digest).
pub(crate) fn find_in_index(index: &Index, image: &ImageRef) -> Option<Descriptor> {
    let named = |key: &str, n: &str| {
        index.manifests.iter().rev().find(|d| {
            d.annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .is_some_and(|v| v == n)
        })
    };
    named(ANNOTATION_REF_NAME, image.cache_name())
        .or_else(|| named(ANNOTATION_CONTAINERD_NAME, image.cache_name()))
        .or_else(|| named(ANNOTATION_CONTAINERD_NAME, image.original()))
        .or_else(|| {
            let digest = image.digest()?;
            index.manifests.iter().find(|d| &d.digest == digest)
        })
        .cloned()
}

#[derive(Debug, serde::Deserialize)]
struct DockerSaveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

fn sniff_gzip(path: &Path) -> bool {
    let mut m = [0u8; 2];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut m))
        .is_ok()
        && m == [0x1f, 0x8b]
}

fn peek(r: &mut io::BufReader<fs::File>, buf: &mut [u8]) -> io::Result<usize> {
    use io::BufRead as _;
    let avail = r.fill_buf()?;
    let n = avail.len().min(buf.len());
    buf[..n].copy_from_slice(&avail[..n]);
    Ok(n)
}

fn read(path: &Path) -> Result<Vec<u8>, ResolveError> {
    fs::read(path).map_err(|source| ResolveError::Io {
        path: path.to_path_buf(),
        source,
    })
}
