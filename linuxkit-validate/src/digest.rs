//! [`Digest`]: a content digest, `sha256:` followed by 64 lowercase hex digits, checked when it is
//! parsed or deserialised.
//!
//! Only sha256 is accepted: go-containerregistry, which LinuxKit pulls and caches with, refuses
//! sha384 and sha512 (`unsupported digest algorithm`), and so does every consumer here (the
//! cache's `blobs/sha256/` directory, the lockfile, the pinning policy).

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

/// The one digest algorithm accepted.
pub const ALGORITHM: &str = "sha256";

/// Hex digits of a sha256 digest.
pub const HEX_LEN: usize = 64;

/// A validated `sha256:<64 lowercase hex>` digest.
///
/// It dereferences to the string form (`&*digest` is `"sha256:..."`), compares equal to strings,
/// and (de)serialises as that string, refusing anything else when read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

/// Why a string is not a [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestError {
    digest: String,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    NoAlgorithm,
    Unsupported(String),
    NotHex { lowercase_only: bool },
    Length(usize),
}

impl Problem {
    /// The message, `what` being how the digest is quoted (`"sha256:.."` or `.. in "ref@.."`).
    pub(crate) fn describe(&self, digest: &str, context: Option<&str>) -> String {
        let place = match context {
            Some(reference) => format!("in {reference:?}"),
            None => format!("{digest:?}"),
        };
        let expected = "expected \"sha256:\" followed by 64 lowercase hex digits";
        match self {
            Problem::NoAlgorithm => match context {
                Some(reference) => {
                    format!("invalid digest {digest:?} in {reference:?}: {expected}")
                }
                None => format!("invalid digest {digest:?}: {expected}"),
            },
            Problem::Unsupported(algorithm) if algorithm == "sha384" || algorithm == "sha512" => {
                let at = context.map_or(String::new(), |r| format!(" in {r:?}"));
                format!(
                    "unsupported digest algorithm {algorithm:?}{at}: only sha256 digests are \
                     supported (go-containerregistry refuses {algorithm} too); {expected}"
                )
            }
            Problem::Unsupported(algorithm) => {
                let at = context.map_or(String::new(), |r| format!(" in {r:?}"));
                format!("unsupported digest algorithm {algorithm:?}{at}: {expected}")
            }
            Problem::NotHex { lowercase_only } => {
                let what = if *lowercase_only {
                    "lowercase hex"
                } else {
                    "hex"
                };
                format!("invalid digest {place}: sha256 digest must be 64 {what} digits")
            }
            Problem::Length(n) => {
                format!("invalid digest {place}: sha256 digest has {n} hex digits, expected 64")
            }
        }
    }
}

/// What is wrong with `digest`, if anything.
pub(crate) fn check(digest: &str) -> Result<(), Problem> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(Problem::NoAlgorithm);
    };
    if algorithm != ALGORITHM {
        return Err(Problem::Unsupported(algorithm.to_string()));
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Problem::NotHex {
            lowercase_only: hex.bytes().all(|b| b.is_ascii_hexdigit()),
        });
    }
    if hex.len() != HEX_LEN {
        return Err(Problem::Length(hex.len()));
    }
    Ok(())
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(digest: &str) -> Result<Digest, DigestError> {
        match check(digest) {
            Ok(()) => Ok(Digest(digest.to_string())),
            Err(problem) => Err(DigestError {
                digest: digest.to_string(),
                problem,
            }),
        }
    }

    /// The digest of 64 lowercase hex digits (a sha256 sum).
    pub fn from_sha256_hex(hex: &str) -> Result<Digest, DigestError> {
        Digest::parse(&format!("{ALGORITHM}:{hex}"))
    }

    /// The digest of a sha256 sum (the 32 bytes a hasher returns).
    pub fn from_sha256_sum(sum: [u8; 32]) -> Digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(ALGORITHM.len() + 1 + HEX_LEN);
        s.push_str(ALGORITHM);
        s.push(':');
        for b in sum {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Digest(s)
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm, always `sha256`.
    pub fn algorithm(&self) -> &str {
        ALGORITHM
    }

    /// The 64 hex digits: the blob's file name under `blobs/sha256/`.
    pub fn hex(&self) -> &str {
        &self.0[ALGORITHM.len() + 1..]
    }

    /// The string form.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl DigestError {
    /// The text that is not a digest.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The message with the digest quoted inside `reference` (`invalid digest in "x@sha256:.."`).
    pub(crate) fn in_reference(&self, reference: &str) -> String {
        self.problem.describe(&self.digest, Some(reference))
    }
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.describe(&self.digest, None))
    }
}

impl std::error::Error for DigestError {}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Deref for Digest {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Digest {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(s: String) -> Result<Digest, DigestError> {
        match check(&s) {
            Ok(()) => Ok(Digest(s)),
            Err(problem) => Err(DigestError { digest: s, problem }),
        }
    }
}

impl TryFrom<&str> for Digest {
    type Error = DigestError;
    fn try_from(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Digest> for str {
    fn eq(&self, other: &Digest) -> bool {
        self == other.0
    }
}

impl PartialEq<Digest> for &str {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.0
    }
}

impl PartialEq<Digest> for String {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.0
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a digest \"sha256:<64 lowercase hex digits>\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Digest, E> {
                Digest::parse(v).map_err(E::custom)
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Digest, E> {
                Digest::try_from(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "b5506cc74a6812dc40982cacfd2d4328f8a4b12c7f8b5e0ae2d3f2a1e6a5b4c3";

    #[test]
    fn parses_sha256_only() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.hex(), HEX);
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d, format!("sha256:{HEX}"));
        assert_eq!(Digest::from_sha256_hex(HEX).unwrap(), d);
        let mut sum = [0u8; 32];
        for (i, b) in sum.iter_mut().enumerate() {
            *b = u8::from_str_radix(&HEX[2 * i..2 * i + 2], 16).unwrap();
        }
        assert_eq!(Digest::from_sha256_sum(sum), d);
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        let e = Digest::parse(&format!("sha512:{HEX}{HEX}")).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "unsupported digest algorithm \"sha512\": only sha256 digests are supported"
            ),
            "{e}"
        );
        let e = Digest::parse(&format!("sha384:{}", &HEX[..48].repeat(2))).unwrap_err();
        assert!(e.to_string().contains("\"sha384\""), "{e}");
        assert_eq!(
            Digest::parse("sha256:abc").unwrap_err().to_string(),
            "invalid digest \"sha256:abc\": sha256 digest has 3 hex digits, expected 64"
        );
        let upper = format!("sha256:{}", HEX.to_uppercase());
        assert!(Digest::parse(&upper)
            .unwrap_err()
            .to_string()
            .contains("64 lowercase hex digits"));
        assert!(Digest::parse(HEX)
            .unwrap_err()
            .to_string()
            .contains("expected \"sha256:\""));
        assert!(Digest::parse("").is_err());
    }

    #[test]
    fn serde_checks_when_reading() {
        use serde::de::value::{Error, StrDeserializer};
        use serde::de::IntoDeserializer;
        let good = format!("sha256:{HEX}");
        let de: StrDeserializer<'_, Error> = good.as_str().into_deserializer();
        assert_eq!(
            <Digest as serde::Deserialize>::deserialize(de).unwrap(),
            good
        );
        let de: StrDeserializer<'_, Error> = "sha512:00".into_deserializer();
        let e = <Digest as serde::Deserialize>::deserialize(de).unwrap_err();
        assert!(e.to_string().contains("sha512"), "{e}");
    }
}
