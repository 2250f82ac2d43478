//! `format: oci` volumes (upstream `ImageOCITar` over the cache's `OCITarReader`): the image's
//! index stored as an OCI image layout under the volume's `lower/`.

use std::fs;
use std::io::Read;

use linuxkit_oci::digest::Digest;
use linuxkit_oci::store::{media, Platform, ResolvedImage, VerifyingReader};
use serde_json::Value;

use crate::error::BuildError;
use crate::gotar::{type_flag, GoTime, Header};
use crate::image_tar::{tar_prefix, PAX_LOCATION, PAX_SOURCE};
use crate::sink::EntrySink;

/// The `oci-layout` file exactly as upstream writes it (tab indented).
const LAYOUT_FILE: &str = "{\n\t\t\"imageLayoutVersion\": \"1.0.0\"\n\t}";

/// Writes the prefix dirs, then the layout of `image`'s index under `prefix`, keeping the
/// manifests of `platforms` (all when empty).
pub(crate) fn image_oci_tar(
    location: &str,
    image: &ResolvedImage,
    source: &str,
    prefix: &str,
    platforms: &[Platform],
    sink: &mut dyn EntrySink,
) -> Result<(), BuildError> {
    tar_prefix(prefix, location, source, sink)?;
    let read_err = |e: std::io::Error| BuildError::ImageRead {
        reference: source.to_string(),
        source: e,
    };
    let mut emit = |name: String, flag: u8, mode: i64, size: u64, data: &mut dyn Read| {
        let mut h = Header::new(format!("{prefix}{name}"), flag);
        h.mode = mode;
        h.size = size as i64;
        h.mtime = Some(GoTime::from_secs(0));
        h.set_pax(PAX_SOURCE, source);
        h.set_pax(PAX_LOCATION, location);
        sink.entry(h, data)
    };
    emit(
        "oci-layout".into(),
        type_flag::REG,
        0o644,
        LAYOUT_FILE.len() as u64,
        &mut LAYOUT_FILE.as_bytes(),
    )?;
    emit(
        "blobs/".into(),
        type_flag::DIR,
        0o755,
        0,
        &mut std::io::empty(),
    )?;
    emit(
        "blobs/sha256/".into(),
        type_flag::DIR,
        0o755,
        0,
        &mut std::io::empty(),
    )?;

    let index_raw = read_blob(image, &image.root.digest).map_err(read_err)?;
    // A single-manifest root is read as an index without manifests, as upstream does.
    let index: Value = serde_json::from_slice(&index_raw).unwrap_or(Value::Null);
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let missing: Vec<String> = platforms
        .iter()
        .filter(|want| {
            !manifests.iter().any(|m| {
                let p = m.get("platform");
                let f = |k: &str| {
                    p.and_then(|p| p.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                };
                p.is_some()
                    && f("os") == want.os
                    && f("architecture") == want.architecture
                    && want
                        .variant
                        .as_deref()
                        .is_none_or(|v| v.is_empty() || v == f("variant"))
            })
        })
        .map(Platform::to_string)
        .collect();
    if !missing.is_empty() && media::is_index(&image.root.media_type) {
        return Err(BuildError::Platform(format!(
            "could not pull image {source}: index {source} does not contain target platforms {}",
            missing.join(",")
        )));
    }
    for m in &manifests {
        let platform = m.get("platform");
        let field = |k: &str| {
            platform
                .and_then(|p| p.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if !platforms.is_empty()
            && !platforms.iter().any(|p| {
                p.architecture == field("architecture")
                    && p.os == field("os")
                    && p.variant
                        .as_deref()
                        .is_none_or(|v| v.is_empty() || v == field("variant"))
            })
        {
            continue;
        }
        let media_type = m
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if media_type != media::OCI_MANIFEST && media_type != media::DOCKER_MANIFEST {
            continue;
        }
        let digest = digest_of(m).map_err(read_err)?;
        let digest = &digest;
        let manifest_raw = read_blob(image, digest).map_err(read_err)?;
        let manifest: Value = serde_json::from_slice(&manifest_raw)
            .map_err(|e| read_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let descs = std::iter::once(manifest.get("config"))
            .chain(
                manifest
                    .get("layers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(Some),
            )
            .flatten();
        for d in descs {
            let digest = &digest_of(d).map_err(read_err)?;
            let size = d.get("size").and_then(Value::as_u64).unwrap_or_default();
            let path = image.blob_path(digest);
            let file = fs::File::open(&path).map_err(|e| {
                read_err(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", path.display()),
                ))
            })?;
            let mut verified = VerifyingReader::new(std::io::BufReader::new(file), digest, source);
            emit(
                blob_name(digest),
                type_flag::REG,
                0o644,
                size,
                &mut verified,
            )?;
            // Reach EOF so that the digest is checked.
            std::io::copy(&mut verified, &mut std::io::sink()).map_err(read_err)?;
        }
        emit(
            blob_name(digest),
            type_flag::REG,
            0o644,
            manifest_raw.len() as u64,
            &mut manifest_raw.as_slice(),
        )?;
    }
    emit(
        blob_name(&image.root.digest),
        type_flag::REG,
        0o644,
        index_raw.len() as u64,
        &mut index_raw.as_slice(),
    )?;
    let index_json = layout_index(&image.root.digest, index_raw.len(), source);
    emit(
        "index.json".into(),
        type_flag::REG,
        0o644,
        index_json.len() as u64,
        &mut index_json.as_bytes(),
    )
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// The `digest` of a descriptor read as JSON, checked before it names a file.
fn digest_of(descriptor: &Value) -> std::io::Result<Digest> {
    let digest = descriptor
        .get("digest")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Digest::parse(digest)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

fn read_blob(image: &ResolvedImage, digest: &Digest) -> std::io::Result<Vec<u8>> {
    let path = image.blob_path(digest);
    let bytes = fs::read(&path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let actual = linuxkit_oci::digest::sha256_digest(&bytes);
    if actual != *digest {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("blob {digest} does not match its digest (got {actual})"),
        ));
    }
    Ok(bytes)
}

/// `index.json`: Go `json.MarshalIndent(index, "", "   ")` of an OCI index with one descriptor.
fn layout_index(digest: &str, size: usize, ref_name: &str) -> String {
    format!(
        "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"{}\",\n   \"manifests\": [\n      {{\n         \"mediaType\": \"{}\",\n         \"size\": {size},\n         \"digest\": {},\n         \"annotations\": {{\n            \"org.opencontainers.image.ref.name\": {}\n         }}\n      }}\n   ]\n}}",
        media::OCI_INDEX,
        media::OCI_INDEX,
        go_json_string(digest),
        go_json_string(ref_name),
    )
}

/// A JSON string as Go's encoder writes it (HTML-escaped `<`, `>`, `&`, and U+2028/U+2029).
fn go_json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string())
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_json_is_go_marshal_indent_with_three_spaces() {
        let got = layout_index("sha256:ab", 12, "r<1>");
        assert!(got.starts_with("{\n   \"schemaVersion\": 2,\n   \"mediaType\""));
        assert!(got.contains("\n         \"size\": 12,\n"));
        assert!(got.contains("\"r\\u003c1\\u003e\"\n         }"));
        assert!(got.ends_with("\n   ]\n}"));
    }
}
