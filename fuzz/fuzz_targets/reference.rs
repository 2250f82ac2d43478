//! Image references: the validator (compile time and `check`) and LinuxKit's normalisation
//! (assembly).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = linuxkit_build::reference::parse(text);
    let _ = linuxkit_build::reference::canonical(text);
    if linuxkit_validate::image_reference(text).is_ok() {
        // What the validator accepts, assembly can normalise.
        let canonical = linuxkit_build::reference::canonical(text);
        assert!(canonical.is_ok(), "{text:?}: {canonical:?}");
    }
});
