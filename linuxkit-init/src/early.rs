//! Early boot: a console, the switch from the initramfs to a tmpfs root, the standard mounts,
//! hostname and resolv.conf — what LinuxKit's `/init` and `rc.init` do before any container.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::unistd::{chdir, chroot};

use crate::error::{IoContext, Result, SysContext};
use crate::{error, info};

const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Makes sure fds 0, 1 and 2 are the console. The kernel opens `/dev/console` for PID 1 only
/// when the initramfs has that node; LinuxKit's flattener drops `dev/console` from images, so
/// mount a devtmpfs and open it from there.
pub fn console() {
    if nix::fcntl::fcntl(1, nix::fcntl::FcntlArg::F_GETFD).is_ok() {
        return;
    }
    let _ = fs::create_dir_all("/dev");
    let _ = mount(
        Some("devtmpfs"),
        "/dev",
        Some("devtmpfs"),
        MsFlags::MS_NOSUID,
        Some("mode=0755"),
    );
    if let Ok(f) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        use std::os::fd::IntoRawFd;
        let fd = f.into_raw_fd();
        for target in 0..3 {
            if fd != target {
                let _ = nix::unistd::dup2(fd, target);
            }
        }
        if fd > 2 {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// If `/` is the initramfs (ramfs or tmpfs rootfs), makes it a mount with a parent:
/// bind-mounts the initramfs root onto `/dev` (a directory inside it), moves that bind over
/// `/` and chroots into it. `pivot_root(2)` (which the container runtime uses) refuses a root
/// that is the kernel's rootfs mount itself, not one stacked on it. Nothing is copied: the
/// files stay where the kernel unpacked them.
pub fn switch_root() -> Result<()> {
    let st = nix::sys::statfs::statfs("/").sys(|| "statfs /".into())?;
    let magic = st.filesystem_type().0 as i64;
    if magic != TMPFS_MAGIC && magic != RAMFS_MAGIC {
        return Ok(());
    }
    // Already switched (after a re-exec of PID 1): the marker is on the bind.
    if Path::new(SWITCHED_MARKER).exists() {
        return Ok(());
    }
    // If devtmpfs was mounted for the console, unmount it (the fds stay open) and use the
    // directory as the staging point.
    let _ = nix::mount::umount2("/dev", nix::mount::MntFlags::MNT_DETACH);
    fs::create_dir_all("/dev").io("create", "/dev")?;
    mount(
        Some("/"),
        "/dev",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .sys(|| "bind / on /dev".into())?;
    chdir("/dev").sys(|| "chdir /dev".into())?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .sys(|| "move the bind of / over /".into())?;
    chroot(".").sys(|| "chroot".into())?;
    chdir("/").sys(|| "chdir /".into())?;
    let _ = fs::write(SWITCHED_MARKER, b"");
    Ok(())
}

/// Written once `/` is the bind (survives a re-exec; invisible to containers, whose roots are
/// their own).
const SWITCHED_MARKER: &str = "/.linuxkit-init-root";

struct M {
    src: &'static str,
    dst: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: &'static str,
}

/// The standard mounts of `rc.init`: proc, tmpfs `/run` `/tmp` `/var`, devtmpfs `/dev` with
/// pts, shm and mqueue, sysfs and friends, cgroup2; then `/` is made rshared.
pub fn mounts() {
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let table = [
        M {
            src: "proc",
            dst: "/proc",
            fstype: "proc",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        M {
            src: "tmpfs",
            dst: "/run",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: "size=10%,mode=755",
        },
        M {
            src: "tmpfs",
            dst: "/tmp",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: "size=10%,mode=1777",
        },
        M {
            src: "tmpfs",
            dst: "/var",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: "size=50%,mode=755",
        },
        M {
            src: "dev",
            dst: "/dev",
            fstype: "devtmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: "mode=0755",
        },
        M {
            src: "mqueue",
            dst: "/dev/mqueue",
            fstype: "mqueue",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        M {
            src: "shm",
            dst: "/dev/shm",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: "mode=1777",
        },
        M {
            src: "devpts",
            dst: "/dev/pts",
            fstype: "devpts",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: "newinstance,ptmxmode=0666,mode=0620,gid=5",
        },
        M {
            src: "sysfs",
            dst: "/sys",
            fstype: "sysfs",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        M {
            src: "securityfs",
            dst: "/sys/kernel/security",
            fstype: "securityfs",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        M {
            src: "debugfs",
            dst: "/sys/kernel/debug",
            fstype: "debugfs",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        M {
            src: "configfs",
            dst: "/sys/kernel/config",
            fstype: "configfs",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        M {
            src: "fusectl",
            dst: "/sys/fs/fuse/connections",
            fstype: "fusectl",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        M {
            src: "bpf",
            dst: "/sys/fs/bpf",
            fstype: "bpf",
            flags: nosuid_nodev_noexec,
            data: "",
        },
        M {
            src: "cgroup2",
            dst: "/sys/fs/cgroup",
            fstype: "cgroup2",
            flags: nosuid_nodev_noexec,
            data: "nsdelegate",
        },
    ];
    for m in table {
        let optional = m.dst.starts_with("/sys/kernel")
            || m.dst.starts_with("/sys/fs/fuse")
            || m.dst == "/sys/fs/bpf";
        if !optional {
            let _ = fs::create_dir_all(m.dst);
        } else if !Path::new(m.dst).is_dir() {
            continue;
        }
        let data = (!m.data.is_empty()).then_some(m.data);
        if let Err(e) = mount(Some(m.src), m.dst, Some(m.fstype), m.flags, data) {
            if !optional {
                error!("mount {} on {}: {e}", m.fstype, m.dst);
            }
        }
    }
    // /dev extras that devtmpfs does not provide.
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        if fs::symlink_metadata(link).is_err() {
            let _ = std::os::unix::fs::symlink(target, link);
        }
    }
    // The standard /var layout.
    for d in [
        "/var/log",
        "/var/lib",
        "/var/cache",
        "/var/spool",
        "/var/tmp",
        "/var/empty",
        "/var/lock",
    ] {
        let _ = fs::create_dir_all(d);
    }
    let _ = fs::set_permissions("/var/tmp", fs::Permissions::from_mode(0o1777));
    let _ = std::os::unix::fs::symlink("/run", "/var/run");
    if let Err(e) = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    ) {
        error!("make / rshared: {e}");
    }
}

/// Sets the hostname from `/etc/hostname`, else `linuxkit-<eth0 MAC>`, else leaves it.
pub fn hostname() {
    let name = match fs::read_to_string("/etc/hostname") {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => match fs::read_to_string("/sys/class/net/eth0/address") {
            Ok(mac) => format!("linuxkit-{}", mac.trim().replace(':', "")),
            Err(_) => return,
        },
    };
    if let Err(e) = nix::unistd::sethostname(&name) {
        error!("sethostname {name}: {e}");
    }
}

/// If `/etc/resolv.conf` is a symlink, creates its target as an empty file.
pub fn resolv_conf() {
    let Ok(target) = fs::read_link("/etc/resolv.conf") else {
        return;
    };
    let target = if target.is_absolute() {
        target
    } else {
        Path::new("/etc").join(target)
    };
    if target.exists() {
        return;
    }
    if let Some(parent) = target.parent() {
        let _ = fs::create_dir_all(parent);
    }
    if let Err(e) = fs::write(&target, b"") {
        error!("create {}: {e}", target.display());
    }
}

/// Raises the limits LinuxKit sets for everything it starts.
pub fn rlimits() {
    use nix::sys::resource::{setrlimit, Resource, RLIM_INFINITY};
    let _ = setrlimit(Resource::RLIMIT_NOFILE, 1_048_576, 1_048_576);
    let _ = setrlimit(Resource::RLIMIT_NPROC, RLIM_INFINITY, RLIM_INFINITY);
}

/// Brings up the loopback interface (ioctl SIOCSIFFLAGS on `lo`).
pub fn loopback() {
    // SAFETY: plain socket/ioctl syscalls on a zeroed ifreq we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) != 0 {
                error!("bring up lo: {}", std::io::Error::last_os_error());
            }
        }
        libc::close(fd);
    }
}

/// The kernel command line (empty when unreadable).
pub fn cmdline() -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open("/proc/cmdline") {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// Logs the kernel version once the console is up.
pub fn banner() {
    let u = nix::sys::utsname::uname();
    if let Ok(u) = u {
        info!(
            "starting on Linux {}",
            String::from_utf8_lossy(u.release().as_bytes())
        );
    }
}
