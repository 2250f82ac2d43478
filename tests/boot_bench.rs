//! Benchmark (not a test; ignored by default): how much guest time `linuxkit-init` adds before
//! the first service prints, against a baseline initramfs whose /init is a busybox script that
//! prints a marker. Both are built with the same pipeline, kernel and QEMU settings (TCG, one
//! CPU, the extracted vmlinux through PVH).
//!
//! Run: `cargo test --test boot_bench -- --ignored --nocapture`
//!
//! The kernel's own boot time varies by hundreds of milliseconds from run to run on a busy
//! host, so each boot is measured from the kernel's `Run /init as init process` (its
//! `printk.time` stamp) to the marker (the guest's `/proc/uptime` when it was printed).
//! Baseline and init boots alternate, and the medians are compared. A second measurement
//! with `-icount shift=0,sleep=off` (one guest nanosecond per instruction) is deterministic:
//! it counts the work done, independent of host load, but not TCG's translation and
//! page-fault costs. The init's own log of the last boot gives the per-phase breakdown.

mod boot_support;

use boot_support::{boot_with, build_system, local_images, qemu, Console, System, INIT_REF};
use linuxkit_local::busybox::{add_busybox, host_busybox};
use linuxkit_local::image::{write_image, ImageConfig};
use linuxkit_local::layer::Layer;
use linuxkit_oci::store::Platform;

const BOOTS: usize = 5;

const WITH_INIT: &str = r#"
kernel:
  image: linuxkit-local/kernel:test
  cmdline: "console=ttyS0 panic=-1 printk.time=1"
init:
  - linuxkit-local/init:test
services:
  - name: first
    image: linuxkit-local/busybox:test
    command: ["/bin/sh", "-c", "read up rest < /proc/uptime; echo MARK-FIRST $up; kill -USR2 1 2>/dev/null; sleep 100"]
    pid: host
    capabilities: [CAP_KILL]
"#;

const BASELINE: &str = r#"
kernel:
  image: linuxkit-local/kernel:test
  cmdline: "console=ttyS0 panic=-1 printk.time=1"
init:
  - linuxkit-local/baseline:test
"#;

const BASELINE_INIT: &str = "#!/bin/sh
/bin/mount -t devtmpfs dev /dev
/bin/mount -t proc proc /proc
read up rest < /proc/uptime
echo MARK-FIRST $up > /dev/console
/bin/poweroff -f
";

const ICOUNT: &[&str] = &["-icount", "shift=0,sleep=off"];

/// Guest seconds from the kernel starting /init to the marker.
fn from_init_to_marker(c: &Console) -> f64 {
    let run = c
        .find("Run /init as init process")
        .unwrap_or_else(|| panic!("no 'Run /init' line (printk.time=1?):\n{}", c.text()));
    let run: f64 = run
        .trim_start_matches('[')
        .split(']')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("bad printk stamp {run:?}"));
    let line = c
        .find("MARK-FIRST")
        .unwrap_or_else(|| panic!("no marker:\n{}", c.text()));
    let up: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("bad marker line {line:?}"));
    up - run
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(s: f64) -> String {
    format!("{:.0} ms", s * 1000.0)
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn init_overhead_to_first_service_line() {
    if qemu().is_none() {
        return;
    }
    let (layout, init_size) = local_images();
    let bb = host_busybox().expect("busybox-static");
    let mut l = Layer::new();
    add_busybox(&mut l, &bb).expect("busybox");
    l.bytes("init", 0o755, BASELINE_INIT).expect("init");
    for d in ["dev", "proc"] {
        l.dir(d, 0o755).expect("dir");
    }
    write_image(
        &layout,
        "linuxkit-local/baseline:test",
        &Platform::linux("amd64"),
        &ImageConfig::default(),
        &l,
    )
    .expect("baseline image");
    let with_init = build_system("bench-init", WITH_INIT).expect("system");
    let baseline = build_system("bench-baseline", BASELINE).expect("system");

    let (mut base, mut init) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..BOOTS {
        base.push(from_init_to_marker(&boot_with(&baseline, 120, &[])));
        let c = boot_with(&with_init, 120, &[]);
        init.push(from_init_to_marker(&c));
        last = Some(c);
    }
    let base_ic = from_init_to_marker(&boot_with(&baseline, 120, ICOUNT));
    let init_ic = from_init_to_marker(&boot_with(&with_init, 120, ICOUNT));

    let initrd = |s: &System| std::fs::metadata(&s.initrd).map(|m| m.len()).unwrap_or(0);
    println!("init image {INIT_REF}: /init is {init_size} bytes");
    println!(
        "initrd sizes: baseline {} bytes, with init {} bytes",
        initrd(&baseline),
        initrd(&with_init)
    );
    let fmt = |v: &[f64]| v.iter().map(|&x| ms(x)).collect::<Vec<_>>().join(", ");
    println!("TCG, /init start to marker (guest time):");
    println!(
        "  baseline     : median {} ({})",
        ms(median(base.clone())),
        fmt(&base)
    );
    println!(
        "  linuxkit-init: median {} ({})",
        ms(median(init.clone())),
        fmt(&init)
    );
    println!(
        "  init overhead: {}",
        ms(median(init.clone()) - median(base.clone()))
    );
    println!(
        "icount (1 ns per instruction): baseline {}, linuxkit-init {}, overhead {}",
        ms(base_ic),
        ms(init_ic),
        ms(init_ic - base_ic)
    );
    if let Some(c) = last {
        println!("phases (last TCG boot):");
        for l in c.lines.iter().map(|(_, l)| l).filter(|l| {
            l.contains("Run /init") || l.starts_with("linuxkit-init") || l.contains("MARK-FIRST")
        }) {
            println!("  {l}");
        }
    }
}
