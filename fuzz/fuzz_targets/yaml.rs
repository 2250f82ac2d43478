//! LinuxKit YAML definitions: parsing (with positions) and the whole-definition checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(image) = linuxkit_dsl::from_yaml_str(text, "fuzz.yml") {
        // A parsed definition must survive emission and re-parsing.
        if let Ok(yaml) = serde_norway::to_string(&image) {
            let _ = linuxkit_dsl::from_yaml_str(&yaml, "emitted.yml");
        }
    }
});
