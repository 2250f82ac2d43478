//! The SPDX 2.3 JSON document this crate writes, and how it is made reproducible.
//!
//! - Every element identifier is `SPDXRef-<Kind>-<name>-<16 hex digits>`: the name made of the
//!   characters SPDX allows, and the first 64 bits of the SHA-256 of what identifies the element
//!   (for an image: its reference and manifest digest). Same element, same identifier.
//! - The document namespace is LinuxKit's, `https://github.com/linuxkit/linuxkit/sbom-<uuid>`,
//!   but the UUID (version 8, RFC 9562) is made of the SHA-256 of the document serialised with
//!   an empty namespace instead of being random.
//! - The creation time is fixed at LinuxKit's `2017-04-18T16:30:00Z` (upstream's default, the
//!   modification time of every file LinuxKit generates), never the wall clock.
//! - JSON object keys are written in sorted order, arrays in the order the builder adds
//!   elements (which follows the definition), so the bytes depend only on the content.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The SPDX version written.
pub const SPDX_VERSION: &str = "SPDX-2.3";
/// The data license every SPDX document has.
pub const DATA_LICENSE: &str = "CC0-1.0";
/// The document's own identifier.
pub const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";
/// "No assertion is made".
pub const NOASSERTION: &str = "NOASSERTION";
/// The fixed creation time: LinuxKit's default modification time (2017-04-18T16:30:00Z).
pub const CREATED: &str = "2017-04-18T16:30:00Z";
/// The namespace prefix (LinuxKit's); a UUID made from the content follows it.
pub const NAMESPACE_PREFIX: &str = "https://github.com/linuxkit/linuxkit/sbom-";

/// `SPDXRef-<kind>-<name>-<hash>`: `name` reduced to the characters SPDX allows (letters,
/// digits, `.` and `-`; at most 48), `hash` the first 16 hex digits of SHA-256 of `key`.
pub fn element_id(kind: &str, name: &str, key: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean.truncate(48);
    let hash = hex::encode(Sha256::digest(format!("{kind}\0{key}").as_bytes()));
    format!("SPDXRef-{kind}-{clean}-{}", &hash[..16])
}

/// A license expression as SPDX accepts it: `text` when it is a valid SPDX expression (of
/// license list identifiers, deprecated ones included), Cargo's legacy `MIT/Apache-2.0` written
/// as `MIT OR Apache-2.0`, anything else (imprecise names such as `BSD` or `GPL2+`, which no
/// tool can turn into one license without guessing) `NOASSERTION`.
pub fn license_expression(text: Option<&str>) -> String {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return NOASSERTION.to_string();
    };
    let mode = spdx::ParseMode {
        allow_deprecated: true,
        ..spdx::ParseMode::STRICT
    };
    let candidate = text
        .replace('/', " OR ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match spdx::Expression::parse_mode(&candidate, mode) {
        Ok(_) => candidate,
        Err(_) => NOASSERTION.to_string(),
    }
}

/// The SPDX license list version (`major.minor`) [`license_expression`] checks against.
pub fn license_list_version() -> String {
    let mut parts = spdx::identifiers::VERSION.split('.');
    format!(
        "{}.{}",
        parts.next().unwrap_or("3"),
        parts.next().unwrap_or("0")
    )
}

/// A checksum of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checksum {
    /// `SHA256`, `SHA1`, ...
    pub algorithm: String,
    /// Lower-case hex.
    #[serde(rename = "checksumValue")]
    pub value: String,
}

impl Checksum {
    /// A SHA-256 checksum from hex or `sha256:<hex>`.
    pub fn sha256(hex: &str) -> Self {
        Checksum {
            algorithm: "SHA256".into(),
            value: hex.strip_prefix("sha256:").unwrap_or(hex).to_string(),
        }
    }
}

