//! LinuxKit's `volumes.yml` as a definition target: `cargo linuxkit build --example volumes`,
//! or `cargo run --example volumes` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::volumes;

linuxkit_dsl::main!(volumes);
