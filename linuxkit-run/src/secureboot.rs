//! Secure Boot under QEMU: OVMF's secure-boot firmware and a variable store that enrolls one
//! certificate as PK, KEK and db.
//!
//! The store is written here rather than by `virt-fw-vars` (PyPI `virt-firmware`): it is the
//! empty `OVMF_VARS_4M.fd` that Debian's `ovmf` ships with four variables appended, in EDK2's
//! authenticated variable format — a 60-byte header (`0x55AA`, state `VAR_ADDED`, attributes,
//! zero monotonic count, time stamp and key index, name and data sizes, vendor GUID), the
//! UCS-2 name, the data, 4-byte aligned. PK, KEK and db each hold one `EFI_SIGNATURE_LIST` of
//! type `EFI_CERT_X509_GUID` with the certificate; `SecureBootEnable` is 1. OVMF derives
//! `SetupMode` = 0 and `SecureBoot` = 1 from these at start-up. Doing it in Rust keeps
//! `cargo linuxkit run --secure-boot` free of a Python dependency and offline; the format is
//! small, fixed, and checked by the firmware itself in the tests (an unsigned image must be
//! refused).

use std::path::{Path, PathBuf};

use crate::error::RunError;

/// OVMF code with the SMM-protected variable store that Secure Boot requires.
pub const SECBOOT_CODE: &[&str] = &["/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"];
/// The empty variable store template of the same size.
pub const VARS_TEMPLATE: &[&str] = &["/usr/share/OVMF/OVMF_VARS_4M.fd"];

/// `EFI_GLOBAL_VARIABLE`: PK, KEK.
const GLOBAL: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
/// `EFI_IMAGE_SECURITY_DATABASE_GUID`: db.
const IMAGE_SECURITY: &str = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
/// `EFI_SECURE_BOOT_ENABLE_DISABLE`: SecureBootEnable.
const SECURE_BOOT_ENABLE: &str = "f0a30bc7-af08-4556-99c4-001009c93a44";
/// `EFI_CERT_X509_GUID`.
const CERT_X509: &str = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072";
/// `EFI_AUTHENTICATED_VARIABLE_GUID`: the variable store format with authenticated headers.
const AUTH_VARIABLE_STORE: &str = "aaf32c78-947b-439a-a180-2e144ec37792";
/// The owner of the enrolled signatures (any GUID; this one is cargo-linuxkit's).
const OWNER: &str = "3c7a1d5e-1f0b-4c2e-9d8a-6b5f4e3d2c1b";

/// NV | BS | RT | TIME_BASED_AUTHENTICATED_WRITE_ACCESS.
const NV_BS_RT_AUTH: u32 = 0x27;
/// NV | BS.
const NV_BS: u32 = 0x3;

/// The firmware code file for Secure Boot: `given`, or OVMF's secure-boot build.
pub fn firmware(given: Option<&Path>) -> Result<PathBuf, RunError> {
    match given {
        Some(p) if p.is_file() => Ok(p.to_path_buf()),
        Some(p) => Err(RunError::MissingFirmware {
            path: p.to_path_buf(),
            package: "ovmf",
        }),
        None => SECBOOT_CODE
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| RunError::MissingFirmware {
                path: PathBuf::from(SECBOOT_CODE[0]),
                package: "ovmf",
            }),
    }
}

/// Writes `<state>/OVMF_VARS_4M.secboot.fd`: the empty store with `cert_der` enrolled.
pub fn write_vars(cert_der: &[u8], state_dir: &Path) -> Result<PathBuf, RunError> {
    let template = VARS_TEMPLATE
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| RunError::MissingFirmware {
            path: PathBuf::from(VARS_TEMPLATE[0]),
            package: "ovmf",
        })?;
    let bytes = std::fs::read(&template).map_err(RunError::io(&template))?;
    let vars = enroll(&bytes, cert_der).map_err(|message| RunError::Image {
        path: template.clone(),
        message,
    })?;
    let out = state_dir.join("OVMF_VARS_4M.secboot.fd");
    let tmp = state_dir.join("OVMF_VARS_4M.secboot.fd.tmp");
    std::fs::write(&tmp, vars).map_err(RunError::io(&tmp))?;
    std::fs::rename(&tmp, &out).map_err(RunError::io(&out))?;
    Ok(out)
}

/// A GUID in EFI's byte order (the first three fields little endian).
fn guid(s: &str) -> [u8; 16] {
    let hex: Vec<u8> = s
        .split('-')
        .flat_map(|part| {
            (0..part.len())
                .step_by(2)
                .map(move |i| u8::from_str_radix(&part[i..i + 2], 16).unwrap_or(0))
        })
        .collect();
    let mut g = [0u8; 16];
    g.copy_from_slice(&hex);
    g[0..4].reverse();
    g[4..6].reverse();
    g[6..8].reverse();
    g
}

