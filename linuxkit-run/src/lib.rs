//! Boot LinuxKit build outputs in QEMU (`cargo linuxkit run`).
//!
//! The runner is the last stage of the pipeline: it takes files that `linuxkit-output` wrote and
//! never looks at definitions or images.
//!
//! - [`target`]: what to boot — detects the boot mode from a path the way upstream
//!   `linuxkit run qemu` does (`<prefix>-kernel` + `-initrd.img`, `-squashfs.img` or `.iso`;
//!   `.iso`; disks in raw, qcow2, VHD or VMDK by their magic bytes; the `gcp` tarball).
//! - [`options`]: how to boot it — memory, CPUs, disks, published ports, acceleration, timeout.
//! - [`accel`]: choosing KVM only where it really works, TCG otherwise.
//! - [`kernel`]: extracting the `vmlinux` ELF from a bzImage so TCG boots skip the emulated
//!   decompression (PVH entry).
//! - [`qemu`]: the QEMU command line (a pure function) and the supervised VM process
//!   (signals, terminal restore, timeout, guest exit status).
//! - [`secureboot`]: Secure Boot enforced — OVMF's secure-boot firmware and a variable store
//!   that enrolls the image's certificate as PK, KEK and db.
//! - [`console`]: [`Vm`], a QEMU whose serial console is read and written line by line (for
//!   tests and tools), with waits bounded by console progress.
//! - [`updatable`]: recognising a disk laid out for A/B updates, which runs without
//!   `-no-reboot` (a guest reboot restarts it in the same VM).
//! - [`error`]: the typed errors, each naming what to install or fix.

pub mod accel;
pub mod console;
pub mod error;
pub mod kernel;
pub mod options;
pub mod qemu;
pub mod secureboot;
pub mod target;
pub mod updatable;

pub use console::{Vm, VmError};
pub use error::RunError;
pub use options::{Accel, DiskSpec, Networking, PortForward, Protocol, RunOptions};
pub use qemu::{run, GuestStatus, RunOutcome, VmPlan};
pub use target::{detect, BootMode, BootTarget};
