//! [`Harness`]: images of a definition resolved, assembled, written and booted.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use linuxkit_build::oci_config::{container_spec, IdMap};
use linuxkit_dsl::{Container, Image};
use linuxkit_oci::store::{ImageProvider, Platform};
use linuxkit_pkg::{split_local, FetchError, FetchOptions, ImageSet};
use linuxkit_resolve::{ProgressMode, Resolver, ResolverOptions};

use linuxkit_run::Vm;

/// What can go wrong in a test helper; each names the image or the step.
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    /// No workspace above the package directory.
    #[error("no Cargo workspace (a Cargo.toml with [workspace]) above {0}")]
    NoWorkspace(PathBuf),
    /// The definition has no container of that name.
    #[error("the definition has no onboot, onshutdown or service container named {0:?}")]
    NoContainer(String),
    /// Building local sources failed.
    #[error("building the local images of {image}: {source}")]
    Prepare {
        /// The image name.
        image: String,
        /// The error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Resolving an image failed.
    #[error("resolving {reference}: {source}")]
    Resolve {
        /// The reference.
        reference: String,
        /// The error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Generating a config.json failed.
    #[error("the config.json of {container}: {source}")]
    Config {
        /// The container name.
        container: String,
        /// The error.
        source: Box<linuxkit_build::oci_config::ConfigError>,
    },
    /// Assembling or writing the image failed.
    #[error("building {image}: {message}")]
    Build {
        /// The image name.
        image: String,
        /// What failed.
        message: String,
    },
    /// QEMU could not be prepared or started.
    #[error("booting {image}: {message}")]
    Boot {
        /// The image name.
        image: String,
        /// What failed.
        message: String,
    },
    /// A console line did not appear in time, or the VM stopped first (the console so far is
    /// in the message).
    #[error(transparent)]
    Vm(#[from] linuxkit_run::VmError),
    /// I/O on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TestingError + '_ {
    move |source| TestingError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How to boot.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// Host TCP ports forwarded to guest ports `(host, guest)` (QEMU user networking).
    pub publish: Vec<(u16, u16)>,
    /// Memory in MiB.
    pub mem_mb: u64,
    /// Accelerator (`Auto` picks KVM when usable, else TCG).
    pub accel: linuxkit_run::Accel,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            publish: Vec::new(),
            mem_mb: 512,
            accel: linuxkit_run::Accel::Auto,
        }
    }
}

/// Builds and boots definitions of one Cargo workspace.
#[derive(Debug, Clone)]
pub struct Harness {
    workspace: PathBuf,
    scratch: PathBuf,
    platform: Platform,
}

/// Every image reference of `image` (kernel, init, containers, volume images).
fn references(image: &Image) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let containers = image
        .onboot
        .iter()
        .chain(&image.onshutdown)
        .chain(&image.services);
    for r in image
        .kernel
        .iter()
        .map(|k| k.image.as_str())
        .chain(image.init.iter().map(String::as_str))
        .chain(containers.map(|c| c.image.as_str()))
        .chain(image.volumes.iter().filter_map(|v| v.image.as_deref()))
    {
        if !r.is_empty() && !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    }
    out
}

/// The references locked in `linuxkit.lock` of the package in `package_dir` (empty when it has
/// none).
pub fn locked_references(package_dir: impl AsRef<Path>) -> Result<Vec<String>, TestingError> {
    let path = linuxkit_lock::path_in(package_dir.as_ref());
    let lock = linuxkit_lock::Lockfile::read(&path).map_err(|e| TestingError::Resolve {
        reference: path.display().to_string(),
        source: Box::new(e),
    })?;
    Ok(lock
        .map(|l| l.images.into_keys().collect())
        .unwrap_or_default())
}

/// The error of making the images of `name` available: preparing its local images, or
/// resolving its registry images (`references` names the ones concerned).
fn fetch_error(e: FetchError, references: &[String], name: &str) -> TestingError {
    let (local, remote) = split_local(references);
    match e {
        FetchError::Prepare(e) => TestingError::Prepare {
            image: name.to_string(),
            source: Box::new(e),
        },
        FetchError::Registry(e) => TestingError::Resolve {
            reference: remote.join(", "),
            source: e,
        },
        FetchError::Layout(e) => TestingError::Resolve {
            reference: local.join(", "),
            source: Box::new(e),
        },
    }
}

