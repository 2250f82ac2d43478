//! LinuxKit's `linuxkit.yml` as a definition target: `cargo linuxkit build --example linuxkit`,
//! or `cargo run --example linuxkit` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::linuxkit;

linuxkit_dsl::main!(linuxkit);
