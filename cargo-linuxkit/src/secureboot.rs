//! Secure Boot settings of `build` and `run`: where the signing key and certificate come from
//! (a flag, then the environment, then `[package.metadata.linuxkit]`), loaded and checked
//! before a build writes anything. The key's path is never printed: messages name the flag,
//! variable or manifest key it came from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use linuxkit_output::secureboot::Origin;
use linuxkit_output::{Format, SecureBootCert, SigningKey};

use crate::config::BuildConfig;
use crate::error::{Error, Result};
use crate::source::{Definition, Origin as DefinitionOrigin};

/// `--secure-boot-key`'s variable.
pub const KEY_ENV: &str = "LINUXKIT_SECURE_BOOT_KEY";
/// `--secure-boot-cert`'s variable.
pub const CERT_ENV: &str = "LINUXKIT_SECURE_BOOT_CERT";

/// A path and where it was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSetting {
    /// The path.
    pub path: PathBuf,
    /// The flag, variable or manifest key that gave it.
    pub origin: String,
}

/// `flag` when given, else the non-empty environment variable `env`.
pub fn flag_or_env(flag: Option<&Path>, flag_name: &str, env: &str) -> Option<PathSetting> {
    if let Some(p) = flag {
        return Some(PathSetting {
            path: p.to_path_buf(),
            origin: flag_name.to_string(),
        });
    }
    std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map(|v| PathSetting {
            path: PathBuf::from(v),
            origin: env.to_string(),
        })
}

/// Whether `f` boots a UKI (and so is signed).
pub fn is_efi(f: Format) -> bool {
    matches!(
        f,
        Format::RawEfi | Format::Qcow2Efi | Format::IsoEfi | Format::IsoEfiInitrd
    )
}

/// `secure-boot-key`/`secure-boot-cert` of the definition's package, relative to it.
fn from_metadata(def: &Definition, key: &str) -> Result<Option<PathSetting>> {
    match &def.origin {
        DefinitionOrigin::Rust { target, .. } => manifest_setting(&target.manifest_path, key),
        DefinitionOrigin::Yaml { .. } => Ok(None),
    }
}

/// `key` under `[package.metadata.linuxkit]` of `manifest`, as a path relative to it.
fn manifest_setting(manifest: &Path, key: &str) -> Result<Option<PathSetting>> {
    let manifest = &manifest.to_path_buf();
    let text = std::fs::read_to_string(manifest).map_err(Error::io(manifest))?;
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| Error::Manifest {
        manifest: manifest.clone(),
        message: format!("cannot be parsed: {e}"),
    })?;
    let item = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("linuxkit"))
        .and_then(|l| l.get(key));
    let Some(item) = item else { return Ok(None) };
    let value = item.as_str().ok_or_else(|| Error::Manifest {
        manifest: manifest.clone(),
        message: format!("`{key}` must be a path (a string)"),
    })?;
    let dir = manifest.parent().unwrap_or(Path::new("."));
    Ok(Some(PathSetting {
        path: dir.join(value),
        origin: format!(
            "`{key}` in [package.metadata.linuxkit] of {}",
            manifest.display()
        ),
    }))
}

/// The checked signing key for `def`'s EFI formats, or `None` when none is configured.
pub fn signing_key(bc: &BuildConfig, def: &Definition) -> Result<Option<Arc<SigningKey>>> {
    let key = match &bc.secure_boot_key {
        Some(k) => Some(k.clone()),
        None => from_metadata(def, "secure-boot-key")?,
    };
    let cert = match &bc.secure_boot_cert {
        Some(c) => Some(c.clone()),
        None => from_metadata(def, "secure-boot-cert")?,
    };
    match (key, cert) {
        (None, None) => Ok(None),
        (Some(k), None) => Err(Error::Usage(format!(
            "a Secure Boot key is set ({}) but no certificate: give the key's X.509 \
             certificate with --secure-boot-cert CERT (or {CERT_ENV}, or `secure-boot-cert` in \
             [package.metadata.linuxkit])",
            k.origin
        ))),
        (None, Some(c)) => Err(Error::Usage(format!(
            "a Secure Boot certificate is set ({}) but no key: give the private key with \
             --secure-boot-key KEY (or {KEY_ENV}, or `secure-boot-key` in \
             [package.metadata.linuxkit])",
            c.origin
        ))),
        (Some(k), Some(c)) => Ok(Some(Arc::new(SigningKey::load(
            &k.path,
            Origin(k.origin),
            &c.path,
        )?))),
    }
}

/// The certificate `run --secure-boot` enrolls.
pub fn run_certificate(flag: Option<&Path>) -> Result<SecureBootCert> {
    let cert = flag_or_env(flag, "--secure-boot-cert", CERT_ENV).ok_or_else(|| {
        Error::Usage(format!(
            "--secure-boot enrolls the certificate the image was signed with: give it with \
             --secure-boot-cert CERT (or {CERT_ENV})"
        ))
    })?;
    Ok(SecureBootCert::load(&cert.path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_settings_are_relative_to_the_package() {
        let d = tempfile::tempdir().unwrap();
        let manifest = d.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[package]\nname = \"os\"\n\n[package.metadata.linuxkit]\n\
             secure-boot-key = \"keys/db.key\"\nsecure-boot-cert = 7\n",
        )
        .unwrap();
        let key = manifest_setting(&manifest, "secure-boot-key")
            .unwrap()
            .unwrap();
        assert_eq!(key.path, d.path().join("keys/db.key"));
        assert!(key
            .origin
            .contains("`secure-boot-key` in [package.metadata.linuxkit]"));
        let e = manifest_setting(&manifest, "secure-boot-cert").unwrap_err();
        assert!(e.to_string().contains("must be a path"), "{e}");
        std::fs::write(&manifest, "[package]\nname = \"os\"\n").unwrap();
        assert_eq!(
            manifest_setting(&manifest, "secure-boot-key").unwrap(),
            None
        );
    }

    #[test]
    fn flags_win_over_the_environment() {
        let s = flag_or_env(
            Some(Path::new("k")),
            "--secure-boot-key",
            "LINUXKIT_TEST_UNSET_VAR",
        );
        assert_eq!(s.unwrap().origin, "--secure-boot-key");
        assert_eq!(flag_or_env(None, "--x", "LINUXKIT_TEST_UNSET_VAR"), None);
    }
}
