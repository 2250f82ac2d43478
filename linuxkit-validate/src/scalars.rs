//! File modes, sysctl keys, environment entries and volume names.

use crate::suggest::did_you_mean;

/// Top-level directories of `/proc/sys`, the first component of every sysctl key.
const SYSCTL_ROOTS: [&str; 10] = [
    "abi", "crypto", "debug", "dev", "fs", "kernel", "net", "sunrpc", "user", "vm",
];

/// Checks a file mode written as an octal string, such as `"0644"` or `"4755"`.
pub fn octal_mode(s: &str) -> Result<(), String> {
    parse_octal_mode(s).map(|_| ())
}

/// Parses a file mode written as an octal string (what LinuxKit's `files[].mode` holds): octal
/// digits only, at most four after an optional leading `0`.
pub fn parse_octal_mode(s: &str) -> Result<u32, String> {
    if s.is_empty() {
        return Err("file mode is empty: expected octal digits such as \"0644\"".into());
    }
    if !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!(
            "file mode must be octal digits 0-7, such as \"0644\": {s:?}"
        ));
    }
    let digits = if s.len() > 1 {
        s.strip_prefix('0').unwrap_or(s)
    } else {
        s
    };
    if digits.len() > 4 {
        return Err(format!("file mode has too many digits: expected at most 4 octal digits such as \"0644\" or \"4755\", got {s:?}"));
    }
    u32::from_str_radix(digits, 8).map_err(|e| format!("file mode {s:?}: {e}"))
}

/// Checks a sysctl key such as `net.ipv4.ip_forward` or `net/ipv4/conf/eth0.100/forwarding`:
/// lowercase names separated by `.` or `/`, under a `/proc/sys` directory.
pub fn sysctl_key(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("sysctl key is empty: expected a key such as \"net.ipv4.ip_forward\"".into());
    }
    let components: Vec<&str> = s.split(['.', '/']).collect();
    if components.iter().any(|c| c.is_empty()) {
        return Err(format!("sysctl key has an empty component: {s:?}"));
    }
    let name_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
    // Under `net.`, components may be interface names, which are case sensitive
    // (`net.ipv4.conf.ETH0.forwarding`).
    let net = components[0] == "net";
    for component in &components {
        if net && component.bytes().all(|b| name_char(b.to_ascii_lowercase())) {
            continue;
        }
        if !component.bytes().all(name_char) {
            if component.to_ascii_lowercase().bytes().all(name_char) {
                return Err(format!("sysctl key must be lowercase: {s:?}"));
            }
            return Err(format!(
                "invalid sysctl key {s:?}: expected lowercase letters, digits, '_' and '-' separated by '.' or '/'"
            ));
        }
    }
    let root = components[0];
    if !SYSCTL_ROOTS.contains(&root) {
        return Err(format!(
            "unknown sysctl namespace {root:?} in {s:?}{}: expected one of {}",
            did_you_mean(root, SYSCTL_ROOTS),
            SYSCTL_ROOTS.join(", ")
        ));
    }
    if components.len() < 2 {
        return Err(format!(
            "sysctl key {s:?} is a directory: expected a key such as \"net.ipv4.ip_forward\""
        ));
    }
    Ok(())
}

/// Checks an environment entry `NAME=value`: a non-empty name without whitespace.
pub fn env_var(s: &str) -> Result<(), String> {
    let Some((name, _)) = s.split_once('=') else {
        return Err(format!(
            "environment variable has no '=': expected \"NAME=value\", got {s:?}"
        ));
    };
    if name.is_empty() {
        return Err(format!(
            "environment variable has an empty name: expected \"NAME=value\", got {s:?}"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "environment variable name must not contain whitespace: {s:?}"
        ));
    }
    if s.contains('\0') {
        return Err(format!(
            "environment variable must not contain a NUL character: {s:?}"
        ));
    }
    Ok(())
}

/// Checks the name part of an environment entry: non-empty, without `=` or whitespace.
pub fn env_name(s: &str) -> Result<(), String> {
    if s.contains('=') {
        return Err(format!(
            "environment variable name must not contain '=': {s:?}"
        ));
    }
    env_var(&format!("{s}="))
}

