use super::*;

const HEX: &str = "b5506cc74a6812dc40982cacfd2d4328f8a4b12c7f8b5e0ae2d3f2a1e6a5b4c3";

fn parse(r: &str) -> ImageRef {
    ImageRef::parse(r).unwrap_or_else(|e| panic!("{r:?}: {e}"))
}

fn err(r: &str) -> String {
    match image_reference(r) {
        Err(e) => {
            assert_eq!(ImageRef::parse(r).unwrap_err().to_string(), e);
            e
        }
        Ok(()) => panic!("{r:?} was accepted"),
    }
}

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
        assert_eq!(parse(r).original(), r);
    }
    let digest = format!("linuxkit/init@sha256:{HEX}");
    assert_eq!(image_reference(&digest), Ok(()));
    let both = format!("linuxkit/init:v1@sha256:{HEX}");
    assert_eq!(image_reference(&both), Ok(()));
}

// The cases of upstream's util/reference_test.go, and the quirks around them.
#[test]
fn cache_name_is_linuxkit_reference_expand() {
    assert_eq!(expand("redis"), "docker.io/library/redis");
    assert_eq!(expand("foo/bar"), "docker.io/foo/bar");
    assert_eq!(expand("myregistry.io/foo"), "myregistry.io/foo");
    assert_eq!(expand("foo/bar/baz"), "foo/bar/baz");
    assert_eq!(expand_with_tag("redis"), "docker.io/library/redis:latest");
    assert_eq!(
        expand_with_tag("redis:alpine"),
        "docker.io/library/redis:alpine"
    );
    assert_eq!(expand("localhost/foo"), "localhost/foo");
    assert_eq!(expand("host:5000/foo"), "host:5000/foo");
    assert_eq!(expand("linuxkit/init:v1"), "docker.io/linuxkit/init:v1");
    // Upstream's quirk: a port already counts as a tag for ReferenceWithTag.
    assert_eq!(expand_with_tag("localhost:5000/a/b"), "localhost:5000/a/b");
    assert_eq!(
        parse("localhost:5000/a/b").cache_name_with_tag(),
        "localhost:5000/a/b"
    );
    assert_eq!(
        parse("alpine").cache_name_with_tag(),
        "docker.io/library/alpine:latest"
    );
    // What `UpdateImages` writes: the expanded name with tag and digest as written.
    let pinned = format!("127.0.0.1:5000/fixture/base:v1@sha256:{HEX}");
    assert_eq!(parse(&pinned).cache_name(), pinned);
    assert_eq!(parse(&pinned).to_string(), pinned);
    assert_eq!(
        parse("alpine:3.20").cache_name(),
        "docker.io/library/alpine:3.20"
    );
}

