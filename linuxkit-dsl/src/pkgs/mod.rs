//! The catalogue: LinuxKit's standard packages as typed functions.
//!
//! One function per package that LinuxKit's example files use, pinned to the tag those files
//! use ([`versions`] holds every reference in one place). Containers come back as a small
//! wrapper per package whose methods are that package's knobs, so typing `pkgs::` lists the
//! packages and `.` after one lists what it can be told:
//!
//! ```
//! use linuxkit_dsl::{pkgs, Image};
//!
//! let image = Image::new(pkgs::kernel().cmdline("console=ttyS0"))
//!     .init(pkgs::base())
//!     .init([pkgs::ca_certificates()])
//!     .onboot(pkgs::sysctl())
//!     .onboot(pkgs::dhcpcd().once())
//!     .onboot(pkgs::format().label("DATA"))
//!     .onboot(pkgs::mount("/var/lib/docker").label("DATA"))
//!     .service(pkgs::getty().insecure())
//!     .service(pkgs::rngd());
//! assert_eq!(image.onboot[1].command.as_ref().unwrap().last().unwrap(), "-1");
//! ```
//!
//! What the functions produce with no knob is exactly what upstream's examples write for the
//! service (name, image and settings); the knobs give the variants those examples and the
//! packages' documentation use. Every wrapper also has:
//!
//! - `.name(..)`, `.image(..)` (another tag), `.bind(..)`, `.add_bind(..)`, `.env(..)`,
//!   `.net(..)`: the most used general builder methods, passed through;
//! - `.container(|c| ..)`: any other [`Container`](crate::Container) builder method (`.container(|c| c.readonly())`);
//! - `.into_container()`, `.as_container()`, and `From<Wrapper> for Container`, so the wrappers go
//!   straight into [`Image::onboot`](crate::Image::onboot), [`Image::service`](crate::Image::service)
//!   and [`Image::onshutdown`](crate::Image::onshutdown).
//!
//! Knobs that build the process arguments rewrite the whole `command` from the package's typed
//! settings, so call them before any raw `.container(|c| c.command(..))`.
//!
//! Each function's documentation says which privileges the image's `org.mobyproject.config`
//! label grants (what a container gets when the definition sets nothing): those apply whether
//! or not the definition repeats them.
//!
//! | group | functions |
//! |---|---|
//! | kernel and init | [`kernel`], [`kernel_rt`], [`init`], [`runc`], [`containerd`], [`base`], [`ca_certificates`], [`firmware`], [`memlogd`], [`vpnkit_expose_port`] |
//! | system | [`sysctl`], [`sysfs`], [`rngd`], [`binfmt`], [`modprobe`], [`acpid`], [`openntpd`], [`host_timesync_daemon`], [`kmsg`], [`logwrite`] |
//! | network and access | [`dhcpcd`], [`ip`], [`metadata`], [`getty`], [`sshd`], [`vsudd`], [`vpnkit_forwarder`] |
//! | storage | [`format`], [`mount`], [`swap`], [`dm_crypt`], [`losetup`], [`trim_after_delete`] |
//! | monitoring and guests | [`cadvisor`], [`node_exporter`], [`open_vm_tools`], [`tss`] |

use std::fmt;

use crate::model::Kernel;

mod network;
mod storage;
mod system;
pub mod versions;

#[cfg(feature = "codegen")]
pub(crate) mod import;

pub use network::*;
pub use storage::*;
pub use system::*;

