//! Secure Boot: the signing key and certificate, and Authenticode signatures of PE images.
//!
//! A UKI is signed the way `sbsign` signs it: the Authenticode digest of the PE (SHA-256,
//! computed by the `authenticode` crate over the image parsed with `object`), wrapped in an
//! `SpcIndirectDataContent`, signed in a CMS/PKCS#7 `SignedData` (`cms`, `x509-cert`, `der`)
//! with RSA PKCS#1 v1.5 (`rsa`), and appended as a `WIN_CERTIFICATE` that the PE's security
//! data directory points at. PKCS#1 v1.5 is deterministic and no signing-time attribute is
//! written, so the same key, certificate and image give the same bytes.
//!
//! [`SigningKey::load`] checks everything before a build writes anything: the key file is
//! readable only by its owner (as ssh requires), it is an unencrypted RSA private key (PKCS#8
//! or PKCS#1 PEM, or DER), the certificate is X.509 (PEM or DER) and holds the key's public
//! half. Errors name where the key was configured (the flag, variable or manifest key), never
//! the key's path or contents.

use std::fmt;
use std::path::{Path, PathBuf};

use authenticode::{
    DigestInfo, SpcAttributeTypeAndOptionalValue, SpcIndirectDataContent, SPC_INDIRECT_DATA_OBJID,
    WIN_CERT_REVISION_2_0, WIN_CERT_TYPE_PKCS_SIGNED_DATA,
};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo,
};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

/// SHA-256.
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// rsaEncryption, the signature algorithm of PKCS#7 signer infos.
const ID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// PKCS#7 signedData.
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// PKCS#9 contentType attribute.
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// PKCS#9 messageDigest attribute.
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// SpcSpOpusInfo: program name and URL (written empty, as sbsign does).
const SPC_SP_OPUS_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// SpcPeImageData, the type of the data in an SpcIndirectDataContent of a PE image.
const SPC_PE_IMAGE_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");

/// `SpcPeImageData { flags: {} , file: SpcLink.file = SpcString.unicode "<<<Obsolete>>>" }`,
/// the fixed value every Authenticode signer writes.
fn spc_pe_image_data() -> Vec<u8> {
    let name: Vec<u8> = "<<<Obsolete>>>"
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    // [0] IMPLICIT BMPString inside [2] (SpcLink.file) inside [0] (file).
    let mut unicode = vec![0x80, name.len() as u8];
    unicode.extend_from_slice(&name);
    let mut link = vec![0xa2, unicode.len() as u8];
    link.extend_from_slice(&unicode);
    let mut file = vec![0xa0, link.len() as u8];
    file.extend_from_slice(&link);
    // flags: an empty BIT STRING.
    let mut body = vec![0x03, 0x01, 0x00];
    body.extend_from_slice(&file);
    let mut seq = vec![0x30, body.len() as u8];
    seq.extend_from_slice(&body);
    seq
}

/// Where a setting came from, for messages that must not show the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(pub String);

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a Secure Boot key or certificate cannot be used, or an image cannot be signed.
#[derive(Debug, thiserror::Error)]
pub enum SecureBootError {
    /// The key file cannot be read.
    #[error("the Secure Boot key (from {origin}) cannot be read: {source}")]
    KeyUnreadable {
        /// Where the key path was configured.
        origin: Origin,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file is readable by group or others.
    #[error(
        "the Secure Boot key (from {origin}) is accessible by group or others (mode {mode:04o}): \
         a private key must be readable by its owner only; run `chmod 600` on it"
    )]
    KeyPermissions {
        /// Where the key path was configured.
        origin: Origin,
        /// The file's permission bits.
        mode: u32,
    },
    /// The key file is not an unencrypted RSA private key.
    #[error("the Secure Boot key (from {origin}) is not usable: {reason}")]
    KeyInvalid {
        /// Where the key path was configured.
        origin: Origin,
        /// What is wrong.
        reason: String,
    },
    /// The certificate file cannot be read.
    #[error("Secure Boot certificate {path} cannot be read: {source}")]
    CertUnreadable {
        /// The certificate.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate file is not an X.509 certificate.
    #[error("Secure Boot certificate {path} is not an X.509 certificate (PEM or DER): {reason}")]
    CertInvalid {
        /// The certificate.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The certificate does not hold the key's public half.
    #[error(
        "Secure Boot certificate {path} does not match the key (from {origin}): its public key \
         is another one; give the certificate made for this key"
    )]
    Mismatch {
        /// The certificate.
        path: PathBuf,
        /// Where the key path was configured.
        origin: Origin,
    },
    /// Only one of key and certificate was given.
    #[error("{0}")]
    Incomplete(String),
    /// The image to sign is not a PE image this signer understands.
    #[error("signing {what}: {reason}")]
    Sign {
        /// The image.
        what: String,
        /// What went wrong.
        reason: String,
    },
}

