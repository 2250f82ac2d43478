//! What the init tells other processes about its services: `/run/linuxkit-init/services.json`,
//! rewritten (atomically) whenever a service starts, stops or is restarted. The update agent
//! reads it to judge whether a new version is healthy.

use serde::{Deserialize, Serialize};

/// The directory the init keeps its status in (created before any service starts, so a
/// service can bind it).
pub const STATUS_DIR: &str = "/run/linuxkit-init";
/// The service status file.
pub const SERVICES_FILE: &str = "/run/linuxkit-init/services.json";

/// One service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceStatus {
    /// The service's name (its bundle directory's).
    pub name: String,
    /// Its process id (in the init's PID namespace) while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// `CLOCK_BOOTTIME` in milliseconds when it was last started, while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_since_ms: Option<u64>,
    /// How many times it was restarted after ending.
    pub restarts: u32,
    /// How its last run ended (`exited with status 1`, `killed by SIGSEGV`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
}

/// Every service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServicesStatus {
    /// The services, in start order.
    pub services: Vec<ServiceStatus>,
    /// Onboot containers that failed (did not exit with status 0).
    pub onboot_failed: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_leniently() {
        let s = ServicesStatus {
            services: vec![ServiceStatus {
                name: "web".into(),
                pid: Some(42),
                running_since_ms: Some(1500),
                restarts: 1,
                last_exit: Some("exited with status 1".into()),
            }],
            onboot_failed: vec!["net".into()],
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ServicesStatus>(&text).unwrap(), s);
        let old: ServicesStatus =
            serde_json::from_str(r#"{"services":[{"name":"x","extra":1}]}"#).unwrap();
        assert_eq!(old.services[0].restarts, 0);
    }
}
