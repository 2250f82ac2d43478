//! Image references: one grammar, one parse, one type ([`ImageRef`]), used by every crate.
//!
//! The grammar is docker/distribution's and containerd's, as LinuxKit applies it after its own
//! expansion (`alpine` is `docker.io/library/alpine`, `a/b` is `docker.io/a/b`):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] component ( "/" component )*
//! domain     := host [ ":" port ]           host: DNS labels joined by ".", or "[" IPv6 "]"
//! component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := "sha256:" 64 lowercase hex    (see [`Digest`]; sha384 and sha512 are refused)
//! ```
//!
//! The first of two or more components is a domain when it contains `.` or `:` or is
//! `localhost`; with three or more components a first component that is only valid as a host
//! name (one with capitals, `Host/x/y`) is a domain too, as containerd's and distribution's
//! parsers read it.
//!
//! [`image_reference`] (the check the macros and the DSL run) is [`ImageRef::parse`] with the
//! value dropped, so a reference that passes the compile-time check always resolves.
//!
//! # Two expansions
//!
//! A reference has two full forms, and they differ for names of three or more components
//! without a domain:
//!
//! - [`ImageRef::cache_name`] ([`expand`]) is LinuxKit's `util.ReferenceExpand`, the name of
//!   the cache entry and what `UpdateImages` writes into the image's metadata: one component `x`
//!   becomes `docker.io/library/x`, two components `a/b` become `docker.io/a/b` unless `a`
//!   contains `.` or `:` or is `localhost`, and **three or more components stay as written**
//!   (`a__b/c---d/e.f` is cached as `a__b/c---d/e.f`).
//! - [`ImageRef::registry`] and [`ImageRef::repository`] are where the image is pulled from,
//!   distribution's normalisation: the domain is the first component only when the grammar
//!   above reads it as one, else `docker.io` (`a__b/c---d/e.f` is pulled from `docker.io`,
//!   repository `a__b/c---d/e.f`), and a one-component repository on Docker Hub gains
//!   `library/`. (go-containerregistry, which upstream pulls with, does not read `localhost`
//!   alone as a domain; distribution and this crate do.)

use std::fmt;

use crate::digest::Digest;

/// Default registry of names without a domain.
pub const DOCKER_HUB: &str = "docker.io";

/// Longest repository name (domain included, after expansion) that containerd accepts.
const NAME_MAX: usize = 255;

/// A parsed image reference: checked against the grammar, with both expansions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    original: String,
    cache_name: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A string that does not follow the image reference grammar. The message quotes the reference
/// and says what is expected (`repository name must be lowercase: "Redis"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    reference: String,
    message: String,
}

