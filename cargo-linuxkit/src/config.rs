//! Resolved configuration: the raw arguments of [`crate::cli`] with defaults, environment and
//! upstream's consistency rules applied. Commands only read these types.

use std::path::PathBuf;

use linuxkit_output::Format;

use crate::cli::{BuildArgs, GlobalArgs, MessageFormat};
use crate::error::{Error, Result};
use crate::shell::Shell;

/// Flags passed through to every cargo invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CargoFlags {
    /// `--offline`.
    pub offline: bool,
    /// `--locked`.
    pub locked: bool,
    /// `--frozen`.
    pub frozen: bool,
}

impl CargoFlags {
    /// The flags as cargo arguments.
    pub fn args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.offline {
            v.push("--offline".into());
        }
        if self.locked {
            v.push("--locked".into());
        }
        if self.frozen {
            v.push("--frozen".into());
        }
        v
    }
}

/// Settings shared by every command.
#[derive(Debug, Clone)]
pub struct Config {
    /// Output.
    pub shell: Shell,
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// cargo pass-through flags.
    pub cargo: CargoFlags,
    /// No network for image pulls either.
    pub offline: bool,
    /// The LinuxKit image cache.
    pub cache_dir: PathBuf,
    /// Registry mirrors `REGISTRY=URL`.
    pub mirrors: Vec<String>,
    /// Registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// `--deny-warnings`: warnings of every definition count as errors.
    pub deny_warnings: bool,
}

impl Config {
    /// Resolves the global arguments.
    pub fn from_args(g: &GlobalArgs) -> Result<Config> {
        let mut mirrors = Vec::new();
        let env_mirrors = std::env::var("LINUXKIT_MIRROR").unwrap_or_default();
        for m in g
            .mirror
            .iter()
            .map(String::as_str)
            .chain(env_mirrors.split(',').filter(|s| !s.is_empty()))
        {
            if !m.contains('=') {
                return Err(Error::Usage(format!(
                    "invalid --mirror `{m}`: expected REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5000"
                )));
            }
            mirrors.push(m.to_string());
        }
        let cache_dir = g
            .cache
            .clone()
            .unwrap_or_else(linuxkit_resolve::default_cache_dir);
        Ok(Config {
            shell: Shell::new(g.quiet, g.message_format),
            manifest_path: g.manifest_path.clone(),
            cargo: CargoFlags {
                offline: g.offline,
                locked: g.locked,
                frozen: g.frozen,
            },
            offline: g.offline || g.frozen,
            cache_dir,
            mirrors,
            insecure_registries: g.insecure_registry.clone(),
            deny_warnings: g.deny_warnings,
        })
    }

    /// A config for library use and tests: quiet, human messages, the given cache.
    pub fn quiet(cache_dir: PathBuf) -> Config {
        Config {
            shell: Shell::new(true, MessageFormat::Human),
            manifest_path: None,
            cargo: CargoFlags::default(),
            offline: false,
            cache_dir,
            mirrors: Vec::new(),
            insecure_registries: Vec::new(),
            deny_warnings: false,
        }
    }
}

/// Where a build writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `-o -`: the tar stream on stdout.
    Stdout,
    /// `-o FILE`: the single streamable format into FILE.
    File(PathBuf),
    /// `<dir>/<name>...` for every format; `None` dir means the default for the input.
    Dir {
        /// `--dir`.
        dir: Option<PathBuf>,
        /// `--name`.
        name: Option<String>,
    },
}

/// A resolved `build` request (without the images, which come from the inputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    /// Output formats, deduplicated, in the order given.
    pub formats: Vec<Format>,
    /// Where to write.
    pub destination: Destination,
    /// OCI architecture.
    pub arch: String,
    /// Always pull.
    pub pull: bool,
    /// Gunzip the kernel.
    pub decompress_kernel: bool,
    /// Disk size in MiB.
    pub size_mb: u64,
    /// Ignore the build stamp.
    pub force: bool,
    /// `--compression` (or its environment variable); `None` = the definition's metadata,
    /// else gzip.
    pub compression: Option<linuxkit_output::Compressor>,
    /// `--cache-from`: a registry build cache to fetch from.
    pub cache_from: Option<crate::buildcache::CacheRepo>,
    /// `--cache-to`: a registry build cache to push to.
    pub cache_to: Option<crate::buildcache::CacheRepo>,
    /// Where the SBOM goes in the image (`None`: `--no-sbom`).
    pub sbom: Option<String>,
    /// The Secure Boot signing key (flag or environment; a package's metadata comes later).
    pub secure_boot_key: Option<crate::secureboot::PathSetting>,
    /// Its certificate.
    pub secure_boot_cert: Option<crate::secureboot::PathSetting>,
    /// dm-verity for the root file system image.
    pub verity: bool,
}

