//! Measures `build_tar` on the benchmark input of `<shared>/bench` (see its README):
//!
//! ```sh
//! python3 ../shared/bench/make_bench_images.py /tmp/bench
//! cargo run --release -p linuxkit-build --example bench_tar -- /tmp/bench [runs]
//! ```
//!
//! Every layout directory under the given directory is an image source; `bench.yml` is built
//! `runs` times (default 3) into a temporary file. Prints wall time per run, the median, the
//! output size and the process's peak RSS (`VmHWM`).

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use linuxkit_build::{build_tar, BuildOptions};
use linuxkit_oci::layout::{LayoutSet, OciLayout};
use linuxkit_oci::store::Platform;

fn peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: bench_tar <bench-dir> [runs]")?);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let mut layouts = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.join("oci-layout").is_file() {
            layouts.push(OciLayout::open(p, true)?);
        }
    }
    let images = LayoutSet::new(layouts);
    let image: linuxkit_dsl::Image =
        serde_norway::from_str(&fs::read_to_string(dir.join("bench.yml"))?)?;
    let mut opts = BuildOptions::new(Platform::linux("amd64"));
    opts.files_base = dir.clone();
    let mut times = Vec::new();
    let mut size = 0;
    for run in 0..runs {
        let out = tempfile::NamedTempFile::new_in(&dir)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, out.as_file());
        let start = Instant::now();
        let report = build_tar(&image, &images, &opts, &mut w)?;
        std::io::Write::flush(&mut w)?;
        let t = start.elapsed().as_secs_f64();
        size = report.bytes;
        println!("run {}: {t:.3} s, {} entries", run + 1, report.entries);
        times.push(t);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "median {:.3} s over {runs} runs; tar {:.1} MiB; peak RSS {:.1} MiB",
        times[times.len() / 2],
        size as f64 / 1048576.0,
        peak_rss_kib().unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}
