//! `relay-reader`: waits for `/data/message` (written by the onboot `relay-writer`), prints
//! it, then stays up (a service).

use std::time::Duration;

fn main() {
    let mut waited = 0u32;
    let message = loop {
        match std::fs::read_to_string("/data/message") {
            Ok(m) => break m,
            Err(e) => {
                if waited.is_multiple_of(50) {
                    println!("relay-reader: waiting for /data/message ({e})");
                }
                waited += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    println!("relay-reader: received: {}", message.trim_end());
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