impl Harness {
    /// A harness for the workspace containing `package_dir` (pass `env!("CARGO_MANIFEST_DIR")`).
    /// Artifacts go under `$CARGO_TARGET_DIR` (default `<workspace>/target`)`/linuxkit-testing`.
    pub fn new(package_dir: impl AsRef<Path>) -> Result<Harness, TestingError> {
        let start = package_dir.as_ref();
        let workspace = start
            .ancestors()
            .find(|d| {
                std::fs::read_to_string(d.join("Cargo.toml"))
                    .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
            })
            .ok_or_else(|| TestingError::NoWorkspace(start.to_path_buf()))?
            .to_path_buf();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        Ok(Harness {
            workspace,
            scratch: target.join("linuxkit-testing"),
            platform: Platform::linux("amd64"),
        })
    }

    /// The workspace root.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// Runs `f` with a provider of every image of `image`: local sources built from the
    /// workspace into the harness's cache, registry images from the LinuxKit cache (pulled
    /// when missing; no resolver at all when the image names none).
    fn with_provider<T>(
        &self,
        image: &Image,
        name: &str,
        f: impl FnOnce(&dyn ImageProvider) -> Result<T, TestingError>,
    ) -> Result<T, TestingError> {
        let refs = references(image);
        let cache = self.scratch.join("cache");
        let resolver = |remote: &[String]| {
            if remote.is_empty() {
                return Ok(None);
            }
            Resolver::new(ResolverOptions {
                platform: self.platform.clone(),
                progress: ProgressMode::Quiet,
                ..ResolverOptions::default()
            })
            .map(Some)
            .map_err(|e| FetchError::Registry(Box::new(e)))
        };
        let images = ImageSet::fetch(
            &refs,
            &FetchOptions::new(&cache),
            || Ok(self.workspace.clone()),
            resolver,
        )
        .map_err(|e| fetch_error(e, &refs, name))?;
        let provider = images.provider().map_err(|e| fetch_error(e, &refs, name))?;
        f(&provider)
    }

    /// The exact `config.json` the container `container` of `image` gets in the built image
    /// (Go-style indented JSON, as `linuxkit-build` writes it).
    pub fn container_config(&self, image: &Image, container: &str) -> Result<String, TestingError> {
        let c: &Container = image
            .onboot
            .iter()
            .chain(&image.onshutdown)
            .chain(&image.services)
            .find(|c| c.name == container)
            .ok_or_else(|| TestingError::NoContainer(container.to_string()))?;
        let only = Image {
            kernel: None,
            init: Vec::new(),
            onboot: Vec::new(),
            onshutdown: Vec::new(),
            services: vec![c.clone()],
            ..image.clone()
        };
        self.with_provider(&only, container, |provider| {
            let resolved =
                provider
                    .resolve(&c.image, &self.platform)
                    .map_err(|e| TestingError::Resolve {
                        reference: c.image.clone(),
                        source: Box::new(e),
                    })?;
            let spec = container_spec(
                c,
                &resolved.config,
                &IdMap::for_image(image),
                &image.volumes,
            )
            .map_err(|e| TestingError::Config {
                container: container.to_string(),
                source: Box::new(e),
            })?;
            Ok(String::from_utf8_lossy(&spec.config_json()).into_owned())
        })
    }

    /// What every onboot, onshutdown and service container of `image` may do once its image's
    /// `org.mobyproject.config` label is merged (as `cargo linuxkit audit` shows it, read off
    /// the `config.json` the build writes); `EffectiveContainer`s for
    /// `linuxkit_dsl::testing::Policy::check_effective` come from [`ContainerAudit::effective`].
    ///
    /// [`ContainerAudit::effective`]: linuxkit_build::audit::ContainerAudit::effective
    pub fn audit(
        &self,
        image: &Image,
        name: &str,
    ) -> Result<Vec<linuxkit_build::audit::ContainerAudit>, TestingError> {
        let containers = Image {
            kernel: None,
            init: Vec::new(),
            ..image.clone()
        };
        self.with_provider(&containers, name, |provider| {
            linuxkit_build::audit::audit(image, provider, &self.platform).map_err(|e| {
                TestingError::Build {
                    image: name.to_string(),
                    message: e.to_string(),
                }
            })
        })
    }

