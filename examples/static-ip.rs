//! LinuxKit's `static-ip.yml` as a definition target: `cargo linuxkit build static-ip`,
//! or `cargo run --bin static-ip` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::static_ip;

linuxkit_dsl::main!(static_ip);
