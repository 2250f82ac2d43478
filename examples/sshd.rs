//! LinuxKit's `sshd.yml` as a definition target: `cargo linuxkit build --example sshd`,
//! or `cargo run --example sshd` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::sshd;

linuxkit_dsl::main!(sshd);
