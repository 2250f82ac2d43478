//! `cargo linuxkit pkg build|push`: the `hello` package becomes a content-tagged image, is pushed
//! to a real Debian `docker-registry` on a free loopback port, and pulls back with the same digest.

mod cli_support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{run_in, text, workspace_root};

const REGISTRY: &str = "/usr/bin/docker-registry";

/// A `docker-registry` process, killed on drop.
struct Registry {
    child: Child,
    addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path) -> Registry {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        ),
    )
    .expect("registry config");
    let child = Command::new(REGISTRY)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "docker-registry did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Registry { child, addr }
}

#[test]
fn pkg_build_tags_by_content_and_push_round_trips_through_a_registry() {
    if !Path::new(REGISTRY).exists() && std::env::var_os("CI").is_none() {
        eprintln!("skipping: {REGISTRY} is missing (apt-get install docker-registry)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let cache_arg = cache.display().to_string();
    let ws = workspace_root();

    let o = run_in(&ws, &["--cache", &cache_arg, "pkg", "build", "hello"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "pkg build failed: {err}");
    let name = out.trim().to_string();
    let tag = name
        .strip_prefix("linuxkit-local/hello:")
        .unwrap_or_else(|| panic!("unexpected image name {name:?}"));
    assert_eq!(tag.len(), 40, "content-hash tag: {tag}");
    assert!(tag.chars().all(|c| c.is_ascii_hexdigit()), "hex tag: {tag}");

    // A second build with unchanged sources gives the same tag and does no work.
    let again = run_in(&ws, &["--cache", &cache_arg, "pkg", "build", "hello"]);
    let (out2, err2) = text(&again);
    assert!(again.status.success(), "second pkg build failed: {err2}");
    assert_eq!(out2.trim(), name);
    assert!(
        err2.contains("Fresh"),
        "second build should be fresh: {err2}"
    );

    let registry = start_registry(tmp.path());
    let o = run_in(
        &ws,
        &[
            "--cache",
            &cache_arg,
            "pkg",
            "push",
            "hello",
            "--registry",
            &registry.addr,
        ],
    );
    let (pushed, err) = text(&o);
    assert!(o.status.success(), "pkg push failed: {err}");
    let remote = format!("{}/{name}", registry.addr);
    assert_eq!(pushed.trim(), remote);

    // Pull it back into an empty cache: the same manifest digest as the local build.
    let cache2 = tmp.path().join("cache2");
    let cache2_arg = cache2.display().to_string();
    let o = run_in(&ws, &["--cache", &cache2_arg, "cache", "pull", &remote]);
    assert!(o.status.success(), "cache pull failed: {:?}", text(&o));
    let digest_of = |cache: &str, wanted: &str| -> String {
        let o = run_in(&ws, &["--cache", cache, "cache", "ls"]);
        let (ls, _) = text(&o);
        ls.lines()
            .find_map(|l| {
                let (n, d) = l.split_once(' ')?;
                (n == wanted).then(|| d.to_string())
            })
            .unwrap_or_else(|| panic!("{wanted} not in cache ls:\n{ls}"))
    };
    assert_eq!(
        digest_of(&cache2_arg, &remote),
        digest_of(&cache_arg, "cargo:hello")
    );
}
