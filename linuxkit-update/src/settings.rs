//! The update agent's settings and their command line.
//!
//! The command line is the update service's `command` in a definition: the DSL's
//! `.update(Update::from(..))` writes it, LinuxKit YAML spells it out, `import` reads it back,
//! the build reads `--esp-size` from it, and the agent parses it at start. One format, no new
//! YAML key. Only settings that differ from the defaults are written, in a fixed order.

use std::fmt;

/// Check the registry this often, by default (seconds).
pub const DEFAULT_INTERVAL: u64 = 300;
/// Boot tries a new version gets, by default.
pub const DEFAULT_TRIES: u32 = 3;
/// Services must have been up this long for a new version to be healthy (seconds).
pub const DEFAULT_HEALTHY_AFTER: u64 = 30;
/// A new version that is not healthy after this long is given up (seconds).
pub const DEFAULT_HEALTH_TIMEOUT: u64 = 300;

/// A command run inside a service's container (its namespaces) to judge health: exit status 0
/// is healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The service whose container the command runs in.
    pub service: String,
    /// The command and its arguments.
    pub command: Vec<String>,
}

/// What the agent does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The registry reference versions are pulled from (`host[:port]/repo:tag`).
    pub source: String,
    /// Registries spoken to over plain HTTP (loopback ones always are).
    pub insecure_registries: Vec<String>,
    /// Registry mirrors, `REGISTRY=URL` as `--mirror` of `cargo linuxkit`.
    pub mirrors: Vec<String>,
    /// Seconds between checks (SIGHUP checks at once).
    pub interval: u64,
    /// Boot tries of a new version.
    pub tries: u32,
    /// Seconds every service must have been up for a new version to be healthy.
    pub healthy_after: u64,
    /// Seconds after which a new version that is not healthy is given up.
    pub health_timeout: u64,
    /// An extra health check.
    pub health_check: Option<HealthCheck>,
    /// The ESP's size in MiB on a disk built with the agent (build time only; default: two
    /// versions of the built UKI plus half again).
    pub esp_mib: Option<u64>,
}

impl Settings {
    /// Settings pulling from `source`, everything else default.
    pub fn new(source: impl Into<String>) -> Settings {
        Settings {
            source: source.into(),
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            interval: DEFAULT_INTERVAL,
            tries: DEFAULT_TRIES,
            healthy_after: DEFAULT_HEALTHY_AFTER,
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
            health_check: None,
            esp_mib: None,
        }
    }

    /// The service's `command`: the binary, then the settings that are not defaults.
    pub fn command(&self) -> Vec<String> {
        let mut a = vec![
            crate::BINARY_PATH.to_string(),
            "--from".into(),
            self.source.clone(),
        ];
        for r in &self.insecure_registries {
            a.extend(["--insecure-registry".into(), r.clone()]);
        }
        for m in &self.mirrors {
            a.extend(["--mirror".into(), m.clone()]);
        }
        let mut num = |flag: &str, v: u64, default: u64| {
            if v != default {
                a.extend([flag.to_string(), v.to_string()]);
            }
        };
        num("--interval", self.interval, DEFAULT_INTERVAL);
        num("--tries", u64::from(self.tries), u64::from(DEFAULT_TRIES));
        num("--healthy-after", self.healthy_after, DEFAULT_HEALTHY_AFTER);
        num(
            "--health-timeout",
            self.health_timeout,
            DEFAULT_HEALTH_TIMEOUT,
        );
        if let Some(m) = self.esp_mib {
            a.extend(["--esp-size".into(), m.to_string()]);
        }
        if let Some(h) = &self.health_check {
            a.extend(["--health-service".into(), h.service.clone(), "--".into()]);
            a.extend(h.command.iter().cloned());
        }
        a
    }

    /// Parses a service's `command` (the binary first, as [`Settings::command`] writes it).
    pub fn from_command(command: &[String]) -> Result<Settings, SettingsError> {
        let Some((first, args)) = command.split_first() else {
            return Err(SettingsError("the command is empty".into()));
        };
        if !first.ends_with("linuxkit-update") {
            return Err(SettingsError(format!(
                "the command runs {first}, not {}",
                crate::BINARY_PATH
            )));
        }
        Settings::from_args(args)
    }

