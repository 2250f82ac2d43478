//! The `linuxkit-update` image: the A/B update agent embedded in this crate (built by
//! `build.rs` from the `linuxkit-update` source of the same release), as the OCI image a
//! definition's update service runs (`init:linuxkit-update`).
//!
//! Its `org.mobyproject.config` label grants what the agent needs and nothing else, so
//! `cargo linuxkit audit` shows it: the host's PID namespace (to ask PID 1 to reboot, and to
//! enter a service for its health check) and network, `CAP_SYS_ADMIN` (mounting the ESP and
//! efivarfs in its own mount namespace, entering namespaces), `CAP_SYS_MODULE` (loading the FAT
//! and efivarfs modules), `CAP_SYS_CHROOT` (entering a service's mount namespace),
//! `CAP_MKNOD` (the nodes of the disk and the ESP in its own `/dev`), `CAP_DAC_OVERRIDE` and
//! `CAP_KILL`; block devices; read-only binds of `/lib/modules` and the init's status directory.

use linuxkit_oci::store::Platform;
use sha2::{Digest, Sha256};

use crate::error::LocalError;
use crate::image::{write_image, ImageConfig, WrittenImage};
use crate::layer::Layer;

/// The package of the agent.
pub const PACKAGE: &str = linuxkit_validate::local::UPDATE_PACKAGE;

/// The static agent this crate was built with (see `build.rs`).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/linuxkit-update"));

/// The embedded agent binary, or an error when this build carries none (a documentation
/// build).
pub fn embedded_agent() -> Result<&'static [u8], LocalError> {
    if EMBEDDED.is_empty() {
        return Err(LocalError::Tool {
            command: format!("init:{PACKAGE}"),
            message: "this build of cargo-linuxkit carries no update agent: reinstall it with \
                      `cargo install cargo-linuxkit`"
                .into(),
        });
    }
    Ok(EMBEDDED)
}

/// The content tag of the embedded agent image (a hash of the binary and the label), computed
/// once.
pub fn embedded_tag() -> String {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let mut h = Sha256::new();
        h.update(EMBEDDED);
        h.update(label());
        h.update(ca_bundle());
        hex::encode(h.finalize())[..40].to_string()
    })
    .clone()
}

/// The name of the embedded agent in the cache: `linuxkit-local/linuxkit-update:<tag>`.
pub fn embedded_name() -> String {
    format!("linuxkit-local/{PACKAGE}:{}", embedded_tag())
}

/// The image label: the agent's privileges.
fn label() -> String {
    serde_json::json!({
        "pid": "host",
        "net": "host",
        "capabilities": [
            "CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_CHROOT", "CAP_DAC_OVERRIDE", "CAP_KILL",
            "CAP_MKNOD",
        ],
        "binds": [
            "/lib/modules:/lib/modules:ro",
            "/run/linuxkit-init:/run/linuxkit-init:ro",
        ],
        "devices": [{"path": "all", "type": "b"}],
    })
    .to_string()
}

/// Mozilla's root certificates (the `webpki-root-certs` crate) as a PEM bundle: the registry
/// client verifies HTTPS registries against them, and will not start without any.
fn ca_bundle() -> String {
    use base64::Engine as _;
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

/// Writes the agent image named `reference` into the layout at `dir` (`agent` is the binary,
/// usually [`embedded_agent`]).
pub fn write_agent_image(
    dir: &std::path::Path,
    reference: &str,
    agent: &[u8],
) -> Result<WrittenImage, LocalError> {
    let mut l = Layer::new();
    for d in [
        "dev",
        "proc",
        "sys",
        "tmp",
        "esp",
        "efivars",
        "etc",
        "lib/modules",
        "run/linuxkit-init",
    ] {
        l.dir(d, 0o755)?;
    }
    l.bytes("etc/resolv.conf", 0o644, b"")?;
    l.dir("etc/ssl", 0o755)?;
    l.dir("etc/ssl/certs", 0o755)?;
    l.bytes(
        "etc/ssl/certs/ca-certificates.crt",
        0o644,
        ca_bundle().as_bytes(),
    )?;
    l.bytes("usr/bin/linuxkit-update", 0o755, agent)?;
    let config = ImageConfig {
        entrypoint: Some(vec!["/usr/bin/linuxkit-update".into()]),
        labels: Some([("org.mobyproject.config".to_string(), label())].into()),
        ..ImageConfig::default()
    };
    write_image(
        dir,
        reference,
        &Platform::linux(crate::init::embedded::ARCH),
        &config,
        &l,
    )
}
