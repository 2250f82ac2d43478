//! Capabilities and resource limits.

use crate::suggest::did_you_mean;

/// The 41 capabilities LinuxKit knows, in kernel order (`CAP_CHOWN` is 0,
/// `CAP_CHECKPOINT_RESTORE` is 40).
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The resource limits LinuxKit knows, without the `RLIMIT_` prefix.
pub const RLIMITS: [&str; 16] = [
    "CPU",
    "FSIZE",
    "DATA",
    "STACK",
    "CORE",
    "RSS",
    "NPROC",
    "NOFILE",
    "MEMLOCK",
    "AS",
    "LOCKS",
    "SIGPENDING",
    "MSGQUEUE",
    "NICE",
    "RTPRIO",
    "RTTIME",
];

/// Checks a capability name: one of [`CAPABILITIES`] exactly, or `all` / `none` in any case
/// (which LinuxKit accepts only as the sole element of a list).
pub fn capability(s: &str) -> Result<(), String> {
    if CAPABILITIES.contains(&s) || s.eq_ignore_ascii_case("all") || s.eq_ignore_ascii_case("none")
    {
        return Ok(());
    }
    let upper = s.to_ascii_uppercase();
    let canonical = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if CAPABILITIES.contains(&canonical.as_str()) {
        return Err(format!("capability must be written {canonical:?}: {s:?}"));
    }
    Err(format!(
        "unknown capability {s:?}{}: expected a name such as \"CAP_NET_ADMIN\", or \"all\" or \"none\"",
        did_you_mean(&canonical, CAPABILITIES)
    ))
}

/// Checks a list of capabilities as LinuxKit expands it: each name as in [`capability`], and
/// `all` / `none` only as the sole element. On error, gives the index of the offending element.
pub fn capability_list<S: AsRef<str>>(list: &[S]) -> Result<(), (usize, String)> {
    for (i, name) in list.iter().enumerate() {
        let name = name.as_ref();
        capability(name).map_err(|e| (i, e))?;
        let special = name.eq_ignore_ascii_case("all") || name.eq_ignore_ascii_case("none");
        if special && list.len() > 1 {
            return Err((
                i,
                format!("capability {name:?} must be the only element of its list: it stands for all or no capabilities"),
            ));
        }
    }
    Ok(())
}

/// A parsed resource limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_` followed by one of [`RLIMITS`].
    pub name: String,
    /// Soft limit; `unlimited` is `u64::MAX`.
    pub soft: u64,
    /// Hard limit; `unlimited` is `u64::MAX`.
    pub hard: u64,
}

/// Checks a resource limit `name,soft,hard`, for example `nofile,1024,4096`.
pub fn rlimit(s: &str) -> Result<(), String> {
    parse_rlimit(s).map(|_| ())
}

/// Parses a resource limit as LinuxKit does: three comma-separated parts; a name in any case,
/// with or without `RLIMIT_`; limits that are decimal numbers or `unlimited` (any case).
/// A soft limit above the hard limit is refused too (the kernel would refuse it at start).
pub fn parse_rlimit(s: &str) -> Result<Rlimit, String> {
    let parts: Vec<&str> = s.splitn(3, ',').collect();
    let [name, soft, hard] = parts[..] else {
        return Err(format!(
            "rlimit must be \"name,soft,hard\", such as \"nofile,1024,4096\": {s:?}"
        ));
    };
    let upper = name.trim().to_ascii_uppercase();
    let short = upper.strip_prefix("RLIMIT_").unwrap_or(&upper);
    if !RLIMITS.contains(&short) {
        return Err(format!(
            "unknown rlimit {:?} in {s:?}{}: expected one of {}",
            name.trim(),
            did_you_mean(short, RLIMITS),
            RLIMITS.map(str::to_ascii_lowercase).join(", ")
        ));
    }
    let soft = limit(s, "soft", soft)?;
    let hard = limit(s, "hard", hard)?;
    if soft > hard {
        return Err(format!("rlimit soft limit is above the hard limit: {s:?}"));
    }
    Ok(Rlimit {
        name: format!("RLIMIT_{short}"),
        soft,
        hard,
    })
}

