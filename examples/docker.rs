//! LinuxKit's `docker.yml` as a definition target: `cargo linuxkit build --example docker`,
//! or `cargo run --example docker` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::docker;

linuxkit_dsl::main!(docker);
