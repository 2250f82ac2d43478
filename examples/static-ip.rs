//! LinuxKit's `static-ip.yml` as a definition target: `cargo linuxkit build --example static-ip`,
//! or `cargo run --example static-ip` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::static_ip;

linuxkit_dsl::main!(static_ip);
