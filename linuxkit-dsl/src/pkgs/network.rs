//! Network and access packages: DHCP, `ip`, cloud metadata, console and SSH logins, VSOCK.

use std::fmt;

use crate::model::{BindNs, Container, Interface, Runtime};
use crate::pkgs::{parent_dir, versions, wrapper};
use crate::types::Namespace;

// ---------------------------------------------------------------------------------------------
// dhcpcd

/// [`dhcpcd()`]: DHCP client.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Dhcpcd {
    c: Container,
}
wrapper!(Dhcpcd);

/// The DHCP client as a service: configures every interface by DHCP and keeps the leases
/// (and `/etc/resolv.conf`) up to date. Use [`Dhcpcd::once`] in onboot to get an address
/// before the services start.
///
/// Label privileges: `CAP_NET_ADMIN`, `CAP_NET_BIND_SERVICE`, `CAP_NET_RAW`, `CAP_SYS_ADMIN`;
/// binds the host's `/run/resolvconf` at `/etc`.
pub fn dhcpcd() -> Dhcpcd {
    Dhcpcd {
        c: Container::new("dhcpcd", versions::DHCPCD),
    }
}

impl Dhcpcd {
    /// One-shot mode (`-1`): waits for a lease, configures the interface and exits, for onboot
    /// (`/sbin/dhcpcd --nobackground -f /dhcpcd.conf -1`).
    #[track_caller]
    pub fn once(mut self) -> Self {
        self.c = self
            .c
            .command(["/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// ip

/// [`ip()`]: iproute2 and WireGuard configuration.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Ip {
    c: Container,
}
wrapper!(Ip);

/// iproute2 (`ip`, bridge, iptables) and the WireGuard tools, to configure the network at boot
/// (onboot). The image has no default command: use [`Ip::batch_file`] or [`Ip::wireguard`], or
/// set one with `.container(|c| c.command([..]))`.
///
/// Label privileges: `CAP_NET_ADMIN`, `CAP_NET_RAW`.
pub fn ip() -> Ip {
    Ip {
        c: Container::new("ip", versions::IP),
    }
}

impl Ip {
    /// Runs the `ip` commands of `file` (`ip -b FILE`, one command per line such as
    /// `address add 10.0.0.2/24 dev eth0`); the file's directory (absolute) is bound from the
    /// host. Write the file with [`Image::file`](crate::Image::file).
    #[track_caller]
    pub fn batch_file(mut self, file: impl Into<String>) -> Self {
        let file = file.into();
        let dir = parent_dir(&file);
        self.c = self
            .c
            .bind(format!("{dir}:{dir}"))
            .command(["ip", "-b", file.as_str()]);
        self
    }

    /// Creates the WireGuard interface `interface` in the root namespace, moves it into a new
    /// network namespace bound at `/run/netns/<interface>` (join it with
    /// `.net("/run/netns/<interface>")`) and configures it from
    /// `/etc/wireguard/<interface>.conf` of the host (`lk-wg-config configure`). The container
    /// is named after the interface.
    #[track_caller]
    pub fn wireguard(mut self, interface: impl Into<String>) -> Self {
        let name = interface.into();
        self.c = self
            .c
            .name(name.as_str())
            .net(Namespace::New)
            .bind("/etc/wireguard:/etc/wireguard")
            .command([
                "/usr/bin/lk-wg-config".to_string(),
                "configure".into(),
                format!("/etc/wireguard/{name}.conf"),
            ])
            .runtime(
                Runtime::new()
                    .interface(
                        Interface::new(name.as_str())
                            .add("wireguard")
                            .create_in_root(),
                    )
                    .bind_ns(BindNs::new().net(format!("/run/netns/{name}"))),
            );
        self
    }
}

// ---------------------------------------------------------------------------------------------
// metadata

/// A source of instance metadata and user data for [`Metadata::provider`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MetadataProvider {
    /// Amazon EC2 (`aws`).
    Aws,
    /// Google Compute Engine (`gcp`).
    Gcp,
    /// Hetzner Cloud (`hetzner`).
    Hetzner,
    /// OpenStack (`openstack`).
    Openstack,
    /// Scaleway (`scaleway`).
    Scaleway,
    /// Vultr (`vultr`).
    Vultr,
    /// DigitalOcean (`digitalocean`).
    DigitalOcean,
    /// Equinix Metal (`equinixmetal`).
    EquinixMetal,
    /// A metaldata server (`metaldata`).
    MetalData,
    /// VMware guestinfo (`vmware`).
    Vmware,
    /// A CD-ROM with a `config` or `user-data` file (`cdrom`).
    Cdrom,
    /// A file on the machine (`file=PATH`).
    File(String),
}

impl MetadataProvider {
    /// The named providers, in the order the package probes them when none is given.
    pub const NAMED: [MetadataProvider; 11] = [
        MetadataProvider::Aws,
        MetadataProvider::Gcp,
        MetadataProvider::Hetzner,
        MetadataProvider::Openstack,
        MetadataProvider::Scaleway,
        MetadataProvider::Vultr,
        MetadataProvider::DigitalOcean,
        MetadataProvider::EquinixMetal,
        MetadataProvider::MetalData,
        MetadataProvider::Vmware,
        MetadataProvider::Cdrom,
    ];

    /// The argument the package takes (`openstack`, `file=/x`).
    pub fn as_arg(&self) -> String {
        match self {
            MetadataProvider::Aws => "aws".into(),
            MetadataProvider::Gcp => "gcp".into(),
            MetadataProvider::Hetzner => "hetzner".into(),
            MetadataProvider::Openstack => "openstack".into(),
            MetadataProvider::Scaleway => "scaleway".into(),
            MetadataProvider::Vultr => "vultr".into(),
            MetadataProvider::DigitalOcean => "digitalocean".into(),
            MetadataProvider::EquinixMetal => "equinixmetal".into(),
            MetadataProvider::MetalData => "metaldata".into(),
            MetadataProvider::Vmware => "vmware".into(),
            MetadataProvider::Cdrom => "cdrom".into(),
            MetadataProvider::File(path) => format!("file={path}"),
        }
    }

    /// The provider an argument names (the inverse of [`MetadataProvider::as_arg`]).
    pub fn from_arg(arg: &str) -> Option<Self> {
        if let Some(path) = arg.strip_prefix("file=") {
            return Some(MetadataProvider::File(path.to_string()));
        }
        Self::NAMED.into_iter().find(|p| p.as_arg() == arg)
    }

    /// The Rust expression of this value (for the code generator).
    #[cfg(feature = "codegen")]
    pub(crate) fn rust_expr(&self) -> String {
        let variant = match self {
            MetadataProvider::Aws => "Aws",
            MetadataProvider::Gcp => "Gcp",
            MetadataProvider::Hetzner => "Hetzner",
            MetadataProvider::Openstack => "Openstack",
            MetadataProvider::Scaleway => "Scaleway",
            MetadataProvider::Vultr => "Vultr",
            MetadataProvider::DigitalOcean => "DigitalOcean",
            MetadataProvider::EquinixMetal => "EquinixMetal",
            MetadataProvider::MetalData => "MetalData",
            MetadataProvider::Vmware => "Vmware",
            MetadataProvider::Cdrom => "Cdrom",
            MetadataProvider::File(path) => {
                return format!(
                    "pkgs::MetadataProvider::File({}.into())",
                    crate::codegen::lit(path)
                )
            }
        };
        format!("pkgs::MetadataProvider::{variant}")
    }
}

impl fmt::Display for MetadataProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_arg())
    }
}

