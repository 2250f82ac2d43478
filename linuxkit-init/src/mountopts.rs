//! Mount option strings (`ro`, `nosuid`, `rshared`, `size=10%`, ...) to `mount(2)` arguments,
//! the way LinuxKit's runc/containerd wrappers interpret `runtime.json` mounts.

use nix::mount::MsFlags;

/// A parsed option list.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call itself.
    pub flags: MsFlags,
    /// Propagation flags, applied by a second mount call.
    pub propagation: MsFlags,
    /// Filesystem-specific options joined with `,`.
    pub data: String,
}

/// Parses an OCI mount option list.
pub fn parse(options: &[String]) -> MountOptions {
    let mut out = MountOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        data: String::new(),
    };
    let mut data = Vec::new();
    for opt in options {
        // (flag, clear?)
        let flag = match opt.as_str() {
            "defaults" => Some((MsFlags::empty(), false)),
            "ro" => Some((MsFlags::MS_RDONLY, false)),
            "rw" => Some((MsFlags::MS_RDONLY, true)),
            "suid" => Some((MsFlags::MS_NOSUID, true)),
            "nosuid" => Some((MsFlags::MS_NOSUID, false)),
            "dev" => Some((MsFlags::MS_NODEV, true)),
            "nodev" => Some((MsFlags::MS_NODEV, false)),
            "exec" => Some((MsFlags::MS_NOEXEC, true)),
            "noexec" => Some((MsFlags::MS_NOEXEC, false)),
            "sync" => Some((MsFlags::MS_SYNCHRONOUS, false)),
            "async" => Some((MsFlags::MS_SYNCHRONOUS, true)),
            "dirsync" => Some((MsFlags::MS_DIRSYNC, false)),
            "remount" => Some((MsFlags::MS_REMOUNT, false)),
            "mand" => Some((MsFlags::MS_MANDLOCK, false)),
            "nomand" => Some((MsFlags::MS_MANDLOCK, true)),
            "atime" => Some((MsFlags::MS_NOATIME, true)),
            "noatime" => Some((MsFlags::MS_NOATIME, false)),
            "diratime" => Some((MsFlags::MS_NODIRATIME, true)),
            "nodiratime" => Some((MsFlags::MS_NODIRATIME, false)),
            "bind" => Some((MsFlags::MS_BIND, false)),
            "rbind" => Some((MsFlags::MS_BIND | MsFlags::MS_REC, false)),
            "relatime" => Some((MsFlags::MS_RELATIME, false)),
            "norelatime" => Some((MsFlags::MS_RELATIME, true)),
            "strictatime" => Some((MsFlags::MS_STRICTATIME, false)),
            "nostrictatime" => Some((MsFlags::MS_STRICTATIME, true)),
            _ => None,
        };
        if let Some((f, clear)) = flag {
            if clear {
                out.flags.remove(f);
            } else {
                out.flags.insert(f);
            }
            continue;
        }
        let prop = match opt.as_str() {
            "private" => Some(MsFlags::MS_PRIVATE),
            "rprivate" => Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "shared" => Some(MsFlags::MS_SHARED),
            "rshared" => Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => Some(MsFlags::MS_SLAVE),
            "rslave" => Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => Some(MsFlags::MS_UNBINDABLE),
            "runbindable" => Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            _ => None,
        };
        match prop {
            Some(p) => out.propagation.insert(p),
            None => data.push(opt.as_str()),
        }
    }
    out.data = data.join(",");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_propagation_and_data_are_separated() {
        let o = parse(&s(&["rw", "rbind", "rshared", "size=10%", "mode=755"]));
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(o.propagation, MsFlags::MS_SHARED | MsFlags::MS_REC);
        assert_eq!(o.data, "size=10%,mode=755");
    }

    #[test]
    fn remount_private_and_overlay_options() {
        let o = parse(&s(&["remount", "private"]));
        assert_eq!(o.flags, MsFlags::MS_REMOUNT);
        assert_eq!(o.propagation, MsFlags::MS_PRIVATE);
        let o = parse(&s(&["lowerdir=/a", "upperdir=/b", "ro"]));
        assert_eq!(o.flags, MsFlags::MS_RDONLY);
        assert_eq!(o.data, "lowerdir=/a,upperdir=/b");
    }
}
