//! LinuxKit's `wireguard.yml` as a definition target: `cargo linuxkit build --example wireguard`,
//! or `cargo run --example wireguard` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::wireguard;

linuxkit_dsl::main!(wireguard);
