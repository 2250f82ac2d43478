//! Authenticode signatures of UKIs, checked in the guest before a version is installed.
//!
//! When the running version is signed (Secure Boot), a new one must carry a valid signature by
//! the same certificate: its Authenticode digest (SHA-256, by the `authenticode` crate over the
//! PE parsed with `object`) matches the one signed, the signed attributes' message digest
//! matches the signed content, and the signer's RSA PKCS#1 v1.5 signature over the attributes
//! verifies with the certificate's key (`cms`, `x509-cert`, `rsa`). That is what the firmware
//! will check at boot; checking it first keeps a version the firmware would refuse from taking
//! a boot try, and refuses one signed by anybody else even when Secure Boot is off.

use authenticode::{
    AttributeCertificateIterator, SpcIndirectDataContent, WIN_CERT_TYPE_PKCS_SIGNED_DATA,
};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode, Reader, SliceReader};
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

/// PKCS#9 messageDigest.
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// SHA-256.
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// A valid signature's signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The signer's certificate (DER).
    pub certificate: Vec<u8>,
    /// Its subject, for messages.
    pub subject: String,
}

/// The signer of PE image `pe` when it carries a valid Authenticode signature, `None` when it
/// carries none, an error when it carries one that does not verify.
pub fn signer(pe: &[u8]) -> Result<Option<Signer>, String> {
    let parsed =
        object::read::pe::PeFile64::parse(pe).map_err(|e| format!("not a PE32+ image: {e}"))?;
    let Some(certs) = AttributeCertificateIterator::new(&parsed)
        .map_err(|e| format!("its certificate table: {e}"))?
    else {
        return Ok(None);
    };
    let mut found = None;
    for c in certs {
        let c = c.map_err(|e| format!("its certificate table: {e}"))?;
        if c.certificate_type == WIN_CERT_TYPE_PKCS_SIGNED_DATA {
            found = Some(c.data);
            break;
        }
    }
    let Some(data) = found else {
        return Ok(None);
    };
    let mut h = Sha256::new();
    authenticode::authenticode_digest(&parsed, &mut h)
        .map_err(|e| format!("cannot compute its Authenticode digest: {e}"))?;
    let digest = h.finalize();
    verify_signed_data(data, &digest).map(Some)
}

fn verify_signed_data(data: &[u8], pe_digest: &[u8]) -> Result<Signer, String> {
    let bad =
        |what: &str, e: &dyn std::fmt::Display| format!("its signature is malformed ({what}: {e})");
    let mut reader = SliceReader::new(data).map_err(|e| bad("empty", &e))?;
    let info = ContentInfo::decode(&mut reader).map_err(|e| bad("ContentInfo", &e))?;
    // The certificate table pads the signature with zeros.
    let _ = reader.remaining_len();
    let sd: SignedData = info
        .content
        .decode_as()
        .map_err(|e| bad("SignedData", &e))?;
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| "its signature signs no content".to_string())?;
    let indirect: SpcIndirectDataContent = econtent
        .decode_as()
        .map_err(|e| bad("SpcIndirectDataContent", &e))?;
    if indirect.message_digest.digest_algorithm.oid != ID_SHA256 {
        return Err("its signature uses a digest other than SHA-256".into());
    }
    if indirect.message_digest.digest.as_bytes() != pe_digest {
        return Err(
            "its contents do not match its signature (the image was changed after signing)".into(),
        );
    }
    let [signer] = sd.signer_infos.0.as_slice() else {
        return Err("its signature does not have exactly one signer".into());
    };
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| "its signature has no signed attributes".to_string())?;
    let md = attrs
        .iter()
        .find(|a| a.oid == ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| "its signature has no message digest".to_string())?;
    if md.as_bytes() != Sha256::digest(econtent.value()).as_slice() {
        return Err("its signature's message digest does not match the signed content".into());
    }
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        return Err("its signer is not named by issuer and serial number".into());
    };
    let cert = sd
        .certificates
        .as_ref()
        .into_iter()
        .flat_map(|set| set.0.iter())
        .find_map(|c| match c {
            CertificateChoices::Certificate(c)
                if c.tbs_certificate.issuer == sid.issuer
                    && c.tbs_certificate.serial_number == sid.serial_number =>
            {
                Some(c)
            }
            _ => None,
        })
        .ok_or_else(|| "its signature does not carry the signer's certificate".to_string())?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| bad("certificate", &e))?;
    let key = rsa::PublicKey::from_public_key_der(&spki)
        .map_err(|_| "its signer's key is not an RSA key".to_string())?;
    let signed = Sha256::digest(attrs.to_der().map_err(|e| bad("attributes", &e))?);
    key.verify(
        rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>(),
        &signed,
        signer.signature.as_bytes(),
    )
    .map_err(|_| "its signature does not verify with its certificate".to_string())?;
    Ok(Signer {
        certificate: cert.to_der().map_err(|e| bad("certificate", &e))?,
        subject: cert.tbs_certificate.subject.to_string(),
    })
}

/// Checks a new version's UKI against the running one's signer: `Ok` when the running version
/// is unsigned, or when the new one is validly signed by the same certificate.
pub fn check_update(running: Option<&Signer>, new_pe: &[u8]) -> Result<(), String> {
    let new = signer(new_pe)?;
    match (running, new) {
        (None, _) => Ok(()),
        (Some(r), None) => Err(format!(
            "it is not signed, and the running version is (signed by {}): Secure Boot would refuse it",
            r.subject
        )),
        (Some(r), Some(n)) if n.certificate == r.certificate => Ok(()),
        (Some(r), Some(n)) => Err(format!(
            "it is signed by {}, not by {} as the running version",
            n.subject, r.subject
        )),
    }
}

/// Checks that `pe` is a PE32+ image with a kernel section (a UKI).
pub fn check_pe(pe: &[u8]) -> Result<(), String> {
    use object::read::Object;
    let parsed = object::read::pe::PeFile64::parse(pe)
        .map_err(|e| format!("it is not a PE32+ EFI image: {e}"))?;
    let has_linux = parsed.sections().any(|s| {
        use object::read::ObjectSection;
        s.name().ok() == Some(".linux")
    });
    if !has_linux {
        return Err("it is not a Unified Kernel Image (no .linux section)".into());
    }
    Ok(())
}