fn limit(s: &str, which: &str, value: &str) -> Result<u64, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("unlimited") {
        return Ok(u64::MAX);
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "rlimit {which} limit {value:?} is not a number or \"unlimited\": {s:?}"
        ));
    }
    value
        .parse()
        .map_err(|_| format!("rlimit {which} limit {value:?} is too large: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities() {
        for c in [
            "CAP_CHOWN",
            "CAP_CHECKPOINT_RESTORE",
            "CAP_NET_ADMIN",
            "all",
            "ALL",
            "None",
        ] {
            assert_eq!(capability(c), Ok(()), "{c}");
        }
        assert_eq!(CAPABILITIES.len(), 41);
        assert_eq!(
            capability("net_admin"),
            Err("capability must be written \"CAP_NET_ADMIN\": \"net_admin\"".into())
        );
        assert_eq!(
            capability("cap_sys_admin"),
            Err("capability must be written \"CAP_SYS_ADMIN\": \"cap_sys_admin\"".into())
        );
        assert_eq!(
            capability("CAP_NET_ADMN"),
            Err("unknown capability \"CAP_NET_ADMN\" (did you mean \"CAP_NET_ADMIN\"?): expected a name such as \"CAP_NET_ADMIN\", or \"all\" or \"none\"".into())
        );
        assert!(capability("")
            .unwrap_err()
            .starts_with("unknown capability"));
        assert!(capability("CAP_FOO_BAR_BAZ")
            .unwrap_err()
            .starts_with("unknown capability"));
    }

    #[test]
    fn capability_lists() {
        assert_eq!(capability_list(&["CAP_CHOWN", "CAP_KILL"]), Ok(()));
        assert_eq!(capability_list(&["all"]), Ok(()));
        assert_eq!(capability_list::<&str>(&[]), Ok(()));
        assert_eq!(
            capability_list(&["CAP_CHOWN", "ALL"]),
            Err((1, "capability \"ALL\" must be the only element of its list: it stands for all or no capabilities".into()))
        );
        assert_eq!(
            capability_list(&["CAP_CHOWN", "kill"]).map_err(|e| e.0),
            Err(1)
        );
    }

    #[test]
    fn rlimits() {
        assert_eq!(
            parse_rlimit("nofile,1024,4096"),
            Ok(Rlimit {
                name: "RLIMIT_NOFILE".into(),
                soft: 1024,
                hard: 4096
            })
        );
        assert_eq!(
            parse_rlimit(" RLIMIT_core , unlimited , UNLIMITED "),
            Ok(Rlimit {
                name: "RLIMIT_CORE".into(),
                soft: u64::MAX,
                hard: u64::MAX
            })
        );
        assert_eq!(rlimit("memlock,0,unlimited"), Ok(()));
        assert_eq!(
            rlimit("nofile,1024"),
            Err(
                "rlimit must be \"name,soft,hard\", such as \"nofile,1024,4096\": \"nofile,1024\""
                    .into()
            )
        );
        assert!(rlimit("nofiles,1,2").unwrap_err().starts_with(
            "unknown rlimit \"nofiles\" in \"nofiles,1,2\" (did you mean \"NOFILE\"?)"
        ));
        assert!(rlimit("nofile,x,2")
            .unwrap_err()
            .contains("soft limit \"x\" is not a number"));
        assert!(rlimit("nofile,1,+2")
            .unwrap_err()
            .contains("hard limit \"+2\""));
        assert!(rlimit("nofile,1,2,3")
            .unwrap_err()
            .contains("hard limit \"2,3\""));
        assert!(rlimit("nofile,1,99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(rlimit("nofile,8,4")
            .unwrap_err()
            .contains("above the hard limit"));
    }
}