    /// Parses the agent's arguments (without the program name).
    pub fn from_args(args: &[String]) -> Result<Settings, SettingsError> {
        let mut s = Settings::new(String::new());
        let mut health_service = None;
        let mut health_command = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                health_command = Some(it.by_ref().cloned().collect::<Vec<_>>());
                break;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| SettingsError(format!("{flag} needs a value")))
            };
            let number = |v: String| {
                v.parse::<u64>()
                    .map_err(|_| SettingsError(format!("{flag} {v}: expected a whole number")))
            };
            match flag {
                "--from" => s.source = value()?,
                "--insecure-registry" => s.insecure_registries.push(value()?),
                "--mirror" => s.mirrors.push(value()?),
                "--interval" => s.interval = number(value()?)?.max(1),
                "--tries" => {
                    let v = value()?;
                    s.tries = v
                        .parse::<u32>()
                        .ok()
                        .filter(|t| (1..=100).contains(t))
                        .ok_or_else(|| SettingsError(format!("--tries {v}: expected 1 to 100")))?;
                }
                "--healthy-after" => s.healthy_after = number(value()?)?,
                "--health-timeout" => s.health_timeout = number(value()?)?.max(1),
                "--esp-size" => s.esp_mib = Some(number(value()?)?.max(1)),
                "--health-service" => health_service = Some(value()?),
                other => {
                    return Err(SettingsError(format!(
                        "unknown option {other} (see `{} --help`)",
                        crate::PACKAGE
                    )))
                }
            }
        }
        if s.source.is_empty() {
            return Err(SettingsError(
                "--from REGISTRY/REPOSITORY:TAG is required: where new versions are pulled from"
                    .into(),
            ));
        }
        s.health_check = match (health_service, health_command) {
            (Some(service), Some(command)) if !command.is_empty() => {
                Some(HealthCheck { service, command })
            }
            (None, None) => None,
            _ => {
                return Err(SettingsError(
                    "a health check needs --health-service NAME and `-- COMMAND [ARGS...]`".into(),
                ))
            }
        };
        Ok(s)
    }
}

/// A command line the agent cannot run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_are_not_written_and_everything_round_trips() {
        let s = Settings::new("10.0.2.2:5000/os:stable");
        assert_eq!(
            s.command(),
            strings(&[
                "/usr/bin/linuxkit-update",
                "--from",
                "10.0.2.2:5000/os:stable"
            ])
        );
        assert_eq!(Settings::from_command(&s.command()).unwrap(), s);
        let mut all = s.clone();
        all.insecure_registries.push("10.0.2.2:5000".into());
        all.mirrors.push("docker.io=http://10.0.2.2:5001".into());
        all.interval = 5;
        all.tries = 1;
        all.healthy_after = 3;
        all.health_timeout = 20;
        all.esp_mib = Some(96);
        all.health_check = Some(HealthCheck {
            service: "web".into(),
            command: strings(&["wget", "-q", "-O-", "http://127.0.0.1/"]),
        });
        assert_eq!(Settings::from_command(&all.command()).unwrap(), all);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let e = |v: &[&str]| Settings::from_args(&strings(v)).unwrap_err().to_string();
        assert!(e(&[]).contains("--from"));
        assert!(e(&["--from", "r/x:1", "--tries", "0"]).contains("1 to 100"));
        assert!(e(&["--from", "r/x:1", "--interval", "soon"]).contains("whole number"));
        assert!(e(&["--from", "r/x:1", "--bogus"]).contains("unknown option --bogus"));
        assert!(e(&["--from"]).contains("needs a value"));
        assert!(e(&["--from", "r/x:1", "--health-service", "web"]).contains("health check"));
        let s = Settings::from_args(&strings(&["--from=r/x:1", "--interval=7"])).unwrap();
        assert_eq!((s.source.as_str(), s.interval), ("r/x:1", 7));
        assert!(Settings::from_command(&strings(&["/bin/sh", "--from", "x"])).is_err());
    }
}
