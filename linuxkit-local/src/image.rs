//! One-layer OCI images written into an OCI image layout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use linuxkit_oci::store::{media, Descriptor, Platform};
use linuxkit_oci::write::LayoutWriter;
use serde::Serialize;

use crate::error::{io, LocalError};
use crate::layer::Layer;

/// The runtime part of the image config (what LinuxKit reads: entrypoint, cmd, env, working
/// directory and labels such as `org.mobyproject.config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    /// Entrypoint.
    #[serde(rename = "Entrypoint", skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    #[serde(rename = "Cmd", skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Environment.
    #[serde(rename = "Env", skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Working directory.
    #[serde(rename = "WorkingDir", skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(rename = "Labels", skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<linuxkit_validate::Digest>,
}

#[derive(Serialize)]
struct ConfigFile<'a> {
    architecture: &'a str,
    os: &'a str,
    config: &'a ImageConfig,
    rootfs: RootFs<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestOut<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: &'a Descriptor,
    layers: Vec<&'a Descriptor>,
}

/// What [`write_image`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenImage {
    /// The reference the layout knows the image by.
    pub reference: String,
    /// The manifest descriptor (with platform).
    pub manifest: Descriptor,
    /// The layout root named `reference`: the manifest, or the index holding the manifest and
    /// its attestation ([`write_image_attested`]).
    pub root: Descriptor,
    /// The layer's (compressed) digest.
    pub layer_digest: linuxkit_oci::digest::Digest,
    /// The uncompressed layer digest (`diff_id`).
    pub diff_id: linuxkit_validate::Digest,
}

/// Writes `layer` with `config` as a single-platform image named `reference` into the OCI
/// layout at `dir` (created when missing). Same inputs, same digests.
pub fn write_image(
    dir: &Path,
    reference: &str,
    platform: &Platform,
    config: &ImageConfig,
    layer: &Layer,
) -> Result<WrittenImage, LocalError> {
    write(dir, reference, platform, config, layer, None)
}

/// An in-toto statement about an image manifest, made once the manifest is written, and its
/// predicate type.
pub type Attest<'a> = &'a dyn Fn(&Descriptor) -> (Vec<u8>, String);

/// As [`write_image`], with an attestation (such as an SBOM) next to the image: `attest`
/// makes the in-toto statement about the manifest, and the root named `reference` is an
/// index of the manifest and the attestation manifest, as BuildKit stores them. Same inputs,
/// same digests.
pub fn write_image_attested(
    dir: &Path,
    reference: &str,
    platform: &Platform,
    config: &ImageConfig,
    layer: &Layer,
    attest: Attest<'_>,
) -> Result<WrittenImage, LocalError> {
    write(dir, reference, platform, config, layer, Some(attest))
}

fn write(
    dir: &Path,
    reference: &str,
    platform: &Platform,
    config: &ImageConfig,
    layer: &Layer,
    attest: Option<Attest<'_>>,
) -> Result<WrittenImage, LocalError> {
    let layout = LayoutWriter::create_or_open(dir)?;
    let blob = layout.blob_writer()?;
    let (diff_id, adapter) = layer.write_gzip(BlobAdapter { w: blob, err: None })?;
    if let Some(e) = adapter.err {
        return Err(e.into());
    }
    let layer_desc = adapter.w.commit(media::OCI_LAYER_GZIP, None)?;
    let cfg = ConfigFile {
        architecture: &platform.architecture,
        os: &platform.os,
        config,
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![diff_id.clone()],
        },
    };
    let cfg_bytes = serde_json::to_vec(&cfg).map_err(|e| io(dir)(e.into()))?;
    let cfg_desc = layout.put_blob(&cfg_bytes, media::OCI_CONFIG)?;
    let manifest = ManifestOut {
        schema_version: 2,
        media_type: media::OCI_MANIFEST,
        config: &cfg_desc,
        layers: vec![&layer_desc],
    };
    let m_bytes = serde_json::to_vec(&manifest).map_err(|e| io(dir)(e.into()))?;
    let mut m_desc = layout.put_blob(&m_bytes, media::OCI_MANIFEST)?;
    m_desc.platform = Some(platform.clone());
    let root = match attest {
        Some(attest) => {
            let (statement, predicate_type) = attest(&m_desc);
            linuxkit_oci::attestation::write_attested_index(
                &layout,
                &m_desc,
                &statement,
                &predicate_type,
            )?
        }
        None => m_desc.clone(),
    };
    let root = layout.add_root(&root, reference)?;
    Ok(WrittenImage {
        reference: reference.to_string(),
        manifest: m_desc,
        root,
        layer_digest: layer_desc.digest,
        diff_id,
    })
}

/// `Write` over the layout's blob writer (keeps its typed error for the caller).
struct BlobAdapter {
    w: linuxkit_oci::write::BlobWriter,
    err: Option<linuxkit_oci::write::WriteError>,
}

impl Write for BlobAdapter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.w.write(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                let msg = e.to_string();
                self.err = Some(e);
                Err(std::io::Error::other(msg))
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linuxkit_oci::layout::OciLayout;
    use linuxkit_oci::store::ImageProvider;

    #[test]
    fn written_image_resolves_and_is_reproducible() {
        let t = tempfile::tempdir().unwrap();
        let mut l = Layer::new();
        l.bytes("hello", 0o644, "hi\n").unwrap();
        let cfg = ImageConfig {
            cmd: Some(vec!["/bin/sh".into()]),
            ..Default::default()
        };
        let p = Platform::linux("amd64");
        let a = write_image(&t.path().join("a"), "local/hello:1", &p, &cfg, &l).unwrap();
        let b = write_image(&t.path().join("b"), "local/hello:1", &p, &cfg, &l).unwrap();
        assert_eq!(a.manifest.digest, b.manifest.digest);
        let layout = OciLayout::open(t.path().join("a"), true).unwrap();
        let img = layout.resolve("local/hello:1", &p).unwrap();
        assert_eq!(img.config.config.cmd, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(img.layers.len(), 1);
        let mut tar = tar::Archive::new(img.layers[0].open_tar("local/hello:1").unwrap());
        let names: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["hello"]);
    }
}
