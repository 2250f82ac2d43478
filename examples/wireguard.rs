//! LinuxKit's `wireguard.yml` as a definition target: `cargo linuxkit build wireguard`,
//! or `cargo run --bin wireguard` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::wireguard;

linuxkit_dsl::main!(wireguard);
