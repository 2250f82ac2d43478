//! `linuxkit-init`: PID 1 for LinuxKit guests.

fn main() {}
