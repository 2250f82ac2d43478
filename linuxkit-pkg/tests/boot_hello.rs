//! End to end, offline: `examples/hello` is evaluated (its definition target prints the image
//! model), every local image it names is built from this workspace by `prepare` (kernel from
//! Debian's files with virtio_net, the static init, the `net-up` onboot and the `hello`
//! service as static binaries), assembled by `linuxkit_build::build_tar` through a provider
//! that has no registry at all, written as kernel+initrd by `linuxkit_output::write_outputs`,
//! and booted by `linuxkit_run`'s QEMU command line (TCG, one CPU, user networking with a
//! published port). The test sees the greeting on the console, gets it over HTTP through the
//! published port, and sees the guest power off cleanly (the test build of the service asks
//! PID 1 to power off after one request).
//!
//! Needs qemu-system-x86, linux-image-amd64, kmod, libseccomp-dev. Skipped only when CI is
//! unset and QEMU is missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use linuxkit_oci::store::{ImageProvider, Platform, ResolvedImage, StoreError};
use linuxkit_pkg::{prepare, LocalProvider, PrepareOptions};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// No registry: any non-local reference is an error (proves the build is offline).
struct NoRegistry;

impl ImageProvider for NoRegistry {
    fn resolve(&self, reference: &str, _: &Platform) -> Result<ResolvedImage, StoreError> {
        Err(StoreError::NotFound {
            reference: reference.to_string(),
            location: "no registry in this test".to_string(),
        })
    }
}

fn qemu_present() -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|p| p.join("qemu-system-x86_64").is_file())
    });
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "qemu-system-x86_64 is required in CI (apt-get install qemu-system-x86)"
        );
        eprintln!("skipping: qemu-system-x86_64 not installed");
    }
    found
}

