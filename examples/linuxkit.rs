//! LinuxKit's `linuxkit.yml` as a definition target: `cargo linuxkit build linuxkit`,
//! or `cargo run --bin linuxkit` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::linuxkit;

linuxkit_dsl::main!(linuxkit);
