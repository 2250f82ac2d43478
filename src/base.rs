//! The building blocks LinuxKit's examples share beyond the catalogue
//! ([`linuxkit_dsl::pkgs`] pins every LinuxKit package).

use linuxkit_dsl::{pkgs, Capability, Container, Image};

/// Console on the usual x86, serial and arm consoles.
pub const CMDLINE: &str = "console=tty0 console=ttyS0 console=ttyAMA0";
/// [`CMDLINE`] plus the s390 console.
pub const CMDLINE_S390: &str = "console=tty0 console=ttyS0 console=ttyAMA0 console=ttysclp0";

/// The smallest bootable base: kernel, init, runc and containerd.
#[track_caller]
pub fn minimal_base(cmdline: &str) -> Image {
    Image::new(pkgs::kernel().cmdline(cmdline)).init(pkgs::base())
}

/// The usual base: [`minimal_base`] plus CA certificates.
#[track_caller]
pub fn linuxkit_base(cmdline: &str) -> Image {
    minimal_base(cmdline).init([pkgs::ca_certificates()])
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

/// Text made of `lines`, each ending in a newline (config files in `files`).
pub fn lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}