/// An X.509 certificate read from a PEM or DER file.
#[derive(Clone, Debug)]
pub struct SecureBootCert {
    cert: Certificate,
    der: Vec<u8>,
    path: PathBuf,
}

impl SecureBootCert {
    /// Reads and parses the certificate at `path` (PEM `CERTIFICATE` or DER).
    pub fn load(path: &Path) -> Result<SecureBootCert, SecureBootError> {
        let bytes = std::fs::read(path).map_err(|source| SecureBootError::CertUnreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |reason: String| SecureBootError::CertInvalid {
            path: path.to_path_buf(),
            reason,
        };
        let cert = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            use der::DecodePem;
            Certificate::from_pem(bytes.trim_ascii_start()).map_err(|e| invalid(e.to_string()))?
        } else {
            Certificate::from_der(&bytes).map_err(|e| invalid(e.to_string()))?
        };
        let der = cert.to_der().map_err(|e| invalid(e.to_string()))?;
        Ok(SecureBootCert {
            cert,
            der,
            path: path.to_path_buf(),
        })
    }

    /// The certificate's DER encoding (what firmware variables enroll).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificate's RSA public key, if it has one.
    fn rsa_public_key(&self) -> Option<RsaPublicKey> {
        let spki = self
            .cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .ok()?;
        RsaPublicKey::from_public_key_der(&spki).ok()
    }
}

