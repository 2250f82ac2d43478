//! The raw command line, exactly as the user typed it (clap derive).
//!
//! Nothing here is interpreted: [`crate::config`] turns these values into resolved settings
//! (defaults, environment, validation), as ripgrep keeps its raw arguments apart from its config.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build, check and boot LinuxKit images defined in Rust or LinuxKit YAML.
#[derive(Debug, Parser)]
#[command(name = "cargo-linuxkit", bin_name = "cargo linuxkit", version, about)]
pub struct RawArgs {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The subcommand.
    #[command(subcommand)]
    pub command: CommandArgs,
}

/// How machine-readable messages are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum MessageFormat {
    /// Status lines and diagnostics for humans, on stderr.
    #[default]
    Human,
    /// One JSON object per line on stdout (diagnostics, artifacts, results).
    Json,
}

/// Options every subcommand accepts.
#[derive(Debug, Args, Default)]
pub struct GlobalArgs {
    /// Print no status lines.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Path to Cargo.toml of the workspace holding the definitions.
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Run without accessing the network (cargo and registry pulls).
    #[arg(long, global = true)]
    pub offline: bool,
    /// Require Cargo.lock and linuxkit.lock to be up to date (passed to cargo).
    #[arg(long, global = true)]
    pub locked: bool,
    /// Require Cargo.lock and cache to be up to date (passed to cargo; implies --offline).
    #[arg(long, global = true)]
    pub frozen: bool,
    /// Message format.
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    /// LinuxKit image cache directory (default ~/.linuxkit/cache).
    #[arg(long, global = true, value_name = "DIR", env = "LINUXKIT_CACHE")]
    pub cache: Option<PathBuf>,
    /// Registry mirror REGISTRY=URL (repeatable; also LINUXKIT_MIRROR, comma-separated).
    #[arg(long, global = true, value_name = "REG=URL")]
    pub mirror: Vec<String>,
    /// Registry host reached over plain HTTP (repeatable).
    #[arg(long, global = true, value_name = "HOST")]
    pub insecure_registry: Vec<String>,
    /// Treat warnings of `check` and `build` as errors (also LINUXKIT_DENY_WARNINGS=1, or
    /// `deny-warnings = true` under `[package.metadata.linuxkit]`).
    #[arg(long, global = true, env = "LINUXKIT_DENY_WARNINGS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub deny_warnings: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum CommandArgs {
    /// Create a definition package that builds and boots as it is (or from LinuxKit YAML).
    New(NewArgs),
    /// Add a definition (and a Rust service) to the Cargo package in the current directory.
    Init(InitArgs),
    /// List the image definitions of the workspace.
    List,
    /// Check image definitions (Rust images of the workspace or LinuxKit YAML files).
    Check(InputArgs),
    /// Convert a LinuxKit YAML file into Rust builder code.
    Import(ImportArgs),
    /// Print an image definition as LinuxKit YAML.
    Export(ExportArgs),
    /// Build images into output formats.
    Build(BuildArgs),
    /// Manage the image cache.
    #[command(subcommand)]
    Cache(CacheArgs),
    /// Boot a build output (or an image, built first) in QEMU.
    Run(RunArgs),
    /// Build or push a workspace package as an image (`cargo:<package>`), tagged by content hash.
    #[command(subcommand)]
    Pkg(PkgArgs),
    /// Write linuxkit.lock: pin every registry image of each package's definitions to a digest.
    Lock,
    /// Re-resolve tags and update linuxkit.lock, printing `old -> new` per changed image.
    Update(UpdateArgs),
    /// Show what each container may do once image labels and the definition are merged
    /// (capabilities, host namespaces, writable host binds, devices, ...); `--deny` gates CI.
    Audit(AuditArgs),
    /// Publish a built system as an OCI artifact that updatable systems pull (A/B updates).
    Push(PushArgs),
}

