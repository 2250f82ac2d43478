//! Pinned images and the building blocks LinuxKit's examples share.

use linuxkit_dsl::{Capability, Container, Image, Kernel};

/// The kernel every example boots.
pub const KERNEL: &str = "linuxkit/kernel:6.12.59";
/// LinuxKit's init (PID 1).
pub const INIT: &str = "linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a";
/// runc, used by init to run onboot and onshutdown containers.
pub const RUNC: &str = "linuxkit/runc:9442aa234715e751a16144f1d4ae3fd1a00fd492";
/// containerd, which runs the services.
pub const CONTAINERD: &str = "linuxkit/containerd:ba19f64efd3331a8fd0a33e00eabd14f6ee1780e";
/// CA certificates at `/etc/ssl`.
pub const CA_CERTIFICATES: &str =
    "linuxkit/ca-certificates:256f1950df59f2f209e9f0b81374177409eb11de";
/// Applies LinuxKit's default sysctls at boot.
pub const SYSCTL: &str = "linuxkit/sysctl:43ac1d39da329c3567fcb9689e5ca99de6d169b6";
/// DHCP client.
pub const DHCPCD: &str = "linuxkit/dhcpcd:b87e9ececac55a65eaa592f4dd8b4e0c3009afdb";
/// Login on the console.
pub const GETTY: &str = "linuxkit/getty:a86d74c8f89be8956330c3b115b0b1f2e09ef6e0";
/// Entropy daemon.
pub const RNGD: &str = "linuxkit/rngd:984eb580ecb63986f07f626b61692a97aacd7198";
/// SSH server.
pub const SSHD: &str = "linuxkit/sshd:08e5d4a46603eff485d5d1b14001cc932a530858";
/// `ip` from iproute2, plus wireguard helpers.
pub const IP: &str = "linuxkit/ip:3c0676ee83a0dc739685be1253b8326f08581ef7";
/// Makes /sys writable bits available.
pub const SYSFS: &str = "linuxkit/sysfs:6d5bd933762f6b216744c711c6e876756cee9600";
/// Formats the first empty disk.
pub const FORMAT: &str = "linuxkit/format:4f779c0b0d0ba145b7f03211b5cbf59fbbe12e54";
/// Mounts a disk by label.
pub const MOUNT: &str = "linuxkit/mount:bd1c3bb45e48e68e47a9456d1669f7119f855184";
/// Creates a swap file.
pub const SWAP: &str = "linuxkit/swap:7e19e5e69370e82b90a110093441abbf5e70638b";
/// NTP daemon.
pub const OPENNTPD: &str = "linuxkit/openntpd:2508f1d040441457a0b3e75744878afdf61bc473";

/// Console on the usual x86, serial and arm consoles.
pub const CMDLINE: &str = "console=tty0 console=ttyS0 console=ttyAMA0";
/// [`CMDLINE`] plus the s390 console.
pub const CMDLINE_S390: &str = "console=tty0 console=ttyS0 console=ttyAMA0 console=ttysclp0";

/// The smallest bootable base: kernel, init, runc and containerd.
#[track_caller]
pub fn minimal_base(cmdline: &str) -> Image {
    Image::new(Kernel::new(KERNEL).cmdline(cmdline)).init([INIT, RUNC, CONTAINERD])
}

/// The usual base: [`minimal_base`] plus CA certificates.
#[track_caller]
pub fn linuxkit_base(cmdline: &str) -> Image {
    minimal_base(cmdline).init([CA_CERTIFICATES])
}

/// Applies sysctls once at boot.
pub fn sysctl() -> Container {
    Container::new("sysctl", SYSCTL)
}

/// Gets one DHCP lease at boot, then exits.
pub fn dhcpcd_once() -> Container {
    Container::new("dhcpcd", DHCPCD).command([
        "/sbin/dhcpcd",
        "--nobackground",
        "-f",
        "/dhcpcd.conf",
        "-1",
    ])
}

/// A DHCP client running as a service.
pub fn dhcpcd() -> Container {
    Container::new("dhcpcd", DHCPCD)
}

/// A console login without password (`INSECURE=true`): for development images only.
pub fn getty_insecure() -> Container {
    getty().env("INSECURE=true")
}

/// A console login.
pub fn getty() -> Container {
    Container::new("getty", GETTY)
}

/// The entropy daemon as a service.
pub fn rngd() -> Container {
    Container::new("rngd", RNGD)
}

/// The capabilities nginx needs to bind port 80 and drop privileges.
pub const NGINX_CAPABILITIES: [Capability; 5] = [
    Capability::NetBindService,
    Capability::Chown,
    Capability::Setuid,
    Capability::Setgid,
    Capability::DacOverride,
];

/// A web server from Docker Hub's `nginx` image at `tag`.
pub fn nginx(tag: &str) -> Container {
    Container::new("nginx", format!("nginx:{tag}")).capabilities(NGINX_CAPABILITIES)
}

/// Prints a goodbye at shutdown.
pub fn shutdown_message() -> Container {
    Container::new("shutdown", "busybox:latest")
        .command(["/bin/echo", "so long and thanks for all the fish"])
}

/// Formats the first empty disk.
pub fn format() -> Container {
    Container::new("format", FORMAT)
}

/// Mounts the formatted disk at `dir`.
pub fn mount_disk(dir: &str) -> Container {
    Container::new("mount", MOUNT).command(["/usr/bin/mountie", dir])
}

/// Text made of `lines`, each ending in a newline (config files in `files`).
pub fn lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}
