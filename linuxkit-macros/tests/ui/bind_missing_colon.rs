use linuxkit_macros::bind;

fn main() {
    let _ = bind!("/var/run");
    let _ = bind!("/a:/b:ro:x");
    let _ = bind!("/var/run:var/run");
}
