//! `cargo linuxkit check | export | import` on LinuxKit YAML: good files pass, bad files give a
//! one-line summary at file:line:col with a hint and a non-zero exit, never a panic.

mod cli_support;

use cli_support::{run_in, shared, text};

fn check_bad(yaml: &str, expect_line: usize, expect_message: &str) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("bad.yml"), yaml).unwrap();
    let o = run_in(d.path(), &["check", "bad.yml"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let first = err.lines().next().unwrap_or_default();
    let prefix = format!("bad.yml:{expect_line}:");
    assert!(
        first.starts_with(&prefix) && first.contains(": error: "),
        "first line `{first}` should start with `{prefix}` and say error"
    );
    assert!(
        first.contains(expect_message),
        "`{first}` lacks `{expect_message}`"
    );
    assert!(err.contains("hint: "), "no hint in {err}");
}

#[test]
fn malformed_yaml_is_reported_at_its_position() {
    check_bad("init:\n  - a\n services: [\n", 3, "");
}

#[test]
fn wrong_type_is_reported() {
    check_bad(
        "onboot:\n  - name: x\n    image: alpine:3.20\n    command: 12\n",
        4,
        "command",
    );
}

#[test]
fn unknown_key_is_reported_with_the_key() {
    check_bad(
        "services:\n  - name: getty\n    image: linuxkit/getty:v1\n    nmae: x\n",
        4,
        "nmae",
    );
}

#[test]
fn invalid_reference_is_reported() {
    check_bad(
        "services:\n  - name: getty\n    image: \"Not A Reference!\"\n",
        3,
        "reference",
    );
}

#[test]
fn conformance_case_checks_clean_and_exports_and_imports() {
    let case = shared().join("conformance/cases/kernel-init");
    let o = run_in(&case, &["check", "image.yml"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).1.contains("Checked"));

    let o = run_in(&case, &["export", "image.yml"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("127.0.0.1:5000/fixture/init:v1"), "{out}");

    let o = run_in(&case, &["import", "image.yml", "--fn", "kernel_init"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("fn kernel_init"), "{out}");
    assert!(out.contains("127.0.0.1:5000/fixture/kernel:v1"), "{out}");
}

#[test]
fn json_diagnostics() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("dup.yml"),
        "services:\n  - name: a\n    image: alpine:3.20\n  - name: a\n    image: alpine:3.20\n",
    )
    .unwrap();
    let o = run_in(d.path(), &["--message-format", "json", "check", "dup.yml"]);
    assert_eq!(o.status.code(), Some(1));
    let (out, _) = text(&o);
    let msgs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let diag = msgs
        .iter()
        .find(|m| m["reason"] == "linuxkit-diagnostic")
        .expect("a diagnostic message");
    assert_eq!(diag["file"], "dup.yml");
    assert_eq!(diag["line"], 4);
    assert!(diag["message"].as_str().unwrap().contains("duplicate"));
}

/// A relative mount destination, as in upstream's own test cases, is a warning at its line;
/// `--deny-warnings` (or `LINUXKIT_DENY_WARNINGS=1`) makes it an error. A second YAML document
/// is a warning from the reader, denied the same way.
#[test]
fn warnings_are_spanned_and_deny_warnings_refuses_them() {
    let d = tempfile::tempdir().unwrap();
    let yaml = "services:\n  - name: getty\n    image: linuxkit/getty:v1\n    mounts:\n      - type: tmpfs\n        source: tmpfs\n        destination: writeable-host-etc\n---\nservices: []\n";
    std::fs::write(d.path().join("warn.yml"), yaml).unwrap();
    let o = run_in(d.path(), &["check", "warn.yml"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "warn.yml:7:9: warning: mount destination is not absolute: writeable-host-etc"
        ),
        "{err}"
    );
    assert!(err.contains("write `/writeable-host-etc`"), "{err}");
    assert!(
        err.contains("warn.yml:8:1: warning: only the first document of the file is used"),
        "{err}"
    );

    let o = run_in(d.path(), &["check", "--deny-warnings", "warn.yml"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warn.yml:7:9: error: mount destination is not absolute"),
        "{err}"
    );
    assert!(err.contains("denied by --deny-warnings"), "{err}");

    let o = cli_support::cmd_in(d.path(), &["check", "warn.yml"])
        .env("LINUXKIT_DENY_WARNINGS", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
}