/// One `EFI_SIGNATURE_LIST` holding an X.509 certificate.
fn signature_list(cert_der: &[u8]) -> Vec<u8> {
    let sig_size = 16 + cert_der.len();
    let mut l = Vec::with_capacity(28 + sig_size);
    l.extend_from_slice(&guid(CERT_X509));
    l.extend_from_slice(&((28 + sig_size) as u32).to_le_bytes());
    l.extend_from_slice(&0u32.to_le_bytes()); // SignatureHeaderSize
    l.extend_from_slice(&(sig_size as u32).to_le_bytes());
    l.extend_from_slice(&guid(OWNER));
    l.extend_from_slice(cert_der);
    l
}

/// One variable in the authenticated format.
fn variable(name: &str, vendor: &str, attributes: u32, data: &[u8]) -> Vec<u8> {
    let name: Vec<u8> = name
        .encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut v = Vec::with_capacity(60 + name.len() + data.len());
    v.extend_from_slice(&0x55aau16.to_le_bytes()); // StartId
    v.push(0x3f); // State: VAR_ADDED
    v.push(0);
    v.extend_from_slice(&attributes.to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes()); // MonotonicCount
    v.extend_from_slice(&[0u8; 16]); // TimeStamp
    v.extend_from_slice(&0u32.to_le_bytes()); // PubKeyIndex
    v.extend_from_slice(&(name.len() as u32).to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&guid(vendor));
    v.extend_from_slice(&name);
    v.extend_from_slice(data);
    v.resize(v.len().next_multiple_of(4), 0xff);
    v
}

/// The store `template` (an empty OVMF variable store) with `cert_der` enrolled.
fn enroll(template: &[u8], cert_der: &[u8]) -> Result<Vec<u8>, String> {
    let u16_at = |o: usize| {
        template
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        template
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if template.get(40..44) != Some(b"_FVH") {
        return Err("not a UEFI firmware volume (no _FVH signature)".into());
    }
    let store = u16_at(48).ok_or("truncated")? as usize;
    if template.get(store..store + 16) != Some(&guid(AUTH_VARIABLE_STORE)[..]) {
        return Err("not an authenticated variable store".into());
    }
    let store_size = u32_at(store + 16).ok_or("truncated")? as usize;
    let first = store + 28;
    let end = store + store_size;
    if template.len() < end || template.get(first..first + 2) != Some(&[0xff, 0xff][..]) {
        return Err(
            "the variable store is not empty (expected Debian's OVMF_VARS_4M.fd template)".into(),
        );
    }
    let list = signature_list(cert_der);
    let mut vars = Vec::new();
    vars.extend(variable("PK", GLOBAL, NV_BS_RT_AUTH, &list));
    vars.extend(variable("KEK", GLOBAL, NV_BS_RT_AUTH, &list));
    vars.extend(variable("db", IMAGE_SECURITY, NV_BS_RT_AUTH, &list));
    vars.extend(variable(
        "SecureBootEnable",
        SECURE_BOOT_ENABLE,
        NV_BS,
        &[1],
    ));
    if first + vars.len() > end {
        return Err("the certificate does not fit in the variable store".into());
    }
    let mut out = template.to_vec();
    out[first..first + vars.len()].copy_from_slice(&vars);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_use_efi_byte_order() {
        assert_eq!(
            guid(GLOBAL),
            [
                0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03,
                0x2b, 0x8c
            ]
        );
    }

    #[test]
    fn variables_are_laid_out_as_edk2_reads_them() {
        let v = variable("db", IMAGE_SECURITY, NV_BS_RT_AUTH, &[1, 2, 3]);
        assert_eq!(&v[0..4], &[0xaa, 0x55, 0x3f, 0]);
        assert_eq!(u32::from_le_bytes(v[4..8].try_into().unwrap()), 0x27);
        // Name "db\0" in UCS-2 after the 60-byte header, then the data, then 0xff padding.
        assert_eq!(u32::from_le_bytes(v[36..40].try_into().unwrap()), 6);
        assert_eq!(u32::from_le_bytes(v[40..44].try_into().unwrap()), 3);
        assert_eq!(&v[60..66], &[b'd', 0, b'b', 0, 0, 0]);
        assert_eq!(&v[66..69], &[1, 2, 3]);
        assert_eq!(v.len(), 72);
        let l = signature_list(&[9; 10]);
        assert_eq!(u32::from_le_bytes(l[16..20].try_into().unwrap()), 54);
        assert_eq!(l.len(), 54);
    }

    #[test]
    fn missing_firmware_names_the_package() {
        let e = firmware(Some(Path::new("/nonexistent/OVMF_CODE_4M.secboot.fd")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("install the Debian package `ovmf`"), "{e}");
    }

    #[test]
    fn enrolling_into_debians_template() {
        let Ok(t) = std::fs::read(VARS_TEMPLATE[0]) else {
            return;
        };
        let out = enroll(&t, &[0x30; 800]).unwrap();
        assert_eq!(out.len(), t.len());
        // The variables start right after the store header, where the template was empty.
        assert_eq!(&out[0x64..0x68], &[0xaa, 0x55, 0x3f, 0]);
        assert!(enroll(&out, &[0x30; 800])
            .unwrap_err()
            .contains("not empty"));
        assert!(enroll(&[0u8; 100], &[]).unwrap_err().contains("_FVH"));
    }
}
