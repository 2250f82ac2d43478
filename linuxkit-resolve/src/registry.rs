//! Registry access with oci-client: endpoints (mirrors, HTTP for loopback and insecure
//! registries), credentials, retries, and pulling/pushing whole images into/out of a layout.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::try_join_all;
use futures_util::StreamExt as _;
use linuxkit_oci::layout::{select_platform, OciLayout};
use linuxkit_oci::store::{media, Descriptor, Index, Manifest, Platform};
use linuxkit_oci::write::{LayoutWriter, WriteError};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::sync::Semaphore;

use crate::auth::Credentials;
use crate::error::{FailureKind, ResolveError};
use crate::progress::{ImageProgress, Progress};
use crate::reference::{is_loopback_host, ImageRef};

const ACCEPTED_MANIFESTS: &[&str] = &[
    media::OCI_INDEX,
    media::OCI_MANIFEST,
    media::DOCKER_LIST,
    media::DOCKER_MANIFEST,
];

/// A registry mirror: requests for `registry` go to `url` instead
/// (`docker.io=http://127.0.0.1:5000`, `127.0.0.1:5000=http://127.0.0.1:5055`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The registry being mirrored, as in references (`docker.io`, `host:port`).
    pub registry: String,
    /// The mirror's host and port.
    pub host: String,
    /// Plain HTTP (`http://`) rather than HTTPS.
    pub http: bool,
}

impl Mirror {
    /// Parses `registry=url` (LinuxKit's `--mirror` syntax). A URL without scheme is HTTPS.
    pub fn parse(spec: &str) -> Result<Self, ResolveError> {
        let bad = |why: &str| {
            ResolveError::Options(format!(
                "invalid mirror {spec:?}: {why} (expected REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5000)"
            ))
        };
        let (registry, url) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
        let registry = registry.trim();
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            "docker.io"
        } else {
            registry
        };
        let (http, rest) = if let Some(r) = url.strip_prefix("http://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (false, r)
        } else {
            (false, url)
        };
        let host = rest.split('/').next().unwrap_or("").trim();
        if registry.is_empty() || host.is_empty() {
            return Err(bad("empty registry or host"));
        }
        Ok(Mirror {
            registry: registry.to_string(),
            host: host.to_string(),
            http,
        })
    }
}

/// Retry policy for transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub initial_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(250),
        }
    }
}

/// Where requests for an image go.
#[derive(Debug, Clone)]
struct Endpoint {
    host: String,
    http: bool,
}

/// Connection settings of [`Registry`].
#[derive(Debug, Clone)]
pub(crate) struct RegistryConfig {
    pub mirrors: Vec<Mirror>,
    pub insecure: Vec<String>,
    pub retry: RetryPolicy,
    pub read_timeout: Option<Duration>,
    pub max_downloads: usize,
}

/// Registry access shared by concurrent pulls.
pub(crate) struct Registry {
    config: RegistryConfig,
    creds: Credentials,
    clients: Mutex<HashMap<(String, bool), Client>>,
    downloads: Arc<Semaphore>,
    progress: Progress,
    /// Attempts repeated after a transient failure, over all operations.
    retries: AtomicU64,
}

/// What one pull needs everywhere.
struct PullCtx<'a> {
    image: &'a ImageRef,
    endpoint: Endpoint,
    client: Client,
    auth: RegistryAuth,
    writer: &'a LayoutWriter,
    progress: ImageProgress,
}

impl Registry {
    pub(crate) fn new(config: RegistryConfig, creds: Credentials, progress: Progress) -> Self {
        // reqwest is built without a default crypto provider: use ring (pure Rust + asm, no C
        // library). Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let downloads = Arc::new(Semaphore::new(config.max_downloads.max(1)));
        Registry {
            config,
            creds,
            clients: Mutex::new(HashMap::new()),
            downloads,
            progress,
            retries: AtomicU64::new(0),
        }
    }

    /// How many attempts were repeated after a transient failure so far.
    pub(crate) fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    fn endpoint(&self, registry: &str) -> Endpoint {
        if let Some(m) = self.config.mirrors.iter().find(|m| m.registry == registry) {
            return Endpoint {
                host: m.host.clone(),
                http: m.http,
            };
        }
        let http = is_loopback_host(registry) || self.config.insecure.iter().any(|i| i == registry);
        Endpoint {
            host: registry.to_string(),
            http,
        }
    }

