//! `cargo linuxkit`: the command-line edge of the engine.

fn main() {
    println!("cargo-linuxkit");
}
