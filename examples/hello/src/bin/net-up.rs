//! `net-up [IFACE [ADDR/PREFIX [GATEWAY]]]`: brings up `lo` and configures `IFACE` (default
//! `eth0`) with a static address and default route — QEMU user networking's defaults
//! `10.0.2.15/24` via `10.0.2.2` — using the classic ioctls (no DHCP, no network tools).

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn fail(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= r.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (d, s) in r.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(r)
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size on Linux; this is how the API is used.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

struct Sock(libc::c_int);

impl Sock {
    fn new() -> io::Result<Self> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(fail("socket"));
        }
        Ok(Sock(fd))
    }

    fn ioctl<T>(&self, req: libc::Ioctl, arg: &mut T, what: &str) -> io::Result<()> {
        // SAFETY: `arg` is the structure the request expects and lives for the call.
        if unsafe { libc::ioctl(self.0, req, arg as *mut T) } < 0 {
            return Err(fail(what));
        }
        Ok(())
    }

    fn up(&self, name: &str) -> io::Result<()> {
        let mut r = ifreq(name)?;
        self.ioctl(libc::SIOCGIFFLAGS, &mut r, &format!("get flags of {name}"))?;
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        unsafe {
            r.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        }
        self.ioctl(libc::SIOCSIFFLAGS, &mut r, &format!("bring up {name}"))
    }

    fn set_addr(&self, name: &str, ip: Ipv4Addr, prefix: u32) -> io::Result<()> {
        let mut r = ifreq(name)?;
        r.ifr_ifru.ifru_addr = sockaddr(ip);
        self.ioctl(libc::SIOCSIFADDR, &mut r, &format!("set address of {name}"))?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let mut r = ifreq(name)?;
        r.ifr_ifru.ifru_netmask = sockaddr(Ipv4Addr::from(mask));
        self.ioctl(
            libc::SIOCSIFNETMASK,
            &mut r,
            &format!("set netmask of {name}"),
        )
    }

    fn default_route(&self, gateway: Ipv4Addr) -> io::Result<()> {
        // SAFETY: rtentry is plain old data; all zeroes is a valid value.
        let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
        rt.rt_dst = sockaddr(Ipv4Addr::UNSPECIFIED);
        rt.rt_genmask = sockaddr(Ipv4Addr::UNSPECIFIED);
        rt.rt_gateway = sockaddr(gateway);
        rt.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
        self.ioctl(libc::SIOCADDRT, &mut rt, "add default route")
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this value owns.
        unsafe { libc::close(self.0) };
    }
}

fn run() -> io::Result<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let iface = args.first().map_or("eth0", String::as_str);
    let cidr = args.get(1).map_or("10.0.2.15/24", String::as_str);
    let gateway = args.get(2).map_or("10.0.2.2", String::as_str);
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    let (addr, prefix) = cidr.split_once('/').unwrap_or((cidr, "24"));
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad("bad address"))?;
    let prefix: u32 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| bad("bad prefix"))?;
    let gateway: Ipv4Addr = gateway.parse().map_err(|_| bad("bad gateway"))?;

    // The NIC appears once its driver module is loaded; wait a little for it.
    let sys = format!("/sys/class/net/{iface}");
    let start = Instant::now();
    while !std::path::Path::new(&sys).exists() {
        if start.elapsed() > Duration::from_secs(20) {
            return Err(bad(&format!(
                "no interface {iface} (is virtio_net loaded?)"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = Sock::new()?;
    s.up("lo")?;
    s.set_addr(iface, addr, prefix)?;
    s.up(iface)?;
    s.default_route(gateway)?;
    Ok(format!("{iface} {addr}/{prefix} via {gateway}"))
}

fn main() {
    match run() {
        Ok(done) => println!("net-up: {done}"),
        Err(e) => {
            eprintln!("net-up: {e}");
            std::process::exit(1);
        }
    }
}
