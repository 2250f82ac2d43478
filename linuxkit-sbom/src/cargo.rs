//! The SPDX document of a binary built from a Cargo workspace: its package and every crate it
//! depends on, with the checksums `Cargo.lock` records. `cargo:` images carry it as their SBOM
//! attestation (as BuildKit attaches one to images `linuxkit pkg build` makes), so it is merged
//! into every system built from them, and travels with the image when it is pushed.

use packageurl::PackageUrl;
use serde_json::Value;

use crate::spdx::{self, element_id, Checksum, Document, ExternalRef, Package, DOCUMENT_ID};

/// The crates.io index, as Cargo names it in `Cargo.lock` and metadata.
const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

/// One crate of a dependency graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    /// The crate name.
    pub name: String,
    /// The version.
    pub version: String,
    /// Cargo's source (`registry+https://...`, `git+https://...#rev`); `None` for path crates.
    pub source: Option<String>,
    /// The SHA-256 of the `.crate` file, from `Cargo.lock` (registry crates).
    pub checksum: Option<String>,
    /// The `license` field of its `Cargo.toml`.
    pub license: Option<String>,
    /// Its (normal) dependencies: indices into the same list.
    pub dependencies: Vec<usize>,
}

impl Crate {
    /// Where the crate can be downloaded: crates.io's download URL, `git+<url>@<rev>`, or
    /// `NOASSERTION`.
    pub fn download_location(&self) -> String {
        match self.source.as_deref() {
            Some(s) if CRATES_IO.contains(&s) => format!(
                "https://crates.io/api/v1/crates/{}/{}/download",
                self.name, self.version
            ),
            Some(s) if s.starts_with("git+") => {
                let (url, rev) = s.split_once('#').unwrap_or((s, ""));
                let url = url.split('?').next().unwrap_or(url);
                if rev.is_empty() {
                    url.to_string()
                } else {
                    format!("{url}@{rev}")
                }
            }
            _ => spdx::NOASSERTION.to_string(),
        }
    }

    /// `pkg:cargo/<name>@<version>`.
    pub fn purl(&self) -> Option<String> {
        let mut p = PackageUrl::new("cargo", self.name.as_str()).ok()?;
        p.with_version(self.version.as_str()).ok()?;
        Some(p.to_string())
    }

    fn id(&self) -> String {
        let key = format!(
            "{} {} {}",
            self.name,
            self.version,
            self.source.as_deref().unwrap_or("path")
        );
        element_id("Crate", &format!("{}-{}", self.name, self.version), &key)
    }
}

/// The SPDX document (as JSON) of the binary `binary` built from `crates[root]` with all of
/// `crates`: `DOCUMENT DESCRIBES root`, `a DEPENDS_ON b` for every dependency edge. `tool` is
/// the creator (`cargo-linuxkit-<version>`).
pub fn crates_document(binary: &str, tool: &str, crates: &[Crate], root: usize) -> Value {
    let mut doc = Document::new(binary, vec![format!("Tool: {tool}")]);
    let ids: Vec<String> = crates.iter().map(Crate::id).collect();
    for (i, c) in crates.iter().enumerate() {
        let mut p = Package::new(ids[i].clone(), c.name.clone());
        p.version = Some(c.version.clone());
        p.download_location = c.download_location();
        p.checksums = c.checksum.iter().map(|h| Checksum::sha256(h)).collect();
        p.license_declared = spdx::license_expression(c.license.as_deref());
        p.external_refs = c.purl().into_iter().map(ExternalRef::purl).collect();
        p.purpose = Some(if i == root { "APPLICATION" } else { "LIBRARY" }.to_string());
        if i == root {
            p.comment = Some(format!("the binary `{binary}` of this package"));
        }
        doc.push_package(&p);
    }
    if let Some(r) = ids.get(root) {
        doc.relate(DOCUMENT_ID, "DESCRIBES", r);
    }
    for (i, c) in crates.iter().enumerate() {
        for &d in &c.dependencies {
            if let Some(to) = ids.get(d) {
                doc.relate(&ids[i], "DEPENDS_ON", to);
            }
        }
    }
    doc.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crates() -> Vec<Crate> {
        vec![
            Crate {
                name: "hello".into(),
                version: "0.1.0".into(),
                source: None,
                checksum: None,
                license: Some("Apache-2.0".into()),
                dependencies: vec![1],
            },
            Crate {
                name: "libc".into(),
                version: "0.2.170".into(),
                source: Some(CRATES_IO[0].into()),
                checksum: Some("ab".repeat(32)),
                license: Some("MIT OR Apache-2.0".into()),
                dependencies: vec![],
            },
        ]
    }

    #[test]
    fn the_document_lists_every_crate_with_checksums_and_edges() {
        let doc = crates_document("hello", "cargo-linuxkit-0.1.0", &crates(), 0);
        assert_eq!(
            doc,
            crates_document("hello", "cargo-linuxkit-0.1.0", &crates(), 0)
        );
        let libc = &doc["packages"][1];
        assert_eq!(libc["name"], "libc");
        assert_eq!(libc["checksums"][0]["algorithm"], "SHA256");
        assert_eq!(
            libc["downloadLocation"],
            "https://crates.io/api/v1/crates/libc/0.2.170/download"
        );
        assert_eq!(
            libc["externalRefs"][0]["referenceLocator"],
            "pkg:cargo/libc@0.2.170"
        );
        assert_eq!(libc["licenseDeclared"], "MIT OR Apache-2.0");
        let rels = doc["relationships"].as_array().unwrap();
        assert_eq!(rels[0]["relationshipType"], "DESCRIBES");
        assert_eq!(rels[1]["relationshipType"], "DEPENDS_ON");
        assert_eq!(rels[1]["relatedSpdxElement"], libc["SPDXID"]);
    }

    #[test]
    fn git_sources_name_the_revision() {
        let c = Crate {
            source: Some("git+https://github.com/a/b?branch=main#0123abc".into()),
            ..crates()[1].clone()
        };
        assert_eq!(c.download_location(), "git+https://github.com/a/b@0123abc");
    }
}