/// Runs the definition target `example` of `package` and returns its image model.
fn evaluate(ws: &Path, package: &str, example: &str, name: &str) -> linuxkit_dsl::Image {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(ws)
        .args([
            "run",
            "--offline",
            "--quiet",
            "-p",
            package,
            "--example",
            example,
        ])
        .env("CARGO_LINUXKIT_EMIT", "json")
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "{example} failed: {}", out.status);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("emit JSON");
    assert_eq!(doc["images"][0]["name"], name);
    serde_json::from_value(doc["images"][0]["image"].clone()).expect("image model")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http_get(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: guest\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

#[test]
fn hello_builds_offline_boots_and_serves_http() {
    if !qemu_present() {
        return;
    }
    let ws = workspace();
    let mut image = evaluate(&ws, "hello", "hello-image", "hello");
    let refs: Vec<String> = image
        .kernel
        .iter()
        .map(|k| k.image.clone())
        .chain(image.init.iter().cloned())
        .chain(image.onboot.iter().map(|c| c.image.clone()))
        .chain(image.services.iter().map(|c| c.image.clone()))
        .collect();
    assert!(refs.contains(&"cargo:hello".to_string()), "{refs:?}");

    // The test's variant of the service: power off after one request.
    let svc = image
        .services
        .iter_mut()
        .find(|c| c.name == "hello")
        .expect("hello service");
    svc.pid = Some("host".into());
    svc.capabilities = Some(vec!["CAP_NET_BIND_SERVICE".into(), "CAP_KILL".into()]);
    // libcontainer needs PATH in the environment even for an absolute command.
    svc.env = Some(vec![
        "PATH=/usr/bin:/bin".into(),
        "HELLO_POWEROFF_AFTER=1".into(),
    ]);

    let scratch = ws.join("target").join("linuxkit-pkg-e2e");
    let cache = scratch.join("cache");
    let opts = PrepareOptions {
        offline: true,
        ..PrepareOptions::default()
    };
    let prepared = prepare(&refs, &ws, &cache, &opts).expect("prepare local images");
    assert_eq!(prepared.len(), refs.len());

    let provider = LocalProvider::new(&cache, &NoRegistry).expect("open cache");
    let out_dir = scratch.join("out");
    std::fs::create_dir_all(&out_dir).expect("out dir");
    let tar_path = out_dir.join("hello.tar");
    {
        let mut tar = std::io::BufWriter::new(std::fs::File::create(&tar_path).expect("tar"));
        linuxkit_build::build_tar(
            &image,
            &provider,
            &linuxkit_build::BuildOptions::new(Platform::linux("amd64")),
            &mut tar,
        )
        .expect("assemble");
        tar.flush().expect("flush tar");
    }
    linuxkit_output::write_outputs(
        &tar_path,
        &[linuxkit_output::Format::KernelInitrd],
        &out_dir,
        "hello",
        &linuxkit_output::OutputOptions::default(),
    )
    .expect("kernel+initrd");

    let port = free_port();
    let target = linuxkit_run::detect(&out_dir.join("hello")).expect("boot target");
    let run = linuxkit_run::RunOptions {
        accel: linuxkit_run::Accel::Tcg,
        cpus: 1,
        publish: vec![linuxkit_run::PortForward {
            host: port,
            guest: 8080,
            protocol: linuxkit_run::Protocol::Tcp,
        }],
        state_dir: Some(out_dir.join("hello-state")),
        ..linuxkit_run::RunOptions::default()
    };
    let plan = linuxkit_run::qemu::prepare(&target, &run).expect("qemu plan");
    let mut child = Command::new(&plan.program)
        .args(&plan.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start qemu");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let l = String::from_utf8_lossy(&line).trim_end().to_string();
            if tx.send(l).is_err() {
                break;
            }
        }
    });

    let mut console: Vec<String> = Vec::new();
    let text = |c: &Vec<String>| c.join("\n");
    // 1. The greeting on the console.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut greeted = false;
    let mut exited = false;
    while Instant::now() < deadline && !greeted {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                greeted = l.contains("Hello from cargo-linuxkit! Serving HTTP on 0.0.0.0:8080");
                console.push(l);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                exited = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    if !greeted {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no greeting (exited: {exited}):\n{}", text(&console));
    }
    assert!(
        console
            .iter()
            .any(|l| l.contains("net-up: eth0 10.0.2.15/24 via 10.0.2.2")),
        "{}",
        text(&console)
    );

    // 2. HTTP through the published port.
    let mut response = Err(std::io::Error::other("not tried"));
    for _ in 0..20 {
        response = http_get(port);
        if response.as_ref().is_ok_and(|r| !r.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let response = response.expect("HTTP GET through the published port");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response.ends_with("Hello from cargo-linuxkit!\n"),
        "{response}"
    );

    // 3. The request is logged, then a clean poweroff: QEMU exits by itself with success.
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => console.push(l),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                exited = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait qemu");
    let _ = reader.join();
    while let Ok(l) = rx.try_recv() {
        console.push(l);
    }
    let all = text(&console);
    assert!(exited, "QEMU did not exit after poweroff:\n{all}");
    assert!(status.success(), "QEMU exit status {status}:\n{all}");
    assert!(all.contains("hello: GET / HTTP/1.1 from 10.0.2.2"), "{all}");
    assert!(all.contains("reboot: Power down"), "{all}");
}

/// Builds `image` offline into kernel+initrd under target/linuxkit-pkg-e2e/out/<name>.
fn build_offline(ws: &Path, image: &linuxkit_dsl::Image, name: &str) -> PathBuf {
    let refs: Vec<String> = image
        .kernel
        .iter()
        .map(|k| k.image.clone())
        .chain(image.init.iter().cloned())
        .chain(image.onboot.iter().map(|c| c.image.clone()))
        .chain(image.services.iter().map(|c| c.image.clone()))
        .collect();
    let scratch = ws.join("target").join("linuxkit-pkg-e2e");
    let cache = scratch.join("cache");
    let opts = PrepareOptions {
        offline: true,
        ..PrepareOptions::default()
    };
    prepare(&refs, ws, &cache, &opts).expect("prepare local images");
    let provider = LocalProvider::new(&cache, &NoRegistry).expect("open cache");
    let out_dir = scratch.join("out");
    std::fs::create_dir_all(&out_dir).expect("out dir");
    let tar_path = out_dir.join(format!("{name}.tar"));
    {
        let mut tar = std::io::BufWriter::new(std::fs::File::create(&tar_path).expect("tar"));
        linuxkit_build::build_tar(
            image,
            &provider,
            &linuxkit_build::BuildOptions::new(Platform::linux("amd64")),
            &mut tar,
        )
        .expect("assemble");
        tar.flush().expect("flush tar");
    }
    linuxkit_output::write_outputs(
        &tar_path,
        &[linuxkit_output::Format::KernelInitrd],
        &out_dir,
        name,
        &linuxkit_output::OutputOptions::default(),
    )
    .expect("kernel+initrd");
    out_dir.join(name)
}

#[test]
fn relay_onboot_hands_a_file_to_a_service_through_a_volume() {
    if !qemu_present() {
        return;
    }
    let ws = workspace();
    let image = evaluate(&ws, "relay", "relay-image", "relay");
    let prefix = build_offline(&ws, &image, "relay");
    let target = linuxkit_run::detect(&prefix).expect("boot target");
    let run = linuxkit_run::RunOptions {
        accel: linuxkit_run::Accel::Tcg,
        cpus: 1,
        networking: linuxkit_run::Networking::None,
        state_dir: Some(prefix.with_file_name("relay-state")),
        ..linuxkit_run::RunOptions::default()
    };
    let plan = linuxkit_run::qemu::prepare(&target, &run).expect("qemu plan");
    let mut child = Command::new(&plan.program)
        .args(&plan.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start qemu");
    let stdout = child.stdout.take().expect("stdout");
    let mut console = Vec::new();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if tx
                .send(String::from_utf8_lossy(&line).trim_end().to_string())
                .is_err()
            {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut received = false;
    while Instant::now() < deadline && !received {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                received = l.contains("relay-reader: received: hello from the onboot relay-writer");
                console.push(l);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(rx);
    let _ = reader.join();
    let all = console.join("\n");
    assert!(received, "{all}");
    assert!(
        all.contains("relay-writer: wrote \"hello from the onboot relay-writer\" to /data/message"),
        "{all}"
    );
}
