//! The image reference grammar of docker/distribution and containerd, as LinuxKit applies it
//! after its own expansion (`alpine` is `docker.io/library/alpine`, `a/b` is `docker.io/a/b`).
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] component ( "/" component )*
//! domain     := host [ ":" port ]           host: DNS labels joined by ".", or "[" IPv6 "]"
//! component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := "sha256:" 64 hex | "sha384:" 96 hex | "sha512:" 128 hex   (lowercase)
//! ```
//!
//! The first component is a domain when it contains `.` or `:` or is `localhost`, as in
//! LinuxKit's `ReferenceExpand`; with three or more components containerd also reads a first
//! component that is only valid as a host name (for example one with capitals) as a domain.

/// Longest repository name (domain included, after expansion) that containerd accepts.
const NAME_MAX: usize = 255;

/// Digest algorithms containerd accepts, with their hex lengths.
const DIGESTS: [(&str, usize); 3] = [("sha256", 64), ("sha384", 96), ("sha512", 128)];

/// Checks an image reference such as `linuxkit/init:v1.0`, `docker.io/library/alpine:3.20`,
/// `localhost:5000/x/y@sha256:<64 hex>`.
pub fn image_reference(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(
            "image reference is empty: expected a name such as \"linuxkit/init:v1\"".into(),
        );
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "image reference must not contain whitespace: {s:?}"
        ));
    }
    let (name, tag, digest) = split_reference(s);
    check_name(s, name)?;
    if let Some(tag) = tag {
        check_tag(s, tag)?;
    }
    if let Some(digest) = digest {
        check_digest(s, digest)?;
    }
    Ok(())
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

