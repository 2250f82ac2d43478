use linuxkit_macros::envvar;

fn main() {
    let _ = envvar!("DEBUG");
    let _ = envvar!("=1");
}
