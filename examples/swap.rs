//! LinuxKit's `swap.yml` as a definition target: `cargo linuxkit build swap`,
//! or `cargo run --bin swap` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::swap;

linuxkit_dsl::main!(swap);
