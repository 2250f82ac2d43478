//! Boots a LinuxKit image whose init is this workspace's `linuxkit-init` in QEMU (TCG, one
//! CPU, Debian's kernel through PVH) and checks from the serial console what PID 1 did:
//! onboot order and failure handling, service capabilities, mounts, namespaces and readonly
//! root, restart of a killed service, a volume, a bind mount from the host root, and
//! onshutdown at poweroff.
//!
//! The image is built with the real pipeline: local OCI layouts written by `linuxkit-local`
//! (init, kernel, busybox-static service image) -> `linuxkit_build::build_tar` ->
//! `linuxkit_output::tar_to_initrd`. Needs: qemu-system-x86, linux-image-amd64,
//! busybox-static, libseccomp-dev, kmod. Skipped only when CI is unset and QEMU is missing.

mod boot_support;

use boot_support::{boot, build_system, Console};

const DEFINITION: &str = r#"
kernel:
  image: linuxkit-local/kernel:test
  cmdline: "console=ttyS0 panic=-1 quiet linuxkit.onshutdown_timeout=3"
init:
  - linuxkit-local/init:test
volumes:
  - name: vol
onboot:
  - name: first
    image: linuxkit-local/busybox:test
    binds: ["vol:/data"]
    command: ["/bin/sh", "-c", "echo MARK onboot-first; echo volume-data > /data/hello"]
  - name: fails
    image: linuxkit-local/busybox:test
    command: ["/bin/sh", "-c", "echo MARK onboot-fails; exit 3"]
  - name: third
    image: linuxkit-local/busybox:test
    command: ["/bin/sh", "-c", "echo MARK onboot-third"]
  - name: ifaces
    image: linuxkit-local/busybox:test
    net: new
    runtime:
      interfaces:
        - name: vethc
          peer: vethh
      bindNS:
        net: /run/netns/iftest
    command: ["/bin/sh", "-c", "sed 's/^/MARK ifaces /' /proc/net/dev"]
  - name: ifcheck
    image: linuxkit-local/busybox:test
    net: /run/netns/iftest
    pid: host
    env: ["X=1"]
    command:
      - sh
      - -c
      - |
        echo "MARK ifcheck path $PATH"
        echo "MARK ifcheck ns $(cut -d: -f1 /proc/net/dev | tr -d ' ' | tail -n +3 | tr '\n' ' ')"
        echo "MARK ifcheck root $(cut -d: -f1 /proc/1/net/dev | tr -d ' ' | tail -n +3 | tr '\n' ' ')"
  - name: relative
    image: linuxkit-local/busybox:test
    binds: ["/srv/shared:shared-rel:ro"]
    mounts:
      - {type: tmpfs, source: tmpfs, destination: tmp-rel, options: [size=1m]}
    runtime:
      mounts:
        # As upstream's hostmount-writeable-overlay example: a relative destination is under
        # the container's root.
        - type: overlay
          source: overlay
          destination: writeable-srv
          options: ["rw", "lowerdir=/srv/shared", "upperdir=/run/relsrv/upper", "workdir=/run/relsrv/work"]
    command:
      - sh
      - -c
      - |
        echo "MARK relative bind $(cat /shared-rel/marker)"
        awk '$5 == "/tmp-rel" {print "MARK relative tmpfs " $9}' /proc/self/mountinfo
        echo "MARK relative overlay $(cat /writeable-srv/marker)"
        echo new > /writeable-srv/marker && echo "MARK relative overlay writable $(cat /writeable-srv/marker)"
onshutdown:
  - name: hang
    image: linuxkit-local/busybox:test
    command: ["/bin/sh", "-c", "echo MARK onshutdown-hang; exec sleep 1000"]
  - name: bye
    image: linuxkit-local/busybox:test
    command: ["/bin/sh", "-c", "echo MARK onshutdown-bye"]
