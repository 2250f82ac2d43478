//! Merging an SPDX document that an image carries as an attestation into the build's document.
//!
//! Upstream appends the attestation's packages, files, licenses, relationships, annotations
//! and external document references to its own document, with every file name (and package
//! file name) prefixed by the directory the image is extracted to. So does this module, and
//! more, so that the result stays a valid SPDX document when several images carry SBOMs
//! (which often use the same identifiers):
//!
//! - every `SPDXRef-X` of the attestation becomes `SPDXRef-<salt>-X`, every `LicenseRef-X`
//!   `LicenseRef-<salt>-X`, every `DocumentRef-X` `DocumentRef-<salt>-X`, wherever they appear
//!   (identifiers, `hasFiles`, relationships, snippet pointers, license expressions); the salt
//!   is derived from the image's identifier and the attestation's content;
//! - the attestation's own document (`SPDXRef-DOCUMENT`) becomes the image's package:
//!   `DOCUMENT DESCRIBES x` (and `documentDescribes`) become `<image> CONTAINS x`;
//! - file names become `./<prefix>/<name>`, the `./`-relative form SPDX asks for;
//! - document-level annotations move to the image's package.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::spdx::{Document, DOCUMENT_ID};

/// Why an attestation cannot be merged (the caller names the image).
pub type MergeError = String;

struct Renamer<'a> {
    salt: String,
    image: &'a str,
}

impl Renamer<'_> {
    /// An element reference: `SPDXRef-..`, `DocumentRef-..:SPDXRef-..`, `NONE`, `NOASSERTION`.
    fn element(&self, id: &str) -> String {
        if id == DOCUMENT_ID {
            return self.image.to_string();
        }
        if let Some((doc, elem)) = id.split_once(':') {
            return format!("{}:{elem}", self.document_ref(doc));
        }
        match id.strip_prefix("SPDXRef-") {
            Some(rest) => format!("SPDXRef-{}-{rest}", self.salt),
            None => id.to_string(),
        }
    }

    fn document_ref(&self, id: &str) -> String {
        match id.strip_prefix("DocumentRef-") {
            Some(rest) => format!("DocumentRef-{}-{rest}", self.salt),
            None => id.to_string(),
        }
    }

    /// A license expression: its `LicenseRef-` and `DocumentRef-` tokens renamed.
    fn license(&self, expr: &str) -> String {
        let mut out = String::with_capacity(expr.len() + 16);
        let mut token = String::new();
        let flush = |token: &mut String, out: &mut String| {
            if token.is_empty() {
                return;
            }
            let renamed = if let Some((doc, lic)) = token.split_once(':') {
                format!("{}:{lic}", self.document_ref(doc))
            } else if let Some(rest) = token.strip_prefix("LicenseRef-") {
                format!("LicenseRef-{}-{rest}", self.salt)
            } else {
                token.clone()
            };
            out.push_str(&renamed);
            token.clear();
        };
        for c in expr.chars() {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | ':') {
                token.push(c);
            } else {
                flush(&mut token, &mut out);
                out.push(c);
            }
        }
        flush(&mut token, &mut out);
        out
    }

    fn rename_str(&self, v: &mut Value, f: impl Fn(&Self, &str) -> String) {
        if let Value::String(s) = v {
            *s = f(self, s);
        }
    }

    fn rename_list(&self, v: Option<&mut Value>, f: impl Fn(&Self, &str) -> String) {
        if let Some(Value::Array(a)) = v {
            for x in a {
                self.rename_str(x, &f);
            }
        }
    }

    fn rename_field(
        &self,
        m: &mut Map<String, Value>,
        key: &str,
        f: impl Fn(&Self, &str) -> String,
    ) {
        if let Some(v) = m.get_mut(key) {
            self.rename_str(v, f);
        }
    }
}

/// The attestation's array `key` (missing is empty; anything else is an error).
fn array(doc: &Map<String, Value>, key: &str) -> Result<Vec<Value>, MergeError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(format!("`{key}` is not an array")),
    }
}

fn objects(doc: &Map<String, Value>, key: &str) -> Result<Vec<Map<String, Value>>, MergeError> {
    array(doc, key)?
        .into_iter()
        .map(|v| match v {
            Value::Object(m) => Ok(m),
            _ => Err(format!("an element of `{key}` is not an object")),
        })
        .collect()
}