/// A checked RSA private key with the certificate that holds its public half.
pub struct SigningKey {
    key: RsaPrivateKey,
    cert: SecureBootCert,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material.
        f.debug_struct("SigningKey")
            .field("cert", &self.cert.path)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads and checks the key at `key_path` (configured at `origin`) and the certificate.
    pub fn load(
        key_path: &Path,
        origin: Origin,
        cert_path: &Path,
    ) -> Result<SigningKey, SecureBootError> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let unreadable = |source| SecureBootError::KeyUnreadable {
            origin: origin.clone(),
            source,
        };
        let mut file = std::fs::File::open(key_path).map_err(unreadable)?;
        let meta = file.metadata().map_err(unreadable)?;
        if !meta.is_file() {
            return Err(SecureBootError::KeyInvalid {
                origin,
                reason: "it is not a regular file".into(),
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(SecureBootError::KeyPermissions { origin, mode });
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(unreadable)?;
        let key = parse_key(&bytes).map_err(|reason| SecureBootError::KeyInvalid {
            origin: origin.clone(),
            reason,
        })?;
        let bits = key.size() * 8;
        if !(2048..=4096).contains(&bits) {
            return Err(SecureBootError::KeyInvalid {
                origin,
                reason: format!(
                    "an RSA key of {bits} bits; UEFI firmware verifies RSA keys of 2048 to 4096 bits"
                ),
            });
        }
        let cert = SecureBootCert::load(cert_path)?;
        if cert.rsa_public_key().as_ref() != Some(&key.to_public_key()) {
            return Err(SecureBootError::Mismatch {
                path: cert_path.to_path_buf(),
                origin,
            });
        }
        Ok(SigningKey { key, cert })
    }

    /// The certificate.
    pub fn certificate(&self) -> &SecureBootCert {
        &self.cert
    }

    /// A stable identity of the signer (SHA-256 of the certificate), for build stamps.
    pub fn identity(&self) -> String {
        Sha256::digest(self.cert.der())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Signs the PE image `pe` in place: appends the Authenticode signature and points the
    /// security data directory at it. `pe` must not be signed yet.
    pub fn sign_pe(&self, pe: &mut Vec<u8>, what: &str) -> Result<(), SecureBootError> {
        let err = |reason: String| SecureBootError::Sign {
            what: what.to_string(),
            reason,
        };
        let dir = security_dir_offset(pe).ok_or_else(|| err("not a PE32+ image".into()))?;
        if pe[dir..dir + 8].iter().any(|&b| b != 0) {
            return Err(err("the image is signed already".into()));
        }
        // The certificate table starts 8-aligned; the padding is part of the signed image.
        pe.resize(pe.len().next_multiple_of(8), 0);
        let digest = {
            let parsed = object::read::pe::PeFile64::parse(pe.as_slice())
                .map_err(|e| err(format!("not a PE32+ image: {e}")))?;
            let mut h = Sha256::new();
            authenticode::authenticode_digest(&parsed, &mut h)
                .map_err(|e| err(format!("cannot compute its Authenticode digest: {e}")))?;
            h.finalize().to_vec()
        };
        let signed = self
            .signed_data(&digest)
            .map_err(|e| err(format!("encoding the signature: {e}")))?;
        let len = 8 + signed.len();
        let padded = len.next_multiple_of(8);
        let offset = pe.len();
        let (Ok(offset32), Ok(padded32)) = (u32::try_from(offset), u32::try_from(padded)) else {
            return Err(err("the image is larger than 4 GiB".into()));
        };
        pe.extend_from_slice(&(padded32).to_le_bytes());
        pe.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
        pe.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
        pe.extend_from_slice(&signed);
        pe.resize(offset + padded, 0);
        pe[dir..dir + 4].copy_from_slice(&offset32.to_le_bytes());
        pe[dir + 4..dir + 8].copy_from_slice(&padded32.to_le_bytes());
        Ok(())
    }

    /// The DER `ContentInfo` holding the PKCS#7 SignedData over `digest`.
    fn signed_data(&self, digest: &[u8]) -> Result<Vec<u8>, String> {
        let e = |e: der::Error| e.to_string();
        let sha256 = AlgorithmIdentifierOwned {
            oid: ID_SHA256,
            parameters: Some(Any::null()),
        };
        let content = SpcIndirectDataContent {
            data: SpcAttributeTypeAndOptionalValue {
                value_type: SPC_PE_IMAGE_DATA,
                value: Any::from_der(&spc_pe_image_data()).map_err(e)?,
            },
            message_digest: DigestInfo {
                digest_algorithm: sha256.clone(),
                digest: OctetString::new(digest).map_err(e)?,
            },
        };
        let content_der = content.to_der().map_err(e)?;
        // The message digest covers the content's value, without its tag and length.
        let content_any = Any::from_der(&content_der).map_err(e)?;
        let message_digest = Sha256::digest(content_any.value());

        let attr = |oid: ObjectIdentifier, value: Any| -> Result<Attribute, String> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value]).map_err(e)?,
            })
        };
        let signed_attrs = SetOfVec::try_from(vec![
            attr(
                ID_CONTENT_TYPE,
                Any::encode_from(&SPC_INDIRECT_DATA_OBJID).map_err(e)?,
            )?,
            attr(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(message_digest.as_slice()).map_err(e)?)
                    .map_err(e)?,
            )?,
            attr(SPC_SP_OPUS_INFO, Any::from_der(&[0x30, 0x00]).map_err(e)?)?,
        ])
        .map_err(e)?;
        // The signature covers the DER of the attributes as a SET OF.
        let to_sign = Sha256::digest(signed_attrs.to_der().map_err(e)?);
        let signature = self
            .key
            .sign(Pkcs1v15Sign::new::<rsa::sha2::Sha256>(), &to_sign)
            .map_err(|e| e.to_string())?;

        let tbs = &self.cert.cert.tbs_certificate;
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ID_RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            signature: OctetString::new(signature).map_err(e)?,
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).map_err(e)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: SPC_INDIRECT_DATA_OBJID,
                econtent: Some(content_any),
            },
            certificates: Some(CertificateSet(
                SetOfVec::try_from(vec![CertificateChoices::Certificate(
                    self.cert.cert.clone(),
                )])
                .map_err(e)?,
            )),
            crls: None,
            signer_infos: cms::signed_data::SignerInfos(
                SetOfVec::try_from(vec![signer]).map_err(e)?,
            ),
        };
        ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).map_err(e)?,
        }
        .to_der()
        .map_err(e)
    }
}

