//! OCI manifests, indexes and image configs, and platform selection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linuxkit_oci::store::{ImageConfigFile, Index, Manifest, Platform};

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = serde_json::from_slice::<Index>(data) {
        let _ = linuxkit_oci::layout::select_platform("fuzz", &index, &Platform::linux("amd64"));
    }
    let _ = serde_json::from_slice::<Manifest>(data);
    let _ = serde_json::from_slice::<ImageConfigFile>(data);
});
