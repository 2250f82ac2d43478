//! What the agent decides about an artifact found in the registry, before and after it pulls
//! the UKI: the manifest's type, architecture, history and size ([`judge`]), then the UKI's
//! digest, form and signature ([`download`]). Every refusal is a sentence for the log that
//! says what the artifact is and why it is not installed.

use std::path::Path;

use linuxkit_oci::store::Descriptor;
use linuxkit_resolve::{FailureKind, ResolveError, Resolver};

use super::verify::{self, Signer};
use crate::artifact::{self, SystemArtifact};
use crate::esp::State;

/// What to do with an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A new version that may be installed.
    Install(SystemArtifact),
    /// The running version itself (its UKI is the one running).
    Running(SystemArtifact),
    /// Never install this manifest digest: why.
    Refuse(String),
}

/// What the running system is, for [`judge`].
#[derive(Debug, Clone, Copy)]
pub struct Running<'a> {
    /// The OCI architecture the agent runs on.
    pub architecture: &'a str,
    /// `sha256:` of the running UKI.
    pub uki: &'a str,
    /// What the agent knows of the versions (failed ones included).
    pub state: &'a State,
    /// Bytes the ESP can give a new version (free space plus what removing the other
    /// versions frees).
    pub available: u64,
}

/// Judges the manifest `raw` (digest `digest`) against the running system.
pub fn judge(raw: &[u8], digest: &str, running: &Running<'_>) -> Verdict {
    let a = match artifact::parse(raw) {
        Ok(a) => a,
        Err(e) => return Verdict::Refuse(e.to_string()),
    };
    if a.info.architecture != running.architecture {
        return Verdict::Refuse(format!(
            "it is {} for {}, and this system runs on {}",
            a.info.describe(),
            a.info.architecture,
            running.architecture
        ));
    }
    if a.uki.digest == running.uki {
        return Verdict::Running(a);
    }
    if let Some(f) = running.state.failed_before(Some(digest), &a.uki.digest) {
        return Verdict::Refuse(format!(
            "{} failed before ({}), so it is not installed again",
            f.version, f.reason
        ));
    }
    if a.verity_root.is_some() {
        return Verdict::Refuse(
            "it has a dm-verity root partition: A/B updates of --verity systems are not \
             supported (build it without --verity)"
                .into(),
        );
    }
    if a.uki.size > running.available {
        return Verdict::Refuse(format!(
            "its UKI ({:.1} MiB) is larger than the free space of the ESP ({:.1} MiB besides \
             the running version)",
            a.uki.size as f64 / 1048576.0,
            running.available as f64 / 1048576.0
        ));
    }
    Verdict::Install(a)
}

/// Why a download did not give an installable UKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The artifact is bad: never install this manifest digest.
    Refuse(String),
    /// A transient failure (network, disk): try again at the next check.
    Retry(String),
}

/// Pulls the UKI of `a` from `source` into `dest` (the registry client verifies its digest
/// while it writes) and checks that it is a UKI signed like the running version (`running`:
/// its signer, `None` when unsigned). `dest` is removed when the UKI is refused.
pub fn download(
    registry: &Resolver,
    source: &str,
    a: &SystemArtifact,
    dest: &Path,
    running: Option<&Signer>,
) -> Result<(), Failure> {
    let desc = Descriptor {
        media_type: a.uki.media_type.clone(),
        digest: a.uki.digest.clone(),
        size: a.uki.size,
        platform: None,
        annotations: None,
    };
    let results = registry
        .fetch_blobs(source, &[(desc, dest.to_path_buf())])
        .map_err(|e| Failure::Retry(format!("cannot download {}: {e}", a.uki.digest)))?;
    if let Some(Err(e)) = results.into_iter().next() {
        let _ = std::fs::remove_file(dest);
        return Err(match e {
            ResolveError::Registry {
                kind: FailureKind::DigestMismatch,
                reason,
                ..
            } => Failure::Refuse(format!("its UKI does not match its digest ({reason})")),
            e => Failure::Retry(format!("cannot download {}: {e}", a.uki.digest)),
        });
    }
    let bytes = std::fs::read(dest)
        .map_err(|e| Failure::Retry(format!("reading {}: {e}", dest.display())))?;
    if let Err(why) = verify::check_pe(&bytes).and_then(|()| verify::check_update(running, &bytes))
    {
        let _ = std::fs::remove_file(dest);
        return Err(Failure::Refuse(why));
    }
    Ok(())
}
