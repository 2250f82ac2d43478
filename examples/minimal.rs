//! LinuxKit's `minimal.yml` as a definition target: `cargo linuxkit build --example minimal`,
//! or `cargo run --example minimal` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::minimal;

linuxkit_dsl::main!(minimal);
