use linuxkit_macros::bind;

fn main() {
    let _ = bind!("/var:/var:ro,nosiud");
}
