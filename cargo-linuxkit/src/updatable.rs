//! A/B updates in the build: an image whose services include the update agent
//! (`init:linuxkit-update`, what `.update(Update::from(..))` adds) gets `raw-efi`/`qcow2-efi`
//! disks laid out for A/B updates. The agent's `command` is its settings; the build reads the
//! ESP size from it and checks it before anything is built.

use linuxkit_output::{Format, UpdateDisk};
use linuxkit_update::settings::Settings;

use crate::config::BuildConfig;
use crate::error::{Error, Result};
use crate::source::{Definition, Origin};

/// The update agent's settings in `def`, when it has the service.
pub fn settings(def: &Definition) -> Result<Option<Settings>> {
    let mut found = None;
    for c in &def.image.services {
        if !linuxkit_update::is_agent_image(&c.image) {
            continue;
        }
        if found.is_some() {
            return Err(Error::Usage(format!(
                "`{}` has more than one service running {}: one update agent per system",
                def.name,
                linuxkit_update::IMAGE
            )));
        }
        let command = c.command.as_deref().unwrap_or_default();
        let s = Settings::from_command(command).map_err(|e| {
            Error::Usage(format!(
                "service `{}` of `{}` (the update agent): {e}; write it with \
                 .update(Update::from(\"REGISTRY/REPO:TAG\")), or as `command: [\"{}\", \
                 \"--from\", \"REGISTRY/REPO:TAG\"]` in YAML",
                c.name,
                def.name,
                linuxkit_update::BINARY_PATH
            ))
        })?;
        found = Some(s);
    }
    Ok(found)
}

/// The package version of a Rust definition.
pub fn package_version(def: &Definition) -> Option<String> {
    match &def.origin {
        Origin::Rust { target, .. } => Some(target.version.clone()),
        Origin::Yaml { .. } => None,
    }
}

/// The updatable disk of `def` for a build with `bc`, when it has the update agent.
pub fn disk(def: &Definition, bc: &BuildConfig) -> Result<Option<UpdateDisk>> {
    let Some(s) = settings(def)? else {
        return Ok(None);
    };
    let efi_disk = bc
        .formats
        .iter()
        .any(|f| matches!(f, Format::RawEfi | Format::Qcow2Efi));
    if efi_disk && bc.verity {
        return Err(Error::Usage(format!(
            "`{}` is updatable (it runs {}), and A/B updates of --verity systems are not \
             supported: build it without --verity",
            def.name,
            linuxkit_update::IMAGE
        )));
    }
    Ok(Some(UpdateDisk {
        esp_mib: s.esp_mib,
        image: def.name.clone(),
        version: package_version(def),
    }))
}