/// [`metadata()`]: cloud metadata and user data to `/run/config`.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Metadata {
    c: Container,
    verbose: bool,
    providers: Vec<MetadataProvider>,
}
wrapper!(Metadata);

/// Fetches the instance's metadata and user data at boot (onboot) from the first provider
/// that answers, and writes them under `/run/config` (SSH keys to
/// `/run/config/ssh/authorized_keys`, the hostname, JSON user data as a directory tree). With
/// no [`Metadata::provider`] every known provider is probed.
///
/// Label privileges: `CAP_SYS_ADMIN`, `CAP_NET_ADMIN`, `CAP_NET_BIND_SERVICE`, every block
/// device, a read-only root filesystem with a tmpfs `/tmp`; binds the host's `/dev`, `/var`,
/// `/run`, `/sys`, `/etc/resolv.conf` and `/etc/ssl/certs`.
pub fn metadata() -> Metadata {
    Metadata {
        c: Container::new("metadata", versions::METADATA),
        verbose: false,
        providers: Vec::new(),
    }
}

impl Metadata {
    /// Probes `provider` (appended: providers are tried in the order given) instead of every
    /// known one.
    #[track_caller]
    pub fn provider(mut self, provider: MetadataProvider) -> Self {
        self.providers.push(provider);
        self.render()
    }

    /// Logs each step (`-v`).
    #[track_caller]
    pub fn verbose(mut self) -> Self {
        self.verbose = true;
        self.render()
    }

    #[track_caller]
    fn render(mut self) -> Self {
        let mut args = vec!["/usr/bin/metadata".to_string()];
        if self.verbose {
            args.push("-v".into());
        }
        args.extend(self.providers.iter().map(MetadataProvider::as_arg));
        self.c = self.c.command(args);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// getty

/// [`getty()`]: console login.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Getty {
    c: Container,
}
wrapper!(Getty);

/// A login prompt on every console of the kernel command line, as a service. Root logs in with
/// the password hash of `/etc/getty.shadow` (a `files` entry: `root:<hash>:...`); without one
/// login is impossible, unless [`Getty::insecure`].
///
/// Label privileges: **all capabilities**, the host's PID and network namespaces, the console
/// and tty devices; binds much of the host (`/etc` at `/hostroot/etc`, `/run`, `/tmp`,
/// `/containers`, `/var/log`, `/var/lib/containerd`, `/dev`, `/sys`, `ctr` and `runc`): a
/// shell in it administers the machine.
pub fn getty() -> Getty {
    Getty {
        c: Container::new("getty", versions::GETTY),
    }
}

impl Getty {
    /// A root shell without password on every console (`INSECURE=true`): for development
    /// images only.
    #[track_caller]
    pub fn insecure(mut self) -> Self {
        self.c = self.c.env("INSECURE=true");
        self
    }
}

// ---------------------------------------------------------------------------------------------
// sshd

/// [`sshd()`]: SSH server.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Sshd {
    c: Container,
}
wrapper!(Sshd);

