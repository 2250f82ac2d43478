//! `cargo linuxkit audit`: what each container may do once its image's label and the
//! definition are merged, read off the `config.json` the build writes
//! (`linuxkit_build::audit`), as a table or JSON; `--deny RULE` turns the rules of
//! `linuxkit_dsl::testing::Policy` into a CI gate.

use linuxkit_build::audit::ContainerAudit;
use linuxkit_dsl::testing::Policy;
use linuxkit_dsl::Capability;
use serde_json::json;

use crate::cli::AuditArgs;
use crate::commands::build::fetch_images;
use crate::commands::check;
use crate::config::Config;
use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use crate::source::{load, Definition};

/// The rules `--deny` accepts, for messages.
const RULES: &str = "CAP_<NAME>[=CONTAINER,...] (a capability, except for the named containers), \
    unpinned (an image not pinned by digest or in linuxkit.lock), host-network[=CONTAINER,...], \
    writable-rootfs[=CONTAINER,...]";

/// One parsed `--deny` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// A capability, allowed only for the named containers.
    Capability(Capability, Vec<String>),
    /// Every image pinned by digest or locked.
    Unpinned,
    /// Host networking, allowed only for the named containers.
    HostNetwork(Vec<String>),
    /// A writable root filesystem, allowed only for the named containers.
    WritableRootfs(Vec<String>),
}