impl ReferenceError {
    /// The reference as written.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The message (the same as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReferenceError {}

impl ImageRef {
    /// Parses `reference` (`linuxkit/init:v1.0`, `docker.io/library/alpine:3.20`,
    /// `localhost:5000/x/y@sha256:<64 hex>`).
    pub fn parse(reference: &str) -> Result<ImageRef, ReferenceError> {
        let err = |message: String| ReferenceError {
            reference: reference.to_string(),
            message,
        };
        let s = reference;
        if s.is_empty() {
            return Err(err(
                "image reference is empty: expected a name such as \"linuxkit/init:v1\"".into(),
            ));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(format!(
                "image reference must not contain whitespace: {s:?}"
            )));
        }
        let (name, tag, digest) = split_reference(s);
        let domain = check_name(s, name).map_err(err)?;
        if let Some(tag) = tag {
            check_tag(s, tag).map_err(err)?;
        }
        let digest = match digest {
            Some(d) => Some(Digest::parse(d).map_err(|e| err(e.in_reference(s)))?),
            None => None,
        };
        let (registry, repository) = match domain {
            Some(domain) => {
                let path = &name[domain.len() + 1..];
                let library =
                    (domain == DOCKER_HUB || domain == "index.docker.io") && !path.contains('/');
                (
                    domain.to_string(),
                    match library {
                        true => format!("library/{path}"),
                        false => path.to_string(),
                    },
                )
            }
            None if !name.contains('/') => (DOCKER_HUB.to_string(), format!("library/{name}")),
            None => (DOCKER_HUB.to_string(), name.to_string()),
        };
        Ok(ImageRef {
            original: s.to_string(),
            cache_name: expand(s),
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The reference as written.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// LinuxKit's expanded name ([`expand`]), tag and digest included: the cache entry's name
    /// and the form written into the image's metadata (`docker.io/library/alpine:3.20`).
    pub fn cache_name(&self) -> &str {
        &self.cache_name
    }

    /// The cache name without tag and digest (`docker.io/library/alpine`, `a__b/c---d/e.f`):
    /// containerd's locator of the expanded reference.
    pub fn cache_locator(&self) -> &str {
        split_reference(&self.cache_name).0
    }

    /// [`expand_with_tag`]: the cache name with `:latest` when it has no `:` at all (upstream's
    /// `ReferenceWithTag`, used by `cache pull`; a registry port counts as a `:`).
    pub fn cache_name_with_tag(&self) -> String {
        expand_with_tag(&self.original)
    }

    /// The registry to pull from (host and port as written, `docker.io` when none is given).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside [`registry`](Self::registry) (`library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`, without tag or digest.
    pub fn locator(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag, when given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, when given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
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
    /// The [cache name](ImageRef::cache_name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cache_name)
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<ImageRef, ReferenceError> {
        ImageRef::parse(s)
    }
}

/// LinuxKit's `ReferenceExpand` without the tag option, on any string: one component `x` ->
/// `docker.io/library/x`; two components `a/b` -> `docker.io/a/b` unless `a` contains `.` or `:`
/// or is `localhost`; three or more components are unchanged. No `:latest` is added.
pub fn expand(reference: &str) -> String {
    let mut parts = reference.split('/');
    let first = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (None, _) => format!("{DOCKER_HUB}/library/{reference}"),
        (Some(_), None) if !first.contains(['.', ':']) && first != "localhost" => {
            format!("{DOCKER_HUB}/{reference}")
        }
        _ => reference.to_string(),
    }
}

/// [`expand`], then `:latest` when the result has no `:` anywhere (LinuxKit's
/// `ReferenceWithTag`; a registry port counts as a `:`, as upstream, so `localhost:5000/a/b`
/// stays as it is).
pub fn expand_with_tag(reference: &str) -> String {
    let ret = expand(reference);
    if ret.contains(':') {
        ret
    } else {
        format!("{ret}:latest")
    }
}

/// Checks an image reference such as `linuxkit/init:v1.0`, `docker.io/library/alpine:3.20`,
/// `localhost:5000/x/y@sha256:<64 hex>`: [`ImageRef::parse`] without the value.
pub fn image_reference(s: &str) -> Result<(), String> {
    ImageRef::parse(s).map(drop).map_err(|e| e.message)
}

/// Splits a reference into its name, tag and digest without checking them:
/// `localhost:5000/a/b:1@sha256:..` is (`localhost:5000/a/b`, `Some("1")`, `Some("sha256:..")`).
/// The tag separator is the last `:` after the last `/` (a `:` before it is a port).
pub fn split_reference(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    let after_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[after_slash..].rfind(':') {
        Some(i) => (
            &rest[..after_slash + i],
            Some(&rest[after_slash + i + 1..]),
            digest,
        ),
        None => (rest, None, digest),
    }
}

/// Checks the name; returns its domain, if it has one.
fn check_name<'a>(s: &str, name: &'a str) -> Result<Option<&'a str>, String> {
    if name.is_empty() {
        return Err(format!("image reference has no repository name: {s:?}"));
    }
    let components: Vec<&str> = name.split('/').collect();
    if components.iter().any(|c| c.is_empty()) {
        return Err(format!("image reference has an empty path component (\"//\" or a leading or trailing '/'): {s:?}"));
    }
    let first = components[0];
    let has_domain = components.len() > 1
        && (first.contains(['.', ':'])
            || first == "localhost"
            || (components.len() > 2 && !is_path_component(first) && is_domain(first)));
    let path = if has_domain {
        if !is_domain(first) {
            return Err(format!(
                "invalid registry host {first:?} in image reference {s:?}: expected a host name, IPv4 or [IPv6] address, with an optional :port"
            ));
        }
        &components[1..]
    } else {
        &components[..]
    };
    for component in path {
        if !is_path_component(component) {
            if is_path_component(&component.to_ascii_lowercase()) {
                return Err(format!("repository name must be lowercase: {s:?}"));
            }
            return Err(format!(
                "invalid repository name component {component:?} in {s:?}: expected lowercase letters and digits separated by '.', '_', '__' or '-'"
            ));
        }
    }
    // The length limit applies to the expanded name (`docker.io/library/x`).
    let expanded = match (has_domain, components.len()) {
        (true, _) => name.len(),
        (false, 1) => "docker.io/library/".len() + name.len(),
        (false, _) => "docker.io/".len() + name.len(),
    };
    if expanded > NAME_MAX {
        return Err(format!(
            "repository name is longer than {NAME_MAX} characters: {s:?}"
        ));
    }
    Ok(has_domain.then_some(first))
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // An alphanumeric run, at least one character.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // A separator.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `host [ ":" port ]`, host being DNS labels (any case) or a bracketed IPv6 address.
fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(inner) = d.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(d), None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    match host {
        None => true,
        Some(host) => !host.is_empty() && host.split('.').all(is_dns_label),
    }
}

/// `[a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

fn check_tag(s: &str, tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err(format!("image reference has an empty tag after ':': {s:?}"));
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let first_ok = chars.next().is_some_and(word);
    if !first_ok || !chars.all(|c| word(c) || c == '.' || c == '-') || tag.len() > 128 {
        return Err(format!(
            "invalid tag {tag:?} in {s:?}: expected 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ));
    }
    Ok(())
}

/// Checks an image source: a local source ([`LocalSource::parse`](crate::LocalSource::parse),
/// see [`is_local_source`](crate::is_local_source)) or else a registry reference
/// ([`image_reference`]).
pub fn image_source(s: &str) -> Result<(), String> {
    if !crate::local::is_local_source(s) {
        return image_reference(s);
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("image source must not contain whitespace: {s:?}"));
    }
    if crate::LOCAL_SCHEMES.contains(&s) {
        return Err(format!(
            "local image source {s:?} names nothing: expected e.g. \"cargo:hello\", \
             \"kernel:host?modules=overlay\", \"init:linuxkit-init\" or \"dir:./files\""
        ));
    }
    crate::LocalSource::parse(s)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
