//! `hello`: prints a greeting, answers `GET /` over HTTP with it (port `$HELLO_PORT`, default
//! 8080) and logs each request on stdout. With `HELLO_POWEROFF_AFTER=N` it asks PID 1 to power
//! off (SIGUSR2, LinuxKit's convention) after N requests (needs `pid: host` and `CAP_KILL`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

const GREETING: &str = "Hello from cargo-linuxkit!";

fn handle(stream: TcpStream) -> std::io::Result<String> {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let request = request.trim().to_string();
    let (status, body) = if request.starts_with("GET / ") {
        ("200 OK", format!("{GREETING}\n"))
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    Ok(format!("{request} from {peer}: {status}"))
}

fn main() {
    let port = std::env::var("HELLO_PORT").unwrap_or_else(|_| "8080".to_string());
    let poweroff_after: Option<u64> = std::env::var("HELLO_POWEROFF_AFTER")
        .ok()
        .and_then(|n| n.parse().ok());
    let addr = format!("0.0.0.0:{port}");
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("{GREETING} Serving HTTP on {addr}");
    let mut served = 0u64;
    for stream in listener.incoming() {
        match stream.and_then(handle) {
            Ok(log) => {
                println!("hello: {log}");
                served += 1;
            }
            // A client that gave up before the answer does not count as served.
            Err(e) => println!("hello: request failed: {e}"),
        }
        if poweroff_after.is_some_and(|n| served >= n) {
            println!("hello: served {served} requests, powering off");
            // SAFETY: kill(2) with a constant pid and signal has no memory effects.
            unsafe {
                libc::kill(1, libc::SIGUSR2);
            }
        }
    }
}
