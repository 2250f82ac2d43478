//! `cargo linuxkit push IMAGE --registry HOST[:PORT]/REPO[:TAG]`: publishes one version of a
//! system as an OCI artifact (`linuxkit_update::artifact`), for the update agent of the
//! systems already deployed to pull.
//!
//! The image is built as `raw-efi` first (an up-to-date build is reused), with the build's
//! settings (Secure Boot key, `--verity`), and the UKI the disk boots is read back from its
//! ESP, so the bytes pushed are the bytes a freshly built disk would boot. Blobs and the
//! manifest go through the registry client every pull uses (auth, mirrors, retries, plain
//! HTTP for loopback and `--insecure-registry`).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use linuxkit_oci::digest::sha256_digest;
use linuxkit_oci::store::Descriptor;
use linuxkit_oci::write::DigestingWriter;
use linuxkit_output::{BuiltDisk, Format};
use linuxkit_update::artifact::{self, Blob, SystemInfo};
use serde_json::json;

use crate::cli::{BuildArgs, InputArgs, PushArgs};
use crate::config::{BuildConfig, Config};
use crate::error::{Error, Result};
use crate::source::{display_path, load, Definition, Loaded};

/// `REGISTRY/REPO[:TAG]` with `:latest` when no tag or digest is given.
pub fn target_reference(registry: &str) -> Result<String> {
    let r = registry.trim().trim_end_matches('/');
    let last = r.rsplit('/').next().unwrap_or(r);
    if !r.contains('/') || r.is_empty() {
        return Err(Error::Usage(format!(
            "--registry {registry}: expected HOST[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/myos:stable"
        )));
    }
    let r = if last.contains(':') || last.contains('@') {
        r.to_string()
    } else {
        format!("{r}:latest")
    };
    linuxkit_resolve::ImageRef::parse(&r)
        .map_err(|e| Error::Usage(format!("--registry {registry}: {e}")))?;
    Ok(r)
}

/// Builds the image as `raw-efi` and pushes it as a system artifact.
pub fn run(a: &PushArgs, cfg: &Config) -> Result<i32> {
    let reference = target_reference(&a.registry)?;
    if cfg.offline {
        return Err(Error::Usage(
            "push needs the network: drop --offline".into(),
        ));
    }
    let loaded = load(&a.input.inputs, cfg)?;
    let [def] = loaded.definitions.as_slice() else {
        return Err(Error::Usage(format!(
            "push publishes one image; name it ({})",
            loaded.names()
        )));
    };
    let version = system_version(a, def)?;
    let (bc, disk) = build_disk(a, &loaded, def, cfg)?;
    let dir = disk.parent().unwrap_or(Path::new(".")).to_path_buf();
    let scratch = tempfile::Builder::new()
        .prefix(&format!(".{}.push.", def.name))
        .tempdir_in(&dir)
        .map_err(Error::io(&dir))?;
    let blobs = copy_blobs(&disk, &def.name, scratch.path())?;
    let info = SystemInfo {
        name: def.name.clone(),
        version,
        architecture: bc.arch.clone(),
        lock: lock_digest(def)?,
    };
    let digest = publish(cfg, &reference, &info, &blobs)?;
    drop(scratch);
    report(cfg, &info, &reference, &digest, &disk, &blobs);
    Ok(0)
}

/// The version pushed: `--version`, else the definition's package version.
fn system_version(a: &PushArgs, def: &Definition) -> Result<String> {
    match a
        .system_version
        .clone()
        .or_else(|| crate::updatable::package_version(def))
    {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Error::Usage(format!(
            "`{}` has no package version: give the version pushed with --version",
            def.name
        ))),
    }
}

/// Builds `def` as `raw-efi` with the push's build settings; the build's settings and the disk.
fn build_disk(
    a: &PushArgs,
    loaded: &Loaded,
    def: &Definition,
    cfg: &Config,
) -> Result<(BuildConfig, PathBuf)> {
    let bargs = BuildArgs {
        input: InputArgs {
            inputs: a.input.inputs.clone(),
        },
        format: vec![Format::RawEfi.name().to_string()],
        arch: a.arch.clone(),
        verified: a.verified.clone(),
        dir: a.dir.clone(),
        ..BuildArgs::default()
    };
    let bc = BuildConfig::from_args(&bargs)?;
    let built = crate::commands::build::build_loaded(loaded, &bc, cfg)?;
    let disk = built
        .first()
        .and_then(|b| {
            b.files
                .iter()
                .find(|f| f.to_string_lossy().ends_with(&Format::RawEfi.file_name("")))
        })
        .cloned()
        .ok_or_else(|| Error::Usage(format!("building `{}` wrote no raw-efi disk", def.name)))?;
    Ok((bc, disk))
}

/// The artifact's blobs, copied out of the built disk into the scratch directory.
struct Blobs {
    /// What the disk says about itself.
    disk: BuiltDisk,
    /// The UKI.
    uki: Blob,
    /// The dm-verity root, for `--verity` builds.
    verity_root: Option<Blob>,
    /// Every blob to push with its file: the empty config, the UKI, the verity root.
    files: Vec<(Descriptor, PathBuf)>,
}