/// Offset of the security data directory entry of a PE32+ image.
fn security_dir_offset(pe: &[u8]) -> Option<usize> {
    if pe.get(..2)? != b"MZ" {
        return None;
    }
    let lfanew = u32::from_le_bytes(pe.get(0x3c..0x40)?.try_into().ok()?) as usize;
    if pe.get(lfanew..lfanew + 4)? != b"PE\0\0" {
        return None;
    }
    let opt = lfanew + 24;
    if pe.get(opt..opt + 2)? != [0x0b, 0x02] {
        return None;
    }
    let rva_count = u32::from_le_bytes(pe.get(opt + 108..opt + 112)?.try_into().ok()?);
    if rva_count < 5 {
        return None;
    }
    let dir = opt + 112 + 4 * 8;
    pe.get(dir..dir + 8)?;
    Some(dir)
}

/// An RSA private key from PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) or DER.
fn parse_key(bytes: &[u8]) -> Result<RsaPrivateKey, String> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim_start);
    match text {
        Some(t) if t.starts_with("-----BEGIN PRIVATE KEY-----") => {
            RsaPrivateKey::from_pkcs8_pem(t).map_err(|e| {
                format!("a PKCS#8 private key that is not RSA or is malformed ({e}); UEFI Secure Boot needs an RSA key")
            })
        }
        Some(t) if t.starts_with("-----BEGIN RSA PRIVATE KEY-----") => {
            RsaPrivateKey::from_pkcs1_pem(t).map_err(|e| format!("a malformed RSA key ({e})"))
        }
        Some(t) if t.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") => Err(
            "the key is encrypted; decrypt it (openssl pkey -in KEY -out PLAIN) and keep the \
             plain copy readable by its owner only"
                .into(),
        ),
        Some(t) if t.starts_with("-----BEGIN ") => {
            let label = t
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("-----BEGIN ")
                .trim_end_matches('-');
            Err(format!(
                "a PEM `{label}`, not a private key (expected `PRIVATE KEY` or `RSA PRIVATE KEY`)"
            ))
        }
        _ => RsaPrivateKey::from_pkcs8_der(bytes)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(bytes))
            .map_err(|_| {
                "neither a PEM nor a DER RSA private key (expected `-----BEGIN PRIVATE KEY-----`)"
                    .to_string()
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pe_image_data_is_valid_der() {
        use der::Tagged;
        let d = spc_pe_image_data();
        let any = Any::from_der(&d).unwrap();
        assert_eq!(any.tag(), der::Tag::Sequence);
        assert_eq!(d.len(), 2 + 3 + 2 + 2 + 2 + 28);
    }

    #[test]
    fn keys_that_are_not_private_keys_are_named() {
        let e = parse_key(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(e.contains("`CERTIFICATE`, not a private key"), "{e}");
        let e = parse_key(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n").unwrap_err();
        assert!(e.contains("encrypted"), "{e}");
        let e = parse_key(b"\x00\x01garbage").unwrap_err();
        assert!(e.contains("neither a PEM nor a DER"), "{e}");
    }
}
