//! Image reference normalisation as LinuxKit does it (build spec §5.1).
//!
//! - [`expand`] is upstream's `util.ReferenceExpand`: `alpine` becomes `docker.io/library/alpine`,
//!   `a/b` becomes `docker.io/a/b` unless `a` looks like a registry host; no tag is added.
//! - [`parse`] is containerd's `reference.Parse`: it splits a reference into a locator
//!   (`host/path`) and an object (`tag`, `@digest` or `tag@digest`).
//! - [`canonical`] is what `UpdateImages` writes back into the config before it is serialised as
//!   metadata: `parse(expand(s)).to_string()`.
//!
//! These are deliberately not the Docker reference grammar: upstream accepts many strings at this
//! stage (upper case, odd digests) and only fails when the image is resolved.

use std::fmt;

/// Errors of [`parse`] (containerd's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The reference contains `://` or is otherwise not a reference.
    #[error("invalid reference")]
    Invalid,
    /// The reference has no host part.
    #[error("hostname required")]
    HostnameRequired,
    /// The host or path part is not valid URL syntax (Go's `net/url` rejects it).
    #[error("parse \"dummy://{reference}\": {reason}")]
    Url {
        /// The reference as given.
        reference: String,
        /// What `net/url` objects to.
        reason: String,
    },
}

/// Upstream's `ReferenceExpand` without `ReferenceWithTag`: add the `docker.io` host (and the
/// `library/` namespace for one-component names). `linuxkit build` does not add `:latest`.
pub fn expand(reference: &str) -> String {
    let parts: Vec<&str> = reference.split('/').collect();
    match parts.len() {
        1 => format!("docker.io/library/{reference}"),
        2 => {
            let first = parts[0];
            if first.contains('.') || first.contains(':') || first == "localhost" {
                reference.to_string()
            } else {
                format!("docker.io/{reference}")
            }
        }
        _ => reference.to_string(),
    }
}

/// A parsed reference: containerd's `reference.Spec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `host/path`, cleaned like Go's `path.Join`.
    pub locator: String,
    /// `tag`, `@digest`, `tag@digest` or empty.
    pub object: String,
}

impl fmt::Display for Spec {
    /// `locator`, `locator:tag` or `locator@digest`, as containerd's `Spec.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.object.is_empty() {
            f.write_str(&self.locator)
        } else if self.object.starts_with('@') {
            write!(f, "{}{}", self.locator, self.object)
        } else {
            write!(f, "{}:{}", self.locator, self.object)
        }
    }
}

/// containerd's `reference.Parse`: the reference is read as the URL `dummy://<reference>`; the
/// host is the locator's first part, and the path is split at the first `:` or `@`.
pub fn parse(reference: &str) -> Result<Spec, ReferenceError> {
    if reference.contains("://") {
        return Err(ReferenceError::Invalid);
    }
    let url_err = |reason: &str| ReferenceError::Url {
        reference: reference.to_string(),
        reason: reason.to_string(),
    };
    if reference.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(url_err("net/url: invalid control character in URL"));
    }
    // net/url: the fragment and the query are cut off first.
    let rest = reference.split('#').next().unwrap_or_default();
    let rest = rest.split('?').next().unwrap_or_default();
    let (authority, raw_path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // userinfo@host
    let host = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    validate_host(host).map_err(|reason| url_err(&reason))?;
    let path = percent_decode(raw_path).map_err(|reason| url_err(&reason))?;
    if host.is_empty() {
        return Err(ReferenceError::HostnameRequired);
    }
    let (path, object) = match path.find([':', '@']) {
        Some(i) => {
            let object = &path[i..];
            let object = object.strip_prefix(':').unwrap_or(object);
            (path[..i].to_string(), object.to_string())
        }
        None => (path, String::new()),
    };
    Ok(Spec {
        locator: clean_join(host, &path),
        object,
    })
}

/// The form `UpdateImages` writes: `parse(expand(reference)).to_string()`.
///
/// Local image sources built from the workspace (`cargo:`, `kernel:`, `init:`, `dir:`) are not
/// registry references and are returned unchanged, so that two of them never share a name.
pub fn canonical(reference: &str) -> Result<String, ReferenceError> {
    if is_local_source(reference) {
        return Ok(reference.to_string());
    }
    Ok(parse(&expand(reference))?.to_string())
}

/// Is `reference` a local image source (`cargo:`, `kernel:`, `init:`, `dir:`)?
pub fn is_local_source(reference: &str) -> bool {
    ["cargo:", "kernel:", "init:", "dir:"]
        .iter()
        .any(|scheme| reference.starts_with(scheme))
}

