//! Test support: policies a team asserts on its image definitions from `cargo test`, without
//! building or booting anything.
//!
//! ```
//! use linuxkit_dsl::testing::Policy;
//! use linuxkit_dsl::{Capability, Container, Image, Kernel};
//!
//! let image = Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
//!     .service(Container::new("sshd", "linuxkit/sshd:08e5d4a4").capability(Capability::SysAdmin));
//! let violations = Policy::new()
//!     .forbid_capability(Capability::SysAdmin)
//!     .require_pinned()
//!     .check(&image);
//! assert_eq!(violations.len(), 3); // CAP_SYS_ADMIN, and two images without a digest
//! assert_eq!(
//!     violations[1].to_string(),
//!     "services[0] `sshd`: has CAP_SYS_ADMIN (forbidden unless allowed for this container)"
//! );
//! ```
//!
//! [`Policy::check`] reads the definition only. What an image's own `org.mobyproject.config`
//! label adds (capabilities, `net: host`, ...) is only known once the image is resolved:
//! [`Policy::check_effective`] applies the same rules to what each container may do after the
//! label and the definition are merged ([`EffectiveContainer`], as in its `config.json`), which
//! is what `cargo linuxkit audit --deny` checks.

use std::collections::BTreeSet;
use std::fmt;

use crate::{Capability, Image};

/// One rule broken by one item of a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The item path (`services[0]`, `kernel`, `init[1]`).
    pub path: String,
    /// The container name, for containers.
    pub container: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.container {
            Some(c) => write!(f, "{} `{c}`: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// What one container may do once its image's label and the definition are merged: the
/// facts of its `config.json` the rules read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveContainer {
    /// The item path (`onboot[0]`, `services[2]`).
    pub path: String,
    /// The container name.
    pub name: String,
    /// The image reference as written.
    pub image: String,
    /// Every capability it may hold (the bounding set: effective and ambient).
    pub capabilities: Vec<String>,
    /// It has no network namespace of its own (it is in the host's).
    pub host_network: bool,
    /// Its root filesystem is read-only.
    pub readonly_rootfs: bool,
}

/// One container as a rule sees it.
struct View<'a> {
    path: &'a str,
    name: &'a str,
    image: &'a str,
    capabilities: Vec<&'a str>,
    host_network: bool,
    readonly_rootfs: bool,
}

/// A set of rules over every container of an image (onboot, onshutdown and services).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    forbidden: Vec<(String, BTreeSet<String>)>,
    pinned: Option<BTreeSet<String>>,
    host_network: Option<BTreeSet<String>>,
    readonly: Option<BTreeSet<String>>,
}

fn names<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

impl Policy {
    /// A policy with no rules.
    pub fn new() -> Self {
        Policy::default()
    }

    /// No container may have `capability` (listed, added, or through `all`).
    #[must_use]
    pub fn forbid_capability(self, capability: Capability) -> Self {
        self.forbid_capability_except(capability, Vec::<String>::new())
    }

    /// Only the named containers may have `capability`.
    #[must_use]
    pub fn forbid_capability_except<I, S>(mut self, capability: Capability, allowed: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.forbidden
            .push((capability.as_str().to_string(), names(allowed)));
        self
    }

    /// Every registry image (kernel, init, containers, volume images) is pinned by digest
    /// (`name:tag@sha256:...`). Local sources (`cargo:`, `kernel:`, `init:`, `dir:`) are built
    /// from the workspace and pass.
    #[must_use]
    pub fn require_pinned(self) -> Self {
        self.require_pinned_or_locked(Vec::<String>::new())
    }

    /// As [`Policy::require_pinned`], also accepting the references in `locked` (e.g. the
    /// entries of the package's `linuxkit.lock`).
    #[must_use]
    pub fn require_pinned_or_locked<I, S>(mut self, locked: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.pinned = Some(names(locked));
        self
    }

    /// No container shares the host's network namespace except the named ones.
    #[must_use]
    pub fn host_network_only<I, S>(mut self, allowed: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.host_network = Some(names(allowed));
        self
    }

    /// Every container's root filesystem is read-only (`readonly: true`), except the named ones.
    #[must_use]
    pub fn readonly_rootfs_except<I, S>(mut self, allowed: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.readonly = Some(names(allowed));
        self
    }