/// `./<prefix>/<name>`, cleaned of `.` components and leading slashes.
fn prefixed_path(prefix: &str, name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in prefix.split('/').chain(name.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("./{}", parts.join("/"))
}

/// Merges the SPDX JSON document `attestation` into `into`, as the content of the image whose
/// package is `image` and whose files are under `prefix` (`""` for the kernel and init images,
/// `containers/services/<name>/lower/` for a container). Returns the annotations of the
/// attestation document, for the image package.
pub fn merge(
    into: &mut Document,
    image: &str,
    prefix: &str,
    attestation: &Value,
) -> Result<Vec<Value>, MergeError> {
    let Value::Object(doc) = attestation else {
        return Err("the predicate is not a JSON object".into());
    };
    if !doc
        .get("spdxVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("SPDX-2."))
    {
        return Err("not an SPDX 2.x JSON document (no spdxVersion SPDX-2.x)".into());
    }
    let mut h = Sha256::new();
    h.update(image.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(attestation).map_err(|e| e.to_string())?);
    let salt = hex::encode(h.finalize())[..10].to_string();
    let r = Renamer { salt, image };

    for mut p in objects(doc, "packages")? {
        r.rename_field(&mut p, "SPDXID", Renamer::element);
        r.rename_list(p.get_mut("hasFiles"), Renamer::element);
        for key in ["licenseConcluded", "licenseDeclared"] {
            r.rename_field(&mut p, key, Renamer::license);
        }
        r.rename_list(p.get_mut("licenseInfoFromFiles"), Renamer::license);
        if let Some(Value::String(f)) = p.get_mut("packageFileName") {
            *f = prefixed_path(prefix, f);
        }
        into.packages.push(Value::Object(p));
    }
    for mut f in objects(doc, "files")? {
        r.rename_field(&mut f, "SPDXID", Renamer::element);
        r.rename_field(&mut f, "licenseConcluded", Renamer::license);
        r.rename_list(f.get_mut("licenseInfoInFiles"), Renamer::license);
        match f.get_mut("fileName") {
            Some(Value::String(name)) => *name = prefixed_path(prefix, name),
            _ => return Err("a file has no fileName".into()),
        }
        into.files.push(Value::Object(f));
    }
    for mut s in objects(doc, "snippets")? {
        r.rename_field(&mut s, "SPDXID", Renamer::element);
        r.rename_field(&mut s, "snippetFromFile", Renamer::element);
        r.rename_field(&mut s, "licenseConcluded", Renamer::license);
        r.rename_list(s.get_mut("licenseInfoInSnippets"), Renamer::license);
        if let Some(Value::Array(ranges)) = s.get_mut("ranges") {
            for range in ranges {
                for end in ["startPointer", "endPointer"] {
                    if let Some(Value::Object(p)) = range.get_mut(end) {
                        r.rename_field(p, "reference", Renamer::element);
                    }
                }
            }
        }
        into.snippets.push(Value::Object(s));
    }
    for mut l in objects(doc, "hasExtractedLicensingInfos")? {
        r.rename_field(&mut l, "licenseId", Renamer::license);
        into.extracted_licenses.push(Value::Object(l));
    }
    for mut e in objects(doc, "externalDocumentRefs")? {
        r.rename_field(&mut e, "externalDocumentId", Renamer::document_ref);
        into.external_document_refs.push(Value::Object(e));
    }
    for d in array(doc, "documentDescribes")? {
        let Value::String(id) = d else {
            return Err("an element of `documentDescribes` is not a string".into());
        };
        into.relate(image, "CONTAINS", &r.element(&id));
    }
    for mut rel in objects(doc, "relationships")? {
        let kind = rel
            .get("relationshipType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let from_doc = rel.get("spdxElementId").and_then(Value::as_str) == Some(DOCUMENT_ID);
        let to_doc = rel.get("relatedSpdxElement").and_then(Value::as_str) == Some(DOCUMENT_ID);
        let new_kind = match kind.as_str() {
            "DESCRIBES" if from_doc => "CONTAINS",
            "DESCRIBED_BY" if to_doc => "CONTAINED_BY",
            other => other,
        };
        rel.insert("relationshipType".into(), new_kind.into());
        r.rename_field(&mut rel, "spdxElementId", Renamer::element);
        r.rename_field(&mut rel, "relatedSpdxElement", Renamer::element);
        into.relationships.push(Value::Object(rel));
    }
    array(doc, "annotations")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attestation() -> Value {
        json!({
            "spdxVersion": "SPDX-2.3",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "x",
            "documentDescribes": ["SPDXRef-root"],
            "packages": [
                {"SPDXID": "SPDXRef-root", "name": "root", "hasFiles": ["SPDXRef-f1"],
                 "licenseDeclared": "MIT AND LicenseRef-custom", "downloadLocation": "NOASSERTION"},
                {"SPDXID": "SPDXRef-musl", "name": "musl", "packageFileName": "/lib/apk/x.apk",
                 "downloadLocation": "NOASSERTION"}
            ],
            "files": [{"SPDXID": "SPDXRef-f1", "fileName": "/usr/bin/x",
                       "licenseInfoInFiles": ["LicenseRef-custom"]}],
            "hasExtractedLicensingInfos": [{"licenseId": "LicenseRef-custom", "extractedText": "t"}],
            "relationships": [
                {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-root"},
                {"spdxElementId": "SPDXRef-root", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-musl"}
            ],
            "annotations": [{"annotator": "Tool: t", "annotationType": "OTHER", "annotationDate": "2020-01-01T00:00:00Z", "comment": "c"}]
        })
    }

    #[test]
    fn identifiers_are_renamed_consistently_and_files_prefixed() {
        let mut d = Document::default();
        let ann = merge(
            &mut d,
            "SPDXRef-Image-x",
            "containers/services/a/lower/",
            &attestation(),
        )
        .unwrap();
        assert_eq!(ann.len(), 1);
        let root_id = d.packages[0]["SPDXID"].as_str().unwrap().to_string();
        let salt = root_id
            .strip_prefix("SPDXRef-")
            .and_then(|r| r.strip_suffix("-root"))
            .unwrap()
            .to_string();
        assert_eq!(salt.len(), 10);
        assert_eq!(d.packages[0]["hasFiles"][0], format!("SPDXRef-{salt}-f1"));
        assert_eq!(
            d.packages[0]["licenseDeclared"],
            format!("MIT AND LicenseRef-{salt}-custom")
        );
        assert_eq!(
            d.packages[1]["packageFileName"],
            "./containers/services/a/lower/lib/apk/x.apk"
        );
        assert_eq!(
            d.files[0]["fileName"],
            "./containers/services/a/lower/usr/bin/x"
        );
        assert_eq!(
            d.extracted_licenses[0]["licenseId"],
            format!("LicenseRef-{salt}-custom")
        );
        // documentDescribes and DESCRIBES both become the image CONTAINS the root.
        let rels: Vec<(String, String, String)> = d
            .relationships
            .iter()
            .map(|r| {
                (
                    r["spdxElementId"].as_str().unwrap().to_string(),
                    r["relationshipType"].as_str().unwrap().to_string(),
                    r["relatedSpdxElement"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            rels[0],
            ("SPDXRef-Image-x".into(), "CONTAINS".into(), root_id.clone())
        );
        assert_eq!(rels[1], rels[0]);
        assert_eq!(
            rels[2],
            (root_id, "CONTAINS".into(), format!("SPDXRef-{salt}-musl"))
        );
    }

    #[test]
    fn two_images_with_the_same_ids_do_not_collide() {
        let mut d = Document::default();
        let mut other = attestation();
        other["name"] = "y".into();
        merge(&mut d, "SPDXRef-Image-a", "", &attestation()).unwrap();
        merge(&mut d, "SPDXRef-Image-b", "", &other).unwrap();
        let ids: std::collections::BTreeSet<&str> = d
            .packages
            .iter()
            .map(|p| p["SPDXID"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 4);
        assert_eq!(d.files[0]["fileName"], "./usr/bin/x");
    }

    #[test]
    fn non_spdx_predicates_are_refused() {
        let mut d = Document::default();
        assert!(merge(&mut d, "i", "", &json!({"bomFormat": "CycloneDX"}))
            .unwrap_err()
            .contains("not an SPDX"));
        assert!(merge(&mut d, "i", "", &json!([1])).is_err());
    }
}
