//! The OCI artifact one version of a system is pushed as.
//!
//! An OCI image manifest (so every registry stores it, Debian's distribution 2.8 included)
//! with its own `artifactType`, the empty config of the OCI 1.1 artifact guidance, and layers:
//! the UKI, and, for a `--verity` build, the dm-verity root partition (squashfs and hash tree)
//! the UKI's command line names by its root hash. Annotations say what it is: the image name,
//! version, architecture and the digest of the definition's `linuxkit.lock`.

use std::collections::BTreeMap;

use linuxkit_validate::Digest;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// The artifact type of a system version.
pub const ARTIFACT_TYPE: &str = "application/vnd.cargo-linuxkit.system.v1";
/// The media type of the UKI layer.
pub const UKI_MEDIA_TYPE: &str = "application/vnd.cargo-linuxkit.system.uki.v1";
/// The media type of the dm-verity root layer.
pub const VERITY_ROOT_MEDIA_TYPE: &str = "application/vnd.cargo-linuxkit.system.verity-root.v1";
/// The OCI image manifest media type.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The empty config's media type (OCI 1.1).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config's contents.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// The empty config's digest.
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// The image name.
pub const ANNOTATION_NAME: &str = "org.opencontainers.image.title";
/// The version.
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
/// The architecture (`amd64`, `arm64`).
pub const ANNOTATION_ARCH: &str = "dev.cargo-linuxkit.system.architecture";
/// `sha256:` of the definition's `linuxkit.lock` (absent without a lockfile).
pub const ANNOTATION_LOCK: &str = "dev.cargo-linuxkit.system.lock";
/// The file name of a layer (the UKI: `<name>.efi`).
pub const ANNOTATION_LAYER_TITLE: &str = "org.opencontainers.image.title";

/// A content descriptor (the OCI fields an artifact uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// Media type.
    pub media_type: String,
    /// Its digest (checked when the manifest is read).
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What a system artifact says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    /// The image name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its architecture.
    pub architecture: String,
    /// Digest of the definition's lockfile.
    pub lock: Option<String>,
}

impl SystemInfo {
    /// `name version`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// A parsed system artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemArtifact {
    /// Its annotations.
    pub info: SystemInfo,
    /// The UKI.
    pub uki: Blob,
    /// The dm-verity root, for `--verity` builds.
    pub verity_root: Option<Blob>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    config: Blob,
    #[serde(default)]
    layers: Vec<Blob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

/// Why a manifest is not a usable system artifact.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArtifactError {
    /// Not an OCI image manifest.
    #[error("not an OCI image manifest: {0}")]
    NotAManifest(String),
    /// Another kind of artifact or an image.
    #[error(
        "it is {found}, not a cargo-linuxkit system (artifactType {ARTIFACT_TYPE}, pushed by `cargo linuxkit push`)"
    )]
    WrongType {
        /// What it is instead.
        found: String,
    },
    /// No UKI layer, or several.
    #[error("it has {0} UKI layers (expected one of media type {UKI_MEDIA_TYPE})")]
    Layers(usize),
    /// A required annotation is missing.
    #[error("its annotation {0} is missing")]
    Missing(&'static str),
}

/// The manifest of a system artifact: the empty config, the UKI (and the verity root), and
/// the annotations of `info`. Same inputs, same bytes.
pub fn manifest(info: &SystemInfo, uki: Blob, verity_root: Option<Blob>) -> Vec<u8> {
    let mut annotations = BTreeMap::new();
    annotations.insert(ANNOTATION_NAME.to_string(), info.name.clone());
    annotations.insert(ANNOTATION_VERSION.to_string(), info.version.clone());
    annotations.insert(ANNOTATION_ARCH.to_string(), info.architecture.clone());
    if let Some(lock) = &info.lock {
        annotations.insert(ANNOTATION_LOCK.to_string(), lock.clone());
    }
    let m = Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        artifact_type: Some(ARTIFACT_TYPE.into()),
        config: empty_config(),
        layers: std::iter::once(uki).chain(verity_root).collect(),
        annotations: Some(annotations),
    };
    serde_json::to_vec(&m).unwrap_or_default()
}

/// The descriptor of the empty config ([`EMPTY_CONFIG`]).
pub fn empty_config() -> Blob {
    Blob {
        media_type: EMPTY_MEDIA_TYPE.into(),
        digest: Digest::from_sha256_sum(sha2::Sha256::digest(EMPTY_CONFIG).into()),
        size: EMPTY_CONFIG.len() as u64,
        annotations: None,
    }
}

