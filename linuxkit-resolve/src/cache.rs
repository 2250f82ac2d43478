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

use linuxkit_oci::layout::OciLayout;
use linuxkit_oci::store::{
    media, Descriptor, Index, Manifest, Platform, ResolvedImage, StoreError,
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
};
use linuxkit_oci::write::{sha256_hex, LayoutWriter, OCI_LAYOUT_CONTENT};

use crate::error::ResolveError;
use crate::reference::{expand, ImageRef};

/// One named root of the cache (`cache ls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The name (`org.opencontainers.image.ref.name`, else `io.containerd.image.name`).
    pub name: String,
    /// The root digest.
    pub digest: String,
    /// The root media type (index or manifest).
    pub media_type: String,
    /// Size of the root document.
    pub size: u64,
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
        let index = self.reader.index()?;
        Ok(find_in_index(&index, image))
    }

    /// Resolves a cached root for `platform`. Returns `Ok(None)` when blobs of the selected
    /// manifest are missing (another platform of the index was cached): the caller pulls.
    pub fn resolve_root(
        &self,
        reference: &str,
        root: Descriptor,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let blobs = self.reader.blobs_dir();
        if media::is_index(&root.media_type) {
            // Check the selected manifest exists before reading it (partial index caches).
            let raw = self.reader.read_blob(&root.digest, reference)?;
            let index: Index = serde_json::from_slice(&raw).map_err(|source| StoreError::Json {
                what: format!("index of {reference}"),
                source,
            })?;
            let m = linuxkit_oci::layout::select_platform(reference, &index, platform)?;
            if !linuxkit_oci::store::blob_path(&blobs, &m.digest).is_file() {
                return Ok(None);
            }
        }
        let img = self.reader.resolve_descriptor(reference, root, platform)?;
        if img.layers.iter().any(|l| !l.path.is_file()) {
            return Ok(None);
        }
        Ok(Some(img))
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
        let blobs = self.writer.blobs_dir();
        let mut deleted = 0;
        for entry in fs::read_dir(&blobs).map_err(|source| ResolveError::Io {
            path: blobs.clone(),
            source,
        })? {
            let entry = entry.map_err(|source| ResolveError::Io {
                path: blobs.clone(),
                source,
            })?;
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if !live.contains(&digest) && fs::remove_file(entry.path()).is_ok() {
                deleted += 1;
            }
        }
        Ok(deleted)
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
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if sha256_hex(&digest).is_err() || self.writer.has_blob(&digest) {
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
        let mut stored: BTreeMap<String, (String, u64)> = BTreeMap::new();
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
                let digest = format!("sha256:{hex}");
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
        stored: &BTreeMap<String, (String, u64)>,
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
        ann.insert(ANNOTATION_CONTAINERD_NAME.to_string(), image.name.clone());
        ann.insert(ANNOTATION_REF_NAME.to_string(), image.name.clone());
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
    named(ANNOTATION_REF_NAME, &image.name)
        .or_else(|| named(ANNOTATION_CONTAINERD_NAME, &image.name))
        .or_else(|| named(ANNOTATION_CONTAINERD_NAME, &image.original))
        .or_else(|| {
            let digest = image.digest.as_deref()?;
            index.manifests.iter().find(|d| d.digest == digest)
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