/// Checks a volume name: `^[a-z0-9_-]+$`. (LinuxKit's own pattern also lets the empty name
/// through; nothing can bind to it, so it is refused here.)
pub fn volume_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("volume name is empty: expected lowercase letters, digits, '_' or '-'".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid volume name: expected only lowercase letters, digits, '_' and '-', got {s:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_octal_mode("0644"), Ok(0o644));
        assert_eq!(parse_octal_mode("644"), Ok(0o644));
        assert_eq!(parse_octal_mode("04755"), Ok(0o4755));
        assert_eq!(parse_octal_mode("7777"), Ok(0o7777));
        assert_eq!(parse_octal_mode("0"), Ok(0));
        assert_eq!(parse_octal_mode("00"), Ok(0));
        assert_eq!(octal_mode("0600"), Ok(()));
        assert_eq!(
            octal_mode("0648"),
            Err("file mode must be octal digits 0-7, such as \"0644\": \"0648\"".into())
        );
        assert!(octal_mode("0o644")
            .unwrap_err()
            .contains("octal digits 0-7"));
        assert!(octal_mode("+644").unwrap_err().contains("octal digits 0-7"));
        assert!(octal_mode("").unwrap_err().contains("empty"));
        assert!(octal_mode("17777").unwrap_err().contains("too many digits"));
        assert!(octal_mode("001777")
            .unwrap_err()
            .contains("too many digits"));
    }

    #[test]
    fn sysctl_keys() {
        for k in [
            "net.ipv4.ip_forward",
            "net/ipv4/conf/eth0.100/forwarding",
            "vm.max_map_count",
            "kernel.shm_rmid_forced",
            "net.ipv4.conf.br-lan.rp_filter",
        ] {
            assert_eq!(sysctl_key(k), Ok(()), "{k}");
        }
        assert!(sysctl_key("").unwrap_err().contains("empty"));
        assert!(sysctl_key("net..ipv4")
            .unwrap_err()
            .contains("empty component"));
        assert!(sysctl_key("net.ipv4.")
            .unwrap_err()
            .contains("empty component"));
        assert_eq!(
            sysctl_key("Net.ipv4.ip_forward"),
            Err("sysctl key must be lowercase: \"Net.ipv4.ip_forward\"".into())
        );
        assert!(sysctl_key("net.ipv4 .x")
            .unwrap_err()
            .contains("invalid sysctl key"));
        assert_eq!(
            sysctl_key("nett.ipv4.ip_forward"),
            Err("unknown sysctl namespace \"nett\" in \"nett.ipv4.ip_forward\" (did you mean \"net\"?): expected one of abi, crypto, debug, dev, fs, kernel, net, sunrpc, user, vm".into())
        );
        assert!(sysctl_key("kernel").unwrap_err().contains("is a directory"));
    }

    #[test]
    fn env_vars() {
        for e in [
            "KEY=value",
            "A=",
            "PATH=/bin:/usr/bin",
            "X=a=b",
            "lower_case=1",
        ] {
            assert_eq!(env_var(e), Ok(()), "{e}");
        }
        assert_eq!(
            env_var("KEY"),
            Err("environment variable has no '=': expected \"NAME=value\", got \"KEY\"".into())
        );
        assert!(env_var("=x").unwrap_err().contains("empty name"));
        assert!(env_var("A B=x").unwrap_err().contains("whitespace"));
        assert!(env_var("A=\0").unwrap_err().contains("NUL"));
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("PATH"), Ok(()));
        assert!(env_name("").unwrap_err().contains("empty name"));
        assert_eq!(
            env_name("A=B"),
            Err("environment variable name must not contain '=': \"A=B\"".into())
        );
        assert!(env_name("A B").unwrap_err().contains("whitespace"));
    }

    #[test]
    fn volume_names() {
        for v in ["data", "a_b-1", "0"] {
            assert_eq!(volume_name(v), Ok(()), "{v}");
        }
        assert!(volume_name("").unwrap_err().contains("empty"));
        assert_eq!(
            volume_name("Data"),
            Err("invalid volume name: expected only lowercase letters, digits, '_' and '-', got \"Data\"".into())
        );
        assert!(volume_name("a.b").is_err());
        assert!(volume_name("a/b").is_err());
    }
}