    fn client(&self, ep: &Endpoint) -> Result<Client, ResolveError> {
        let key = (ep.host.clone(), ep.http);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let config = ClientConfig {
            protocol: if ep.http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            read_timeout: self.config.read_timeout,
            connect_timeout: Some(Duration::from_secs(15)),
            platform_resolver: None,
            user_agent: concat!("cargo-linuxkit/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| {
            ResolveError::Options(format!("cannot set up an HTTP client for {}: {e}", ep.host))
        })?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    fn oci_ref(ep: &Endpoint, image: &ImageRef, object: &str) -> Reference {
        if object.starts_with("sha256:") {
            Reference::with_digest(
                ep.host.clone(),
                image.repository.clone(),
                object.to_string(),
            )
        } else {
            Reference::with_tag(
                ep.host.clone(),
                image.repository.clone(),
                object.to_string(),
            )
        }
    }

    /// Runs `op` with retries and exponential backoff while it fails transiently (each retry is
    /// counted and announced with a `Retrying` status line). Other failures, an unknown host
    /// among them, are returned at once.
    async fn retry<T, F, Fut>(&self, mut op: F) -> Result<T, ResolveError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ResolveError>>,
    {
        let mut delay = self.config.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(ResolveError::Registry {
                    kind: FailureKind::Transient,
                    reference,
                    registry,
                    reason,
                }) => {
                    if attempt >= self.config.retry.attempts.max(1) {
                        return Err(ResolveError::Registry {
                            kind: FailureKind::Transient,
                            reference,
                            registry,
                            reason: format!("{reason} (after {attempt} attempts)"),
                        });
                    }
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    self.progress.status(
                        "Retrying",
                        &format!(
                            "{reference} from {registry} (attempt {} of {}): {reason}",
                            attempt + 1,
                            self.config.retry.attempts.max(1)
                        ),
                    );
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Pulls `image` into `writer` (blobs first, then manifests, then the root descriptor named
    /// `image.name`); returns the root descriptor.
    pub(crate) async fn pull(
        &self,
        image: &ImageRef,
        platform: &Platform,
        writer: &LayoutWriter,
        all_platforms: bool,
    ) -> Result<Descriptor, ResolveError> {
        self.pull_as(image, platform, writer, all_platforms, Some(&image.name))
            .await
    }

    /// The context of operations on `image`'s repository: endpoint, client, credentials.
    fn ctx<'a>(
        &self,
        image: &'a ImageRef,
        writer: &'a LayoutWriter,
    ) -> Result<PullCtx<'a>, ResolveError> {
        let endpoint = self.endpoint(&image.registry);
        let client = self.client(&endpoint)?;
        let auth = self.creds.for_registry(&endpoint.host)?;
        Ok(PullCtx {
            image,
            client,
            auth,
            writer,
            progress: self.progress.image(&image.name),
            endpoint,
        })
    }

    /// [`Registry::pull`], naming the root `name` in the layout (or not naming it at all).
    pub(crate) async fn pull_as(
        &self,
        image: &ImageRef,
        platform: &Platform,
        writer: &LayoutWriter,
        all_platforms: bool,
        name: Option<&str>,
    ) -> Result<Descriptor, ResolveError> {
        let ctx = self.ctx(image, writer)?;
        let (raw, root) = self.fetch_manifest(&ctx, image.object()).await?;
        if let Some(pinned) = &image.digest {
            if *pinned != root.digest {
                return Err(ctx.fail(
                    FailureKind::DigestMismatch,
                    format!("manifest digest is {}, expected {pinned}", root.digest),
                ));
            }
        }
        if media::is_index(&root.media_type) {
            let index: Index = serde_json::from_slice(&raw)
                .map_err(|e| ctx.fail(FailureKind::Other, format!("invalid image index: {e}")))?;
            let selected = select_platform(&image.original, &index, platform)?;
            let children: Vec<Descriptor> = if all_platforms {
                index
                    .manifests
                    .iter()
                    .filter(|d| !media::is_index(&d.media_type))
                    .cloned()
                    .collect()
            } else {
                // The selected platform and its attestations (SBOMs), as upstream's cache keeps
                // the whole index: `build` merges the SBOMs into the image's.
                let mut children = vec![selected];
                children.extend(
                    linuxkit_oci::attestation::attestations_for(&index, &children[0].digest)
                        .into_iter()
                        .cloned(),
                );
                children
            };
            try_join_all(children.iter().map(|child| async {
                let (craw, cdesc) = self.fetch_manifest(&ctx, &child.digest).await?;
                if cdesc.digest != child.digest {
                    return Err(ctx.fail(
                        FailureKind::DigestMismatch,
                        format!("manifest {} has digest {}", child.digest, cdesc.digest),
                    ));
                }
                self.fetch_image(&ctx, &craw).await?;
                ctx.put(&craw, &child.media_type)
            }))
            .await?;
        } else {
            self.fetch_image(&ctx, &raw).await?;
        }
        ctx.put(&raw, &root.media_type)?;
        let stored = match name {
            Some(name) => ctx
                .writer
                .add_root(&root, name)
                .map_err(|e| ResolveError::write(&image.original, e))?,
            None => root.clone(),
        };
        ctx.progress.done(&root.digest);
        Ok(stored)
    }

    /// The manifest or index `image` names (by tag or digest, verified), or `None` when the
    /// registry does not have it.
    pub(crate) async fn manifest(
        &self,
        image: &ImageRef,
        writer: &LayoutWriter,
    ) -> Result<Option<(Vec<u8>, Descriptor)>, ResolveError> {
        let ctx = self.ctx(image, writer)?;
        match self.fetch_manifest(&ctx, image.object()).await {
            Ok(found) => Ok(Some(found)),
            Err(ResolveError::Registry {
                kind: FailureKind::NotFound,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Fetches blobs of `image`'s repository, in parallel, each to its path: verified against
    /// its digest and size in memory, then written to a temporary file next to the path and
    /// renamed. One result per blob.
    pub(crate) async fn blobs_to_files(
        &self,
        image: &ImageRef,
        writer: &LayoutWriter,
        blobs: &[(Descriptor, std::path::PathBuf)],
    ) -> Result<Vec<Result<(), ResolveError>>, ResolveError> {
        let ctx = self.ctx(image, writer)?;
        ctx.client
            .store_auth_if_needed(&ctx.endpoint.host, &ctx.auth)
            .await;
        Ok(futures_util::future::join_all(
            blobs
                .iter()
                .map(|(desc, path)| self.blob_to_file(&ctx, desc, path)),
        )
        .await)
    }

    async fn blob_to_file(
        &self,
        ctx: &PullCtx<'_>,
        desc: &Descriptor,
        path: &std::path::Path,
    ) -> Result<(), ResolveError> {
        linuxkit_oci::write::sha256_hex(&desc.digest).map_err(|e| {
            ctx.fail(
                FailureKind::Other,
                format!("a bad digest {}: {e}", desc.digest),
            )
        })?;
        let _permit = self
            .downloads
            .acquire()
            .await
            .map_err(|e| ctx.fail(FailureKind::Other, e.to_string()))?;
        let oref = Self::oci_ref(&ctx.endpoint, ctx.image, &desc.digest);
        let layer = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: desc.size as i64,
            ..OciDescriptor::default()
        };
        let bytes = self
            .retry(|| async {
                let mut stream = ctx
                    .client
                    .pull_blob_stream(&oref, &layer)
                    .await
                    .map_err(|e| ctx.classify(e))?;
                let mut buf = Vec::with_capacity(desc.size.min(64 << 20) as usize);
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| ctx.classify_io(e, &desc.digest))?;
                    if (buf.len() + chunk.len()) as u64 > desc.size {
                        return Err(ctx.fail(
                            FailureKind::DigestMismatch,
                            format!(
                                "blob {} is larger than its {} bytes",
                                desc.digest, desc.size
                            ),
                        ));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(buf)
            })
            .await?;
        let digest = linuxkit_oci::digest::sha256_digest(&bytes);
        if digest != desc.digest || bytes.len() as u64 != desc.size {
            return Err(ctx.fail(
                FailureKind::DigestMismatch,
                format!(
                    "blob {} has digest {digest} ({} bytes, expected {})",
                    desc.digest,
                    bytes.len(),
                    desc.size
                ),
            ));
        }
        let io_err = |source| ResolveError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err)?;
        std::io::Write::write_all(&mut tmp, &bytes).map_err(io_err)?;
        tmp.persist(path).map_err(|e| io_err(e.error))?;
        Ok(())
    }

    /// Pushes blobs from files to `target`'s repository (those it lacks), in parallel; the
    /// first failure stops the others. Returns how many were uploaded.
    pub(crate) async fn push_blob_files(
        &self,
        target: &ImageRef,
        blobs: &[(Descriptor, std::path::PathBuf)],
    ) -> Result<usize, ResolveError> {
        let endpoint = self.endpoint(&target.registry);
        let client = self.client(&endpoint)?;
        let auth = self.creds.for_registry(&endpoint.host)?;
        let fail = |reason: String| ResolveError::Push {
            reference: target.name.clone(),
            target: endpoint.host.clone(),
            reason,
        };
        let oref = Self::oci_ref(&endpoint, target, target.object());
        client
            .auth(&oref, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| fail(format!("authentication: {e}")))?;
        let uploaded = AtomicU64::new(0);
        try_join_all(blobs.iter().map(|(blob, path)| {
            let (client, oref, uploaded) = (&client, &oref, &uploaded);
            async move {
                let _permit = self
                    .downloads
                    .acquire()
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                let exists = self
                    .retry(|| async {
                        client
                            .blob_exists(oref, &blob.digest)
                            .await
                            .map_err(|e| self.classify_push(e, target))
                    })
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                if exists {
                    return Ok(());
                }
                self.retry(|| async {
                    let stream = file_stream(path).map_err(|source| ResolveError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    client
                        .push_blob_stream(oref, stream, &blob.digest, Some(blob.size))
                        .await
                        .map_err(|e| self.classify_push(e, target))
                })
                .await
                .map_err(|e| fail(format!("blob {}: {}", blob.digest, reason_of(e))))?;
                uploaded.fetch_add(1, Ordering::Relaxed);
                Ok::<(), ResolveError>(())
            }
        }))
        .await?;
        Ok(uploaded.load(Ordering::Relaxed) as usize)
    }

    /// Pushes a manifest document under `target`'s tag or digest.
    pub(crate) async fn put_manifest(
        &self,
        target: &ImageRef,
        raw: Vec<u8>,
        media_type: &str,
    ) -> Result<(), ResolveError> {
        let endpoint = self.endpoint(&target.registry);
        let client = self.client(&endpoint)?;
        let auth = self.creds.for_registry(&endpoint.host)?;
        let oref = Self::oci_ref(&endpoint, target, target.object());
        let fail = |reason: String| ResolveError::Push {
            reference: target.name.clone(),
            target: endpoint.host.clone(),
            reason,
        };
        client
            .auth(&oref, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| fail(format!("authentication: {e}")))?;
        self.push_manifest(&client, &oref, raw, media_type, target)
            .await
            .map_err(|e| fail(format!("manifest: {}", reason_of(e))))
    }

    /// Fetches a manifest or index by tag or digest, verifying its digest.
    async fn fetch_manifest(
        &self,
        ctx: &PullCtx<'_>,
        object: &str,
    ) -> Result<(Vec<u8>, Descriptor), ResolveError> {
        let oref = Self::oci_ref(&ctx.endpoint, ctx.image, object);
        let (raw, _) = self
            .retry(|| async {
                ctx.client
                    .pull_manifest_raw(&oref, &ctx.auth, ACCEPTED_MANIFESTS)
                    .await
                    .map_err(|e| ctx.classify(e))
            })
            .await?;
        let digest = linuxkit_oci::digest::sha256_digest(&raw);
        if object.starts_with("sha256:") && object != digest {
            return Err(ctx.fail(
                FailureKind::DigestMismatch,
                format!("manifest {object} has digest {digest}"),
            ));
        }
        let media_type = manifest_media_type(&raw).ok_or_else(|| {
            ctx.fail(
                FailureKind::Other,
                format!("{object}: not an OCI/Docker v2 manifest or index (schema 1 manifests are not supported)"),
            )
        })?;
        let size = raw.len() as u64;
        Ok((
            raw.to_vec(),
            Descriptor {
                media_type,
                digest,
                size,
                platform: None,
                annotations: None,
            },
        ))
    }

    /// Fetches the config and layers of an image manifest (missing blobs only, in parallel).
    async fn fetch_image(&self, ctx: &PullCtx<'_>, raw: &[u8]) -> Result<(), ResolveError> {
        let manifest: Manifest = serde_json::from_slice(raw)
            .map_err(|e| ctx.fail(FailureKind::Other, format!("invalid image manifest: {e}")))?;
        let blobs: Vec<&Descriptor> = std::iter::once(&manifest.config)
            .chain(manifest.layers.iter())
            .filter(|d| !ctx.writer.has_blob(&d.digest))
            .collect();
        ctx.progress
            .add_total(blobs.iter().map(|d| d.size).sum::<u64>());
        try_join_all(blobs.into_iter().map(|d| self.fetch_blob(ctx, d))).await?;
        Ok(())
    }

    async fn fetch_blob(&self, ctx: &PullCtx<'_>, desc: &Descriptor) -> Result<(), ResolveError> {
        linuxkit_oci::write::sha256_hex(&desc.digest).map_err(|e| {
            ctx.fail(
                FailureKind::Other,
                format!("manifest lists a bad digest: {e}"),
            )
        })?;
        let _permit = self
            .downloads
            .acquire()
            .await
            .map_err(|e| ctx.fail(FailureKind::Other, e.to_string()))?;
        if ctx.writer.has_blob(&desc.digest) {
            return Ok(());
        }
        let oref = Self::oci_ref(&ctx.endpoint, ctx.image, &desc.digest);
        let layer = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: desc.size as i64,
            ..OciDescriptor::default()
        };
        self.retry(|| async {
            let mut stream = ctx
                .client
                .pull_blob_stream(&oref, &layer)
                .await
                .map_err(|e| ctx.classify(e))?;
            let mut w = ctx
                .writer
                .blob_writer()
                .map_err(|e| ResolveError::write(&ctx.image.original, e))?;
            let mut got = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        // Count the retry's bytes from zero again.
                        ctx.progress.add_total(got);
                        return Err(ctx.classify_io(e, &desc.digest));
                    }
                };
                w.write(&chunk)
                    .map_err(|e| ResolveError::write(&ctx.image.original, e))?;
                got += chunk.len() as u64;
                ctx.progress.inc(chunk.len() as u64);
            }
            tokio::task::block_in_place(|| w.commit(&desc.media_type, Some(&desc.digest)))
                .map_err(|e| match e {
                    WriteError::DigestMismatch { expected, actual } => ctx.fail(
                        FailureKind::DigestMismatch,
                        format!("blob {expected} has digest {actual}"),
                    ),
                    e => ResolveError::write(&ctx.image.original, e),
                })?;
            Ok(())
        })
        .await
    }

    /// Pushes the image `root` of `layout` to `target` (blobs the registry lacks, child
    /// manifests by digest, then the root under the target's tag or digest).
    pub(crate) async fn push(
        &self,
        layout: &OciLayout,
        root: &Descriptor,
        source_name: &str,
        target: &ImageRef,
    ) -> Result<(), ResolveError> {
        let endpoint = self.endpoint(&target.registry);
        let client = self.client(&endpoint)?;
        let auth = self.creds.for_registry(&endpoint.host)?;
        let fail = |reason: String| ResolveError::Push {
            reference: source_name.to_string(),
            target: target.name.clone(),
            reason,
        };
        let tag_ref = Self::oci_ref(&endpoint, target, target.object());
        client
            .auth(&tag_ref, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| fail(format!("authentication: {e}")))?;
        let root_raw = layout.read_blob(&root.digest, source_name)?;
        let mut manifests = Vec::new();
        if media::is_index(&root.media_type) {
            let index: Index = serde_json::from_slice(&root_raw)
                .map_err(|e| fail(format!("invalid index: {e}")))?;
            for child in index.manifests {
                // Only platforms present in the cache are pushed (the cache may hold one).
                if layout
                    .blobs_dir()
                    .join(child.digest.trim_start_matches("sha256:"))
                    .is_file()
                {
                    manifests.push(child);
                }
            }
        }
        let push_one = |desc: Descriptor| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            async move {
                let raw = layout.read_blob(&desc.digest, source_name)?;
                let manifest: Manifest = serde_json::from_slice(&raw)
                    .map_err(|e| fail(format!("invalid manifest {}: {e}", desc.digest)))?;
                let oref = Self::oci_ref(&endpoint, target, &desc.digest);
                for blob in std::iter::once(&manifest.config).chain(manifest.layers.iter()) {
                    let exists = self
                        .retry(|| async {
                            client
                                .blob_exists(&oref, &blob.digest)
                                .await
                                .map_err(|e| self.classify_push(e, target))
                        })
                        .await?;
                    if exists {
                        continue;
                    }
                    let path = layout
                        .blobs_dir()
                        .join(blob.digest.trim_start_matches("sha256:"));
                    self.progress.status("Uploading", &blob.digest);
                    self.retry(|| async {
                        let stream = file_stream(&path).map_err(|source| ResolveError::Io {
                            path: path.clone(),
                            source,
                        })?;
                        client
                            .push_blob_stream(&oref, stream, &blob.digest, Some(blob.size))
                            .await
                            .map_err(|e| self.classify_push(e, target))
                    })
                    .await?;
                }
                self.push_manifest(&client, &oref, raw, &desc.media_type, target)
                    .await
            }
        };
        if manifests.is_empty() {
            if media::is_index(&root.media_type) {
                return Err(fail("none of the index's manifests is in the cache".into()));
            }
            // A single manifest: push its blobs, then the manifest under the tag.
            let raw = root_raw.clone();
            let manifest: Manifest =
                serde_json::from_slice(&raw).map_err(|e| fail(format!("invalid manifest: {e}")))?;
            let _ = manifest;
            push_one(root.clone()).await?;
        } else {
            for m in manifests {
                push_one(m).await?;
            }
        }
        self.push_manifest(&client, &tag_ref, root_raw, &root.media_type, target)
            .await?;
        self.progress.status("Pushed", &target.name);
        Ok(())
    }