impl BuildConfig {
    /// Applies upstream's rules (build spec §1.12) to the raw `build` arguments.
    pub fn from_args(a: &BuildArgs) -> Result<BuildConfig> {
        let mut formats: Vec<Format> = Vec::new();
        for f in a.format.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let f: Format = f.parse().map_err(|e: linuxkit_output::OutputError| {
                Error::Usage(format!(
                    "{e}; known formats: {}",
                    Format::ALL.map(|f| f.name()).join(", ")
                ))
            })?;
            if !formats.contains(&f) {
                formats.push(f);
            }
        }
        if formats.is_empty() {
            formats.push(if a.output.is_some() {
                Format::Tar
            } else {
                Format::KernelInitrd
            });
        }
        // Two formats writing the same file would silently keep only the last (upstream does):
        // refuse, naming both.
        for (i, a) in formats.iter().enumerate() {
            if let Some(b) = formats[..i]
                .iter()
                .find(|b| b.file_name("NAME") == a.file_name("NAME"))
            {
                return Err(Error::Usage(format!(
                    "formats {} and {} both write NAME{}: build them in separate runs or with \
                     different --dir",
                    b.name(),
                    a.name(),
                    a.file_name("NAME").trim_start_matches("NAME")
                )));
            }
        }
        if formats.len() > 1 {
            if let Some(f) = formats.iter().find(|f| f.is_streamable()) {
                return Err(Error::Usage(format!(
                    "format type {} must be the only format specified",
                    f.name()
                )));
            }
        }
        let destination = match &a.output {
            Some(o) => {
                if formats.len() > 1 {
                    return Err(Error::Usage(
                        "the -output option can only be specified when generating a single output format".into(),
                    ));
                }
                if a.name.is_some() {
                    return Err(Error::Usage(
                        "the -output option cannot be specified with -name".into(),
                    ));
                }
                if a.dir.is_some() {
                    return Err(Error::Usage(
                        "the -output option cannot be specified with -dir".into(),
                    ));
                }
                if !formats[0].is_streamable() {
                    return Err(Error::Usage(format!(
                        "the -output option cannot be specified for build type {} as it cannot be streamed",
                        formats[0].name()
                    )));
                }
                if o.as_os_str() == "-" {
                    Destination::Stdout
                } else {
                    Destination::File(o.clone())
                }
            }
            None => Destination::Dir {
                dir: a.dir.clone(),
                name: a.name.clone(),
            },
        };
        if a.verified.verity {
            if let Some(f) = formats
                .iter()
                .find(|f| !linuxkit_output::VERITY_FORMATS.contains(f))
            {
                return Err(Error::Usage(format!(
                    "--verity protects a root file system image, which {} does not have; it \
                     applies to {}: build {} in a separate run without --verity",
                    f.name(),
                    linuxkit_output::VERITY_FORMATS.map(|f| f.name()).join(", "),
                    f.name()
                )));
            }
        }
        let size_mb = match &a.size {
            Some(s) => linuxkit_run::options::parse_size_mb(s).map_err(Error::Usage)?,
            None => 1024,
        };
        Ok(BuildConfig {
            formats,
            destination,
            arch: a
                .arch
                .clone()
                .unwrap_or_else(|| linuxkit_oci::store::Platform::host().architecture),
            pull: a.pull,
            decompress_kernel: a.decompress_kernel,
            size_mb,
            force: a.force,
            compression: crate::buildcache::parse_compression(a.compression.as_deref())?,
            cache_from: crate::buildcache::CacheRepo::parse_arg(
                a.cache_from.as_deref(),
                "--cache-from",
            )?,
            cache_to: crate::buildcache::CacheRepo::parse_arg(a.cache_to.as_deref(), "--cache-to")?,
            sbom: (!a.no_sbom).then(|| match a.sbom_output.trim_start_matches('/') {
                "" => linuxkit_build::DEFAULT_SBOM_PATH.to_string(),
                p => p.to_string(),
            }),
            secure_boot_key: crate::secureboot::flag_or_env(
                a.verified.secure_boot_key.as_deref(),
                "--secure-boot-key",
                crate::secureboot::KEY_ENV,
            ),
            secure_boot_cert: crate::secureboot::flag_or_env(
                a.verified.secure_boot_cert.as_deref(),
                "--secure-boot-cert",
                crate::secureboot::CERT_ENV,
            ),
            verity: a.verified.verity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(formats: &[&str], output: Option<&str>) -> BuildArgs {
        BuildArgs {
            format: formats.iter().map(|s| s.to_string()).collect(),
            output: output.map(PathBuf::from),
            ..BuildArgs::default()
        }
    }

    #[test]
    fn default_format_depends_on_output() {
        let c = BuildConfig::from_args(&args(&[], None)).unwrap();
        assert_eq!(c.formats, [Format::KernelInitrd]);
        let c = BuildConfig::from_args(&args(&[], Some("x.tar"))).unwrap();
        assert_eq!(c.formats, [Format::Tar]);
        assert_eq!(c.destination, Destination::File("x.tar".into()));
        let c = BuildConfig::from_args(&args(&[], Some("-"))).unwrap();
        assert_eq!(c.destination, Destination::Stdout);
    }

    #[test]
    fn upstream_format_rules() {
        let e = BuildConfig::from_args(&args(&["tar", "kernel+initrd"], None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "format type tar must be the only format specified"
        );
        let e = BuildConfig::from_args(&args(&["kernel+initrd"], Some("x"))).unwrap_err();
        assert!(e.to_string().contains("cannot be streamed"), "{e}");
        let e = BuildConfig::from_args(&args(&["qcow"], None)).unwrap_err();
        assert!(e.to_string().contains("qcow"), "{e}");
        let c = BuildConfig::from_args(&args(&["kernel+initrd", "kernel+initrd"], None)).unwrap();
        assert_eq!(c.formats.len(), 1);
        let e = BuildConfig::from_args(&args(&["vhd", "dynamic-vhd"], None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "formats vhd and dynamic-vhd both write NAME.vhd: build them in separate runs or \
             with different --dir"
        );
    }
}