/// Defines a package wrapper's shared methods: conversions and the general builder methods
/// passed through to the [`Container`](crate::Container) inside (field `c`).
macro_rules! wrapper {
    ($ty:ident) => {
        impl $ty {
            /// The container, for every general [`Container`](crate::Container) builder method.
            pub fn into_container(self) -> $crate::Container {
                self.c
            }

            /// The container as configured so far.
            pub fn as_container(&self) -> &$crate::Container {
                &self.c
            }

            /// Applies general [`Container`](crate::Container) builder methods:
            /// `.container(|c| c.readonly().cwd("/srv"))`. Knobs that build the command, called
            /// afterwards, rewrite it.
            pub fn container(
                mut self,
                f: impl FnOnce($crate::Container) -> $crate::Container,
            ) -> Self {
                self.c = f(self.c);
                self
            }

            /// Renames the container (names are unique per section; services' are also their
            /// containerd ids).
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.c = self.c.name(name);
                self
            }

            /// Runs another reference of the image than the pinned one (another tag, a mirror).
            pub fn image(mut self, image: impl Into<String>) -> Self {
                self.c = self.c.image(image);
                self
            }

            /// Appends a bind `src:dst[:opts]`; `binds` replaces the image label's binds (see
            /// [`Container::bind`](crate::Container::bind)), [`Self::add_bind`] extends them.
            #[track_caller]
            pub fn bind(mut self, bind: impl Into<String>) -> Self {
                self.c = self.c.bind(bind);
                self
            }

            /// Appends to `binds.add`: a bind added to the image label's binds.
            #[track_caller]
            pub fn add_bind(mut self, bind: impl Into<String>) -> Self {
                self.c = self.c.add_bind(bind);
                self
            }

            /// Appends an environment entry `KEY=value`.
            #[track_caller]
            pub fn env(mut self, entry: impl Into<String>) -> Self {
                self.c = self.c.env(entry);
                self
            }

            /// Sets the network namespace (`Namespace::Host`, `Namespace::New`, or a path such
            /// as `/run/netns/wg0` bound by another container).
            #[track_caller]
            pub fn net(mut self, ns: impl Into<$crate::Namespace>) -> Self {
                self.c = self.c.net(ns);
                self
            }
        }

        impl From<$ty> for $crate::Container {
            fn from(p: $ty) -> Self {
                p.c
            }
        }

        impl AsRef<$crate::Container> for $ty {
            fn as_ref(&self) -> &$crate::Container {
                &self.c
            }
        }
    };
}
pub(crate) use wrapper;

/// Defines a wrapper for a package without knobs of its own: `struct $ty { c: Container }`.
macro_rules! plain_wrapper {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        #[must_use]
        pub struct $ty {
            c: $crate::Container,
        }
        $crate::pkgs::wrapper!($ty);
    };
}
pub(crate) use plain_wrapper;

// ---------------------------------------------------------------------------------------------
// Kernel and init images

/// The LinuxKit kernel upstream's examples boot ([`versions::KERNEL`]). Set the command line
/// with [`Kernel::cmdline`]: `pkgs::kernel().cmdline("console=ttyS0")`.
pub fn kernel() -> Kernel {
    Kernel::new(versions::KERNEL)
}

/// The real-time LinuxKit kernel ([`versions::KERNEL_RT`], `PREEMPT_RT`), as
/// `platform-rt-for-vmware.yml` boots.
pub fn kernel_rt() -> Kernel {
    Kernel::new(versions::KERNEL_RT)
}

/// LinuxKit's init: PID 1, which mounts the base filesystems, runs `/etc/init.d`, the onboot
/// containers (through runc) and then containerd. First in the init list.
pub fn init() -> &'static str {
    versions::INIT
}

/// runc, which init uses to run the onboot and onshutdown containers.
pub fn runc() -> &'static str {
    versions::RUNC
}

/// containerd, started by init after the onboot containers; it runs the services.
pub fn containerd() -> &'static str {
    versions::CONTAINERD
}

/// The init images every image with services needs, in upstream's order: [`init`], [`runc`],
/// [`containerd`]. Add others with a second `.init([..])`: `.init(pkgs::base()).init([pkgs::ca_certificates()])`.
pub fn base() -> [&'static str; 3] {
    [init(), runc(), containerd()]
}

/// CA certificates at `/etc/ssl/certs` for the host (and containers that bind them), as an
/// init image.
pub fn ca_certificates() -> &'static str {
    versions::CA_CERTIFICATES
}

/// Firmware for physical hardware under `/lib/firmware`, as an init image (bare-metal
/// platforms such as Equinix Metal and Hetzner).
pub fn firmware() -> &'static str {
    versions::FIRMWARE
}

/// memlogd, an in-memory ring buffer that collects the logs of onboot containers and services
/// from early boot (started from init's `/etc/init.d`). Add it to the init list and read the
/// logs with `logread` or write them to disk with [`logwrite`].
pub fn memlogd() -> &'static str {
    versions::MEMLOGD
}

/// `vpnkit-expose-port` and `vpnkit-iptables-wrapper` installed under `/usr/bin` of the host,
/// as an init image, for Docker's userland proxy under vpnkit (Docker for Mac).
pub fn vpnkit_expose_port() -> &'static str {
    versions::VPNKIT_EXPOSE_PORT
}

// ---------------------------------------------------------------------------------------------
// Shared knob types

