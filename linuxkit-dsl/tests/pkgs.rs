//! The catalogue against LinuxKit's own example files (`../shared/reference/linuxkit-examples`,
//! the oracle): every pinned reference is the one upstream uses, every catalogue call equals
//! the container upstream writes for that service, and importing the examples uses the
//! catalogue wherever it applies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use linuxkit_dsl::pkgs::versions::{self, Kind};
use linuxkit_dsl::pkgs::{self, MetadataProvider, Size, SwapCondition};
use linuxkit_dsl::{codegen, from_yaml_str, Container, Image};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/linuxkit-examples")
}

/// Every upstream example, by file stem.
fn upstream() -> BTreeMap<String, Image> {
    let dir = examples_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared reference data must be next to the repository)",
            dir.display()
        )
    });
    let mut out = BTreeMap::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "yml") {
            continue;
        }
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        let mut text = std::fs::read_to_string(&p).unwrap();
        // A comment line inside a block scalar that libyaml-based parsers reject.
        if name == "static-ip" {
            text = text
                .lines()
                .filter(|l| !l.starts_with("#      domain"))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        let image =
            from_yaml_str(&text, &p.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        out.insert(name, image);
    }
    assert!(out.len() >= 30, "{:?}", out.keys());
    out
}

fn containers(image: &Image) -> impl Iterator<Item = &Container> {
    image
        .onboot
        .iter()
        .chain(&image.services)
        .chain(&image.onshutdown)
}

/// Every image reference of the examples: kernels, init entries, containers.
fn references(images: &BTreeMap<String, Image>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for image in images.values() {
        out.extend(image.kernel.iter().map(|k| k.image.clone()));
        out.extend(image.init.iter().cloned());
        out.extend(containers(image).map(|c| c.image.clone()));
    }
    out
}

#[test]
fn every_pinned_reference_is_the_one_upstream_uses() {
    let used = references(&upstream());
    for p in versions::ALL {
        assert!(
            used.contains(p.reference),
            "pkgs::{} pins {}, which no upstream example uses",
            p.function,
            p.reference
        );
    }
    // And every linuxkit/ package upstream uses has a catalogue entry at that tag.
    for r in used.iter().filter(|r| r.starts_with("linuxkit/")) {
        assert!(
            versions::find_reference(r).is_some(),
            "{r} is used upstream but not in the catalogue"
        );
    }
}

/// Catalogue calls and what they must equal: a container upstream writes, exactly.
fn calls() -> Vec<(&'static str, Container)> {
    vec![
        ("sysctl()", pkgs::sysctl().into()),
        ("sysfs()", pkgs::sysfs().into()),
        ("rngd()", pkgs::rngd().into()),
        (
            "rngd().once().name(rngd1)",
            pkgs::rngd().once().name("rngd1").into(),
        ),
        ("dhcpcd()", pkgs::dhcpcd().into()),
        ("dhcpcd().once()", pkgs::dhcpcd().once().into()),
        ("getty()", pkgs::getty().into()),
        ("getty().insecure()", pkgs::getty().insecure().into()),
        (
            "sshd().keys_from_metadata()",
            pkgs::sshd().keys_from_metadata().into(),
        ),
        ("metadata()", pkgs::metadata().into()),
        (
            "metadata().provider(Openstack)",
            pkgs::metadata()
                .provider(MetadataProvider::Openstack)
                .into(),
        ),
        ("format()", pkgs::format().into()),
        (
            "format().device(/dev/sda)",
            pkgs::format().device("/dev/sda").into(),
        ),
        (
            "mount(/var/lib/docker)",
            pkgs::mount("/var/lib/docker").into(),
        ),
        (
            "mount(/var/external).device(/dev/sda1)",
            pkgs::mount("/var/external").device("/dev/sda1").into(),
        ),
        ("openntpd()", pkgs::openntpd().into()),
        ("ip().wireguard(wg0)", pkgs::ip().wireguard("wg0").into()),
        (
            "swap(/var/lib/swap, 1024M)",
            pkgs::swap("/var/lib/swap", Size::mib(1024)).into(),
        ),
        (
            "dm_crypt(crypt_dev, /dev/sda1)",
            pkgs::dm_crypt("crypt_dev", "/dev/sda1").into(),
        ),
        (
            "losetup(/var/external/storage_file).create()",
            pkgs::losetup("/var/external/storage_file").create().into(),
        ),
        ("binfmt()", pkgs::binfmt().into()),
        ("modprobe(nicvf)", pkgs::modprobe("nicvf").into()),
        (
            "sshd().root_ssh_from_host()",
            pkgs::sshd().root_ssh_from_host().into(),
        ),
        ("acpid()", pkgs::acpid().into()),
        ("cadvisor()", pkgs::cadvisor().into()),
        ("kmsg()", pkgs::kmsg().into()),
        ("logwrite()", pkgs::logwrite().into()),
        ("node_exporter()", pkgs::node_exporter().into()),
        ("open_vm_tools()", pkgs::open_vm_tools().into()),
        ("tss()", pkgs::tss().into()),
        ("trim_after_delete()", pkgs::trim_after_delete().into()),
        (
            "vsudd().inport(2374, containerd.sock)",
            pkgs::vsudd()
                .inport(2374, "/run/containerd/containerd.sock")
                .bind("/run/containerd/containerd.sock:/run/containerd/containerd.sock")
                .into(),
        ),
        (
            "vpnkit_forwarder().vsock_port(62373)",
            pkgs::vpnkit_forwarder().vsock_port(62373).into(),
        ),
        (
            "host_timesync_daemon()",
            pkgs::host_timesync_daemon().into(),
        ),
    ]
}