/// Copies the UKI (and the verity root) out of `disk` into `scratch`, hashing them on the way,
/// and writes the empty config beside them.
fn copy_blobs(disk: &Path, name: &str, scratch: &Path) -> Result<Blobs> {
    let uki_path = scratch.join("uki.efi");
    let mut out = DigestingWriter::new(io::BufWriter::new(
        File::create(&uki_path).map_err(Error::io(&uki_path))?,
    ));
    let read =
        linuxkit_output::read_built_disk(disk, &mut out).map_err(|source| Error::Output {
            image: name.to_string(),
            source: Box::new(source),
        })?;
    out.flush().map_err(Error::io(&uki_path))?;
    let (_, uki_digest, uki_len) = out.finish();
    let mut files = vec![(descriptor(&artifact::empty_config()), {
        let p = scratch.join("config.json");
        std::fs::write(&p, artifact::EMPTY_CONFIG).map_err(Error::io(&p))?;
        p
    })];
    let title = |name: String| Some([(artifact::ANNOTATION_LAYER_TITLE.to_string(), name)].into());
    let uki = Blob {
        media_type: artifact::UKI_MEDIA_TYPE.into(),
        digest: uki_digest,
        size: uki_len,
        annotations: title(format!("{name}.efi")),
    };
    files.push((descriptor(&uki), uki_path));
    let mut verity_root = None;
    if let Some((offset, len)) = read.verity_root {
        let p = scratch.join("root.img");
        let mut out =
            DigestingWriter::new(io::BufWriter::new(File::create(&p).map_err(Error::io(&p))?));
        linuxkit_output::copy_range(disk, offset, len, &mut out).map_err(Error::io(disk))?;
        out.flush().map_err(Error::io(&p))?;
        let (_, digest, size) = out.finish();
        let b = Blob {
            media_type: artifact::VERITY_ROOT_MEDIA_TYPE.into(),
            digest,
            size,
            annotations: title(format!("{name}-root.img")),
        };
        files.push((descriptor(&b), p));
        verity_root = Some(b);
    }
    Ok(Blobs {
        disk: read,
        uki,
        verity_root,
        files,
    })
}

/// The digest of the definition's lockfile, when it has one.
fn lock_digest(def: &Definition) -> Result<Option<String>> {
    Ok(crate::resolve::lockfile_path(def)
        .filter(|p| p.is_file())
        .map(|p| std::fs::read(&p).map_err(Error::io(&p)))
        .transpose()?
        .map(|bytes| sha256_digest(&bytes).into_string()))
}

/// Pushes the blobs and the manifest describing `info` to `reference`; the manifest's digest.
fn publish(cfg: &Config, reference: &str, info: &SystemInfo, blobs: &Blobs) -> Result<String> {
    let manifest = artifact::manifest(info, blobs.uki.clone(), blobs.verity_root.clone());
    let digest = sha256_digest(&manifest).into_string();
    cfg.shell.status(
        "Pushing",
        format!(
            "`{}` {} ({:.1} MiB UKI{}) to {reference}",
            info.name,
            info.version,
            blobs.uki.size as f64 / 1048576.0,
            if blobs.disk.verity_root.is_some() {
                " and dm-verity root"
            } else {
                ""
            }
        ),
    );
    let resolver = crate::resolve::resolver(
        cfg,
        linuxkit_oci::store::Platform::linux(&info.architecture),
        false,
    )?;
    resolver
        .push_blobs(reference, &blobs.files)
        .map_err(|e| Error::Resolve(Box::new(e)))?;
    resolver
        .push_manifest(reference, &manifest, artifact::MANIFEST_MEDIA_TYPE)
        .map_err(|e| Error::Resolve(Box::new(e)))?;
    Ok(digest)
}

/// Says what was pushed (status, JSON message, the pinned reference on stdout), and warns when
/// the pushed system cannot update itself.
fn report(
    cfg: &Config,
    info: &SystemInfo,
    reference: &str,
    digest: &str,
    disk: &Path,
    blobs: &Blobs,
) {
    cfg.shell.status(
        "Pushed",
        format!(
            "`{}` {} as {reference}@{digest} (from {})",
            info.name,
            info.version,
            display_path(disk)
        ),
    );
    cfg.shell.json_message(json!({
        "reason": "linuxkit-pushed",
        "image": info.name,
        "version": info.version,
        "reference": reference,
        "digest": digest,
        "uki": {"digest": blobs.uki.digest, "size": blobs.uki.size},
        "updatable": blobs.disk.updatable,
    }));
    if !cfg.shell.is_json() {
        println!("{reference}@{digest}");
    }
    if !blobs.disk.updatable {
        cfg.shell.warn(format!(
            "`{}` has no update service: systems built from it cannot update themselves (add \
             .update(Update::from(\"{reference}\")) to the definition)",
            info.name
        ));
    }
}

/// The descriptor of `b`.
fn descriptor(b: &Blob) -> Descriptor {
    Descriptor {
        media_type: b.media_type.clone(),
        digest: b.digest.clone(),
        size: b.size,
        platform: None,
        annotations: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_get_latest_and_bad_ones_are_refused() {
        assert_eq!(
            target_reference("127.0.0.1:5000/os").unwrap(),
            "127.0.0.1:5000/os:latest"
        );
        assert_eq!(
            target_reference("127.0.0.1:5000/team/os:stable").unwrap(),
            "127.0.0.1:5000/team/os:stable"
        );
        assert!(target_reference("127.0.0.1:5000").is_err());
        assert!(target_reference("127.0.0.1:5000/Bad Name").is_err());
    }
}
