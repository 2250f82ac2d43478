//! The Rust example definitions against LinuxKit's own YAML files, and YAML -> Rust -> YAML
//! through the YAML writer (the code generator is tested in yaml_corpus.rs).

use std::path::PathBuf;

use linuxkit_dsl::{check, from_yaml_str, to_yaml_string, Image, Severity};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples_dir() -> PathBuf {
    workspace_root().join("../shared/reference/linuxkit-examples")
}

/// An upstream example's text. `static-ip.yml` has a comment line inside a block scalar that
/// libyaml-based parsers reject; the line is removed (see `examples::static_ip`).
fn upstream_text(name: &str) -> String {
    let path = examples_dir().join(format!("{name}.yml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if name == "static-ip" {
        text.lines()
            .filter(|l| !l.starts_with("#      domain"))
            .map(|l| format!("{l}\n"))
            .collect()
    } else {
        text
    }
}

fn upstream(name: &str) -> Image {
    from_yaml_str(&upstream_text(name), &format!("{name}.yml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn rust_definitions_equal_upstream_yaml() {
    for (name, definition) in linuxkit_workspace::examples::ALL {
        let image = definition();
        let expected = upstream(name);
        assert_eq!(
            image, expected,
            "{name}: the Rust definition differs from upstream's YAML"
        );
        // And through the YAML writer and parser.
        let yaml = to_yaml_string(&image).unwrap();
        let back = from_yaml_str(&yaml, name).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(back, expected, "{name}: YAML round trip");
    }
}

#[test]
fn rust_definitions_pass_checks() {
    for (name, definition) in linuxkit_workspace::examples::ALL {
        let problems = check(&definition());
        let errors: Vec<_> = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn every_example_target_is_declared() {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("definitions = "))
        .expect("[package.metadata.linuxkit] definitions");
    for (name, _) in linuxkit_workspace::examples::ALL {
        assert!(
            line.contains(&format!("\"{name}\"")),
            "{name} missing from {line}"
        );
        assert!(
            workspace_root()
                .join(format!("examples/{name}.rs"))
                .exists(),
            "{name}"
        );
        // A bin target (not an example): evaluating it links the DSL only.
        assert!(
            manifest.contains(&format!(
                "[[bin]]\nname = \"{name}\"\npath = \"examples/{name}.rs\""
            )),
            "{name} is not declared as a [[bin]] in Cargo.toml"
        );
    }
}
