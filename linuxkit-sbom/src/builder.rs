//! [`SbomBuilder`]: the images of one build, in build order, and the document made of them.

use packageurl::PackageUrl;
use serde_json::Value;

use crate::kernel::KernelVersion;
use crate::merge::merge;
use crate::ospkg::{Manager, OsPackages};
use crate::spdx::{self, element_id, Checksum, Document, ExternalRef, Package, DOCUMENT_ID};
use crate::SbomError;

/// An image as a build resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The reference as written in the definition.
    pub reference: String,
    /// `host/path` of a registry reference (`docker.io/linuxkit/init`); `None` for local
    /// sources (`cargo:`, `kernel:`, `init:`, `dir:`).
    pub locator: Option<String>,
    /// The tag, when the reference has one.
    pub tag: Option<String>,
    /// The digest of the manifest used.
    pub manifest_digest: linuxkit_validate::Digest,
}

impl ImageInfo {
    /// `pkg:oci/<name>@<digest>?repository_url=<locator>&tag=<tag>`.
    fn purl(&self) -> Option<String> {
        let name = match &self.locator {
            Some(l) => l.rsplit('/').next().unwrap_or(l).to_string(),
            None => {
                let rest = self
                    .reference
                    .split_once(':')
                    .map_or(self.reference.as_str(), |x| x.1);
                rest.split('?').next().unwrap_or(rest).replace('/', "-")
            }
        };
        let mut p = PackageUrl::new("oci", name.to_lowercase()).ok()?;
        p.with_version(self.manifest_digest.as_str()).ok()?;
        if let Some(l) = &self.locator {
            p.add_qualifier("repository_url", l.as_str()).ok()?;
        }
        if let Some(t) = &self.tag {
            p.add_qualifier("tag", t.as_str()).ok()?;
        }
        Some(p.to_string())
    }
}

#[derive(Debug, Clone)]
struct ImageEntry {
    info: ImageInfo,
    id: String,
    locations: Vec<String>,
    prefix: String,
    read: bool,
    os: OsPackages,
    kernel: Option<KernelVersion>,
    attestations: Vec<Value>,
}

/// Collects the images of a build and writes its SBOM.
#[derive(Debug, Clone)]
pub struct SbomBuilder {
    name: String,
    tool: String,
    images: Vec<ImageEntry>,
}

impl SbomBuilder {
    /// A builder for the system `name` (the document and root package name), written by
    /// `tool` (`cargo-linuxkit-<version>`).
    pub fn new(name: impl Into<String>, tool: impl Into<String>) -> Self {
        SbomBuilder {
            name: name.into(),
            tool: tool.into(),
            images: Vec::new(),
        }
    }

    /// Records that `image` is used at `location` (`kernel`, `init[0]`, `services[2]`, ...),
    /// its files under `prefix`; returns its handle. An image used twice (the same manifest,
    /// however its reference is written) is one package, named as first written, listing
    /// every location.
    pub fn image(&mut self, image: ImageInfo, location: &str, prefix: &str) -> usize {
        if let Some(i) = self
            .images
            .iter()
            .position(|e| e.info.manifest_digest == image.manifest_digest)
        {
            self.images[i].locations.push(location.to_string());
            return i;
        }
        let id = element_id(
            "Image",
            &image.reference,
            &format!("{} {}", image.reference, image.manifest_digest),
        );
        self.images.push(ImageEntry {
            info: image,
            id,
            locations: vec![location.to_string()],
            prefix: prefix.to_string(),
            read: false,
            os: OsPackages::default(),
            kernel: None,
            attestations: Vec::new(),
        });
        self.images.len() - 1
    }

    /// Whether the contents of image `i` (package databases, attestations) are still to be
    /// read: only the first use of an image reads them.
    pub fn needs_contents(&self, i: usize) -> bool {
        self.images.get(i).is_some_and(|e| !e.read)
    }

    /// The contents of image `i`: what its databases list and the SPDX documents it carries.
    pub fn set_contents(&mut self, i: usize, os: OsPackages, attestations: Vec<Value>) {
        if let Some(e) = self.images.get_mut(i) {
            e.read = true;
            e.os = os;
            e.attestations = attestations;
        }
    }

    /// The kernel version found in image `i`.
    pub fn set_kernel(&mut self, i: usize, kernel: KernelVersion) {
        if let Some(e) = self.images.get_mut(i) {
            e.kernel = Some(kernel);
        }
    }

    /// The SPDX JSON document (see [`crate::spdx`] for what makes it reproducible).
    pub fn finish(&self) -> Result<Vec<u8>, SbomError> {
        let mut doc = Document::new(self.name.clone(), vec![format!("Tool: {}", self.tool)]);
        let system = element_id("System", &self.name, &self.name);
        let mut root = Package::new(system.clone(), self.name.clone());
        root.purpose = Some("OPERATING-SYSTEM".into());
        root.comment = Some("the LinuxKit system: its kernel, init and container images".into());
        doc.push_package(&root);
        doc.relate(DOCUMENT_ID, "DESCRIBES", &system);
        for e in &self.images {
            self.add_image(&mut doc, &system, e)?;
        }
        Ok(doc.to_json())
    }

