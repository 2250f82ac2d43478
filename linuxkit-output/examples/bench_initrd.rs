//! Measures `kernel+initrd` conversion: time per thread count and peak memory.
//!
//! `cargo run --release -p linuxkit-output --example bench_initrd -- ROOTFS.tar [OUTDIR [gzip|zstd|none]]`
//! (any tar works; `tar cf /tmp/usr.tar -C / usr/lib/x86_64-linux-gnu` makes a real one).

use std::path::PathBuf;
use std::time::Instant;

use linuxkit_output::{write_outputs, Compression, Compressor, Format, OutputOptions};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let tar = PathBuf::from(
        args.next()
            .ok_or("usage: bench_initrd ROOTFS.tar [OUTDIR [gzip|zstd|none]]")?,
    );
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let compressor: Compressor = args.next().as_deref().unwrap_or("gzip").parse()?;
    let size = std::fs::metadata(&tar)?.len();
    for threads in [1, 2] {
        let opts = OutputOptions {
            compression: Compression {
                compressor,
                level: 6,
                threads,
                cache: None,
            },
            ..OutputOptions::default()
        };
        let start = Instant::now();
        let out = write_outputs(&tar, &[Format::KernelInitrd], &dir, "bench", &opts)?;
        let secs = start.elapsed().as_secs_f64();
        let initrd = std::fs::metadata(&out[0])?.len();
        println!(
            "{compressor} threads={threads}: {:.1} MiB tar -> {:.1} MiB initrd in {secs:.2} s; peak RSS {} MiB",
            size as f64 / 1048576.0,
            initrd as f64 / 1048576.0,
            peak_rss_kib() / 1024
        );
    }
    Ok(())
}