/// A size as LinuxKit's shell tools write it: a number with an optional binary unit suffix
/// (`K`, `M`, `G` are KiB, MiB, GiB), such as `1G` or `1024M`. Displayed as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// A number of bytes, written without a unit.
    Bytes(u64),
    /// KiB, written `<n>K`.
    KiB(u64),
    /// MiB, written `<n>M`.
    MiB(u64),
    /// GiB, written `<n>G`.
    GiB(u64),
}

impl Size {
    /// `n` bytes.
    pub const fn bytes(n: u64) -> Self {
        Size::Bytes(n)
    }

    /// `n` KiB.
    pub const fn kib(n: u64) -> Self {
        Size::KiB(n)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        Size::MiB(n)
    }

    /// `n` GiB.
    pub const fn gib(n: u64) -> Self {
        Size::GiB(n)
    }

    /// The size in bytes (saturating).
    pub const fn in_bytes(self) -> u64 {
        match self {
            Size::Bytes(n) => n,
            Size::KiB(n) => n.saturating_mul(1 << 10),
            Size::MiB(n) => n.saturating_mul(1 << 20),
            Size::GiB(n) => n.saturating_mul(1 << 30),
        }
    }

    /// Parses the written form (`1G`, `1024M`, `5670K`, `8765432`); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let (digits, unit): (&str, fn(u64) -> Size) = match s.as_bytes().last()? {
            b'G' => (&s[..s.len() - 1], Size::GiB),
            b'M' => (&s[..s.len() - 1], Size::MiB),
            b'K' => (&s[..s.len() - 1], Size::KiB),
            _ => (s, Size::Bytes),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let size = unit(digits.parse().ok()?);
        // Only the canonical form (no leading zeros), so that it displays as written.
        (size.to_string() == s).then_some(size)
    }

    /// The Rust expression building this value (for the code generator).
    #[cfg(feature = "codegen")]
    pub(crate) fn rust_expr(self) -> String {
        match self {
            Size::Bytes(n) => format!("pkgs::Size::bytes({n})"),
            Size::KiB(n) => format!("pkgs::Size::kib({n})"),
            Size::MiB(n) => format!("pkgs::Size::mib({n})"),
            Size::GiB(n) => format!("pkgs::Size::gib({n})"),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Bytes(n) => write!(f, "{n}"),
            Size::KiB(n) => write!(f, "{n}K"),
            Size::MiB(n) => write!(f, "{n}M"),
            Size::GiB(n) => write!(f, "{n}G"),
        }
    }
}

/// The parent directory of an absolute path (`/etc/ip/eth0.conf` -> `/etc/ip`; `/` for a file
/// at the root).
fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_display_as_written() {
        assert_eq!(Size::gib(1).to_string(), "1G");
        assert_eq!(Size::mib(1024).to_string(), "1024M");
        assert_eq!(Size::bytes(8765432).to_string(), "8765432");
        assert_eq!(Size::parse("1G"), Some(Size::gib(1)));
        assert_eq!(Size::parse("5670K"), Some(Size::kib(5670)));
        assert_eq!(Size::parse("01G"), None);
        assert_eq!(Size::parse("1T"), None);
        assert_eq!(Size::parse("G"), None);
        assert_eq!(Size::gib(2).in_bytes(), 2 << 30);
    }

    #[test]
    fn parents() {
        assert_eq!(parent_dir("/etc/ip/eth0.conf"), "/etc/ip");
        assert_eq!(parent_dir("/x"), "/");
    }

    #[test]
    fn pinned_references_are_valid_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for p in versions::ALL {
            linuxkit_validate::image_reference(p.reference)
                .unwrap_or_else(|e| panic!("{}: {e}", p.reference));
            assert!(seen.insert(p.reference), "{} twice", p.reference);
            assert!(p.reference.starts_with("linuxkit/"));
            assert_eq!(format!("{}:{}", p.repository(), p.tag()), p.reference);
        }
        assert_eq!(
            versions::repository("localhost:5000/a/b:1"),
            "localhost:5000/a/b"
        );
        assert_eq!(versions::repository("localhost:5000/a"), "localhost:5000/a");
        assert_eq!(versions::repository("a/b@sha256:00"), "a/b");
        assert_eq!(
            versions::find_repository("linuxkit/getty:other").map(|p| p.function),
            Some("getty")
        );
        assert_eq!(
            versions::find_repository(versions::KERNEL_RT).map(|p| p.function),
            Some("kernel_rt")
        );
        assert_eq!(
            versions::find_repository("linuxkit/kernel:6.1.1").map(|p| p.function),
            Some("kernel")
        );
    }
}
