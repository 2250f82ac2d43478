//! LinuxKit's `volumes.yml` as a definition target: `cargo linuxkit build volumes`,
//! or `cargo run --bin volumes` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::volumes;

linuxkit_dsl::main!(volumes);
