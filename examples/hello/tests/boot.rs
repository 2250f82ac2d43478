//! Boots the `hello` demo image under QEMU (TCG when there is no KVM) from `cargo test` with
//! `linuxkit-testing`: the onboot configures the network, the service greets on the console,
//! answers HTTP through a published port, and powers the machine off after that one request.
//!
//! Needs qemu-system-x86, linux-image-amd64 and kmod (scripts/setup); skipped only when CI is
//! unset and QEMU is missing.

#[allow(dead_code)]
#[path = "../examples/hello-image.rs"]
mod hello_image;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use linuxkit_testing::{qemu_present, BootOptions, Harness};

fn http_get(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: guest\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

#[test]
fn hello_boots_greets_serves_http_and_powers_off() {
    if !qemu_present() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let harness = Harness::new(env!("CARGO_MANIFEST_DIR")).expect("workspace");
    let opts = BootOptions {
        publish: vec![(port, 8080)],
        ..BootOptions::default()
    };
    let mut vm = harness
        .boot(&hello_image::hello_demo(), "hello-demo", &opts)
        .unwrap_or_else(|e| panic!("{e}"));
    let wait = |vm: &mut linuxkit_testing::Vm, line: &str, secs: u64| {
        vm.wait_for(line, Duration::from_secs(secs))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    wait(&mut vm, "net-up: eth0 10.0.2.15/24 via 10.0.2.2", 180);
    wait(
        &mut vm,
        "Hello from cargo-linuxkit! Serving HTTP on 0.0.0.0:8080",
        60,
    );

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

    wait(&mut vm, "hello: GET / HTTP/1.1 from 10.0.2.2", 30);
    let status = vm
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status.success(),
        "QEMU exit status {status}:\n{}",
        vm.console_text()
    );
    assert!(
        vm.console_text().contains("reboot: Power down"),
        "{}",
        vm.console_text()
    );
}
