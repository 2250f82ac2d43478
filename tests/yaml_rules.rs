//! One test per row of `docs/yaml-rules.md`: each rule's input goes through the YAML reader and
//! `check`, and must give what the "ours (YAML)" column says. The table is the documentation
//! of where cargo-linuxkit agrees with upstream LinuxKit and where it is stricter; this test
//! keeps the two from drifting apart.

use std::path::{Path, PathBuf};

use linuxkit_dsl::{check, yaml, Severity};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One row of the table.
struct Row {
    id: String,
    input: String,
    ours: String,
    dsl: String,
}

fn rows() -> Vec<Row> {
    let path = root().join("docs/yaml-rules.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table = text
        .split("## The rules")
        .nth(1)
        .expect("a `## The rules` section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut rows = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 6, "a row has 6 cells: {line}");
        let unquote = |c: &str| {
            c.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .unwrap_or_else(|| panic!("cell is not in backticks: {c}"))
                .to_string()
        };
        rows.push(Row {
            id: unquote(cells[0]),
            input: unquote(cells[1]).replace('⏎', "\n"),
            ours: cells[4].to_string(),
            dsl: cells[5].to_string(),
        });
    }
    rows
}

/// What the reader and `check` say of an input: (severity, message) pairs.
fn outcome(input: &str) -> Vec<(Severity, String)> {
    // Double-quoted YAML escapes (`\0`) are YAML's business; the table holds them as written.
    match yaml::parse(input, "rule.yml") {
        Err(e) => vec![(Severity::Error, e.message)],
        Ok(parsed) => parsed
            .warnings
            .into_iter()
            .map(|w| (Severity::Warning, w.message))
            .chain(
                check(&parsed.image)
                    .into_iter()
                    .map(|p| (p.severity, p.message)),
            )
            .collect(),
    }
}

#[test]
fn every_rule_of_the_table_holds() {
    let rows = rows();
    assert!(rows.len() >= 100, "only {} rules in the table", rows.len());
    let mut ids = std::collections::HashSet::new();
    let mut wrong = Vec::new();
    for row in &rows {
        assert!(
            ids.insert(row.id.clone()),
            "rule {} is listed twice",
            row.id
        );
        let got = outcome(&row.input);
        let ok = if row.ours.starts_with("ok") {
            got.is_empty()
        } else {
            let (severity, rest) = if let Some(rest) = row.ours.strip_prefix("error:") {
                (Severity::Error, rest)
            } else if let Some(rest) = row.ours.strip_prefix("warning:") {
                (Severity::Warning, rest)
            } else {
                panic!(
                    "{}: the ours column starts with ok, error: or warning:",
                    row.id
                )
            };
            // The first backticked text is what the message contains (`` a `b` `` quoting).
            let rest = rest.trim();
            let expected = if let Some(r) = rest.strip_prefix("`` ") {
                r.split(" ``").next().unwrap()
            } else {
                rest.strip_prefix('`')
                    .and_then(|r| r.split('`').next())
                    .unwrap_or_else(|| panic!("{}: no `text` after the severity", row.id))
            };
            let matching = got
                .iter()
                .any(|(s, m)| *s == severity && m.contains(expected));
            // An error row must not also pass with only warnings, and vice versa.
            matching
                && (severity == Severity::Warning || got.iter().any(|(s, _)| *s == Severity::Error))
        };
        if !ok {
            wrong.push(format!(
                "{}: expected {}, got {got:?}\n    input: {}",
                row.id, row.ours, row.input
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rule(s) do not hold:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Every compile-fail test the table names exists, with its expected compiler output.
#[test]
fn every_named_compile_fail_test_exists() {
    let ui = root().join("linuxkit-macros/tests/ui");
    let mut named = 0;
    for row in rows() {
        for word in row.dsl.split(['`', ' ', ',', '(', ')']) {
            if let Some(name) = word.strip_prefix("ui/") {
                named += 1;
                let rs = ui.join(name);
                let stderr = Path::new(&rs).with_extension("stderr");
                assert!(rs.is_file(), "{}: {} is missing", row.id, rs.display());
                let text = std::fs::read_to_string(&stderr)
                    .unwrap_or_else(|e| panic!("{}: {}: {e}", row.id, stderr.display()));
                assert!(
                    text.contains("error"),
                    "{}: {} shows no error",
                    row.id,
                    stderr.display()
                );
            }
        }
    }
    assert!(named >= 10, "only {named} compile-fail tests named");
}