    async fn push_manifest(
        &self,
        client: &Client,
        oref: &Reference,
        raw: Vec<u8>,
        media_type: &str,
        target: &ImageRef,
    ) -> Result<(), ResolveError> {
        let content_type = http::HeaderValue::from_str(media_type)
            .map_err(|e| ResolveError::Options(format!("bad media type {media_type:?}: {e}")))?;
        let body = bytes::Bytes::from(raw);
        self.retry(|| async {
            client
                .push_manifest_raw(oref, body.clone(), content_type.clone())
                .await
                .map(|_| ())
                .map_err(|e| self.classify_push(e, target))
        })
        .await
    }

    fn classify_push(&self, e: OciDistributionError, target: &ImageRef) -> ResolveError {
        let (kind, reason) = classify(e);
        ResolveError::Registry {
            reference: target.original.clone(),
            registry: target.registry.clone(),
            kind,
            reason,
        }
    }
}

impl PullCtx<'_> {
    fn fail(&self, kind: FailureKind, reason: String) -> ResolveError {
        ResolveError::Registry {
            reference: self.image.original.clone(),
            registry: self.endpoint.host.clone(),
            kind,
            reason,
        }
    }

    fn classify(&self, e: OciDistributionError) -> ResolveError {
        let (kind, reason) = classify(e);
        self.fail(kind, reason)
    }

    fn classify_io(&self, e: std::io::Error, digest: &str) -> ResolveError {
        if let Some(d) = e.get_ref().and_then(|i| i.downcast_ref::<DigestError>()) {
            return self.fail(FailureKind::DigestMismatch, format!("blob {digest}: {d}"));
        }
        self.fail(FailureKind::Transient, format!("blob {digest}: {e}"))
    }

    fn put(&self, raw: &[u8], media_type: &str) -> Result<(), ResolveError> {
        self.writer
            .put_blob(raw, media_type)
            .map(|_| ())
            .map_err(|e| ResolveError::write(&self.image.original, e))
    }
}

