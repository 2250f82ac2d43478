//! The image source of builds: `linuxkit_resolve::Resolver` (LinuxKit cache + registries),
//! configured from the command line.

use linuxkit_oci::store::Platform;
use linuxkit_resolve::{ProgressMode, Resolver, ResolverOptions};

use crate::config::Config;
use crate::error::{Error, Result};

/// A resolver for `platform`; `pull` re-checks every image against its registry.
pub fn resolver(cfg: &Config, platform: Platform, pull: bool) -> Result<Resolver> {
    let progress = if cfg.shell.is_quiet() || cfg.shell.is_json() {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    };
    Resolver::new(ResolverOptions {
        cache_dir: Some(cfg.cache_dir.clone()),
        platform,
        offline: cfg.offline,
        always_pull: pull,
        mirrors: cfg.mirrors.clone(),
        insecure_registries: cfg.insecure_registries.clone(),
        progress,
        ..ResolverOptions::default()
    })
    .map_err(|e| Error::Resolve(Box::new(e)))
}

/// Makes sure every reference is available (pulling what is missing, in parallel).
pub fn prefetch(resolver: &Resolver, references: &[String]) -> Result<()> {
    resolver
        .prefetch(references)
        .map_err(|e| Error::Resolve(Box::new(e)))
}
