//! LinuxKit's `docker.yml` as a definition target: `cargo linuxkit build docker`,
//! or `cargo run --bin docker` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::docker;

linuxkit_dsl::main!(docker);
