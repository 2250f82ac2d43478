//! Image references: LinuxKit's normalisation and a strict parse into registry parts.
//!
//! LinuxKit names cache entries by [`expand`]ed strings (`redis` -> `docker.io/library/redis`,
//! no `:latest` added); only `cache pull` and package tags use [`expand_with_tag`].

use std::fmt;

/// Default registry of one- and two-component names.
pub const DOCKER_HUB: &str = "docker.io";

/// Expands a reference like LinuxKit's `ReferenceExpand` without the tag option:
/// one component `x` -> `docker.io/library/x`; two components `a/b` -> `docker.io/a/b` unless `a`
/// contains `.` or `:` or is `localhost`; three or more components are unchanged.
pub fn expand(reference: &str) -> String {
    let parts: Vec<&str> = reference.split('/').collect();
    match parts.len() {
        1 => format!("{DOCKER_HUB}/library/{reference}"),
        2 if !parts[0].contains('.') && !parts[0].contains(':') && parts[0] != "localhost" => {
            format!("{DOCKER_HUB}/{reference}")
        }
        _ => reference.to_string(),
    }
}

/// [`expand`], then `:latest` when the result has no `:` anywhere (LinuxKit's
/// `ReferenceWithTag`, used by `cache pull`; a registry port counts as a `:`, as upstream).
pub fn expand_with_tag(reference: &str) -> String {
    let ret = expand(reference);
    if ret.contains(':') {
        ret
    } else {
        format!("{ret}:latest")
    }
}

/// A parsed, expanded reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The reference as written.
    pub original: String,
    /// The expanded name, the cache key (`docker.io/library/alpine`, `host:5000/a/b:v1@sha256:...`).
    pub name: String,
    /// Registry host (and port), e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/alpine`.
    pub repository: String,
    /// Tag, when given.
    pub tag: Option<String>,
    /// `sha256:<hex>` digest, when given.
    pub digest: Option<String>,
}

/// A reference that does not follow the image reference grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ReferenceError {
    /// The reference as written.
    pub reference: String,
    /// What is wrong.
    pub reason: String,
}

impl ImageRef {
    /// Parses and expands `reference`.
    pub fn parse(reference: &str) -> Result<Self, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        if reference.is_empty() {
            return Err(err("empty reference"));
        }
        if reference.trim() != reference {
            return Err(err("leading or trailing whitespace"));
        }
        let name = expand(reference);
        let (rest, digest) = match name.split_once('@') {
            Some((r, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| err("the digest must be sha256:<64 hex digits>"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(err("the digest must be sha256:<64 lowercase hex digits>"));
                }
                (r, Some(d.to_string()))
            }
            None => (name.as_str(), None),
        };
        let last_slash = rest.rfind('/').unwrap_or(0);
        let (locator, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(rest[i + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes().enumerate().all(|(i, b)| {
                    b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
                });
            if !ok {
                return Err(err(
                    "invalid tag (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
                ));
            }
        }
        let (registry, repository) = locator
            .split_once('/')
            .ok_or_else(|| err("missing repository"))?;
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(err("invalid registry host"));
        }
        for component in repository.split('/') {
            if !valid_component(component) {
                return Err(err(
                    "invalid repository path: components are lowercase letters and digits \
                     separated by '.', '_', '__' or '-'",
                ));
            }
        }
        Ok(ImageRef {
            original: reference.to_string(),
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
            name: name.clone(),
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn locator(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry for: the digest if pinned, else the tag, else `latest`.
    pub fn object(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__", or one or more "-".
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Is `host` (with optional port) a loopback address (`localhost`, `127.0.0.0/8`, `::1`)?
pub fn is_loopback_host(registry: &str) -> bool {
    if let Ok(ip) = registry.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match registry.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => registry,
        }
    };
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The cases of upstream's util/reference_test.go.
    #[test]
    fn upstream_reference_expand_cases() {
        assert_eq!(expand("redis"), "docker.io/library/redis");
        assert_eq!(expand("foo/bar"), "docker.io/foo/bar");
        assert_eq!(expand("myregistry.io/foo"), "myregistry.io/foo");
        assert_eq!(expand("foo/bar/baz"), "foo/bar/baz");
        assert_eq!(expand_with_tag("redis"), "docker.io/library/redis:latest");
        assert_eq!(
            expand_with_tag("redis:alpine"),
            "docker.io/library/redis:alpine"
        );
    }

    #[test]
    fn two_component_domains() {
        assert_eq!(expand("localhost/foo"), "localhost/foo");
        assert_eq!(expand("host:5000/foo"), "host:5000/foo");
        assert_eq!(expand("linuxkit/init:v1"), "docker.io/linuxkit/init:v1");
        // Upstream's quirk: a port already counts as a tag for ReferenceWithTag.
        assert_eq!(expand_with_tag("localhost:5000/a/b"), "localhost:5000/a/b");
    }

    #[test]
    fn parse_splits_registry_repo_tag_digest() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/alpine")
        );
        assert_eq!((r.tag.as_deref(), r.object()), (None, "latest"));
        assert_eq!(r.name, "docker.io/library/alpine");
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = ImageRef::parse(&format!("127.0.0.1:5000/fixture/base:v1@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "fixture/base");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.object(), d);
        let r = ImageRef::parse("localhost:5000/x").unwrap();
        assert_eq!((r.registry.as_str(), r.tag), ("localhost:5000", None));
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine@sha256:123",
            "alpine@md5:00",
            "a//b",
            "alpine:a:b",
            "docker.io/-x",
            " alpine",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn loopback_detection() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.3.4.5",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:80",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