/// An external reference of a package (here: its package URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalRef {
    /// `PACKAGE-MANAGER` for package URLs.
    #[serde(rename = "referenceCategory")]
    pub category: String,
    /// `purl`.
    #[serde(rename = "referenceType")]
    pub kind: String,
    /// The package URL.
    #[serde(rename = "referenceLocator")]
    pub locator: String,
}

impl ExternalRef {
    /// The reference of a package URL.
    pub fn purl(purl: impl Into<String>) -> Self {
        ExternalRef {
            category: "PACKAGE-MANAGER".into(),
            kind: "purl".into(),
            locator: purl.into(),
        }
    }
}

/// An SPDX package, with the fields this crate fills in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// The identifier ([`element_id`]).
    #[serde(rename = "SPDXID")]
    pub id: String,
    /// The name.
    pub name: String,
    /// The version.
    #[serde(rename = "versionInfo", skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where it comes from (a URL), or `NOASSERTION`.
    #[serde(rename = "downloadLocation")]
    pub download_location: String,
    /// Always false: no file of the package is listed.
    #[serde(rename = "filesAnalyzed")]
    pub files_analyzed: bool,
    /// Checksums.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    /// What it was built from (e.g. a Debian source package).
    #[serde(rename = "sourceInfo", skip_serializing_if = "Option::is_none")]
    pub source_info: Option<String>,
    /// Always `NOASSERTION`: no license was concluded.
    #[serde(rename = "licenseConcluded")]
    pub license_concluded: String,
    /// The license the package declares ([`license_expression`]), or `NOASSERTION`.
    #[serde(rename = "licenseDeclared")]
    pub license_declared: String,
    /// Always `NOASSERTION`.
    #[serde(rename = "copyrightText")]
    pub copyright_text: String,
    /// A description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A comment (where an image is used, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Package URLs.
    #[serde(rename = "externalRefs", skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    /// `CONTAINER`, `OPERATING-SYSTEM`, `APPLICATION`, `LIBRARY`, ...
    #[serde(
        rename = "primaryPackagePurpose",
        skip_serializing_if = "Option::is_none"
    )]
    pub purpose: Option<String>,
}

impl Package {
    /// A package with no assertion about its origin, license or copyright.
    pub fn new(id: String, name: impl Into<String>) -> Self {
        Package {
            id,
            name: name.into(),
            version: None,
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            checksums: Vec::new(),
            source_info: None,
            license_concluded: NOASSERTION.into(),
            license_declared: NOASSERTION.into(),
            copyright_text: NOASSERTION.into(),
            description: None,
            comment: None,
            external_refs: Vec::new(),
            purpose: None,
        }
    }
}

/// A relationship between two elements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relationship {
    /// The element the relationship is about.
    #[serde(rename = "spdxElementId")]
    pub from: String,
    /// `DESCRIBES`, `CONTAINS`, `DEPENDS_ON`, ...
    #[serde(rename = "relationshipType")]
    pub kind: String,
    /// The related element.
    #[serde(rename = "relatedSpdxElement")]
    pub to: String,
}

/// The parts of a document, filled by a builder, serialised by [`Document::to_json`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// The document name.
    pub name: String,
    /// `Tool: ...`, `Organization: ...`.
    pub creators: Vec<String>,
    /// Packages.
    pub packages: Vec<Value>,
    /// Files (from merged attestations).
    pub files: Vec<Value>,
    /// Snippets (from merged attestations).
    pub snippets: Vec<Value>,
    /// Relationships.
    pub relationships: Vec<Value>,
    /// `hasExtractedLicensingInfos` (from merged attestations).
    pub extracted_licenses: Vec<Value>,
    /// `externalDocumentRefs` (from merged attestations).
    pub external_document_refs: Vec<Value>,
}

fn value_of<T: Serialize>(v: &T) -> Value {
    // Structs of strings, booleans and vectors always serialise.
    serde_json::to_value(v).expect("SPDX element serialises")
}

impl Document {
    /// An empty document.
    pub fn new(name: impl Into<String>, creators: Vec<String>) -> Self {
        Document {
            name: name.into(),
            creators,
            ..Document::default()
        }
    }