fn check_name(s: &str, name: &str) -> Result<(), String> {
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
    Ok(())
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

fn check_digest(s: &str, digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!("invalid digest {digest:?} in {s:?}: expected \"sha256:\" followed by 64 lowercase hex digits"));
    };
    let Some((_, len)) = DIGESTS.iter().find(|(a, _)| *a == algorithm) else {
        return Err(format!(
            "unsupported digest algorithm {algorithm:?} in {s:?}: expected \"sha256:\" followed by 64 lowercase hex digits (sha384 and sha512 also work)"
        ));
    };
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        let what = if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            "lowercase hex"
        } else {
            "hex"
        };
        return Err(format!(
            "invalid digest in {s:?}: {algorithm} digest must be {len} {what} digits"
        ));
    }
    if hex.len() != *len {
        return Err(format!(
            "invalid digest in {s:?}: {algorithm} digest has {} hex digits, expected {len}",
            hex.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "b5506cc74a6812dc40982cacfd2d4328f8a4b12c7f8b5e0ae2d3f2a1e6a5b4c3";

    #[test]
    fn accepts_valid_references() {
        for r in [
            "alpine",
            "alpine:3.20",
            "linuxkit/init:b5506cc7",
            "docker.io/library/alpine:latest",
            "localhost/x",
            "localhost:5000/a/b:tag",
            "registry.example.com:443/team/app_1/sub-part:v1.2.3-rc_1",
            "[::1]:5000/x/y",
            "a__b/c---d/e.f",
            "Registry.Example.com/x",
            "Host/x/y",
            "x:_tag_may_start_with_underscore",
        ] {
            assert_eq!(image_reference(r), Ok(()), "{r}");
        }
        let digest = format!("linuxkit/init@sha256:{HEX}");
        assert_eq!(image_reference(&digest), Ok(()));
        let both = format!("linuxkit/init:v1@sha256:{HEX}");
        assert_eq!(image_reference(&both), Ok(()));
        let sha512 = format!("x@sha512:{HEX}{HEX}");
        assert_eq!(image_reference(&sha512), Ok(()));
    }

    fn err(r: &str) -> String {
        match image_reference(r) {
            Err(e) => e,
            Ok(()) => panic!("{r:?} was accepted"),
        }
    }

    #[test]
    fn rejects_uppercase_repository() {
        assert_eq!(err("Redis"), "repository name must be lowercase: \"Redis\"");
        assert_eq!(
            err("linuxkit/Init:v1"),
            "repository name must be lowercase: \"linuxkit/Init:v1\""
        );
        // Two components: the first is not a domain, so it is a (lowercase) path component.
        assert_eq!(
            err("Foo/bar"),
            "repository name must be lowercase: \"Foo/bar\""
        );
    }

    #[test]
    fn rejects_bad_names() {
        assert!(err("").contains("empty"));
        assert!(err("a b").contains("whitespace"));
        assert!(err("a//b").contains("empty path component"));
        assert!(err("/a").contains("empty path component"));
        assert!(err("a/").contains("empty path component"));
        assert!(err(":tag").contains("no repository name"));
        assert_eq!(
            err("linuxkit/in..it"),
            "invalid repository name component \"in..it\" in \"linuxkit/in..it\": expected lowercase letters and digits separated by '.', '_', '__' or '-'"
        );
        assert!(err("a___b").contains("component"));
        assert!(err("-a").contains("component"));
        assert!(err("a-").contains("component"));
        assert!(err("a/b$c").contains("component"));
        assert!(err("ex-.com/a").contains("registry host"));
        assert!(err("host:port/a").contains("registry host"));
        assert!(err("[::g]/a").contains("registry host"));
        let long = format!("{}/x", "a".repeat(250));
        assert!(err(&long).contains("longer than 255"));
    }

    #[test]
    fn rejects_bad_tags() {
        assert!(err("alpine:").contains("empty tag"));
        assert_eq!(
            err("alpine:-x"),
            "invalid tag \"-x\" in \"alpine:-x\": expected 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        );
        assert!(err("alpine:.x").contains("invalid tag"));
        assert!(err("alpine:v1+2").contains("invalid tag"));
        assert!(err(&format!("alpine:{}", "x".repeat(129))).contains("invalid tag"));
        assert_eq!(
            image_reference(&format!("alpine:{}", "x".repeat(128))),
            Ok(())
        );
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(err("alpine@sha256").contains("expected \"sha256:\""));
        assert!(err("alpine@md5:abcd").contains("unsupported digest algorithm \"md5\""));
        assert_eq!(
            err("alpine@sha256:abc"),
            "invalid digest in \"alpine@sha256:abc\": sha256 digest has 3 hex digits, expected 64"
        );
        let upper = format!("alpine@sha256:{}", HEX.to_uppercase());
        assert!(err(&upper).contains("64 lowercase hex digits"));
        let bad = format!("alpine@sha256:{}z", &HEX[1..]);
        assert!(err(&bad).contains("64 hex digits"));
        assert!(err("alpine@x@y").contains("digest"));
    }
}

/// Schemes of image sources built locally from the workspace instead of pulled from a registry
/// (a cargo-linuxkit extension of LinuxKit's image strings, flagged by `export`).
pub const LOCAL_SCHEMES: [&str; 4] = ["cargo:", "kernel:", "init:", "dir:"];

/// Is `s` a local image source (`cargo:PACKAGE`, `kernel:host?modules=..`, `init:linuxkit-init`,
/// `dir:PATH`)?
pub fn is_local_source(s: &str) -> bool {
    LOCAL_SCHEMES.iter().any(|scheme| s.starts_with(scheme))
}

/// Checks an image source: a local source (see [`is_local_source`]) with a non-empty,
/// whitespace-free argument, or else a registry reference ([`image_reference`]).
pub fn image_source(s: &str) -> Result<(), String> {
    match LOCAL_SCHEMES.iter().find(|scheme| s.starts_with(**scheme)) {
        Some(scheme) => {
            let rest = &s[scheme.len()..];
            if rest.is_empty() {
                Err(format!(
                    "local image source {s:?} names nothing: expected e.g. \"cargo:hello\", \
                     \"kernel:host?modules=overlay\", \"init:linuxkit-init\" or \"dir:./files\""
                ))
            } else if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err(format!("image source must not contain whitespace: {s:?}"))
            } else {
                Ok(())
            }
        }
        None => image_reference(s),
    }
}

#[cfg(test)]
mod source_tests {
    use super::*;

    #[test]
    fn local_sources_and_references() {
        assert!(image_source("cargo:hello").is_ok());
        assert!(image_source("kernel:host?modules=overlay,virtio_net").is_ok());
        assert!(image_source("init:linuxkit-init").is_ok());
        assert!(image_source("dir:./files").is_ok());
        assert!(image_source("linuxkit/init:v1").is_ok());
        assert!(image_source("cargo:")
            .unwrap_err()
            .contains("names nothing"));
        assert!(image_source("dir:a b").unwrap_err().contains("whitespace"));
        assert!(image_source("Bad/Ref").unwrap_err().contains("lowercase"));
        assert!(is_local_source("cargo:x") && !is_local_source("docker.io/x"));
    }
}