#[test]
fn pull_location_follows_distribution() {
    let at = |r: &str| {
        let p = parse(r);
        (p.registry().to_string(), p.repository().to_string())
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(at("alpine"), pair("docker.io", "library/alpine"));
    assert_eq!(at("linuxkit/init:v1"), pair("docker.io", "linuxkit/init"));
    assert_eq!(at("docker.io/alpine"), pair("docker.io", "library/alpine"));
    assert_eq!(at("localhost/x"), pair("localhost", "x"));
    assert_eq!(at("host:5000/a"), pair("host:5000", "a"));
    assert_eq!(at("[::1]:5000/x/y"), pair("[::1]:5000", "x/y"));
    assert_eq!(at("Host/x/y"), pair("Host", "x/y"));
    // Three components without a domain: cached as written, pulled from Docker Hub.
    let r = parse("a__b/c---d/e.f");
    assert_eq!(r.cache_name(), "a__b/c---d/e.f");
    assert_eq!(
        (r.registry(), r.repository(), r.locator().as_str()),
        ("docker.io", "a__b/c---d/e.f", "docker.io/a__b/c---d/e.f")
    );
    assert_eq!((r.tag(), r.digest(), r.object()), (None, None, "latest"));
    assert_eq!(r.cache_locator(), "a__b/c---d/e.f");
    let r = parse(&format!("alpine:3.20@sha256:{HEX}"));
    assert_eq!(r.cache_locator(), "docker.io/library/alpine");
}

#[test]
fn tag_and_digest() {
    let d = format!("sha256:{}", "ab".repeat(32));
    let r = parse(&format!("127.0.0.1:5000/fixture/base:v1@{d}"));
    assert_eq!(r.registry(), "127.0.0.1:5000");
    assert_eq!(r.repository(), "fixture/base");
    assert_eq!(r.tag(), Some("v1"));
    assert_eq!(r.digest().map(|d| d.as_str()), Some(d.as_str()));
    assert_eq!(r.object(), d);
    let r = parse("localhost:5000/x");
    assert_eq!((r.registry(), r.tag()), ("localhost:5000", None));
    let r = parse("alpine:3.20");
    assert_eq!((r.tag(), r.object()), (Some("3.20"), "3.20"));
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
    assert_eq!(
        err("docker.io/library/Alpine"),
        "repository name must be lowercase: \"docker.io/library/Alpine\""
    );
}

#[test]
fn rejects_bad_names() {
    assert!(err("").contains("empty"));
    assert!(err("a b").contains("whitespace"));
    assert!(err(" alpine").contains("whitespace"));
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
    assert!(err("docker.io/-x").contains("component"));
    assert!(err("ex-.com/a").contains("registry host"));
    assert!(err("host:port/a").contains("registry host"));
    assert!(err("[::g]/a").contains("registry host"));
    assert!(err("http://x/y").contains("empty path component"));
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
    assert!(err("alpine:a:b").contains("component \"alpine:a\""));
    assert!(err(&format!("alpine:{}", "x".repeat(129))).contains("invalid tag"));
    assert_eq!(
        image_reference(&format!("alpine:{}", "x".repeat(128))),
        Ok(())
    );
}

#[test]
fn rejects_bad_digests() {
    assert_eq!(
        err("alpine@sha256"),
        "invalid digest \"sha256\" in \"alpine@sha256\": expected \"sha256:\" followed by 64 lowercase hex digits"
    );
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
    // sha384 and sha512 are well-formed but refused, as go-containerregistry refuses them.
    let sha512 = format!("x@sha512:{HEX}{HEX}");
    assert_eq!(
        err(&sha512),
        format!(
            "unsupported digest algorithm \"sha512\" in {sha512:?}: only sha256 digests are \
             supported (go-containerregistry refuses sha512 too); expected \"sha256:\" followed \
             by 64 lowercase hex digits"
        )
    );
    let sha384 = format!("x:v1@sha384:{HEX}{}", &HEX[..32]);
    assert!(err(&sha384).contains("unsupported digest algorithm \"sha384\""));
}

#[test]
fn local_sources_and_references() {
    assert!(image_source("cargo:hello").is_ok());
    assert!(image_source("cargo:hello.net-up").is_ok());
    assert!(image_source("kernel:host?modules=overlay,virtio_net").is_ok());
    assert!(image_source("kernel:debian?arch=arm64").is_ok());
    assert!(image_source("init:linuxkit-init").is_ok());
    assert!(image_source("dir:./files").is_ok());
    assert!(image_source("linuxkit/init:v1").is_ok());
    assert!(image_source("cargo:")
        .unwrap_err()
        .contains("names nothing"));
    assert!(image_source("dir:a b").unwrap_err().contains("whitespace"));
    assert!(image_source("Bad/Ref").unwrap_err().contains("lowercase"));
    // The scheme's own grammar: the same parse `linuxkit-pkg` builds from.
    assert_eq!(
        image_source("init:other").unwrap_err(),
        "invalid local image reference \"init:other\": the local images of this scheme are \
         init:linuxkit-init and init:linuxkit-update"
    );
    assert!(image_source("cargo:a/b")
        .unwrap_err()
        .contains("expected cargo:<package>"));
    assert!(crate::is_local_source("cargo:x") && !crate::is_local_source("docker.io/x"));
}

/// Every string over a small alphabet up to five characters: the check and the parse agree,
/// and a parsed reference's cache name parses to the same registry location, tag and digest.
#[test]
fn exhaustive_small_inputs_agree() {
    const ALPHABET: &[u8] = b"aA1._-/:@";
    let mut accepted = 0;
    let mut buf = Vec::new();
    for len in 1..=5u32 {
        for mut n in 0..ALPHABET.len().pow(len) {
            buf.clear();
            for _ in 0..len {
                buf.push(ALPHABET[n % ALPHABET.len()]);
                n /= ALPHABET.len();
            }
            let s = std::str::from_utf8(&buf).unwrap();
            assert_agrees(s);
            accepted += usize::from(image_reference(s).is_ok());
        }
    }
    // Some, not all, are references.
    assert!(accepted > 1000, "{accepted}");
    for s in [
        format!("a/b@sha256:{HEX}"),
        format!("a:1@sha256:{HEX}"),
        format!("localhost@sha256:{HEX}"),
        format!("x@sha512:{HEX}{HEX}"),
    ] {
        assert_agrees(&s);
    }
}

fn assert_agrees(s: &str) {
    let checked = image_reference(s);
    let parsed = ImageRef::parse(s);
    assert_eq!(checked.is_ok(), parsed.is_ok(), "{s:?}");
    if let Ok(r) = parsed {
        let again = ImageRef::parse(r.cache_name())
            .unwrap_or_else(|e| panic!("{s:?} expands to {:?}: {e}", r.cache_name()));
        assert_eq!(
            (
                again.registry(),
                again.repository(),
                again.tag(),
                again.digest()
            ),
            (r.registry(), r.repository(), r.tag(), r.digest()),
            "{s:?}"
        );
        assert_eq!(expand(r.cache_name()), r.cache_name(), "{s:?}");
    }
}
