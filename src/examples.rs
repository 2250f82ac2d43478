//! LinuxKit's `examples/*.yml` (and its root `linuxkit.yml`) as Rust definitions, with the
//! same images and pinned tags. Each function is one image; `examples/<name>.rs` makes it a
//! definition target, and `tests/examples_roundtrip.rs` checks it against upstream's YAML.

mod docker;
mod getty;
mod linuxkit;
mod minimal;
mod redis_os;
mod sshd;
mod static_ip;
mod swap;
mod volumes;
mod wireguard;

pub use docker::docker;
pub use getty::getty;
pub use linuxkit::linuxkit;
pub use minimal::minimal;
pub use redis_os::redis_os;
pub use sshd::sshd;
pub use static_ip::static_ip;
pub use swap::swap;
pub use volumes::volumes;
pub use wireguard::wireguard;

/// A definition function.
pub type Definition = fn() -> linuxkit_dsl::Image;

/// Every example, by upstream file stem: `(name, definition)`.
pub const ALL: [(&str, Definition); 10] = [
    ("linuxkit", linuxkit),
    ("minimal", minimal),
    ("sshd", sshd),
    ("getty", getty),
    ("redis-os", redis_os),
    ("volumes", volumes),
    ("wireguard", wireguard),
    ("docker", docker),
    ("static-ip", static_ip),
    ("swap", swap),
];
