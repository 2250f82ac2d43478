//! Image references: the check the macros and the DSL run (`image_reference`, `image_source`)
//! and the parse every later stage uses (`ImageRef`, `LocalSource`, assembly's `canonical`)
//! agree, and a parsed reference's expansions parse again to the same place.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linuxkit_validate::{ImageRef, LocalSource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = linuxkit_validate::image_reference(text);
    let parsed = ImageRef::parse(text);
    // Validate accepts <=> parse accepts, with the same message when refused.
    match (&checked, &parsed) {
        (Ok(()), Ok(_)) => {}
        (Err(c), Err(p)) => assert_eq!(c, &p.to_string(), "{text:?}"),
        _ => panic!("{text:?}: check {checked:?}, parse {parsed:?}"),
    }
    if let Ok(r) = &parsed {
        // What the validator accepts, assembly can normalise: to the cache name, except for
        // local sources (`cargo:x` is also a valid tag of `docker.io/library/cargo`), which
        // keep their name.
        let canonical = linuxkit_build::reference::canonical(text);
        if linuxkit_validate::is_local_source(text) {
            assert_eq!(canonical.as_deref(), Ok(text), "{text:?}");
        } else {
            assert_eq!(canonical.as_deref(), Ok(r.cache_name()), "{text:?}");
        }
        // The cache name is a reference to the same registry location, tag and digest.
        let again = ImageRef::parse(r.cache_name())
            .unwrap_or_else(|e| panic!("{text:?} expands to {:?}: {e}", r.cache_name()));
        assert_eq!(
            (again.registry(), again.repository(), again.tag(), again.digest()),
            (r.registry(), r.repository(), r.tag(), r.digest()),
            "{text:?}"
        );
        assert_eq!(linuxkit_validate::expand(r.cache_name()), r.cache_name());
    }
    // Local sources: what `image_source` accepts, `linuxkit-pkg` can parse.
    if linuxkit_validate::is_local_source(text) {
        let source = linuxkit_validate::image_source(text);
        let local = LocalSource::parse(text);
        if source.is_ok() {
            assert!(local.is_ok(), "{text:?}: {local:?}");
        }
    } else {
        assert_eq!(linuxkit_validate::image_source(text), checked, "{text:?}");
    }
});