    fn add_image(&self, doc: &mut Document, system: &str, e: &ImageEntry) -> Result<(), SbomError> {
        let mut merged = Document::default();
        let mut annotations = Vec::new();
        for a in &e.attestations {
            annotations.extend(merge(&mut merged, &e.id, &e.prefix, a).map_err(|reason| {
                SbomError::Attestation {
                    image: e.info.reference.clone(),
                    reason,
                }
            })?);
        }

        let mut p = Package::new(e.id.clone(), e.info.reference.clone());
        p.version = Some(
            e.info
                .tag
                .clone()
                .unwrap_or_else(|| e.info.manifest_digest.to_string()),
        );
        p.checksums = vec![Checksum::sha256(&e.info.manifest_digest)];
        p.external_refs = e.info.purl().into_iter().map(ExternalRef::purl).collect();
        p.purpose = Some("CONTAINER".into());
        p.comment = Some(format!(
            "image manifest {}, used as {}",
            e.info.manifest_digest,
            e.locations.join(", ")
        ));
        let mut value = serde_json::to_value(&p).expect("package serialises");
        if !annotations.is_empty() {
            value["annotations"] = Value::Array(annotations);
        }
        doc.packages.push(value);
        doc.relate(system, "CONTAINS", &e.id);

        if let Some(k) = &e.kernel {
            let id = element_id(
                "Kernel",
                &format!("linux-{}", k.release),
                &format!("{} {}", e.id, k.release),
            );
            let mut kp = Package::new(id.clone(), "linux");
            kp.version = Some(k.release.clone());
            kp.description = k.banner.clone();
            kp.purpose = Some("OPERATING-SYSTEM".into());
            kp.external_refs = PackageUrl::new("generic", "linux")
                .ok()
                .and_then(|mut u| {
                    u.with_version(k.release.as_str()).ok()?;
                    Some(u.to_string())
                })
                .into_iter()
                .map(ExternalRef::purl)
                .collect();
            doc.push_package(&kp);
            doc.relate(&e.id, "CONTAINS", &id);
        }

        for o in &e.os.packages {
            let kind = match o.manager {
                Manager::Dpkg => "Deb",
                Manager::Apk => "Apk",
            };
            let id = element_id(
                kind,
                &format!("{}-{}", o.name, o.version),
                &format!(
                    "{} {} {} {}",
                    e.id,
                    o.name,
                    o.version,
                    o.arch.as_deref().unwrap_or("")
                ),
            );
            let mut op = Package::new(id.clone(), o.name.clone());
            op.version = Some(o.version.clone());
            op.source_info = o
                .source
                .as_ref()
                .map(|s| format!("built from the source package {s}"));
            op.license_declared = spdx::license_expression(o.license.as_deref());
            op.external_refs = e.os.purl(o).into_iter().map(ExternalRef::purl).collect();
            doc.push_package(&op);
            doc.relate(&e.id, "CONTAINS", &id);
        }

        doc.packages.extend(merged.packages);
        doc.files.extend(merged.files);
        doc.snippets.extend(merged.snippets);
        doc.relationships.extend(merged.relationships);
        doc.extracted_licenses.extend(merged.extracted_licenses);
        doc.external_document_refs
            .extend(merged.external_document_refs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(r: &str, d: char) -> ImageInfo {
        ImageInfo {
            reference: r.into(),
            locator: Some(format!("docker.io/{}", r.split(':').next().unwrap())),
            tag: r.split(':').nth(1).map(str::to_string),
            manifest_digest: linuxkit_validate::Digest::from_sha256_hex(&d.to_string().repeat(64))
                .unwrap(),
        }
    }

    fn doc(b: &SbomBuilder) -> Value {
        serde_json::from_slice(&b.finish().unwrap()).unwrap()
    }

    #[test]
    fn images_packages_kernel_and_os_packages_are_listed_and_reproducible() {
        let mut b = SbomBuilder::new("sshd", "cargo-linuxkit-0.1.0");
        let k = b.image(info("linuxkit/kernel:6.6", 'a'), "kernel", "");
        b.set_kernel(
            k,
            KernelVersion {
                release: "6.6.13-linuxkit".into(),
                banner: None,
            },
        );
        let s = b.image(
            info("linuxkit/sshd:v1", 'b'),
            "services[0]",
            "containers/services/sshd/lower/",
        );
        let mut os = OsPackages::default();
        os.add(
            b"lib/apk/db/installed",
            b"P:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\n",
        );
        b.set_contents(s, os, Vec::new());
        assert!(!b.needs_contents(s));
        assert_eq!(
            b.image(info("linuxkit/sshd:v1", 'b'), "services[1]", "x/"),
            s
        );

        let d = doc(&b);
        assert_eq!(b.finish().unwrap(), b.finish().unwrap());
        let names: Vec<&str> = d["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "sshd",
                "linuxkit/kernel:6.6",
                "linux",
                "linuxkit/sshd:v1",
                "musl"
            ]
        );
        let sshd = &d["packages"][3];
        assert_eq!(
            sshd["comment"]
                .as_str()
                .unwrap()
                .rsplit("used as ")
                .next()
                .unwrap(),
            "services[0], services[1]"
        );
        assert_eq!(
            sshd["externalRefs"][0]["referenceLocator"],
            format!(
                "pkg:oci/sshd@sha256:{}?repository_url=docker.io/linuxkit/sshd&tag=v1",
                "b".repeat(64)
            )
        );
        assert_eq!(d["packages"][4]["licenseDeclared"], "MIT");
        assert_eq!(d["packages"][2]["versionInfo"], "6.6.13-linuxkit");
        assert_eq!(d["creationInfo"]["created"], spdx::CREATED);
    }

    #[test]
    fn a_bad_attestation_names_the_image() {
        let mut b = SbomBuilder::new("x", "t");
        let i = b.image(info("alpine:3", 'c'), "onboot[0]", "");
        b.set_contents(i, OsPackages::default(), vec![serde_json::json!({"x": 1})]);
        let err = b.finish().unwrap_err().to_string();
        assert!(
            err.contains("alpine:3") && err.contains("--no-sbom"),
            "{err}"
        );
    }
}
