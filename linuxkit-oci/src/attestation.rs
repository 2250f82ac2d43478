//! Attestation manifests: in-toto statements stored next to an image in its index, as BuildKit
//! (and so `linuxkit pkg build`) writes them and as LinuxKit's `build` reads them.
//!
//! An image index lists, besides the platform manifests, one manifest per attested image with
//! platform `unknown/unknown` and the annotations `vnd.docker.reference.type:
//! attestation-manifest` and `vnd.docker.reference.digest: <the image manifest digest>`. Its
//! layers are in-toto statements (`application/vnd.in-toto+json`), each annotated with its
//! predicate type; SBOMs have the SPDX predicate type and carry an SPDX JSON document as the
//! predicate.
//!
//! - [`spdx_predicates`] reads the SPDX predicates attached to a resolved image (upstream's
//!   `ImageSource.SBoMs`); an image that is not an index, or whose index has no attestation for
//!   the selected manifest, has none.
//! - [`statement`] wraps a predicate into an in-toto statement about an image manifest, and
//!   [`write_attested_index`] stores an image manifest and one attestation under an index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::store::{
    blob_path, media, Descriptor, Index, Manifest, Platform, ResolvedImage, StoreError,
};
use crate::write::{LayoutWriter, WriteError};

/// Annotation naming what an index entry refers to (`attestation-manifest`).
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// Annotation holding the digest of the manifest an attestation manifest is about.
pub const ANNOTATION_REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// The [`ANNOTATION_REFERENCE_TYPE`] value of attestation manifests.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";
/// Layer annotation holding the in-toto predicate type.
pub const ANNOTATION_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// Media type of in-toto statement layers.
pub const IN_TOTO_JSON: &str = "application/vnd.in-toto+json";
/// The in-toto predicate type of SPDX documents.
pub const PREDICATE_SPDX: &str = "https://spdx.dev/Document";
/// The in-toto statement type written by [`statement`] (as BuildKit writes).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// Is `d` an attestation manifest entry of an index (rather than a platform image)?
pub fn is_attestation(d: &Descriptor) -> bool {
    d.annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REFERENCE_TYPE))
        .is_some_and(|t| t == ATTESTATION_MANIFEST)
}

/// The attestation manifest entries of `index` about the manifest `digest`.
pub fn attestations_for<'i>(index: &'i Index, digest: &str) -> Vec<&'i Descriptor> {
    index
        .manifests
        .iter()
        .filter(|d| {
            is_attestation(d)
                && d.annotations
                    .as_ref()
                    .and_then(|a| a.get(ANNOTATION_REFERENCE_DIGEST))
                    .is_some_and(|x| x == digest)
        })
        .collect()
}

/// An in-toto statement subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The subject's name (BuildKit: a `pkg:docker/...` package URL).
    pub name: String,
    /// Digests by algorithm (`sha256` -> hex).
    pub digest: BTreeMap<String, String>,
}