    /// Adds a package.
    pub fn push_package(&mut self, p: &Package) {
        self.packages.push(value_of(p));
    }

    /// Adds the relationship `from kind to`.
    pub fn relate(&mut self, from: &str, kind: &str, to: &str) {
        self.relationships.push(value_of(&Relationship {
            from: from.to_string(),
            kind: kind.to_string(),
            to: to.to_string(),
        }));
    }

    fn value_with(&self, namespace: &str) -> Value {
        let mut doc = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            doc.insert(k.to_string(), v);
        };
        put("spdxVersion", SPDX_VERSION.into());
        put("dataLicense", DATA_LICENSE.into());
        put("SPDXID", DOCUMENT_ID.into());
        put("name", self.name.clone().into());
        put("documentNamespace", namespace.into());
        put(
            "creationInfo",
            serde_json::json!({
                "created": CREATED,
                "creators": self.creators,
                "licenseListVersion": license_list_version(),
            }),
        );
        let lists = [
            ("externalDocumentRefs", &self.external_document_refs),
            ("hasExtractedLicensingInfos", &self.extracted_licenses),
            ("packages", &self.packages),
            ("files", &self.files),
            ("snippets", &self.snippets),
            ("relationships", &self.relationships),
        ];
        for (key, list) in lists {
            if !list.is_empty() {
                put(key, Value::Array(list.clone()));
            }
        }
        Value::Object(doc)
    }

    /// The document as JSON, its namespace derived from the rest of the content.
    pub fn to_value(&self) -> Value {
        let unnamed = serde_json::to_vec(&self.value_with("")).expect("document serialises");
        let namespace = format!("{NAMESPACE_PREFIX}{}", content_uuid(&unnamed));
        self.value_with(&namespace)
    }

    /// [`Document::to_value`] pretty-printed, with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&self.to_value()).expect("document serialises");
        out.push(b'\n');
        out
    }
}

/// A version 8 (RFC 9562 "custom") UUID made of the first 128 bits of SHA-256 of `content`.
pub fn content_uuid(content: &[u8]) -> String {
    let hash = Sha256::digest(content);
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_derived_from_the_key_and_use_only_allowed_characters() {
        let a = element_id("Image", "docker.io/linuxkit/init:v1", "k1");
        assert_eq!(a, element_id("Image", "docker.io/linuxkit/init:v1", "k1"));
        assert_ne!(a, element_id("Image", "docker.io/linuxkit/init:v1", "k2"));
        assert!(
            a.starts_with("SPDXRef-Image-docker.io-linuxkit-init-v1-"),
            "{a}"
        );
        assert!(a[8..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    }

    #[test]
    fn licenses_are_checked_and_canonicalised() {
        assert_eq!(
            license_expression(Some("MIT OR Apache-2.0")),
            "MIT OR Apache-2.0"
        );
        assert_eq!(
            license_expression(Some("MIT/Apache-2.0")),
            "MIT OR Apache-2.0"
        );
        assert_eq!(license_expression(Some("GPL2+ and BSD")), NOASSERTION);
        assert_eq!(license_expression(None), NOASSERTION);
        assert_eq!(license_list_version().split('.').count(), 2);
    }

    #[test]
    fn the_namespace_is_a_uuid_of_the_content() {
        let mut d = Document::new("x", vec!["Tool: t".into()]);
        let a = d.to_json();
        assert_eq!(a, d.to_json(), "same content, same bytes");
        d.name = "y".into();
        let b = d.to_json();
        let ns = |j: &[u8]| {
            serde_json::from_slice::<Value>(j).unwrap()["documentNamespace"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_ne!(ns(&a), ns(&b));
        let uuid = ns(&a).strip_prefix(NAMESPACE_PREFIX).unwrap().to_string();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "8", "version 8: {uuid}");
        assert!(a.ends_with(b"}\n"));
    }
}