/// Parses and checks a system artifact's manifest.
pub fn parse(raw: &[u8]) -> Result<SystemArtifact, ArtifactError> {
    let probe: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| ArtifactError::NotAManifest(e.to_string()))?;
    if probe.get("manifests").is_some() {
        return Err(ArtifactError::WrongType {
            found: "an image index".into(),
        });
    }
    let m: Manifest =
        serde_json::from_value(probe).map_err(|e| ArtifactError::NotAManifest(e.to_string()))?;
    let kind = m
        .artifact_type
        .clone()
        .unwrap_or_else(|| m.config.media_type.clone());
    if kind != ARTIFACT_TYPE {
        let found = if m.artifact_type.is_some() {
            format!("an artifact of type {kind}")
        } else {
            format!("an image (config {kind})")
        };
        return Err(ArtifactError::WrongType { found });
    }
    let ukis: Vec<&Blob> = m
        .layers
        .iter()
        .filter(|l| l.media_type == UKI_MEDIA_TYPE)
        .collect();
    if ukis.len() != 1 {
        return Err(ArtifactError::Layers(ukis.len()));
    }
    let annotations = m.annotations.unwrap_or_default();
    let get = |k: &'static str| annotations.get(k).cloned().ok_or(ArtifactError::Missing(k));
    Ok(SystemArtifact {
        info: SystemInfo {
            name: get(ANNOTATION_NAME)?,
            version: get(ANNOTATION_VERSION)?,
            architecture: get(ANNOTATION_ARCH)?,
            lock: annotations.get(ANNOTATION_LOCK).cloned(),
        },
        uki: ukis[0].clone(),
        verity_root: m
            .layers
            .iter()
            .find(|l| l.media_type == VERITY_ROOT_MEDIA_TYPE)
            .cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> SystemInfo {
        SystemInfo {
            name: "os".into(),
            version: "2.0".into(),
            architecture: "amd64".into(),
            lock: Some("sha256:aa".into()),
        }
    }

    fn uki() -> Blob {
        Blob {
            media_type: UKI_MEDIA_TYPE.into(),
            digest: Digest::from_sha256_sum([0xbb; 32]),
            size: 5,
            annotations: None,
        }
    }

    #[test]
    fn the_empty_config_has_the_documented_digest() {
        assert_eq!(empty_config().digest, EMPTY_DIGEST);
    }

    #[test]
    fn a_layer_digest_that_is_not_sha256_is_refused() {
        let raw = String::from_utf8(manifest(&info(), uki(), None)).unwrap();
        let bad = raw.replace(&uki().digest.to_string(), "sha512:bb");
        assert!(
            matches!(parse(bad.as_bytes()), Err(ArtifactError::NotAManifest(m)) if m.contains("sha512"))
        );
    }

    #[test]
    fn manifests_round_trip() {
        let raw = manifest(&info(), uki(), None);
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(text.contains(r#""artifactType":"application/vnd.cargo-linuxkit.system.v1""#));
        let a = parse(&raw).unwrap();
        assert_eq!(a.info, info());
        assert_eq!(a.uki, uki());
        assert_eq!(a.verity_root, None);
        assert_eq!(raw, manifest(&info(), uki(), None));
    }

    #[test]
    fn other_content_is_refused_with_what_it_is() {
        let image = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:CC","size":3},
            "layers":[]}"#
            .replace("CC", &"c".repeat(64));
        let e = parse(image.as_bytes()).unwrap_err();
        assert!(
            e.to_string()
                .contains("an image (config application/vnd.oci.image.config.v1+json)"),
            "{e}"
        );
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(parse(index)
            .unwrap_err()
            .to_string()
            .contains("an image index"));
        let other = String::from_utf8(manifest(&info(), uki(), None))
            .unwrap()
            .replace(ARTIFACT_TYPE, "application/vnd.example.sbom");
        assert!(parse(other.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("an artifact of type application/vnd.example.sbom"));
        let no_arch = String::from_utf8(manifest(&info(), uki(), None))
            .unwrap()
            .replace(ANNOTATION_ARCH, "x");
        assert_eq!(
            parse(no_arch.as_bytes()).unwrap_err(),
            ArtifactError::Missing(ANNOTATION_ARCH)
        );
        assert!(matches!(
            parse(b"nope"),
            Err(ArtifactError::NotAManifest(_))
        ));
    }
}
