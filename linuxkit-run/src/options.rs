//! How to boot: the resolved run options and the parsers of their command-line spellings.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::RunError;

/// Acceleration choice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Accel {
    /// KVM when it really works (probed), else TCG.
    #[default]
    Auto,
    /// Force KVM.
    Kvm,
    /// Force TCG (software emulation).
    Tcg,
    /// Any other QEMU accelerator name, passed through.
    Other(String),
}

impl FromStr for Accel {
    type Err = RunError;
    fn from_str(s: &str) -> Result<Self, RunError> {
        Ok(match s {
            "" | "auto" => Accel::Auto,
            "kvm" => Accel::Kvm,
            "tcg" => Accel::Tcg,
            other if other.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') => {
                Accel::Other(other.to_string())
            }
            other => {
                return Err(RunError::InvalidOption {
                    what: "accelerator",
                    value: other.into(),
                    reason: "expected auto, kvm, tcg or a QEMU accelerator name".into(),
                })
            }
        })
    }
}

/// An extra disk: `[file=]PATH[,size=N[M|G]][,format=F]`, created with qemu-img when missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    /// The disk file; `None` means `<state>/disk<N>.img`.
    pub path: Option<PathBuf>,
    /// Size in MiB, for creation.
    pub size_mb: Option<u64>,
    /// Image format (`raw`, `qcow2`, ...); qcow2 when created, autodetected otherwise.
    pub format: Option<String>,
}

impl FromStr for DiskSpec {
    type Err = RunError;
    fn from_str(s: &str) -> Result<Self, RunError> {
        let mut spec = DiskSpec {
            path: None,
            size_mb: None,
            format: None,
        };
        let bad = |reason: &str| RunError::InvalidOption {
            what: "disk",
            value: s.into(),
            reason: reason.into(),
        };
        for (i, part) in s.split(',').enumerate() {
            match part.split_once('=') {
                Some(("file", v)) => spec.path = Some(PathBuf::from(v)),
                Some(("size", v)) => spec.size_mb = Some(parse_size_mb(v).map_err(|r| bad(&r))?),
                Some(("format", v)) => spec.format = Some(v.to_string()),
                Some((k, _)) => {
                    return Err(bad(&format!(
                        "unknown key `{k}` (expected file, size or format)"
                    )))
                }
                None if i == 0 && !part.is_empty() => spec.path = Some(PathBuf::from(part)),
                None => return Err(bad("expected [file=]PATH[,size=N][,format=F]")),
            }
        }
        if spec.path.is_none() && spec.size_mb.is_none() {
            return Err(bad("a disk needs a path or a size"));
        }
        Ok(spec)
    }
}

/// Parses `NNNM`, `NNNG` or a bare number of GiB, as upstream does, into MiB.
pub fn parse_size_mb(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1024),
        _ => (s, 1024),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| format!("size `{s}` is not NNNM, NNNG or a number of GiB"))
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A published port `HOST:GUEST[/tcp|udp]` (user-mode networking only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortForward {
    /// Host port.
    pub host: u16,
    /// Guest port.
    pub guest: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl FromStr for PortForward {
    type Err = RunError;
    fn from_str(s: &str) -> Result<Self, RunError> {
        let bad = |reason: &str| RunError::InvalidOption {
            what: "port",
            value: s.into(),
            reason: reason.into(),
        };
        let (ports, protocol) = match s.split_once('/') {
            None => (s, Protocol::Tcp),
            Some((p, "tcp")) => (p, Protocol::Tcp),
            Some((p, "udp")) => (p, Protocol::Udp),
            Some(_) => return Err(bad("protocol must be tcp or udp")),
        };
        let (h, g) = ports
            .split_once(':')
            .ok_or_else(|| bad("expected HOST:GUEST[/tcp|udp]"))?;
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| bad(&format!("`{p}` is not a port number")))
        };
        Ok(PortForward {
            host: port(h)?,
            guest: port(g)?,
            protocol,
        })
    }
}

