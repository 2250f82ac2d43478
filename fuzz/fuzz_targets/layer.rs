//! Layer tar reading and flattening: the input is one uncompressed layer of an image used as an
//! init image and as a service, assembled by `build_tar`. Whatever the bytes, assembly returns an
//! error or a tar stream that reads back.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use linuxkit_build::gotar::Reader;
use linuxkit_build::{build_tar, BuildOptions};
use linuxkit_oci::store::{
    media, Descriptor, ImageConfigFile, ImageProvider, LayerBlob, Manifest, Platform,
    ResolvedImage, StoreError,
};

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

struct OneLayer {
    path: PathBuf,
    len: u64,
}

impl ImageProvider for OneLayer {
    fn resolve(&self, reference: &str, _: &Platform) -> Result<ResolvedImage, StoreError> {
        let desc = |media_type: &str| Descriptor {
            media_type: media_type.to_string(),
            digest: DIGEST.parse().unwrap(),
            size: self.len,
            platform: None,
            annotations: None,
        };
        Ok(ResolvedImage {
            reference: reference.to_string(),
            root: desc(media::OCI_MANIFEST),
            manifest_digest: DIGEST.parse().unwrap(),
            manifest: Manifest {
                schema_version: 2,
                media_type: Some(media::OCI_MANIFEST.to_string()),
                config: desc(media::OCI_CONFIG),
                layers: vec![desc(media::OCI_LAYER_TAR)],
                annotations: None,
            },
            config: ImageConfigFile::default(),
            config_raw: b"{}".to_vec(),
            layers: vec![LayerBlob {
                digest: DIGEST.parse().unwrap(),
                media_type: media::OCI_LAYER_TAR.to_string(),
                size: self.len,
                path: self.path.clone(),
                verify: false,
            }],
            blobs_dir: self.path.parent().map(PathBuf::from).unwrap_or_default(),
        })
    }
}

fn workdir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("linuxkit-fuzz-layer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz work directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let path = workdir().join("layer.tar");
    std::fs::write(&path, data).expect("write the layer");
    let provider = OneLayer {
        path,
        len: data.len() as u64,
    };
    let image: linuxkit_dsl::Image = serde_norway::from_str(
        "init: [fuzz/layer:1]\nservices:\n  - name: svc\n    image: fuzz/layer:1\n",
    )
    .expect("definition");
    let mut opts = BuildOptions::new(Platform::linux("amd64"));
    opts.home = None;
    let mut out = Vec::new();
    if build_tar(&image, &provider, &opts, &mut out).is_ok() {
        let mut r = Reader::new(out.as_slice());
        while let Some(h) = r.next_header().expect("assembled tar reads back") {
            // Nothing assembled may leave the image root.
            assert!(
                !h.name.starts_with(b"/") && !h.name.split(|&b| b == b'/').any(|c| c == b".."),
                "entry {:?} escapes the root",
                h.name_lossy()
            );
            std::io::copy(&mut r.data(), &mut std::io::sink()).expect("entry data");
        }
    }
});
