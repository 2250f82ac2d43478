use linuxkit_macros::image_ref;

fn main() {
    let _ = image_ref!("alpine@sha256:abc123");
    let _ = image_ref!("alpine@md5:0123456789abcdef0123456789abcdef");
    let _ = image_ref!("alpine@sha256:B5506CC74A6812DC40982CACFD2D4328F8A4B12C7F8B5E0AE2D3F2A1E6A5B4C3");
}