/// Go `net/url` host checks: a valid (possibly empty) numeric port, and only characters allowed
/// in a host.
fn validate_host(host: &str) -> Result<(), String> {
    if host.starts_with('[') {
        // IPv6 literal: `[...]` optionally followed by `:port`.
        let Some(end) = host.find(']') else {
            return Err("missing ']' in host".into());
        };
        let port = &host[end + 1..];
        if !port.is_empty() && !valid_port(port) {
            return Err(format!("invalid port {port:?} after host"));
        }
        return Ok(());
    }
    if let Some(i) = host.rfind(':') {
        let port = &host[i..];
        if !valid_port(port) {
            return Err(format!("invalid port {port:?} after host"));
        }
    }
    for c in host.chars() {
        let ok =
            c.is_ascii_alphanumeric() || !c.is_ascii() || "-._~!$&'()*+,;=:[]<>\"%".contains(c);
        if !ok {
            return Err(format!(
                "invalid character {:?} in host name",
                c.to_string()
            ));
        }
    }
    Ok(())
}

/// `:` followed by digits only (or nothing).
fn valid_port(port: &str) -> bool {
    port.strip_prefix(':')
        .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Decode `%XX` escapes as Go's `url.PathUnescape` does.
fn percent_decode(s: &str) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3);
            let value = hex
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match value {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => {
                    let end = (i + 3).min(bytes.len());
                    return Err(format!(
                        "invalid URL escape {:?}",
                        String::from_utf8_lossy(&bytes[i..end])
                    ));
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `path.Join(host, path)`: join with `/` and clean (`//`, `.`, `..`, trailing `/`).
fn clean_join(host: &str, path: &str) -> String {
    let joined = if host.is_empty() {
        path.to_string()
    } else if path.is_empty() {
        host.to_string()
    } else {
        format!("{host}/{path}")
    };
    if joined.is_empty() {
        return String::new();
    }
    let rooted = joined.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Port of upstream's util/reference_test.go TestReferenceExpand.
    #[test]
    fn reference_expand() {
        assert_eq!(expand("redis"), "docker.io/library/redis");
        assert_eq!(expand("foo/bar"), "docker.io/foo/bar");
        assert_eq!(expand("myregistry.io/foo"), "myregistry.io/foo");
        assert_eq!(expand("foo/bar/baz"), "foo/bar/baz");
    }

    #[test]
    fn expand_keeps_registry_hosts() {
        assert_eq!(expand("localhost/foo"), "localhost/foo");
        assert_eq!(expand("127.0.0.1:5000/foo"), "127.0.0.1:5000/foo");
        assert_eq!(
            expand("127.0.0.1:5000/fixture/base:v1"),
            "127.0.0.1:5000/fixture/base:v1"
        );
        assert_eq!(expand("alpine:3.20"), "docker.io/library/alpine:3.20");
    }

    #[test]
    fn parse_splits_locator_and_object() {
        let s = parse("docker.io/library/alpine:3.20").unwrap();
        assert_eq!(s.locator, "docker.io/library/alpine");
        assert_eq!(s.object, "3.20");
        let pinned = "127.0.0.1:5000/fixture/base:v1@sha256:ea89d2c896410da6e208d1a308f9bdc329b5b95d3ce283295a726c7baca7dac8";
        let s = parse(pinned).unwrap();
        assert_eq!(s.locator, "127.0.0.1:5000/fixture/base");
        assert_eq!(
            s.object,
            "v1@sha256:ea89d2c896410da6e208d1a308f9bdc329b5b95d3ce283295a726c7baca7dac8"
        );
        assert_eq!(s.to_string(), pinned);
        let s = parse("docker.io/library/alpine@sha256:abc").unwrap();
        assert_eq!(s.object, "@sha256:abc");
        assert_eq!(s.to_string(), "docker.io/library/alpine@sha256:abc");
        assert_eq!(
            parse("docker.io//library/./alpine/").unwrap().to_string(),
            "docker.io/library/alpine"
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(parse("http://x/y"), Err(ReferenceError::Invalid));
        assert_eq!(parse("/x/y"), Err(ReferenceError::HostnameRequired));
        assert!(matches!(
            parse("host:port/x"),
            Err(ReferenceError::Url { .. })
        ));
    }

    #[test]
    fn canonical_is_what_update_images_writes() {
        assert_eq!(canonical("alpine").unwrap(), "docker.io/library/alpine");
        assert_eq!(
            canonical("linuxkit/init:v1").unwrap(),
            "docker.io/linuxkit/init:v1"
        );
        assert_eq!(
            canonical("127.0.0.1:5000/fixture/kernel:v1").unwrap(),
            "127.0.0.1:5000/fixture/kernel:v1"
        );
    }
}