/// `push`.
#[derive(Debug, Args, Default)]
pub struct PushArgs {
    /// The image to push (a workspace image or YAML files).
    #[command(flatten)]
    pub input: InputArgs,
    /// Where to: HOST[:PORT]/REPOSITORY[:TAG] (tag `latest` by default).
    #[arg(long, value_name = "HOST[:PORT]/REPO[:TAG]")]
    pub registry: String,
    /// The version annotation (default: the definition package's version).
    #[arg(long = "version", value_name = "VERSION")]
    pub system_version: Option<String>,
    /// Target architecture in OCI spelling (amd64, arm64, ...).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Signing and dm-verity, as `build` takes them (a verity root is pushed as a second layer).
    #[command(flatten)]
    pub verified: VerifiedBootArgs,
    /// Where the raw-efi disk pushed is built, as `build --dir`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `audit`.
#[derive(Debug, Args, Default)]
pub struct AuditArgs {
    /// The images to audit.
    #[command(flatten)]
    pub input: InputArgs,
    /// Fail when a container breaks RULE (repeatable): CAP_NAME[=CONTAINER,...],
    /// unpinned, host-network[=CONTAINER,...], writable-rootfs[=CONTAINER,...]; the listed
    /// containers are allowed.
    #[arg(long, value_name = "RULE")]
    pub deny: Vec<String>,
    /// Target architecture in OCI spelling (amd64, arm64, ...).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Always pull images, even when they are cached.
    #[arg(long)]
    pub pull: bool,
}

/// `update`.
#[derive(Debug, Args, Default)]
pub struct UpdateArgs {
    /// Images to update (a reference as written, or its name without tag); default: all.
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// `pkg` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkgArgs {
    /// Build a workspace package as a static single-layer image into the cache; prints its tag.
    Build {
        /// The package name.
        package: String,
        /// Rebuild even when the sources did not change.
        #[arg(long)]
        force: bool,
    },
    /// Build a workspace package and push it to a registry as `<registry>/<org>/<package>:<tag>`.
    Push {
        /// The package name.
        package: String,
        /// The registry, e.g. `127.0.0.1:5000` (plain HTTP for loopback and --insecure-registry).
        #[arg(long)]
        registry: String,
    },
}

/// Images to work on: workspace image names, or LinuxKit YAML files (`-` is stdin).
#[derive(Debug, Args, Default)]
pub struct InputArgs {
    /// Image names or .yml/.yaml files (several files are merged); default: every workspace image.
    #[arg(value_name = "IMAGE|FILE.yml")]
    pub inputs: Vec<String>,
}

/// Where a new definition's `linuxkit-dsl` dependency comes from.
#[derive(Debug, Args, Default, Clone)]
pub struct DslArgs {
    /// Depend on this crates.io version of linuxkit-dsl (default: this tool's version).
    #[arg(long, value_name = "VERSION", conflicts_with_all = ["dsl_path", "dsl_git"])]
    pub dsl_version: Option<String>,
    /// Depend on a local checkout of linuxkit-dsl (the crate's directory).
    #[arg(long, value_name = "DIR", conflicts_with = "dsl_git")]
    pub dsl_path: Option<PathBuf>,
    /// Depend on linuxkit-dsl from this git repository.
    #[arg(long, value_name = "URL")]
    pub dsl_git: Option<String>,
    /// With --dsl-git: the branch.
    #[arg(
        long,
        value_name = "BRANCH",
        requires = "dsl_git",
        conflicts_with = "dsl_rev"
    )]
    pub dsl_branch: Option<String>,
    /// With --dsl-git: the revision.
    #[arg(long, value_name = "REV", requires = "dsl_git")]
    pub dsl_rev: Option<String>,
}

/// `new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Directory of the new package (its name is the package and image name).
    pub path: PathBuf,
    /// Package and image name (default: the directory name).
    #[arg(long)]
    pub name: Option<String>,
    /// Start the definition from this LinuxKit YAML file.
    #[arg(long, value_name = "FILE.yml")]
    pub from: Option<PathBuf>,
    /// The linuxkit-dsl dependency.
    #[command(flatten)]
    pub dsl: DslArgs,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Image name; the definition is `src/bin/<NAME>.rs` (default: `<package>-image`).
    #[arg(long)]
    pub name: Option<String>,
    /// Start the definition from this LinuxKit YAML file.
    #[arg(long, value_name = "FILE.yml")]
    pub from: Option<PathBuf>,
    /// The linuxkit-dsl dependency.
    #[command(flatten)]
    pub dsl: DslArgs,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The LinuxKit YAML file.
    pub file: PathBuf,
    /// Write the Rust code to this file instead of stdout.
    #[arg(short, long, value_name = "FILE.rs", conflicts_with = "add")]
    pub output: Option<PathBuf>,
    /// Name of the generated function (default: the file stem).
    #[arg(long = "fn", value_name = "NAME")]
    pub function: Option<String>,
    /// Add the definition to the package in the current directory (`src/bin/<name>.rs`, the
    /// target, `[package.metadata.linuxkit] definitions`) instead of printing it.
    #[arg(long)]
    pub add: bool,
    /// With --add: the linuxkit-dsl dependency, when the package has none yet.
    #[command(flatten)]
    pub dsl: DslArgs,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Image name (or YAML files to normalise and merge).
    #[arg(required = true, value_name = "IMAGE|FILE.yml")]
    pub inputs: Vec<String>,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `build`.
