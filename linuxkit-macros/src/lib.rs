//! Compile-time checks for `linuxkit-dsl` image definitions.
//!
//! `linuxkit-dsl` re-exports everything here, so definitions write `linuxkit_dsl::bind!(..)` and
//! `#[linuxkit_dsl::image]`. The rules themselves live in `linuxkit-validate`, which
//! `linuxkit-dsl`'s run-time `check` shares, so a literal accepted here is accepted there.
//!
//! Every error is a `compile_error!` spanned on the offending literal; all problems of an
//! invocation are reported together; and the input is still emitted after the errors, so the
//! expression keeps its type and the IDE keeps working.
//!
//! - String literal macros, each expanding to the literal unchanged (`&'static str`):
//!   [`image_ref!`], [`path!`], [`bind!`], [`tmpfs!`], [`mount_options!`], [`sysctl!`],
//!   [`envvar!`], [`capability!`], [`rlimit!`].
//! - [`mode!`]: a file mode from `"0644"` or `0o644`, expanded to a `u32`.
//! - [`macro@image`]: the attribute on an image definition function, which checks the whole
//!   definition (unique names, binds to defined volumes, ...) and every literal passed to a
//!   builder method.
//! - Pinned definitions (`[package.metadata.linuxkit] locked = true`): image references must
//!   be in the package's `linuxkit.lock` (`locked.rs`).
//!
//! (The reference macro is `image_ref!`, not `image!`: a crate cannot export a function-like
//! macro and an attribute with the same name.)
//!
//! ```
//! use linuxkit_dsl::{Container, File, Image, Kernel, Volume};
//! use linuxkit_macros::{bind, image, image_ref, mode, path};
//!
//! #[image]
//! fn web() -> Image {
//!     Image::new(Kernel::new(image_ref!("linuxkit/kernel:6.12.59")))
//!         .volume(Volume::new("data"))
//!         .service(Container::new("nginx", image_ref!("nginx:1.27")).bind(bind!("data:/srv")))
//!         .file(File::new(path!("/etc/motd")).contents("hi\n").mode(mode!("0644")))
//! }
//!
//! assert_eq!(web().services[0].name, "nginx");
//! ```

#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod definition;
mod literal;
mod locked;

use linuxkit_validate as v;
use literal::checked_str;

