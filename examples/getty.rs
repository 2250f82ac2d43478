//! LinuxKit's `getty.yml` as a definition target: `cargo linuxkit build getty`,
//! or `cargo run --bin getty` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::getty;

linuxkit_dsl::main!(getty);
