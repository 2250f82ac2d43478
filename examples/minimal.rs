//! LinuxKit's `minimal.yml` as a definition target: `cargo linuxkit build minimal`,
//! or `cargo run --bin minimal` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::minimal;

linuxkit_dsl::main!(minimal);