#[derive(Debug, Args, Default)]
pub struct BuildArgs {
    /// The images to build.
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format (repeatable, comma-separated); default kernel+initrd, or tar with -o.
    #[arg(short, long, value_name = "FORMAT", value_delimiter = ',')]
    pub format: Vec<String>,
    /// Write the single streamable output (tar, docker) to FILE (`-` is stdout).
    #[arg(short, long = "output", visible_alias = "o", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Directory for the outputs (created if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Output base name (default: the image name or the last YAML file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Target architecture in OCI spelling (amd64, arm64, ...).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Always pull images, even when they are cached.
    #[arg(long)]
    pub pull: bool,
    /// Decompress the kernel (gzip) in the output.
    #[arg(long)]
    pub decompress_kernel: bool,
    /// Disk size for disk formats (NNNM, NNNG or GiB).
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Write no SBOM (by default `sbom.spdx.json`, SPDX 2.3, is written into the image).
    #[arg(long)]
    pub no_sbom: bool,
    /// Path of the SBOM in the image's root filesystem.
    #[arg(long, value_name = "FILE", default_value = linuxkit_build::DEFAULT_SBOM_PATH)]
    pub sbom_output: String,
    /// Accepted for compatibility: images never come from a Docker engine.
    #[arg(long)]
    pub docker: bool,
    /// Print the merged definition as YAML and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Rebuild even when the outputs are up to date.
    #[arg(long)]
    pub force: bool,
    /// Initrd compression: gzip (upstream's), zstd or none (also `LINUXKIT_COMPRESSION`, or
    /// `compression` in `[package.metadata.linuxkit]`).
    #[arg(long, value_name = "gzip|zstd|none", env = "LINUXKIT_COMPRESSION")]
    pub compression: Option<String>,
    /// Registry build cache to take compressed initrd pieces and local images from, before
    /// doing the work (also `LINUXKIT_CACHE_FROM`, or `cache-from` in the package metadata).
    #[arg(long, value_name = "REGISTRY/REPO", env = "LINUXKIT_CACHE_FROM")]
    pub cache_from: Option<String>,
    /// Registry build cache to push this build's initrd pieces and local images to (also
    /// `LINUXKIT_CACHE_TO`, or `cache-to` in the package metadata).
    #[arg(long, value_name = "REGISTRY/REPO", env = "LINUXKIT_CACHE_TO")]
    pub cache_to: Option<String>,
    /// Signing and dm-verity.
    #[command(flatten)]
    pub verified: VerifiedBootArgs,
}

/// Verified boot options of `build` and `push`.
#[derive(Debug, Args, Default, Clone)]
pub struct VerifiedBootArgs {
    /// Sign the UKI of every EFI format for Secure Boot with this RSA private key (PEM or DER,
    /// readable by its owner only); also LINUXKIT_SECURE_BOOT_KEY or `secure-boot-key` in
    /// [package.metadata.linuxkit].
    #[arg(long, value_name = "KEY")]
    pub secure_boot_key: Option<PathBuf>,
    /// The X.509 certificate (PEM or DER) of --secure-boot-key; also LINUXKIT_SECURE_BOOT_CERT
    /// or `secure-boot-cert` in [package.metadata.linuxkit].
    #[arg(long, value_name = "CERT")]
    pub secure_boot_cert: Option<PathBuf>,
    /// Protect the root file system with dm-verity (kernel+squashfs, raw-efi, qcow2-efi): the
    /// hash tree follows the squashfs, the root hash goes on the kernel command line.
    #[arg(long)]
    pub verity: bool,
}

