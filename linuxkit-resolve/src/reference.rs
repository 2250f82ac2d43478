//! Image references: the one [`ImageRef`] of `linuxkit-validate` (grammar, LinuxKit's
//! cache-name expansion, the registry's pull location), and what only pulling needs.

pub use linuxkit_validate::reference::{
    expand, expand_with_tag, ImageRef, ReferenceError, DOCKER_HUB,
};

/// Is `host` (with optional port) a loopback address (`localhost`, `127.0.0.0/8`, `::1`)?
pub fn is_loopback_host(registry: &str) -> bool {
    if let Ok(ip) = registry.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match registry.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => registry,
        }
    };
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.3.4.5",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:80",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