#[test]
fn catalogue_calls_equal_what_upstream_writes() {
    let images = upstream();
    let all: Vec<&Container> = images.values().flat_map(containers).collect();
    let missing: Vec<String> = calls()
        .into_iter()
        .filter(|(_, built)| !all.contains(&built))
        .map(|(call, built)| {
            format!(
                "pkgs::{call} matches no upstream container:\n{}\nupstream containers of {}:\n{}",
                serde_json::to_string_pretty(&built).unwrap(),
                built.image,
                all.iter()
                    .filter(|c| c.image == built.image)
                    .map(|c| serde_json::to_string_pretty(c).unwrap())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n\n"));
    // Every container package of the catalogue is covered above (through its image).
    for p in versions::ALL.iter().filter(|p| p.kind == Kind::Container) {
        assert!(
            calls().iter().any(|(_, c)| c.image == p.reference),
            "pkgs::{} has no case",
            p.function
        );
    }
    // The init images, in upstream's order.
    assert!(images.values().any(|i| i.init == pkgs::base()));
    let kernels: BTreeSet<&str> = images
        .values()
        .filter_map(|i| i.kernel.as_ref().map(|k| k.image.as_str()))
        .collect();
    assert!(kernels.contains(pkgs::kernel().image.as_str()));
    assert!(kernels.contains(pkgs::kernel_rt().image.as_str()));
}

/// `import` of every upstream example uses the catalogue wherever a package's settings match
/// it; the code still rebuilds the same model (compiled and run by the workspace's
/// `import_into_a_crate_outside_the_workspace_means_the_same` in tests/yaml_corpus.rs).
#[test]
fn import_uses_the_catalogue() {
    let images = upstream();
    let mut fallbacks = Vec::new();
    let mut catalogue_calls = 0;
    for (name, image) in &images {
        let code = codegen::to_rust_function(image, name);
        catalogue_calls += code.matches("pkgs::").count();
        for c in containers(image) {
            if versions::find_repository(&c.image).is_some()
                && code.contains(&format!("Container::new({:?}, {:?})", c.name, c.image))
            {
                fallbacks.push(format!("{name}: {}", c.name));
            }
        }
        if image.init.starts_with(&pkgs::base().map(String::from)) {
            assert!(code.contains(".init(pkgs::base())"), "{name}:\n{code}");
        }
        if image
            .kernel
            .as_ref()
            .is_some_and(|k| k.image == versions::KERNEL)
        {
            assert!(
                code.contains("Image::new(pkgs::kernel()"),
                "{name}:\n{code}"
            );
        }
    }
    // The two catalogue containers upstream configures beyond any knob: a dhcpcd service with
    // a hand-written command, and a getty with an overlay mount.
    assert_eq!(
        fallbacks,
        [
            "hostmount-writeable-overlay: getty",
            "platform-aws: dhcpcd2"
        ],
        "plain builders for catalogue images"
    );
    assert!(catalogue_calls > 250, "{catalogue_calls}");
}

/// What each knob writes (snapshot of the settings).
#[test]
fn knobs() {
    let cmd = |c: Container| c.command.unwrap_or_default().join(" ");
    assert_eq!(
        cmd(pkgs::format()
            .force()
            .filesystem(pkgs::Filesystem::Xfs)
            .label("DATA")
            .partition_table(pkgs::PartitionTable::Gpt)
            .verbose()
            .device("/dev/vda")
            .into()),
        "/usr/bin/format -force -type xfs -label DATA -partition gpt -verbose /dev/vda"
    );
    assert_eq!(
        cmd(pkgs::mount("/var/lib").label("DATA").into()),
        "/usr/bin/mountie -label DATA /var/lib"
    );
    assert_eq!(
        cmd(pkgs::mount("/data").uuid("1234").device("/dev/sdb1").into()),
        "/usr/bin/mountie -uuid 1234 /dev/sdb1 /data"
    );
    assert_eq!(
        cmd(pkgs::swap("/var/swap", Size::gib(2))
            .encrypt()
            .condition(SwapCondition::mounted("/var").required())
            .condition(SwapCondition::min_size("/var", Size::gib(4)))
            .debug()
            .into()),
        "/swap.sh --path /var/swap --size 2G --encrypt --condition part:/var:true \
         --condition partsize:/var:4G --debug"
    );
    assert_eq!(
        cmd(pkgs::metadata()
            .verbose()
            .provider(MetadataProvider::Hetzner)
            .provider(MetadataProvider::File("/x".into()))
            .into()),
        "/usr/bin/metadata -v hetzner file=/x"
    );
    assert_eq!(
        cmd(pkgs::modprobe("wireguard").module("tun").into()),
        "modprobe -a wireguard tun"
    );
    assert_eq!(
        cmd(pkgs::dm_crypt("c", "/dev/sda1")
            .luks()
            .key_file("/k")
            .into()),
        "/usr/bin/crypto -l -k /k c /dev/sda1"
    );
    assert_eq!(
        cmd(pkgs::losetup("/f")
            .create()
            .size_mib(10)
            .device("/dev/loop3")
            .into()),
        "/usr/bin/loopy --create --size 10 --dev /dev/loop3 /f"
    );
    assert_eq!(
        cmd(pkgs::logwrite().max_log_files(3).max_log_size(1024).into()),
        "/usr/bin/logwrite -max-log-files 3 -max-log-size 1024"
    );
    assert_eq!(
        cmd(pkgs::host_timesync_daemon().vsock_port(0xf3a4).into()),
        "/usr/bin/host-timesync-daemon -port 0xf3a4"
    );
    assert_eq!(
        cmd(pkgs::ip().batch_file("/etc/ip/eth0.conf").into()),
        "ip -b /etc/ip/eth0.conf"
    );
    let ip: Container = pkgs::ip().batch_file("/etc/ip/eth0.conf").into();
    assert_eq!(ip.binds.unwrap(), ["/etc/ip:/etc/ip"]);
    let sysctl: Container = pkgs::sysctl().config_dir("/etc/sysctl.d").into();
    assert_eq!(
        sysctl.binds_add.unwrap(),
        ["/etc/sysctl.d:/etc/sysctl.d:ro"]
    );
    let sshd: Container = pkgs::sshd()
        .root_ssh_from_host()
        .authorized_keys("/k")
        .into();
    assert_eq!(
        sshd.binds_add.unwrap(),
        ["/root/.ssh:/root/.ssh", "/k:/root/.ssh/authorized_keys"]
    );
    let getty: Container = pkgs::getty().insecure().into();
    assert_eq!(getty.env.unwrap(), ["INSECURE=true"]);
    let file = pkgs::sysctl_file("/etc/sysctl.d/01-net.conf", [("net.ipv4.ip_forward", "1")]);
    assert_eq!(file.contents.as_deref(), Some("net.ipv4.ip_forward = 1\n"));
}
