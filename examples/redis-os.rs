//! LinuxKit's `redis-os.yml` as a definition target: `cargo linuxkit build redis-os`,
//! or `cargo run --bin redis-os` to print it as LinuxKit YAML.

use linuxkit_workspace::examples::redis_os;

linuxkit_dsl::main!(redis_os);
