//! Pure validation functions for LinuxKit image definitions.
//!
//! The same rules run at compile time (in `linuxkit-macros`, on string literals) and at run time
//! (in `linuxkit-dsl`'s `check`, on any value). Every function takes the text as written and
//! returns `Ok(())` or a short message that quotes the offending text and says what is expected,
//! for example `repository name must be lowercase: "Redis"`.
//!
//! The crate has no dependencies so that the proc-macro crate stays quick to build.
//!
//! - [`reference`](mod@reference): [`image_reference`], the docker/containerd image reference grammar;
//!   [`image_source`], which also accepts the local sources (`cargo:`, `kernel:`, `init:`, `dir:`).
//! - [`mounts`]: [`absolute_path`], [`file_path`], [`bind`] (and [`parse_bind`]), [`tmpfs`], [`mount_options`].
//! - [`scalars`]: [`octal_mode`] (and [`parse_octal_mode`]), [`sysctl_key`], [`env_var`],
//!   [`env_name`],
//!   [`volume_name`].
//! - [`gopath`]: Go's `path.Clean`, `Dir`, `Base`, `Join`, `Split` and `filepath.Rel` on bytes.
//! - [`process`]: [`capability`], [`capability_list`] (and [`CAPABILITIES`]), [`rlimit`] (and [`parse_rlimit`]).

#![forbid(unsafe_code)]

/// The modification time LinuxKit gives every file it generates (2017-04-18T16:30:00Z):
/// tar entries, cpio entries, filesystem images. One constant for every output.
pub const DEFAULT_MTIME: u64 = 1_492_533_000;

pub mod gopath;
pub mod mounts;
pub mod process;
pub mod reference;
pub mod scalars;

mod suggest;

pub use mounts::{
    absolute_path, bind, bind_options, container_path, file_path, mount_options, parse_bind, tmpfs,
    BindSpec, FILESYSTEM_FLAGS, MOUNT_FLAGS,
};
pub use process::{
    capability, capability_list, parse_rlimit, rlimit, Rlimit, CAPABILITIES, RLIMITS,
};
pub use reference::{
    image_reference, image_source, is_local_source, split_reference, LOCAL_SCHEMES,
};
pub use scalars::{env_name, env_var, octal_mode, parse_octal_mode, sysctl_key, volume_name};