/// The path where the [`metadata`] package writes the SSH keys of the instance.
pub const METADATA_AUTHORIZED_KEYS: &str = "/run/config/ssh/authorized_keys";

/// OpenSSH's server as a service: root logs in with the keys of `/root/.ssh/authorized_keys`
/// (password login is off). Give it keys with [`Sshd::root_ssh_from_host`],
/// [`Sshd::keys_from_metadata`] or [`Sshd::authorized_keys`].
///
/// Label privileges: **all capabilities**, every device, the host's PID namespace; binds much
/// of the host (`/etc` at `/hostroot/etc`, `/run`, `/tmp`, `/containers`, `/var/log`,
/// `/var/lib/containerd`, `/dev`, `/sys`, `ctr` and `runc`).
pub fn sshd() -> Sshd {
    Sshd {
        c: Container::new("sshd", versions::SSHD),
    }
}

impl Sshd {
    /// Adds the bind `/root/.ssh:/root/.ssh`: the keys come from the host's `/root/.ssh`,
    /// typically a `files` entry `root/.ssh/authorized_keys` (mode `0600`).
    #[track_caller]
    pub fn root_ssh_from_host(mut self) -> Self {
        self.c = self.c.add_bind("/root/.ssh:/root/.ssh");
        self
    }

    /// Adds a bind of the keys [`metadata`] fetched ([`METADATA_AUTHORIZED_KEYS`]) at
    /// `/root/.ssh/authorized_keys` (cloud platforms).
    #[track_caller]
    pub fn keys_from_metadata(self) -> Self {
        self.authorized_keys(METADATA_AUTHORIZED_KEYS)
    }

    /// Adds a bind of the host file `path` (absolute) at `/root/.ssh/authorized_keys`.
    #[track_caller]
    pub fn authorized_keys(mut self, path: impl AsRef<str>) -> Self {
        self.c = self
            .c
            .add_bind(format!("{}:/root/.ssh/authorized_keys", path.as_ref()));
        self
    }
}

// ---------------------------------------------------------------------------------------------
// vsudd

/// [`vsudd()`]: VSOCK to Unix socket forwarder.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Vsudd {
    c: Container,
}
wrapper!(Vsudd);

/// A service that accepts AF_VSOCK connections from the hypervisor's host and forwards them to
/// a Unix socket in the guest (e.g. the host's `docker` CLI to the guest's `docker.sock`).
/// Configure it with [`Vsudd::inport`] and bind the socket (or its directory) from the host.
///
/// Label privileges: none (the image has no label configuration).
pub fn vsudd() -> Vsudd {
    Vsudd {
        c: Container::new("vsudd", versions::VSUDD),
    }
}

impl Vsudd {
    /// Forwards AF_VSOCK port `port` to the Unix socket `socket`
    /// (`-inport <port>:unix:<socket>`).
    #[track_caller]
    pub fn inport(mut self, port: u32, socket: impl AsRef<str>) -> Self {
        self.c = self.c.command([
            "/vsudd".to_string(),
            "-inport".into(),
            format!("{port}:unix:{}", socket.as_ref()),
        ]);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// vpnkit-forwarder

/// [`vpnkit_forwarder()`]: vpnkit's port forwarder.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct VpnkitForwarder {
    c: Container,
}
wrapper!(VpnkitForwarder);

/// vpnkit's forwarding daemon as a service (Docker Desktop): forwards ports published in the
/// guest to the host over AF_VSOCK, coordinated through vpnkit's 9P share, which an onboot
/// container mounts at the host's `/var/vpnkit` (bound at `/port`); runs in the host's network
/// namespace.
///
/// Label privileges: none (the image has no label configuration).
#[track_caller]
pub fn vpnkit_forwarder() -> VpnkitForwarder {
    VpnkitForwarder {
        c: Container::new("vpnkit-forwarder", versions::VPNKIT_FORWARDER)
            .bind("/var/vpnkit:/port")
            .net(Namespace::Host)
            .command(["/vpnkit-forwarder"]),
    }
}

impl VpnkitForwarder {
    /// Connects to vpnkit on AF_VSOCK port `port` (`-vsockPort`).
    #[track_caller]
    pub fn vsock_port(mut self, port: u32) -> Self {
        self.c = self.c.command([
            "/vpnkit-forwarder".to_string(),
            "-vsockPort".into(),
            port.to_string(),
        ]);
        self
    }
}