services:
  - name: caps
    image: linuxkit-local/busybox:test
    readonly: true
    capabilities: [CAP_NET_ADMIN, CAP_SYS_TIME]
    net: new
    uts: new
    binds: ["/srv/shared:/shared:ro", "vol:/data"]
    command:
      - /bin/sh
      - -c
      - |
        grep CapEff /proc/self/status | sed 's/^/MARK caps /'
        echo "MARK caps pid=$$"
        for n in net uts pid mnt; do echo "MARK caps ns $n $(readlink /proc/self/ns/$n)"; done
        awk '$5 == "/" {print "MARK caps rootopts " $6}' /proc/self/mountinfo
        awk '$5 == "/shared" {print "MARK caps sharedopts " $6}' /proc/self/mountinfo
        touch /rootfs-write 2>/dev/null && echo "MARK caps root writable" || echo "MARK caps root readonly"
        echo "MARK caps shared $(cat /shared/marker)"
        echo "MARK caps volume $(cat /data/hello)"
        trap 'echo MARK caps-term; exit 0' TERM
        while true; do sleep 1; done
  - name: victim
    image: linuxkit-local/busybox:test
    command: ["/bin/sh", "-c", "echo MARK victim-start; exec sleep 12345"]
  - name: zz-driver
    image: linuxkit-local/busybox:test
    pid: host
    capabilities: [CAP_KILL]
    command:
      - /bin/sh
      - -c
      - |
        for n in net uts pid mnt; do echo "MARK host ns $n $(readlink /proc/self/ns/$n)"; done
        sleep 2
        for p in /proc/[0-9]*; do
          if [ "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" = "sleep 12345 " ]; then
            echo "MARK killing ${p#/proc/}"; kill -9 ${p#/proc/}
          fi
        done
        sleep 3
        echo MARK poweroff
        kill -USR2 1
        sleep 100
files:
  - path: srv/shared/marker
    contents: "from-host-root"
    mode: "0644"
"#;

fn ns(console: &Console, who: &str, kind: &str) -> String {
    let prefix = format!("MARK {who} ns {kind} ");
    console
        .find(&prefix)
        .map(|l| {
            l[l.find(&prefix).map_or(0, |i| i + prefix.len())..]
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| panic!("no {prefix:?} line:\n{}", console.text()))
}

#[test]
fn boot_onboot_services_and_shutdown() {
    let Some(system) = build_system("full", DEFINITION) else {
        return;
    };
    let console = boot(&system, 240);
    let text = console.text();

    // onboot runs in order, a failing onboot does not stop the boot.
    let order = console.positions(&[
        "MARK onboot-first",
        "MARK onboot-fails",
        "MARK onboot-third",
    ]);
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "onboot out of order:\n{text}"
    );
    assert!(text.contains("onboot fails exited with status 3"), "{text}");
    assert!(
        console.find("first: MARK onboot-first").is_some(),
        "output is prefixed with the name:\n{text}"
    );

    // Capabilities exactly as configured: CAP_NET_ADMIN (12) and CAP_SYS_TIME (25).
    assert!(
        console
            .find("MARK caps CapEff:\t0000000002001000")
            .is_some(),
        "{text}"
    );
    // New pid namespace: the shell is PID 1 in it.
    assert!(console.find("MARK caps pid=1").is_some(), "{text}");
    // Readonly root, read-only bind from the host root, the volume written by onboot.
    let rootopts = console
        .find("MARK caps rootopts ")
        .expect("root mount line");
    assert!(rootopts.contains("rootopts ro"), "{rootopts}");
    assert!(console.find("MARK caps root readonly").is_some(), "{text}");
    let shared = console
        .find("MARK caps sharedopts ")
        .expect("bind mount line");
    assert!(shared.contains("sharedopts ro"), "{shared}");
    assert!(
        console.find("MARK caps shared from-host-root").is_some(),
        "{text}"
    );
    assert!(
        console.find("MARK caps volume volume-data").is_some(),
        "{text}"
    );
    // Relative destinations resolve under the container's root, as runc and upstream's init
    // do: a bind and a tmpfs mount in config.json, an overlay in runtime.json.
    assert!(
        console.find("MARK relative bind from-host-root").is_some(),
        "{text}"
    );
    assert!(
        console.find("MARK relative tmpfs tmpfs").is_some(),
        "{text}"
    );
    assert!(
        console
            .find("MARK relative overlay from-host-root")
            .is_some(),
        "{text}"
    );
    assert!(
        console.find("MARK relative overlay writable new").is_some(),
        "{text}"
    );
    // Namespaces: net/uts/pid/mnt new for caps; the driver shares the host's pid and net.
    for kind in ["net", "uts", "pid", "mnt"] {
        assert_ne!(
            ns(&console, "caps", kind),
            ns(&console, "host", kind),
            "{kind} namespace"
        );
    }

    // A killed service is restarted.
    assert!(console.find("MARK killing").is_some(), "{text}");
    assert!(
        console.count("MARK victim-start") >= 2,
        "victim not restarted:\n{text}"
    );
    assert!(
        text.contains("service victim killed by SIGKILL; restarting"),
        "{text}"
    );

    // runtime.json interfaces and bindNS: the veth end is in the container's namespace (seen
    // again through the bound namespace by a later container), its peer in the root one.
    let line = |prefix: &str| {
        console
            .find(prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{text}"))
            .to_string()
    };
    assert!(text.contains("created interface vethc type veth"), "{text}");
    assert!(
        console
            .lines
            .iter()
            .any(|(_, l)| l.contains("MARK ifaces") && l.contains("vethc:")),
        "{text}"
    );
    let ns_ifaces = line("MARK ifcheck ns ");
    assert!(
        ns_ifaces.contains("vethc") && !ns_ifaces.contains("vethh"),
        "{ns_ifaces}"
    );
    let root_ifaces = line("MARK ifcheck root ");
    assert!(
        root_ifaces.contains("vethh") && !root_ifaces.contains("vethc"),
        "{root_ifaces}"
    );
    // An env without PATH gets containerd's default, so a bare command name is found.
    assert!(
        line("MARK ifcheck path ")
            .ends_with("path /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{text}"
    );

    // Shutdown: services are stopped (caps got SIGTERM), onshutdown runs (a hung one is killed
    // after linuxkit.onshutdown_timeout), QEMU exits.
    assert!(text.contains("onshutdown hang killed by SIGKILL"), "{text}");
    let order = console.positions(&[
        "MARK poweroff",
        "MARK caps-term",
        "MARK onshutdown-hang",
        "MARK onshutdown-bye",
    ]);
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "shutdown out of order:\n{text}"
    );
    assert!(console.exited, "QEMU did not exit after poweroff:\n{text}");
}