/// An image reference, checked against the docker/containerd grammar:
/// `image_ref!("linuxkit/init:b5506cc7")`, `image_ref!("alpine@sha256:<64 hex>")`.
///
/// In a package with `[package.metadata.linuxkit] locked = true`, the reference must also be
/// in the package's `linuxkit.lock` (see [`macro@image`]).
#[proc_macro]
pub fn image_ref(input: TokenStream) -> TokenStream {
    let lit = checked_str(
        input.into(),
        "image_ref",
        "linuxkit/init:v1",
        locked::image_reference,
    );
    let tracking = locked::tracking();
    if tracking.is_empty() {
        lit.into()
    } else {
        quote::quote!({ #tracking #lit }).into()
    }
}

/// An absolute path without `..`: `path!("/etc/hosts")`.
#[proc_macro]
pub fn path(input: TokenStream) -> TokenStream {
    checked_str(input.into(), "path", "/etc/hosts", v::absolute_path).into()
}

/// A bind `source:destination[:options]`: `bind!("/var/run:/var/run:ro")`, `bind!("data:/data")`
/// (a source that is not absolute names a volume; [`macro@image`] checks that it exists).
#[proc_macro]
pub fn bind(input: TokenStream) -> TokenStream {
    checked_str(input.into(), "bind", "/var/run:/var/run:ro", v::bind).into()
}

/// A tmpfs entry `destination[:option,option]`: `tmpfs!("/tmp:size=1m,mode=1777")`.
#[proc_macro]
pub fn tmpfs(input: TokenStream) -> TokenStream {
    checked_str(input.into(), "tmpfs", "/tmp:size=1m", v::tmpfs).into()
}

/// Comma-separated mount options: `mount_options!("nosuid,nodev,mode=755")`.
#[proc_macro]
pub fn mount_options(input: TokenStream) -> TokenStream {
    checked_str(
        input.into(),
        "mount_options",
        "nosuid,nodev",
        v::mount_options,
    )
    .into()
}

/// A sysctl key: `sysctl!("net.ipv4.ip_forward")`.
#[proc_macro]
pub fn sysctl(input: TokenStream) -> TokenStream {
    checked_str(input.into(), "sysctl", "net.ipv4.ip_forward", v::sysctl_key).into()
}

/// An environment entry `NAME=value`: `envvar!("PATH=/bin:/usr/bin")`.
#[proc_macro]
pub fn envvar(input: TokenStream) -> TokenStream {
    checked_str(input.into(), "envvar", "NAME=value", v::env_var).into()
}

/// A capability name as LinuxKit writes it: `capability!("CAP_NET_ADMIN")`, or `all` / `none`.
#[proc_macro]
pub fn capability(input: TokenStream) -> TokenStream {
    checked_str(input.into(), "capability", "CAP_NET_ADMIN", v::capability).into()
}

/// A resource limit `name,soft,hard`: `rlimit!("nofile,1024,4096")`.
#[proc_macro]
pub fn rlimit(input: TokenStream) -> TokenStream {
    checked_str(input.into(), "rlimit", "nofile,1024,4096", v::rlimit).into()
}

/// A file mode, expanded to a `u32`: `mode!("0644")` or `mode!(0o644)`. A decimal integer
/// (`mode!(644)`, or `mode!(0644)`, which Rust reads as decimal) is refused.
#[proc_macro]
pub fn mode(input: TokenStream) -> TokenStream {
    literal::mode(input.into()).into()
}

/// Checks an image definition function at compile time and leaves it unchanged.
///
/// ```text
/// #[image]
/// fn sshd() -> Image { Image::new(..).service(Container::new("sshd", "linuxkit/sshd:v1")) }
/// ```
///
/// The function must take no arguments and return an image. In its body, the attribute finds:
/// - service names (`.service(Container::new("name", ..))`) and volume names
///   (`.volume(Volume::new("name"))`) that are repeated;
/// - binds whose source is not absolute and names no volume of the image, and binds of a
///   read-only volume without `ro`;
/// - uid/gid names that name no container of the image;
/// - literals passed straight to builder methods that the macros above would refuse:
///   `Container::new(_, "Bad:Ref")`, `Kernel::new`, `.image`, `.init([..])`, `.bind`, `.binds`,
///   `.add_bind`, `.tmpfs`, `.cwd`, `.env`, `.environment`, `.env_var`, `.sysctl`, `.sysctls`,
///   `.masked_path(s)`, `.readonly_path(s)`, `Volume::new`, `File::new`, `.mode(0644)`,
///   `.mode_str`, `.option(s)`, `Mount::bind`, `Mount::tmpfs`, `.capability_names`,
///   `.rlimits`.
///
/// Facts reached through `let` bindings of the body count; a rule that needs a fact computed at
/// run time (a container returned by another function) is skipped.
///
/// Pinned definitions: when the package's `Cargo.toml` has `[package.metadata.linuxkit]
/// locked = true`, every registry image reference written as a literal (in `image_ref!` or
/// passed to the builders above) must be in `linuxkit.lock` next to that `Cargo.toml`, else
/// it is an error on the literal saying to run `cargo linuxkit lock`. Local sources (`cargo:`,
/// `kernel:`, `init:`, `dir:`) and references with a digest are exempt. The files are read
/// from disk at expansion (never the network) and the expansion `include_bytes!`es them, so
/// editing the lockfile recompiles the definitions.
#[proc_macro_attribute]
pub fn image(attr: TokenStream, item: TokenStream) -> TokenStream {
    definition::image(attr.into(), item.into()).into()
}
