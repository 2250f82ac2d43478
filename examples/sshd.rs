//! LinuxKit's `sshd.yml` as a definition target: `cargo linuxkit build sshd`,
//! or `cargo run --bin sshd` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::sshd;

linuxkit_dsl::main!(sshd);