/// An in-toto statement (v0.1 or v1): what a layer of an attestation manifest holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// The statement type.
    #[serde(rename = "_type")]
    pub kind: String,
    /// What the statement is about.
    #[serde(default)]
    pub subject: Vec<Subject>,
    /// The predicate type, e.g. [`PREDICATE_SPDX`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate (for SBOMs: the SPDX JSON document).
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// An in-toto statement (JSON bytes) saying `predicate` (of `predicate_type`) about the image
/// manifest `manifest`, named `name`.
pub fn statement(
    name: &str,
    manifest: &Descriptor,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> Vec<u8> {
    let hex = manifest
        .digest
        .strip_prefix("sha256:")
        .unwrap_or(&manifest.digest);
    let s = Statement {
        kind: STATEMENT_V01.to_string(),
        subject: vec![Subject {
            name: name.to_string(),
            digest: BTreeMap::from([("sha256".to_string(), hex.to_string())]),
        }],
        predicate_type: predicate_type.to_string(),
        predicate,
    };
    // A struct of strings and a JSON value always serialises.
    serde_json::to_vec(&s).expect("statement serialises")
}

/// The SPDX documents (raw JSON predicates) attached to `image` as attestations, in layer
/// order; empty when the image was not resolved from an index, or the index has no
/// attestation for the selected manifest, or the attestation manifest is not stored (caches
/// filled before attestations were fetched). Every blob read is checked against its digest.
pub fn spdx_predicates(image: &ResolvedImage) -> Result<Vec<serde_json::Value>, StoreError> {
    if !media::is_index(&image.root.media_type) {
        return Ok(Vec::new());
    }
    let reference = &image.reference;
    let index: Index =
        serde_json::from_slice(&read_verified(image, &image.root.digest)?).map_err(|source| {
            StoreError::Json {
                what: format!("index of {reference}"),
                source,
            }
        })?;
    let found = attestations_for(&index, &image.manifest_digest);
    let desc = match found.as_slice() {
        [] => return Ok(Vec::new()),
        [one] => *one,
        _ => {
            return Err(StoreError::Unsupported {
                reference: reference.clone(),
                message: format!(
                    "the index has {} attestation manifests for {}",
                    found.len(),
                    image.manifest_digest
                ),
            })
        }
    };
    if !blob_path(&image.blobs_dir, &desc.digest).is_file() {
        return Ok(Vec::new());
    }
    let manifest: Manifest =
        serde_json::from_slice(&read_verified(image, &desc.digest)?).map_err(|source| {
            StoreError::Json {
                what: format!("attestation manifest of {reference}"),
                source,
            }
        })?;
    let mut out = Vec::new();
    for layer in &manifest.layers {
        let predicate_type = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_PREDICATE_TYPE));
        if predicate_type.map(String::as_str) != Some(PREDICATE_SPDX)
            || layer.media_type != IN_TOTO_JSON
        {
            continue;
        }
        let raw = read_verified(image, &layer.digest)?;
        let st: Statement = serde_json::from_slice(&raw).map_err(|source| StoreError::Json {
            what: format!("in-toto statement {} of {reference}", layer.digest),
            source,
        })?;
        if st.predicate_type != PREDICATE_SPDX {
            return Err(StoreError::Unsupported {
                reference: reference.clone(),
                message: format!(
                    "attestation layer {} has predicate type {} but is annotated {PREDICATE_SPDX}",
                    layer.digest, st.predicate_type
                ),
            });
        }
        out.push(st.predicate);
    }
    Ok(out)
}

/// Reads a small blob of `image` and checks its digest.
fn read_verified(image: &ResolvedImage, digest: &Digest) -> Result<Vec<u8>, StoreError> {
    let path = blob_path(&image.blobs_dir, digest);
    let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
        path: path.clone(),
        source,
    })?;
    let actual = crate::digest::sha256_digest(&bytes);
    if actual != *digest {
        return Err(StoreError::DigestMismatch {
            reference: image.reference.clone(),
            digest: digest.to_string(),
            actual: actual.into_string(),
        });
    }
    Ok(bytes)
}

/// The image config of attestation manifests (as BuildKit writes it: no layers are run).
const ATTESTATION_CONFIG: &str = r#"{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestOut<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexOut<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: &'a [Descriptor],
}

