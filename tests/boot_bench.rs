//! Benchmark (not a test; ignored by default): how much time `linuxkit-init` adds before the
//! first service prints, against a baseline initramfs whose /init is a busybox script that
//! prints a marker. Both are built with the same pipeline, kernel and QEMU settings.
//!
//! Run: `cargo test --release --test boot_bench -- --ignored --nocapture`
//! Prints, per variant, the median over a few boots of the host time from QEMU start to the
//! marker and the guest's `/proc/uptime` when the marker was printed.

mod boot_support;

use boot_support::{boot, build_system, cache_dir, local_images, qemu, System, INIT_REF};
use linuxkit_local::busybox::{add_busybox, host_busybox};
use linuxkit_local::image::{write_image, ImageConfig};
use linuxkit_local::layer::Layer;
use linuxkit_oci::store::Platform;

const BOOTS: usize = 3;

const WITH_INIT: &str = r#"
kernel:
  image: linuxkit-local/kernel:test
  cmdline: "console=ttyS0 panic=-1 quiet"
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
  cmdline: "console=ttyS0 panic=-1 quiet"
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

fn measure(system: &System) -> (f64, f64) {
    let mut host = Vec::new();
    let mut guest = Vec::new();
    for _ in 0..BOOTS {
        let c = boot(system, 120);
        let line = c
            .find("MARK-FIRST")
            .unwrap_or_else(|| panic!("no marker:\n{}", c.text()));
        let up: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("bad marker line {line:?}"));
        host.push(
            c.time_of("MARK-FIRST")
                .map(|t| t.as_secs_f64())
                .unwrap_or(0.0),
        );
        guest.push(up);
    }
    host.sort_by(f64::total_cmp);
    guest.sort_by(f64::total_cmp);
    (host[BOOTS / 2], guest[BOOTS / 2])
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
    let (bh, bg) = measure(&baseline);
    let (ih, ig) = measure(&with_init);
    let initrd = |s: &System| std::fs::metadata(&s.initrd).map(|m| m.len()).unwrap_or(0);
    println!("init image {INIT_REF}: /init is {init_size} bytes");
    println!(
        "initrd sizes: baseline {} bytes, with init {} bytes",
        initrd(&baseline),
        initrd(&with_init)
    );
    println!("baseline  : marker at {bh:.3} s host, {bg:.2} s guest uptime (median of {BOOTS})");
    println!("linuxkit-init: first service line at {ih:.3} s host, {ig:.2} s guest uptime");
    println!(
        "init overhead: {:.0} ms host, {:.0} ms guest",
        (ih - bh) * 1000.0,
        (ig - bg) * 1000.0
    );
    let _ = cache_dir();
}