    /// Every violation, in definition order.
    pub fn check(&self, image: &Image) -> Vec<Violation> {
        let mut out = self.check_images(image);
        for (section, list) in [
            ("onboot", &image.onboot),
            ("onshutdown", &image.onshutdown),
            ("services", &image.services),
        ] {
            for (i, c) in list.iter().enumerate() {
                let path = format!("{section}[{i}]");
                let view = View {
                    path: &path,
                    name: &c.name,
                    image: &c.image,
                    capabilities: c
                        .capabilities
                        .iter()
                        .flatten()
                        .chain(c.capabilities_add.iter().flatten())
                        .map(String::as_str)
                        .collect(),
                    host_network: c.net.as_deref() == Some("host"),
                    readonly_rootfs: c.readonly == Some(true),
                };
                self.container(&view, &mut out);
            }
        }
        out
    }

    /// Every violation of `image`, whose containers may do what `containers` says (their
    /// merged configuration, in definition order): label-granted capabilities and host
    /// networking count, as the definition's own do. Image pinning reads the definition.
    pub fn check_effective(
        &self,
        image: &Image,
        containers: &[EffectiveContainer],
    ) -> Vec<Violation> {
        let mut out = self.check_images(image);
        for c in containers {
            let view = View {
                path: &c.path,
                name: &c.name,
                image: &c.image,
                capabilities: c.capabilities.iter().map(String::as_str).collect(),
                host_network: c.host_network,
                readonly_rootfs: c.readonly_rootfs,
            };
            self.container(&view, &mut out);
        }
        out
    }

    /// The pinning rule over the kernel, init and volume images.
    fn check_images(&self, image: &Image) -> Vec<Violation> {
        let mut out = Vec::new();
        if let Some(locked) = &self.pinned {
            let mut refs: Vec<(String, &str)> = Vec::new();
            if let Some(k) = &image.kernel {
                refs.push(("kernel".into(), &k.image));
            }
            for (i, r) in image.init.iter().enumerate() {
                refs.push((format!("init[{i}]"), r));
            }
            for (i, v) in image.volumes.iter().enumerate() {
                if let Some(r) = &v.image {
                    refs.push((format!("volumes[{i}]"), r));
                }
            }
            for (path, r) in refs {
                if !pinned(r, locked) {
                    out.push(Violation {
                        path,
                        container: None,
                        message: unpinned(r),
                    });
                }
            }
        }
        out
    }

    fn container(&self, c: &View<'_>, out: &mut Vec<Violation>) {
        let mut push = |message: String| {
            out.push(Violation {
                path: c.path.to_string(),
                container: Some(c.name.to_string()),
                message,
            })
        };
        for (cap, allowed) in &self.forbidden {
            let has = c
                .capabilities
                .iter()
                .any(|c| c.eq_ignore_ascii_case(cap) || c.eq_ignore_ascii_case("all"));
            if has && !allowed.contains(c.name) {
                push(format!(
                    "has {cap} (forbidden unless allowed for this container)"
                ));
            }
        }
        if let Some(locked) = &self.pinned {
            if !pinned(c.image, locked) {
                push(unpinned(c.image));
            }
        }
        if let Some(allowed) = &self.host_network {
            if c.host_network && !allowed.contains(c.name) {
                push("shares the host network namespace (net: host)".into());
            }
        }
        if let Some(allowed) = &self.readonly {
            if !c.readonly_rootfs && !allowed.contains(c.name) {
                push("root filesystem is writable: add .readonly()".into());
            }
        }
    }

    /// Panics with every violation, one per line, when there is any.
    #[track_caller]
    pub fn assert(&self, image: &Image) {
        let v = self.check(image);
        if !v.is_empty() {
            let lines: Vec<String> = v.iter().map(|v| format!("  {v}")).collect();
            panic!(
                "the image breaks {} policy rule(s):\n{}",
                v.len(),
                lines.join("\n")
            );
        }
    }
}

