//! Test support: one Debian `docker-registry` per test binary, the conformance fixture images
//! pushed into it, and a fault-injecting loopback HTTP proxy.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use linuxkit_resolve::{ProgressMode, Resolver, ResolverOptions, RetryPolicy};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// The fixture images of the conformance corpus (name, layout dir).
pub fn fixtures_dir() -> PathBuf {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    ws.join("../shared/conformance/images")
}

pub const FIXTURES: &[&str] = &[
    "badlabel",
    "base",
    "init",
    "init-extra",
    "kernel",
    "labelled",
    "layered",
    "multiarch",
    "passwd",
    "plain",
    "privileged",
];

/// The shared registry: its port, and the guard that stops it when the test binary exits.
pub struct TestRegistry {
    pub port: u16,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Returns the shared registry with all fixtures pushed, or `None` (after printing why) when
/// `docker-registry` is missing and `CI` is unset. In CI a missing registry fails the test.
pub fn registry() -> Option<&'static TestRegistry> {
    static REG: OnceLock<Option<TestRegistry>> = OnceLock::new();
    REG.get_or_init(|| {
        if !Path::new(REGISTRY_BIN).exists() {
            if std::env::var_os("CI").is_some() {
                panic!("{REGISTRY_BIN} is required in CI (apt-get install -y docker-registry)");
            }
            eprintln!(
                "SKIPPED: {REGISTRY_BIN} not found (apt-get install -y docker-registry); \
                 registry tests do not run"
            );
            return None;
        }
        let reg = start_registry();
        push_fixtures(&reg);
        Some(reg)
    })
    .as_ref()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start_registry() -> TestRegistry {
    let dir = tempfile::tempdir().expect("tempdir");
    for _ in 0..5 {
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        // The shell keeps the registry alive while our stdin is open: when the test binary
        // exits (even on a panic), the pipe closes and the registry is killed.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{REGISTRY_BIN} serve '{}' >'{}' 2>&1 & pid=$!; read _ignored; kill $pid",
                config.display(),
                dir.path().join("registry.log").display()
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if http_status(&format!("127.0.0.1:{port}"), "/v2/") == Some(200) {
                return TestRegistry {
                    port,
                    _child: child,
                    _dir: dir,
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
    panic!("docker-registry did not start; log:\n{log}");
}

/// A minimal HTTP/1.1 GET returning the status code.
pub fn http_status(host: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The names in a resolver's cache index, in order.
pub fn cache_names(r: &Resolver) -> Vec<String> {
    r.cache()
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

/// Options for a quiet resolver on `cache`.
pub fn options(cache: &Path) -> ResolverOptions {
    ResolverOptions {
        cache_dir: Some(cache.to_path_buf()),
        progress: ProgressMode::Quiet,
        retry: RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(20),
        },
        timeout: Some(Duration::from_secs(10)),
        docker_config: Some(cache.join("no-docker-config.json")),
        ..ResolverOptions::default()
    }
}

/// Imports every fixture layout into a scratch cache and pushes it to the registry with the
/// resolver's own push, under `fixture/<name>:v1`.
fn push_fixtures(reg: &TestRegistry) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let r = Resolver::new(options(&scratch.path().join("cache"))).expect("resolver");
    for name in FIXTURES {
        let names = r
            .cache()
            .import(&fixtures_dir().join(name))
            .unwrap_or_else(|e| panic!("import {name}: {e}"));
        assert!(!names.is_empty(), "{name}: nothing imported");
        let local = format!("127.0.0.1:5000/fixture/{name}:v1");
        let remote = format!("{}/fixture/{name}:v1", reg.host());
        r.push(&local, Some(&remote))
            .unwrap_or_else(|e| panic!("push {name}: {e}"));
    }
}

/// What the proxy does to matching requests.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and a small body.
    Status(u16, &'static str),
    /// Forward, but send only half of the body (keeping the announced Content-Length).
    Truncate,
    /// Forward with the body's bytes flipped (same length).
    Corrupt,
    /// Wait this long before forwarding.
    Delay(Duration),
    /// Close the connection without an answer (the registry went away).
    Close,
}

#[derive(Debug)]
struct Rule {
    path_contains: &'static str,
    fault: Fault,
    /// Matching requests let through before the fault applies.
    skip: usize,
    remaining: usize,
}

/// A loopback HTTP proxy in front of the registry that injects faults.
pub struct FaultProxy {
    pub port: u16,
    rules: Arc<Mutex<Vec<Rule>>>,
    injected: Arc<Mutex<usize>>,
}

impl FaultProxy {
    pub fn start(upstream: String) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let injected: Arc<Mutex<usize>> = Arc::default();
        let (r2, i2) = (rules.clone(), injected.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (rules, injected, upstream) = (r2.clone(), i2.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &rules, &injected);
                });
            }
        });
        FaultProxy {
            port,
            rules,
            injected,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to the next `times` requests whose path contains `path_contains`.
    pub fn add(&self, path_contains: &'static str, fault: Fault, times: usize) {
        self.add_after(path_contains, fault, 0, times);
    }

    /// Applies `fault` to `times` requests whose path contains `path_contains`, after letting
    /// the first `skip` of them through.
    pub fn add_after(&self, path_contains: &'static str, fault: Fault, skip: usize, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            path_contains,
            fault,
            skip,
            remaining: times,
        });
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        *self.injected.lock().unwrap()
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    rules: &Mutex<Vec<Rule>>,
    injected: &Mutex<usize>,
) -> std::io::Result<()> {
    loop {
        // Read one request head (+ body by Content-Length).
        let Some((head, body)) = read_message(&mut client, true)? else {
            return Ok(());
        };
        let head_s = String::from_utf8_lossy(&head).to_string();
        let path = head_s.split_whitespace().nth(1).unwrap_or("").to_string();
        let is_head = head_s.starts_with("HEAD ");
        let fault = {
            let mut rules = rules.lock().unwrap();
            rules
                .iter_mut()
                .find(|r| r.remaining > 0 && path.contains(r.path_contains))
                .and_then(|r| {
                    if r.skip > 0 {
                        r.skip -= 1;
                        return None;
                    }
                    r.remaining -= 1;
                    Some(r.fault.clone())
                })
        };
        if fault.is_some() {
            *injected.lock().unwrap() += 1;
        }
        if let Some(Fault::Status(code, body)) = &fault {
            write!(
                client,
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nWww-Authenticate: Basic realm=\"test\"\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        if let Some(Fault::Close) = &fault {
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        if let Some(Fault::Delay(d)) = &fault {
            std::thread::sleep(*d);
        }
        let mut up = TcpStream::connect(upstream)?;
        up.write_all(&close_head(&head_s).into_bytes())?;
        up.write_all(&body)?;
        let Some((rhead, mut rbody)) = read_message_response(&mut up, is_head)? else {
            return Ok(());
        };
        match fault {
            Some(Fault::Truncate) => {
                client.write_all(&rhead)?;
                client.write_all(&rbody[..rbody.len() / 2])?;
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Corrupt) => {
                for b in rbody.iter_mut() {
                    *b ^= 0x5a;
                }
            }
            _ => {}
        }
        client.write_all(&rhead)?;
        client.write_all(&rbody)?;
    }
}

/// The request head with `Connection: close` (one upstream connection per request).
fn close_head(head: &str) -> String {
    let mut out = String::new();
    for line in head.trim_end_matches("\r\n").split("\r\n") {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

fn read_message(s: &mut TcpStream, request: bool) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = buf[..head_end].to_vec();
    let mut body = buf[head_end..].to_vec();
    let want = content_length(&head).unwrap_or(0);
    let _ = request;
    while body.len() < want {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, body)))
}

fn read_message_response(
    s: &mut TcpStream,
    is_head: bool,
) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = buf[..head_end].to_vec();
    let mut body = buf[head_end..].to_vec();
    if is_head {
        return Ok(Some((head, Vec::new())));
    }
    let head_s = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status_no_body = head_s.starts_with("http/1.1 204") || head_s.starts_with("http/1.1 304");
    match content_length(&head) {
        Some(want) => {
            while body.len() < want {
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None if status_no_body => {}
        None => {
            // Chunked or close-delimited: the registry answers small bodies with a length;
            // read to the end otherwise (we asked for Connection: close below).
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let _ = s.read_to_end(&mut body);
        }
    }
    Ok(Some((head, body)))
}
