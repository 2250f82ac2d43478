use linuxkit_macros::path;

fn main() {
    let _ = path!("/etc/../root/.ssh");
}
