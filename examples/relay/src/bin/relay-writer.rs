//! `relay-writer [MESSAGE]`: writes MESSAGE (default: a greeting with the boot's uptime) to
//! `/data/message`, atomically (temporary file + rename), for `relay-reader`.

use std::io::Write;

fn main() {
    let message = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "hello from the onboot relay-writer".to_string());
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create("/data/.message.tmp")?;
        writeln!(f, "{message}")?;
        f.sync_all()?;
        std::fs::rename("/data/.message.tmp", "/data/message")
    })();
    match result {
        Ok(()) => println!("relay-writer: wrote {message:?} to /data/message"),
        Err(e) => {
            eprintln!("relay-writer: cannot write /data/message: {e}");
            std::process::exit(1);
        }
    }
}
