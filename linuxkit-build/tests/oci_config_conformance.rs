//! Conformance of `config.json`, `runtime.json` and metadata files with upstream LinuxKit's
//! output in `../shared/conformance` (every case is picked up; new cases need no code change).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use linuxkit_build::metadata;
use linuxkit_build::oci_config::{container_spec, IdMap};
use linuxkit_dsl::{Container, Image};
use linuxkit_oci::layout::{LayoutSet, OciLayout};
use linuxkit_oci::store::{ImageProvider, Platform};
use sha2::{Digest, Sha256};

fn conformance_dir() -> PathBuf {
    // linuxkit-build -> workspace root -> ../shared
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("../shared/conformance")
}

fn cases() -> Vec<PathBuf> {
    let dir = conformance_dir().join("cases");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("image.yml").is_file())
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no conformance cases in {}",
        dir.display()
    );
    cases
}

fn layouts() -> LayoutSet {
    let dir = conformance_dir().join("images");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("index.json").is_file())
        .collect();
    dirs.sort();
    LayoutSet::new(
        dirs.into_iter()
            .map(|d| OciLayout::open(d, true).unwrap())
            .collect(),
    )
}

fn read_image(case: &Path) -> Result<Image, serde_norway::Error> {
    serde_norway::from_str(&fs::read_to_string(case.join("image.yml")).unwrap())
}

/// One container bundle as upstream lays it out: section, directory, entry.
fn bundles(image: &Image) -> Vec<(&'static str, String, &Container)> {
    let mut out = Vec::new();
    for (i, c) in image.onboot.iter().enumerate() {
        out.push(("onboot", format!("{i:03}-{}", c.name), c));
    }
    for (i, c) in image.onshutdown.iter().enumerate() {
        out.push(("onshutdown", format!("{i:03}-{}", c.name), c));
    }
    for c in &image.services {
        out.push(("services", c.name.clone(), c));
    }
    out
}

/// `(section/dir, config.json, runtime.json)` of one bundle.
type Generated = (String, Vec<u8>, Vec<u8>);

/// Generate every bundle's files in build order; `Err` is the first error, as upstream stops.
fn generate(image: &Image, provider: &LayoutSet) -> Result<Vec<Generated>, String> {
    let ids = IdMap::for_image(image);
    let platform = Platform::linux("amd64");
    let mut extracted: HashMap<&str, String> = HashMap::new();
    let mut out = Vec::new();
    for (section, dir, c) in bundles(image) {
        let resolved = provider
            .resolve(&c.image, &platform)
            .map_err(|e| e.to_string())?;
        let spec =
            container_spec(c, &resolved.config, &ids, &image.volumes).map_err(|e| e.to_string())?;
        let bundle = format!("containers/{section}/{dir}");
        let own = format!(
            "{bundle}/{}",
            if spec.readonly { "rootfs" } else { "lower" }
        );
        let root = extracted.entry(&c.image).or_insert(own).clone();
        out.push((
            format!("{section}/{dir}"),
            spec.config_json(),
            spec.runtime_json(&bundle, &root),
        ));
    }
    Ok(out)
}

fn expected_bundles(case: &Path) -> Vec<String> {
    let root = case.join("expected/containers");
    let mut out = Vec::new();
    for section in ["onboot", "onshutdown", "services"] {
        if let Ok(entries) = fs::read_dir(root.join(section)) {
            for e in entries {
                out.push(format!(
                    "{section}/{}",
                    e.unwrap().file_name().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn config_and_runtime_json_match_upstream() {
    let provider = layouts();
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if !case.join("expected/containers").is_dir() {
            continue;
        }
        let image = read_image(&case).unwrap_or_else(|e| panic!("{name}: image.yml: {e}"));
        let generated = generate(&image, &provider)
            .unwrap_or_else(|e| panic!("{name}: generation failed: {e}"));
        let mut got: Vec<String> = generated.iter().map(|g| g.0.clone()).collect();
        got.sort();
        assert_eq!(got, expected_bundles(&case), "{name}: set of bundles");
        for (bundle, config, runtime) in generated {
            let dir = case.join("expected/containers").join(&bundle);
            for (file, bytes) in [("config.json", &config), ("runtime.json", &runtime)] {
                let want = fs::read(dir.join(file)).unwrap();
                compared += 1;
                if &want != bytes {
                    failures.push(format!(
                        "{name}/{bundle}/{file} differs:\n--- want\n{}\n--- got\n{}",
                        String::from_utf8_lossy(&want),
                        String::from_utf8_lossy(bytes)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(compared > 0, "no config.json/runtime.json compared");
}

/// Error cases whose upstream error comes from config generation must fail with the same
/// message; the others (schema, duplicate names) fail earlier, in YAML validation.
#[test]
fn config_generation_errors_match_upstream() {
    let provider = layouts();
    let mut checked = 0;
    for case in cases() {
        let Ok(text) = fs::read_to_string(case.join("expected/error.txt")) else {
            continue;
        };
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let error = text
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or_else(|| panic!("{name}: error.txt has no error line"));
        if !(error.starts_with("failed to create OCI spec for ")
            || error.contains(" from volumes: "))
        {
            continue;
        }
        let image = read_image(&case).unwrap_or_else(|e| panic!("{name}: image.yml: {e}"));
        match generate(&image, &provider) {
            Ok(_) => panic!("{name}: generation succeeded, upstream failed with: {error}"),
            // Upstream's message, optionally followed by detail upstream printed elsewhere
            // (e.g. the schema errors of an invalid label).
            Err(got) => assert!(
                got == error || got.starts_with(&format!("{error}: ")),
                "{name}: error message\n  want: {error}\n   got: {got}"
            ),
        }
        checked += 1;
    }
    assert!(checked > 0, "no config-generation error case found");
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `files[].metadata` content: size and sha256 as listed in the case's tree.tsv.
#[test]
fn metadata_files_match_upstream() {
    let mut checked = 0;
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let Ok(tree) = fs::read_to_string(case.join("expected/tree.tsv")) else {
            continue;
        };
        let image = read_image(&case).unwrap_or_else(|e| panic!("{name}: image.yml: {e}"));
        for file in &image.files {
            let Some(kind) = &file.metadata else {
                continue;
            };
            let path = file.path.trim_start_matches('/');
            let row: Vec<&str> = tree
                .lines()
                .map(|l| l.split('\t').collect::<Vec<_>>())
                .find(|cols| cols[0] == path && cols[1] == "file")
                .unwrap_or_else(|| panic!("{name}: {path} not in tree.tsv"));
            let got = metadata::metadata(&image, kind).unwrap();
            assert_eq!(
                (got.len().to_string(), sha256_hex(&got)),
                (row[5].to_string(), row[7].to_string()),
                "{name}: {path} ({kind} metadata) differs from upstream; got:\n{}",
                String::from_utf8_lossy(&got)
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no metadata file in the corpus");
}
