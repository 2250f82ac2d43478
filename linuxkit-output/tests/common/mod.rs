//! Shared test fixtures: root filesystem tars written with the `tar` crate, shaped like the
//! ones `linuxkit-build` writes (PAX records on every entry, raw names, duplicates).

#![allow(dead_code)]

pub mod boot;

use std::io::Write;
use std::path::Path;

/// One tar entry of a fixture.
#[derive(Clone)]
pub struct E {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub data: Vec<u8>,
    pub link: Vec<u8>,
    pub dev: (u32, u32),
}

impl E {
    pub fn new(name: &str, kind: tar::EntryType) -> E {
        E {
            name: name.as_bytes().to_vec(),
            kind,
            mode: if kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            },
            uid: 0,
            gid: 0,
            mtime: 1_492_533_000,
            data: Vec::new(),
            link: Vec::new(),
            dev: (0, 0),
        }
    }
    pub fn file(name: &str, data: &[u8]) -> E {
        let mut e = E::new(name, tar::EntryType::Regular);
        e.data = data.to_vec();
        e
    }
    pub fn dir(name: &str) -> E {
        E::new(name, tar::EntryType::Directory)
    }
    pub fn symlink(name: &str, target: &str) -> E {
        let mut e = E::new(name, tar::EntryType::Symlink);
        e.link = target.as_bytes().to_vec();
        e.mode = 0o777;
        e
    }
    pub fn hardlink(name: &str, target: &str) -> E {
        let mut e = E::new(name, tar::EntryType::Link);
        e.link = target.as_bytes().to_vec();
        e
    }
    pub fn dev(name: &str, kind: tar::EntryType, major: u32, minor: u32) -> E {
        let mut e = E::new(name, kind);
        e.dev = (major, minor);
        e.mode = 0o600;
        e
    }
    pub fn mode(mut self, mode: u32) -> E {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> E {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "<len> key=value\n" where len counts itself.
    let body = 1 + key.len() + 1 + value.len() + 1;
    let mut len = body + 1;
    while format!("{len}").len() + body != len {
        len = format!("{len}").len() + body;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// Writes `entries` as a PAX tar (LINUXKIT records on every entry, `path` for long names).
pub fn write_tar(path: &Path, entries: &[E]) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    for e in entries {
        let mut records = Vec::new();
        if e.name.len() > 100 {
            records.extend(pax_record("path", &e.name));
        }
        records.extend(pax_record("LINUXKIT.location", b"init[0]"));
        records.extend(pax_record(
            "LINUXKIT.source",
            b"127.0.0.1:5000/fixture/init:v1",
        ));
        let mut x = tar::Header::new_ustar();
        x.set_entry_type(tar::EntryType::XHeader);
        x.as_old_mut().name[..14].copy_from_slice(b"PaxHeaders.0/x");
        x.set_size(records.len() as u64);
        x.set_mode(0);
        x.set_mtime(0);
        x.set_cksum();
        b.append(&x, records.as_slice()).unwrap();

        let mut h = tar::Header::new_ustar();
        h.set_entry_type(e.kind);
        let n = e.name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&e.name[..n]);
        if !e.link.is_empty() {
            h.as_old_mut().linkname[..e.link.len()].copy_from_slice(&e.link);
        }
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        h.set_device_major(e.dev.0).unwrap();
        h.set_device_minor(e.dev.1).unwrap();
        h.set_cksum();
        b.append(&h, e.data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
}

/// Deterministic, mildly compressible bytes.
pub fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 3 == 0 {
                b'a' + (x % 4) as u8
            } else {
                (x >> 24) as u8
            }
        })
        .collect()
}

/// Is `prog` on PATH?
pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}