impl Rule {
    /// Parses `RULE[=CONTAINER,...]`.
    pub fn parse(text: &str) -> Result<Rule> {
        let (name, allowed) = match text.split_once('=') {
            Some((n, a)) => (
                n.trim(),
                a.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            None => (text.trim(), Vec::new()),
        };
        let rule = match name {
            "unpinned" if allowed.is_empty() => Rule::Unpinned,
            "unpinned" => {
                return Err(Error::Usage(format!(
                    "--deny {text}: `unpinned` takes no containers (every image must be pinned)"
                )))
            }
            "host-network" => Rule::HostNetwork(allowed),
            "writable-rootfs" => Rule::WritableRootfs(allowed),
            other => match other.parse::<Capability>() {
                Ok(c) => Rule::Capability(c, allowed),
                Err(_) => {
                    return Err(Error::Usage(format!(
                        "--deny {text}: unknown rule; the rules are {RULES}"
                    )))
                }
            },
        };
        Ok(rule)
    }
}

/// The policy of `rules`; `locked` are the references of the definition's lockfile.
fn policy(rules: &[Rule], locked: Vec<String>) -> Policy {
    let mut p = Policy::new();
    for r in rules {
        p = match r {
            Rule::Capability(c, allowed) => p.forbid_capability_except(*c, allowed.clone()),
            Rule::Unpinned => p.require_pinned_or_locked(locked.clone()),
            Rule::HostNetwork(allowed) => p.host_network_only(allowed.clone()),
            Rule::WritableRootfs(allowed) => p.readonly_rootfs_except(allowed.clone()),
        };
    }
    p
}

/// Audits the definitions named by `args`; exit code 0, or an error counting the violations
/// of `--deny` rules (each printed as a diagnostic).
pub fn run(args: &AuditArgs, cfg: &Config) -> Result<i32> {
    let rules = args
        .deny
        .iter()
        .map(|r| Rule::parse(r))
        .collect::<Result<Vec<_>>>()?;
    let loaded = load(&args.input.inputs, cfg)?;
    let errors = check::report(&loaded.definitions, cfg);
    if errors > 0 {
        return Err(Error::Problems {
            count: errors,
            what: loaded.names(),
        });
    }
    let arch = args
        .arch
        .clone()
        .unwrap_or_else(|| linuxkit_oci::store::Platform::host().architecture);
    let platform = linuxkit_oci::store::Platform::linux(&arch);
    let images = fetch_images(&loaded, &platform, args.pull, cfg)?;
    let mut violations = 0;
    images.with_provider(|provider| -> Result<()> {
        for d in &loaded.definitions {
            let lock = crate::resolve::read_lockfile(d)?;
            let locked_provider;
            let provider: &dyn linuxkit_oci::store::ImageProvider = match &lock {
                Some(l) => {
                    locked_provider = crate::resolve::LockedProvider::new(provider, l);
                    &locked_provider
                }
                None => provider,
            };
            let audits =
                linuxkit_build::audit::audit(&d.image, provider, &platform).map_err(|source| {
                    Error::Build {
                        image: d.name.clone(),
                        source: Box::new(source),
                    }
                })?;
            let locked: Vec<String> = lock
                .map(|l| l.images.into_keys().collect())
                .unwrap_or_default();
            let effective: Vec<_> = audits.iter().map(ContainerAudit::effective).collect();
            let found = policy(&rules, locked).check_effective(&d.image, &effective);
            if cfg.shell.is_json() {
                cfg.shell.json_message(json!({
                    "reason": "linuxkit-audit",
                    "image": d.name,
                    "containers": audits,
                    "violations": found.iter().map(|v| json!({
                        "item": v.path,
                        "container": v.container,
                        "message": v.message,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                print_table(d, &audits);
            }
            for v in &found {
                violations += 1;
                cfg.shell.diagnostic(&Diagnostic {
                    span: d.span(&v.path),
                    item: Some(v.path.clone()),
                    image: Some(d.name.clone()),
                    hint: Some("denied by a --deny rule of `cargo linuxkit audit`".into()),
                    ..Diagnostic::error(match &v.container {
                        Some(c) => format!("`{c}`: {}", v.message),
                        None => v.message.clone(),
                    })
                });
            }
        }
        Ok(())
    })?;
    cfg.shell.json_message(json!({
        "reason": "audit-finished",
        "success": violations == 0,
        "violations": violations,
    }));
    if violations > 0 {
        return Err(Error::Problems {
            count: violations,
            what: format!("the audit of {}", loaded.names()),
        });
    }
    Ok(0)
}

/// The table for people: one row per container.
fn print_table(d: &Definition, audits: &[ContainerAudit]) {
    const HEADER: [&str; 10] = [
        "CONTAINER",
        "CAPABILITIES",
        "HOST NS",
        "WRITABLE HOST BINDS",
        "DEVICES",
        "RO ROOT",
        "NNP",
        "SECCOMP",
        "USER",
        "IMAGE",
    ];
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    let rows: Vec<[String; 10]> = audits
        .iter()
        .map(|a| {
            let user = if a.user.additional_gids.is_empty() {
                format!("{}:{}", a.user.uid, a.user.gid)
            } else {
                let extra: Vec<String> =
                    a.user.additional_gids.iter().map(u32::to_string).collect();
                format!("{}:{}+{}", a.user.uid, a.user.gid, extra.join("+"))
            };
            [
                format!("{} {}", a.path(), a.name),
                ContainerAudit::capabilities_text(&a.capabilities.effective),
                list(
                    a.host_namespaces
                        .iter()
                        .map(|n| ContainerAudit::short_namespace(n).to_string())
                        .collect(),
                ),
                list(
                    a.writable_host_binds
                        .iter()
                        .map(|b| {
                            if b.source == b.destination {
                                b.source.clone()
                            } else {
                                format!("{}:{}", b.source, b.destination)
                            }
                        })
                        .collect(),
                ),
                list(
                    a.devices
                        .iter()
                        .map(|dev| match (dev.path.as_str(), dev.kind.as_str()) {
                            ("*", "a") => "all".to_string(),
                            ("*", k) => format!("all({k})"),
                            (p, _) => p.to_string(),
                        })
                        .collect(),
                ),
                yes(a.readonly_rootfs),
                yes(a.no_new_privileges),
                a.seccomp.clone().unwrap_or_else(|| "none".into()),
                user,
                a.image.clone(),
            ]
        })
        .collect();
    let mut width = HEADER.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    println!("{} ({})", d.name, d.declared_at());
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        println!("  {}", padded.join("  ").trim_end());
    };
    line(HEADER.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_with_their_exceptions() {
        assert_eq!(
            Rule::parse("CAP_SYS_ADMIN=getty,sshd").unwrap(),
            Rule::Capability(Capability::SysAdmin, vec!["getty".into(), "sshd".into()])
        );
        assert_eq!(
            Rule::parse("net_admin").unwrap(),
            Rule::Capability(Capability::NetAdmin, vec![])
        );
        assert_eq!(Rule::parse("unpinned").unwrap(), Rule::Unpinned);
        assert_eq!(
            Rule::parse("host-network=dhcpcd").unwrap(),
            Rule::HostNetwork(vec!["dhcpcd".into()])
        );
        assert_eq!(
            Rule::parse("writable-rootfs").unwrap(),
            Rule::WritableRootfs(vec![])
        );
        let e = Rule::parse("root").unwrap_err().to_string();
        assert!(
            e.contains("unknown rule") && e.contains("host-network"),
            "{e}"
        );
        assert!(Rule::parse("unpinned=x").is_err());
    }
}