/// Stores, next to the image manifest `image` (already in the layout, its descriptor carrying
/// its platform), an attestation manifest holding the in-toto `statement` of `predicate_type`,
/// and an index listing both; returns the index descriptor (not yet a root). Same inputs, same
/// digests.
pub fn write_attested_index(
    writer: &LayoutWriter,
    image: &Descriptor,
    statement: &[u8],
    predicate_type: &str,
) -> Result<Descriptor, WriteError> {
    let mut layer = writer.put_blob(statement, IN_TOTO_JSON)?;
    layer.annotations = Some(BTreeMap::from([(
        ANNOTATION_PREDICATE_TYPE.to_string(),
        predicate_type.to_string(),
    )]));
    let config = writer.put_blob(ATTESTATION_CONFIG.as_bytes(), media::OCI_CONFIG)?;
    let manifest = ManifestOut {
        schema_version: 2,
        media_type: media::OCI_MANIFEST,
        config: &config,
        layers: std::slice::from_ref(&layer),
    };
    let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let mut att = writer.put_blob(&bytes, media::OCI_MANIFEST)?;
    att.platform = Some(Platform {
        os: "unknown".into(),
        architecture: "unknown".into(),
        variant: None,
    });
    att.annotations = Some(BTreeMap::from([
        (
            ANNOTATION_REFERENCE_DIGEST.to_string(),
            image.digest.to_string(),
        ),
        (
            ANNOTATION_REFERENCE_TYPE.to_string(),
            ATTESTATION_MANIFEST.to_string(),
        ),
    ]));
    let mut image = image.clone();
    image.annotations = None;
    let manifests = [image, att];
    let index = IndexOut {
        schema_version: 2,
        media_type: media::OCI_INDEX,
        manifests: &manifests,
    };
    let bytes = serde_json::to_vec(&index).expect("index serialises");
    writer.put_blob(&bytes, media::OCI_INDEX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::OciLayout;
    use crate::store::ImageProvider;

    /// A one-layer image manifest in `w`, platform linux/amd64.
    fn image(w: &LayoutWriter) -> Descriptor {
        let layer = w
            .put_blob(b"not really a tar", media::OCI_LAYER_TAR)
            .unwrap();
        let config = w
            .put_blob(
                br#"{"architecture":"amd64","os":"linux","config":{}}"#,
                media::OCI_CONFIG,
            )
            .unwrap();
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
            "config": config, "layers": [layer],
        });
        let mut d = w
            .put_blob(&serde_json::to_vec(&m).unwrap(), media::OCI_MANIFEST)
            .unwrap();
        d.platform = Some(Platform::linux("amd64"));
        d
    }

    #[test]
    fn written_attestations_are_read_back_for_the_selected_manifest() {
        let t = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create_or_open(t.path()).unwrap();
        let img = image(&w);
        let doc = serde_json::json!({"spdxVersion": "SPDX-2.3", "name": "x"});
        let st = statement("pkg:oci/x", &img, PREDICATE_SPDX, doc.clone());
        let index = write_attested_index(&w, &img, &st, PREDICATE_SPDX).unwrap();
        let again = write_attested_index(&w, &img, &st, PREDICATE_SPDX).unwrap();
        assert_eq!(index.digest, again.digest, "same inputs, same index");
        w.add_root(&index, "x:1").unwrap();

        let layout = OciLayout::open(t.path(), true).unwrap();
        let resolved = layout.resolve("x:1", &Platform::linux("amd64")).unwrap();
        assert_eq!(
            resolved.manifest_digest, img.digest,
            "the attestation is skipped"
        );
        assert_eq!(spdx_predicates(&resolved).unwrap(), vec![doc]);

        // Another platform's manifest has no attestation; a plain manifest root has none.
        let mut other = resolved.clone();
        other.manifest_digest = Digest::from_sha256_hex(&"0".repeat(64)).unwrap();
        assert!(spdx_predicates(&other).unwrap().is_empty());
        w.add_root(&img, "plain:1").unwrap();
        let plain = layout
            .resolve("plain:1", &Platform::linux("amd64"))
            .unwrap();
        assert!(spdx_predicates(&plain).unwrap().is_empty());
    }

    #[test]
    fn a_damaged_statement_is_reported_with_its_digest() {
        let t = tempfile::tempdir().unwrap();
        let w = LayoutWriter::create_or_open(t.path()).unwrap();
        let img = image(&w);
        let st = statement("n", &img, PREDICATE_SPDX, serde_json::json!({}));
        let index = write_attested_index(&w, &img, &st, PREDICATE_SPDX).unwrap();
        w.add_root(&index, "x:1").unwrap();
        let path = w.blob_path(&crate::digest::sha256_digest(&st));
        std::fs::write(&path, b"{}").unwrap();
        let layout = OciLayout::open(t.path(), false).unwrap();
        let resolved = layout.resolve("x:1", &Platform::linux("amd64")).unwrap();
        let err = spdx_predicates(&resolved).unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
    }
}