    /// Builds `image` as kernel+initrd named `name` under the harness's directory; returns the
    /// output prefix (`<dir>/<name>`, for `linuxkit_run::detect`).
    pub fn build(&self, image: &Image, name: &str) -> Result<PathBuf, TestingError> {
        let out_dir = self.scratch.join("out");
        std::fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;
        let fail = |message: String| TestingError::Build {
            image: name.to_string(),
            message,
        };
        self.with_provider(image, name, |provider| {
            let mut tmp = tempfile_in(&out_dir, name)?;
            {
                let mut w = BufWriter::new(&mut tmp.1);
                linuxkit_build::build_tar(
                    image,
                    provider,
                    &linuxkit_build::BuildOptions::new(self.platform.clone()),
                    &mut w,
                )
                .map_err(|e| fail(e.to_string()))?;
                w.flush().map_err(io(&tmp.0))?;
            }
            let result = linuxkit_output::write_outputs(
                &tmp.0,
                &[linuxkit_output::Format::KernelInitrd],
                &out_dir,
                name,
                &linuxkit_output::OutputOptions::default(),
            );
            let _ = std::fs::remove_file(&tmp.0);
            result.map_err(|e| fail(e.to_string()))?;
            Ok(out_dir.join(name))
        })
    }

    /// Builds `image` and boots it in QEMU (`-nographic`: the serial console is the VM's
    /// stdin/stdout). The VM is killed when the returned [`Vm`] is dropped.
    pub fn boot(&self, image: &Image, name: &str, opts: &BootOptions) -> Result<Vm, TestingError> {
        let prefix = self.build(image, name)?;
        let fail = |message: String| TestingError::Boot {
            image: name.to_string(),
            message,
        };
        let target = linuxkit_run::detect(&prefix).map_err(|e| fail(e.to_string()))?;
        let run = linuxkit_run::RunOptions {
            accel: opts.accel.clone(),
            cpus: 1,
            mem_mb: opts.mem_mb,
            publish: opts
                .publish
                .iter()
                .map(|&(host, guest)| linuxkit_run::PortForward {
                    host,
                    guest,
                    protocol: linuxkit_run::Protocol::Tcp,
                })
                .collect(),
            state_dir: Some(self.scratch.join("out").join(format!("{name}-state"))),
            ..linuxkit_run::RunOptions::default()
        };
        let plan = linuxkit_run::qemu::prepare(&target, &run).map_err(|e| fail(e.to_string()))?;
        let child = Command::new(&plan.program)
            .args(&plan.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}", plan.program.display())))?;
        Ok(Vm::new(child))
    }
}

/// A fresh temporary file path in `dir` (removed by the caller).
fn tempfile_in(dir: &Path, name: &str) -> Result<(PathBuf, std::fs::File), TestingError> {
    let path = dir.join(format!(".{name}.{}.tar.partial", std::process::id()));
    let f = std::fs::File::create(&path).map_err(io(&path))?;
    Ok((path, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use linuxkit_dsl::{Container, Kernel, Volume};

    #[test]
    fn references_cover_every_section_once() {
        let image = Image::new(Kernel::new("k:1"))
            .init(["i:1", "k:1"])
            .onboot(Container::new("a", "a:1"))
            .service(Container::new("b", "cargo:hello"))
            .volume(Volume::new("v").image("v:1"));
        assert_eq!(
            references(&image),
            ["k:1", "i:1", "a:1", "cargo:hello", "v:1"]
        );
    }

    #[test]
    fn the_workspace_is_found_above_the_package() {
        let h = Harness::new(env!("CARGO_MANIFEST_DIR")).unwrap();
        assert!(h.workspace().join("linuxkit-testing").is_dir());
        let e = Harness::new("/").unwrap_err();
        assert!(e.to_string().starts_with("no Cargo workspace"), "{e}");
    }
}
