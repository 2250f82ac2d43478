//! The `cargo linuxkit` engine.
//!
//! Data flows one way: definition -> evaluation -> resolution (`linuxkit-resolve`, verified
//! image blobs) -> assembly (`linuxkit-build`) -> output formats (`linuxkit-output`) -> boot
//! (`linuxkit-run`).
//!
//! Map of the crate:
//! - [`cli`]: the raw command line (clap); [`config`]: the resolved settings commands read.
//! - [`workspace`]: definition targets from `[package.metadata.linuxkit]` (cargo metadata).
//! - [`evaluate`]: `cargo build` + run definition targets with `CARGO_LINUXKIT_EMIT=json`.
//! - [`source`]: inputs (image names, LinuxKit YAML files) -> [`source::Definition`]s with
//!   item locations.
//! - [`build`]: the incremental build pipeline of one definition; [`resolve`]: the resolver.
//! - [`buildcache`]: initrd compression and the registry build cache (`--cache-from`,
//!   `--cache-to`, `cache push`).
//! - [`secureboot`]: where the Secure Boot key and certificate come from (flag, environment,
//!   `[package.metadata.linuxkit]`), checked before a build writes anything.
//! - [`updatable`]: A/B updates: the update agent's settings in a definition, the updatable
//!   disk they ask for.
//! - [`commands`]: one module per subcommand.
//! - [`shell`], [`diag`]: status lines, diagnostics, JSON messages.
//! - [`error`]: the typed [`Error`].

#![forbid(unsafe_code)]

pub mod build;
pub mod buildcache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diag;
pub mod error;
pub mod evaluate;
pub mod fsutil;
pub mod resolve;
pub mod secureboot;
pub mod shell;
pub mod source;
pub mod updatable;
pub mod workspace;

pub use error::{Error, Result};

use cli::{CommandArgs, RawArgs};
use config::Config;

/// Runs a parsed command line; returns the process exit code. Errors are returned for the
/// binary to print (diagnostics have already been printed).
pub fn execute(args: &RawArgs, cfg: &Config) -> Result<i32> {
    match &args.command {
        CommandArgs::New(a) => commands::scaffold::new(
            &a.path,
            &commands::scaffold::NewOptions {
                name: a.name.clone(),
                from: a.from.clone(),
                dsl: commands::scaffold::DslSource::from_args(&a.dsl)?,
            },
            cfg,
        ),
        CommandArgs::Init(a) => commands::scaffold::init(
            &commands::scaffold::NewOptions {
                name: a.name.clone(),
                from: a.from.clone(),
                dsl: commands::scaffold::DslSource::from_args(&a.dsl)?,
            },
            cfg,
        ),
        CommandArgs::Import(a) if a.add => commands::scaffold::import_add(
            &a.file,
            a.function.as_deref(),
            &commands::scaffold::DslSource::from_args(&a.dsl)?,
            cfg,
        ),
        CommandArgs::List => commands::list::run(cfg),
        CommandArgs::Check(a) => commands::check::run(&a.inputs, cfg),
        CommandArgs::Import(a) => {
            commands::import::run(&a.file, a.output.as_deref(), a.function.as_deref(), cfg)
        }
        CommandArgs::Export(a) => commands::export::run(&a.inputs, a.output.as_deref(), cfg),
        CommandArgs::Build(a) => commands::build::run(a, cfg),
        CommandArgs::Cache(a) => commands::cache::run(a, cfg),
        CommandArgs::Run(a) => commands::run::run(a, cfg),
        CommandArgs::Pkg(a) => commands::pkg::run(a, cfg),
        CommandArgs::Lock => commands::lock::run(cfg),
        CommandArgs::Update(a) => commands::update::run(&a.images, cfg),
        CommandArgs::Audit(a) => commands::audit::run(a, cfg),
        CommandArgs::Push(a) => commands::push::run(a, cfg),
    }
}