/// `cache` subcommands (upstream `linuxkit cache`).
#[derive(Debug, Subcommand)]
pub enum CacheArgs {
    /// List the cached images and their root digests.
    Ls,
    /// Remove images from the cache.
    Rm {
        /// Image names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove everything from the cache.
    Clean,
    /// Write a cached image as a tar.
    Export {
        /// Image name.
        name: String,
        /// Output file (`-` is stdout).
        #[arg(short, long = "outfile", visible_alias = "output", value_name = "FILE")]
        outfile: PathBuf,
        /// oci, docker or filesystem.
        #[arg(long, default_value = "oci")]
        format: String,
        /// Platform `linux/<arch>`.
        #[arg(long)]
        platform: Option<String>,
    },
    /// Import an OCI layout tar (or an OCI layout directory) into the cache.
    Import {
        /// Tar files or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Pull images into the cache.
    Pull {
        /// Image names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Push cached images to a registry (blobs it already has are skipped).
    Push {
        /// Image names, as `cache ls` lists them.
        #[arg(required = true)]
        names: Vec<String>,
        /// Push under `HOST[/PREFIX]/<name without its registry>` instead of the name itself
        /// (`linuxkit/init:v1` -> `HOST/PREFIX/linuxkit/init:v1`).
        #[arg(long, value_name = "HOST[/PREFIX]", conflicts_with = "remote_name")]
        registry: Option<String>,
        /// Push the (single) image under this name instead.
        #[arg(long, value_name = "NAME")]
        remote_name: Option<String>,
        /// Push even when the registry already has an image under that name.
        #[arg(long)]
        r#override: bool,
    },
    /// Check the whole cache: every blob against its digest, every image's references and
    /// sizes, `index.json`. Exit 1 when anything is wrong.
    Verify {
        /// Remove damaged blobs (the next build pulls them again) and replace an unreadable
        /// `index.json` by an empty one.
        #[arg(long)]
        repair: bool,
    },
}

/// `run`.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Build output prefix, output directory, ISO or disk image, or an image to build first.
    #[arg(value_name = "IMAGE|DIR|PATH")]
    pub target: Option<String>,
    /// vCPUs.
    #[arg(long, default_value_t = 1)]
    pub cpus: u32,
    /// Memory in MiB.
    #[arg(long, default_value_t = 1024)]
    pub mem: u64,
    /// Extra disk `[file=]PATH[,size=N[M|G]][,format=F]` (repeatable; created if missing).
    #[arg(long, value_name = "DISK")]
    pub disk: Vec<String>,
    /// Publish a port HOST:GUEST[/tcp|udp] (repeatable; user networking).
    #[arg(long, value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Networking: user or none.
    #[arg(long, default_value = "user")]
    pub networking: String,
    /// State directory (default <prefix>-state).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Stop the VM after SECS seconds (exit status 124).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Accelerator: auto, kvm or tcg (also LINUXKIT_QEMU_ACCEL).
    #[arg(long, env = "LINUXKIT_QEMU_ACCEL", default_value = "auto")]
    pub accel: String,
    /// Boot with UEFI firmware.
    #[arg(long)]
    pub uefi: bool,
    /// UEFI firmware code file.
    #[arg(long, value_name = "FILE")]
    pub fw: Option<PathBuf>,
    /// QEMU binary.
    #[arg(long, value_name = "PATH")]
    pub qemu: Option<PathBuf>,
    /// Boot the bzImage as is under TCG (no vmlinux extraction / PVH).
    #[arg(long)]
    pub no_pvh: bool,
    /// Extra QEMU -device (repeatable).
    #[arg(long)]
    pub device: Vec<String>,
    /// Show a window instead of the serial console.
    #[arg(long)]
    pub gui: bool,
    /// Boot with Secure Boot enforced: OVMF's secure-boot firmware and a per-VM variable store
    /// that enrolls --secure-boot-cert as PK, KEK and db.
    #[arg(long)]
    pub secure_boot: bool,
    /// The certificate to enroll with --secure-boot (PEM or DER); also LINUXKIT_SECURE_BOOT_CERT.
    #[arg(long, value_name = "CERT", requires = "secure_boot")]
    pub secure_boot_cert: Option<PathBuf>,
}

/// The process arguments with the `linuxkit` that cargo inserts removed
/// (`cargo linuxkit build` runs `cargo-linuxkit linuxkit build`).
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut v: Vec<OsString> = args.into_iter().collect();
    if v.get(1).is_some_and(|a| a == "linuxkit") {
        v.remove(1);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> RawArgs {
        RawArgs::try_parse_from(normalize_args(args.iter().map(OsString::from))).unwrap()
    }

    #[test]
    fn cargo_inserted_subcommand_name_is_skipped() {
        let a = parse(&["cargo-linuxkit", "linuxkit", "-q", "list"]);
        assert!(a.global.quiet);
        assert!(matches!(a.command, CommandArgs::List));
        let a = parse(&["cargo-linuxkit", "list", "--offline"]);
        assert!(a.global.offline);
    }

    #[test]
    fn formats_are_repeatable_and_comma_separated() {
        let a = parse(&[
            "cargo-linuxkit",
            "build",
            "-f",
            "kernel+initrd,iso-bios",
            "--format",
            "tar",
            "x.yml",
        ]);
        let CommandArgs::Build(b) = a.command else {
            panic!("not build")
        };
        assert_eq!(b.format, ["kernel+initrd", "iso-bios", "tar"]);
        assert_eq!(b.input.inputs, ["x.yml"]);
    }
}
