//! LinuxKit's `swap.yml` as a definition target: `cargo linuxkit build --example swap`,
//! or `cargo run --example swap` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::swap;

linuxkit_dsl::main!(swap);
