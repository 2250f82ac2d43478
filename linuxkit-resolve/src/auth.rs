//! Registry credentials from the Docker client configuration (`~/.docker/config.json`).
//!
//! Looked up like the Docker CLI (and LinuxKit's keychain): `credHelpers[<registry>]`, then
//! `credsStore`, then `auths[<registry>]` (`auth` = base64 `user:password`, or `username` /
//! `password`, or `identitytoken`). Docker Hub is stored under `https://index.docker.io/v1/`.
//! A helper is run as `docker-credential-<name> get` with the server on stdin.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::reference::DOCKER_HUB;

/// The key Docker uses for Docker Hub credentials.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// Errors reading credentials.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The Docker config file exists but cannot be read or parsed.
    #[error("{path}: {message} (fix or remove the file to pull anonymously)")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper} for {registry}: {message}")]
    Helper {
        /// The helper's name.
        helper: String,
        /// The registry asked for.
        registry: String,
        /// What went wrong.
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Credentials source: a parsed Docker config (or none).
#[derive(Debug, Default)]
pub struct Credentials {
    config: DockerConfig,
    path: Option<PathBuf>,
}

impl Credentials {
    /// Reads `path`, or `$DOCKER_CONFIG/config.json`, or `~/.docker/config.json`. A missing
    /// file means anonymous access everywhere.
    pub fn load(path: Option<&Path>) -> Result<Self, AuthError> {
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None => std::env::var_os("DOCKER_CONFIG")
                .map(|d| PathBuf::from(d).join("config.json"))
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
                }),
        };
        let Some(path) = path else {
            return Ok(Credentials::default());
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::default()),
            Err(e) => {
                return Err(AuthError::Config {
                    path,
                    message: e.to_string(),
                })
            }
        };
        let config = serde_json::from_slice(&bytes).map_err(|e| AuthError::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(Credentials {
            config,
            path: Some(path),
        })
    }

    /// The credentials for `registry` (as in the reference: `docker.io`, `host:port`).
    pub fn for_registry(&self, registry: &str) -> Result<RegistryAuth, AuthError> {
        let keys = candidate_keys(registry);
        for key in &keys {
            if let Some(helper) = self.config.cred_helpers.get(key) {
                return run_helper(helper, key, registry);
            }
        }
        for key in &keys {
            if let Some(entry) = self.config.auths.get(key) {
                if let Some(auth) = self.decode_entry(entry, key)? {
                    return Ok(auth);
                }
            }
        }
        if let Some(store) = &self.config.creds_store {
            return run_helper(store, &keys[0], registry);
        }
        Ok(RegistryAuth::Anonymous)
    }

    fn decode_entry(
        &self,
        entry: &AuthEntry,
        key: &str,
    ) -> Result<Option<RegistryAuth>, AuthError> {
        if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(RegistryAuth::Bearer(token.to_string())));
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                });
            return match decoded {
                Some((u, p)) => Ok(Some(RegistryAuth::Basic(u, p))),
                None => Err(AuthError::Config {
                    path: self.path.clone().unwrap_or_default(),
                    message: format!("auths[{key:?}].auth is not base64 of user:password"),
                }),
            };
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(RegistryAuth::Basic(u.clone(), p.clone())));
        }
        Ok(None)
    }
}

/// The config keys under which `registry`'s credentials may be stored.
fn candidate_keys(registry: &str) -> Vec<String> {
    if registry == DOCKER_HUB || registry == "index.docker.io" || registry == "registry-1.docker.io"
    {
        vec![
            DOCKER_HUB_AUTH_KEY.to_string(),
            "index.docker.io".into(),
            "docker.io".into(),
            "registry-1.docker.io".into(),
        ]
    } else {
        vec![
            registry.to_string(),
            format!("https://{registry}"),
            format!("http://{registry}"),
            format!("https://{registry}/v1/"),
            format!("https://{registry}/v2/"),
        ]
    }
}

fn run_helper(helper: &str, server: &str, registry: &str) -> Result<RegistryAuth, AuthError> {
    let fail = |message: String| AuthError::Helper {
        helper: helper.to_string(),
        registry: registry.to_string(),
        message,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // "credentials not found in native keychain": anonymous, as Docker does.
        if msg.to_ascii_lowercase().contains("credentials not found") {
            return Ok(RegistryAuth::Anonymous);
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(fail(format!("exited with {}: {msg} {err}", out.status)));
    }
    let reply: HelperReply =
        serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("bad reply: {e}")))?;
    if reply.username == "<token>" {
        Ok(RegistryAuth::Bearer(reply.secret))
    } else {
        Ok(RegistryAuth::Basic(reply.username, reply.secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(json: &str) -> Credentials {
        Credentials {
            config: serde_json::from_str(json).unwrap(),
            path: None,
        }
    }

    fn basic(a: RegistryAuth) -> Option<(String, String)> {
        match a {
            RegistryAuth::Basic(u, p) => Some((u, p)),
            _ => None,
        }
    }

    #[test]
    fn auths_entries() {
        // "dXNlcjpwYXNz" = base64("user:pass")
        let c = creds(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
                "reg.example:5000":{"username":"u","password":"p"}}}"#,
        );
        assert_eq!(
            basic(c.for_registry("docker.io").unwrap()),
            Some(("user".into(), "pass".into()))
        );
        assert_eq!(
            basic(c.for_registry("reg.example:5000").unwrap()),
            Some(("u".into(), "p".into()))
        );
        assert!(matches!(
            c.for_registry("other.example").unwrap(),
            RegistryAuth::Anonymous
        ));
    }

    #[test]
    fn helper_is_run() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-lktest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\necho \"{\\\"Username\\\":\\\"h-$server\\\",\\\"Secret\\\":\\\"s\\\"}\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // Run through an explicit PATH so the test does not depend on the environment.
        let out = Command::new("sh")
            .arg("-c")
            .arg("echo reg.example | docker-credential-lktest get")
            .env("PATH", &path)
            .output()
            .unwrap();
        let reply: HelperReply = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(reply.username, "h-reg.example");
        assert_eq!(reply.secret, "s");
        let c = creds(r#"{"credHelpers":{"reg.example":"lktest-missing"}}"#);
        assert!(matches!(
            c.for_registry("reg.example"),
            Err(AuthError::Helper { .. })
        ));
    }
}