/// The registry's or transport's words in a registry error (without the "pulling" frame).
fn reason_of(e: ResolveError) -> String {
    match e {
        ResolveError::Registry { reason, .. } => reason,
        e => e.to_string(),
    }
}

/// A file as a stream of 4 MiB chunks (blobs are pushed without being held in memory).
fn file_stream(
    path: &std::path::Path,
) -> std::io::Result<impl futures_util::Stream<Item = Result<bytes::Bytes, OciDistributionError>>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    Ok(futures_util::stream::unfold(
        Some(file),
        |state| async move {
            let mut file = state?;
            let mut buf = vec![0u8; 4 << 20];
            let mut filled = 0;
            while filled < buf.len() {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Some((Err(OciDistributionError::IoError(e)), None)),
                }
            }
            if filled == 0 {
                return None;
            }
            buf.truncate(filled);
            Some((Ok(bytes::Bytes::from(buf)), Some(file)))
        },
    ))
}

/// Sorts an oci-client error into permanent and transient failures.
fn classify(e: OciDistributionError) -> (FailureKind, String) {
    use OciDistributionError as E;
    let kind = match &e {
        E::ServerError { code, .. } => match code {
            401 | 403 => FailureKind::Unauthorized,
            404 => FailureKind::NotFound,
            408 | 429 | 500..=599 => FailureKind::Transient,
            _ => FailureKind::Other,
        },
        E::RegistryError { envelope, .. } => {
            let codes = format!("{:?}", envelope.errors).to_ascii_lowercase();
            if codes.contains("unauthorized") || codes.contains("denied") {
                FailureKind::Unauthorized
            } else if codes.contains("unknown") {
                FailureKind::NotFound
            } else if codes.contains("toomanyrequests") {
                FailureKind::Transient
            } else {
                FailureKind::Other
            }
        }
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => FailureKind::Unauthorized,
        E::ImageManifestNotFoundError(_) => FailureKind::NotFound,
        E::DigestError(_) => FailureKind::DigestMismatch,
        // A host name that does not resolve will not resolve a second later either: fail at
        // once instead of retrying (hyper's connector reports it as a "dns error" source of a
        // connect error; the type itself is private).
        E::RequestError(r) if r.is_connect() && is_dns_failure(r) => FailureKind::UnknownHost,
        E::RequestError(r) => {
            if r.is_timeout() || r.is_connect() || r.is_request() || r.is_body() || r.is_decode() {
                FailureKind::Transient
            } else {
                FailureKind::Other
            }
        }
        E::IoError(io) => {
            if io
                .get_ref()
                .is_some_and(|i| i.downcast_ref::<DigestError>().is_some())
            {
                FailureKind::DigestMismatch
            } else {
                FailureKind::Transient
            }
        }
        _ => FailureKind::Other,
    };
    (kind, error_chain(&e))
}