/// Pinned: a valid reference with a (sha256) digest, a local source, or a locked reference.
fn pinned(reference: &str, locked: &BTreeSet<String>) -> bool {
    linuxkit_validate::ImageRef::parse(reference).is_ok_and(|r| r.digest().is_some())
        || linuxkit_validate::is_local_source(reference)
        || locked.contains(reference)
}

fn unpinned(reference: &str) -> String {
    format!("image {reference:?} is not pinned by digest (run `cargo linuxkit lock`, or write name:tag@sha256:...)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Container, Kernel, Volume};

    #[test]
    fn pinned_means_a_valid_sha256_digest() {
        let none = BTreeSet::new();
        let hex = "ab".repeat(32);
        assert!(pinned(&format!("x:1@sha256:{hex}"), &none));
        assert!(!pinned("x@sha256:0", &none));
        assert!(!pinned(&format!("x@sha512:{hex}{hex}"), &none));
        assert!(pinned("cargo:hello", &none));
        assert!(pinned("x:1", &BTreeSet::from(["x:1".to_string()])));
    }

    fn image() -> Image {
        Image::new(Kernel::new("linuxkit/kernel:6.12.59"))
            .init(["init:linuxkit-init"])
            .onboot(
                Container::new("dhcpcd", "linuxkit/dhcpcd:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000")
                    .capability(Capability::NetAdmin)
                    .net(crate::Namespace::Host)
                    .readonly(),
            )
            .service(Container::new("web", "nginx:1.27").capability_names(["all"]))
            .volume(Volume::new("data").image("alpine:3.20"))
    }

    #[test]
    fn each_rule_reports_the_item_and_the_container() {
        let v = Policy::new()
            .forbid_capability_except(Capability::SysAdmin, ["dhcpcd"])
            .forbid_capability_except(Capability::NetAdmin, ["dhcpcd"])
            .require_pinned_or_locked(["alpine:3.20"])
            .host_network_only(Vec::<String>::new())
            .readonly_rootfs_except(["nobody"])
            .check(&image());
        let text: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "kernel: image \"linuxkit/kernel:6.12.59\" is not pinned by digest (run `cargo linuxkit lock`, or write name:tag@sha256:...)",
                "onboot[0] `dhcpcd`: shares the host network namespace (net: host)",
                "services[0] `web`: has CAP_SYS_ADMIN (forbidden unless allowed for this container)",
                "services[0] `web`: has CAP_NET_ADMIN (forbidden unless allowed for this container)",
                "services[0] `web`: image \"nginx:1.27\" is not pinned by digest (run `cargo linuxkit lock`, or write name:tag@sha256:...)",
                "services[0] `web`: root filesystem is writable: add .readonly()",
            ]
        );
    }

    #[test]
    fn assert_panics_with_every_violation_and_passes_a_clean_image() {
        let p = Policy::new().host_network_only(["dhcpcd"]);
        p.assert(&image());
        let err = std::panic::catch_unwind(|| {
            Policy::new().readonly_rootfs_except(["x"]).assert(&image())
        })
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("the image breaks 1 policy rule(s):\n  services[0] `web`"),
            "{msg}"
        );
    }

    #[test]
    fn effective_rules_see_what_labels_grant() {
        // The definition says nothing of web's privileges; its image label grants them.
        let web = EffectiveContainer {
            path: "services[0]".into(),
            name: "web".into(),
            image: "nginx:1.27".into(),
            capabilities: vec!["CAP_SYS_ADMIN".into()],
            host_network: true,
            readonly_rootfs: false,
        };
        let image =
            Image::new(Kernel::new("k@sha256:0")).service(Container::new("web", "nginx:1.27"));
        let policy = Policy::new()
            .forbid_capability(Capability::SysAdmin)
            .host_network_only(Vec::<String>::new());
        assert!(policy.check(&image).is_empty());
        let text: Vec<String> = policy
            .check_effective(&image, std::slice::from_ref(&web))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "services[0] `web`: has CAP_SYS_ADMIN (forbidden unless allowed for this container)",
                "services[0] `web`: shares the host network namespace (net: host)",
            ]
        );
        let clean = EffectiveContainer {
            capabilities: vec![],
            host_network: false,
            ..web
        };
        assert!(policy.check_effective(&image, &[clean]).is_empty());
    }
}
