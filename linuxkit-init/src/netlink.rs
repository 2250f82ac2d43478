//! Network interfaces over rtnetlink, for `runtime.json` `interfaces`: create links (a veth
//! pair, or any kind by name), look them up, move them into another process's network
//! namespace. Messages are `netlink-packet-route`'s, sent on a `netlink-sys` socket (the
//! crates libcontainer links already).

use std::io;

use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::Socket;

/// A route netlink socket in the caller's network namespace.
pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

impl Rtnl {
    /// Opens and binds the socket.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        Ok(Rtnl { socket, seq: 0 })
    }

    /// Sends `msg` and reads until the kernel's acknowledgement; returns the links it sent back.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<LinkMessage>> {
        self.seq += 1;
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0; req.header.length as usize];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut links = Vec::new();
        let mut rx = vec![0u8; 16384];
        loop {
            let n = self.socket.recv(&mut &mut rx[..], 0)?;
            let mut off = 0;
            while off < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[off..n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = m.header.length as usize;
                match m.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => links.push(l),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(links),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(links),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// The index of interface `name`.
    pub fn index_of(&mut self, name: &str) -> io::Result<u32> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        let links = self.request(RouteNetlinkMessage::GetLink(m), 0)?;
        links
            .first()
            .map(|l| l.header.index)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// Creates interface `name` of type `kind` (`veth` with `peer` as the other end); in the
    /// network namespace of `netns_pid` when given, else in ours.
    pub fn add(
        &mut self,
        name: &str,
        kind: &str,
        peer: Option<&str>,
        netns_pid: Option<u32>,
    ) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(pid) = netns_pid {
            m.attributes.push(LinkAttribute::NetNsPid(pid));
        }
        let mut info = vec![LinkInfo::Kind(InfoKind::from(kind))];
        if let Some(peer) = peer {
            let mut p = LinkMessage::default();
            p.attributes.push(LinkAttribute::IfName(peer.to_string()));
            info.push(LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))));
        }
        m.attributes.push(LinkAttribute::LinkInfo(info));
        self.request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
    }

    /// Moves interface `index` into the network namespace of process `pid`.
    pub fn move_to_pid(&mut self, index: u32, pid: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::NetNsPid(pid));
        self.request(RouteNetlinkMessage::SetLink(m), 0).map(drop)
    }
}