/// Whether a connect error failed in name resolution (rather than connecting).
fn is_dns_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.to_string().starts_with("dns error") {
            return true;
        }
        cur = c.source();
    }
    false
}

/// The error and its sources, joined (reqwest hides the useful part in sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// The media type of a manifest document: its `mediaType`, else guessed from its shape.
pub(crate) fn manifest_media_type(raw: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<u32>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(raw).ok()?;
    if p.schema_version != Some(2) {
        return None;
    }
    match p.media_type {
        Some(m) if ACCEPTED_MANIFESTS.contains(&m.as_str()) => Some(m),
        Some(_) => None,
        None if p.manifests.is_some() => Some(media::OCI_INDEX.to_string()),
        None if p.config.is_some() => Some(media::OCI_MANIFEST.to_string()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_specs() {
        let m = Mirror::parse("docker.io=http://127.0.0.1:5000").unwrap();
        assert_eq!(
            (m.registry.as_str(), m.host.as_str(), m.http),
            ("docker.io", "127.0.0.1:5000", true)
        );
        let m = Mirror::parse("127.0.0.1:5000=http://127.0.0.1:5055").unwrap();
        assert_eq!(
            (m.registry.as_str(), m.host.as_str()),
            ("127.0.0.1:5000", "127.0.0.1:5055")
        );
        let m = Mirror::parse("index.docker.io=mirror.example/v2").unwrap();
        assert_eq!(
            (m.registry.as_str(), m.host.as_str(), m.http),
            ("docker.io", "mirror.example", false)
        );
        assert!(Mirror::parse("docker.io").is_err());
        assert!(Mirror::parse("=http://x").is_err());
    }

    #[test]
    fn https_clients_build_with_the_ring_provider() {
        let reg = Registry::new(
            RegistryConfig {
                mirrors: vec![Mirror::parse("docker.io=http://127.0.0.1:1").unwrap()],
                insecure: vec!["insecure.example:5000".into()],
                retry: RetryPolicy::default(),
                read_timeout: None,
                max_downloads: 2,
            },
            Credentials::default(),
            Progress::new(crate::progress::ProgressMode::Quiet),
        );
        let ep = reg.endpoint("ghcr.io");
        assert!(!ep.http);
        reg.client(&ep).unwrap();
        assert!(reg.endpoint("insecure.example:5000").http);
        assert!(reg.endpoint("localhost:5000").http);
        let ep = reg.endpoint("docker.io");
        assert_eq!((ep.host.as_str(), ep.http), ("127.0.0.1:1", true));
    }

    #[test]
    fn media_type_probe() {
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(media::OCI_INDEX)
        );
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"config":{}}"#).as_deref(),
            Some(media::OCI_MANIFEST)
        );
        assert_eq!(manifest_media_type(br#"{"schemaVersion":1}"#), None);
    }
}