/// Guest networking.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Networking {
    /// QEMU user-mode networking (SLIRP), with published ports.
    #[default]
    User,
    /// No network device.
    None,
}

impl FromStr for Networking {
    type Err = RunError;
    fn from_str(s: &str) -> Result<Self, RunError> {
        match s {
            "user" | "default" => Ok(Networking::User),
            "none" => Ok(Networking::None),
            other => Err(RunError::InvalidOption {
                what: "networking",
                value: other.into(),
                reason: "expected user or none".into(),
            }),
        }
    }
}

/// Everything about how a VM is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Virtual CPUs.
    pub cpus: u32,
    /// Memory in MiB.
    pub mem_mb: u64,
    /// Acceleration.
    pub accel: Accel,
    /// Extra disks, in order.
    pub disks: Vec<DiskSpec>,
    /// Networking mode.
    pub networking: Networking,
    /// Published ports.
    pub publish: Vec<PortForward>,
    /// State directory (default `<prefix>-state`).
    pub state_dir: Option<PathBuf>,
    /// Kill the VM after this long and report a timeout.
    pub timeout: Option<Duration>,
    /// Force UEFI on (`Some(true)`) or off; `None` follows the output's format.
    pub uefi: Option<bool>,
    /// UEFI firmware code file (default: OVMF from the `ovmf` package).
    pub firmware: Option<PathBuf>,
    /// The QEMU binary (default `qemu-system-x86_64` from PATH).
    pub qemu: Option<PathBuf>,
    /// Under TCG, boot the `vmlinux` extracted from a bzImage through PVH (about 4 s faster).
    pub pvh: bool,
    /// Extra `-device` arguments.
    pub devices: Vec<String>,
    /// Show a window instead of the serial console on the terminal.
    pub gui: bool,
    /// Boot with Secure Boot enforced, enrolling this certificate (DER) as PK, KEK and db.
    pub secure_boot: Option<Vec<u8>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            cpus: 1,
            mem_mb: 1024,
            accel: Accel::Auto,
            disks: Vec::new(),
            networking: Networking::User,
            publish: Vec::new(),
            state_dir: None,
            timeout: None,
            uefi: None,
            firmware: None,
            qemu: None,
            pvh: true,
            devices: Vec::new(),
            gui: false,
            secure_boot: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_parse_like_upstream() {
        let d: DiskSpec = "data.qcow2,size=2G,format=qcow2".parse().unwrap();
        assert_eq!(d.path, Some(PathBuf::from("data.qcow2")));
        assert_eq!(d.size_mb, Some(2048));
        assert_eq!(d.format.as_deref(), Some("qcow2"));
        let d: DiskSpec = "file=x.img,size=512M".parse().unwrap();
        assert_eq!(d.size_mb, Some(512));
        let d: DiskSpec = "size=3".parse().unwrap();
        assert_eq!((d.path, d.size_mb), (None, Some(3072)));
        assert!("x.img,speed=3".parse::<DiskSpec>().is_err());
        assert!("size=lots".parse::<DiskSpec>().is_err());
    }

    #[test]
    fn ports_parse_with_protocol() {
        let p: PortForward = "2222:22".parse().unwrap();
        assert_eq!((p.host, p.guest, p.protocol), (2222, 22, Protocol::Tcp));
        let p: PortForward = "53:53/udp".parse().unwrap();
        assert_eq!(p.protocol, Protocol::Udp);
        assert!("22".parse::<PortForward>().is_err());
        assert!("1:2/sctp".parse::<PortForward>().is_err());
        assert!("70000:1".parse::<PortForward>().is_err());
    }

    #[test]
    fn accel_names() {
        assert_eq!("tcg".parse::<Accel>().unwrap(), Accel::Tcg);
        assert_eq!("".parse::<Accel>().unwrap(), Accel::Auto);
        assert_eq!(
            "kvm:tcg".parse::<Accel>().unwrap(),
            Accel::Other("kvm:tcg".into())
        );
        assert!("kvm,foo=1".parse::<Accel>().is_err());
    }
}
