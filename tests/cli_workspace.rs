//! `cargo linuxkit list | check | export` on the Rust image definitions of this workspace's
//! `examples/` (evaluated through the `CARGO_LINUXKIT_EMIT=json` protocol).

mod cli_support;

use cli_support::{run_in, text, workspace_root};

#[test]
fn list_check_and_export_the_examples() {
    let root = workspace_root();
    let manifest = root.join("Cargo.toml");
    let manifest = manifest.to_str().unwrap();

    let o = run_in(&root, &["-q", "--manifest-path", manifest, "list"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let sshd = out
        .lines()
        .find(|l| l.starts_with("sshd "))
        .unwrap_or_else(|| panic!("no sshd in:\n{out}"));
    assert!(sshd.contains("linuxkit-workspace"), "{sshd}");
    assert!(sshd.contains("examples/sshd.rs:"), "{sshd}");

    let o = run_in(
        &root,
        &["--manifest-path", manifest, "check", "sshd", "minimal"],
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("Checked 2 image(s): sshd, minimal"), "{err}");

    let o = run_in(
        &root,
        &["-q", "--manifest-path", manifest, "export", "sshd"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("kernel:"), "{out}");
    assert!(out.contains("linuxkit/sshd:"), "{out}");

    let o = run_in(
        &root,
        &["-q", "--manifest-path", manifest, "check", "no-such-image"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("no image named `no-such-image`"), "{err}");
}
