//! Go's `path` package semantics on byte strings (`Clean`, `Dir`, `Base`, `Join`, `Split`).
//! The build decides tar entry names with them exactly as upstream does, the initrd writer
//! computes link targets with them, and the checks show the path runc will use.

/// Go `path.Clean`: lexical shortest equivalent path.
pub fn clean(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let rooted = p[0] == b'/';
    let mut out: Vec<u8> = Vec::with_capacity(p.len());
    if rooted {
        out.push(b'/');
    }
    // dotdot: index in `out` up to which `..` cannot backtrack.
    let mut dotdot = out.len();
    let n = p.len();
    let mut r = if rooted { 1 } else { 0 };
    while r < n {
        if p[r] == b'/' || (p[r] == b'.' && (r + 1 == n || p[r + 1] == b'/')) {
            // empty element or `.`
            r += 1;
        } else if p[r] == b'.' && p[r + 1] == b'.' && (r + 2 == n || p[r + 2] == b'/') {
            r += 2;
            if out.len() > dotdot {
                // backtrack to the previous '/'
                let mut w = out.len() - 1;
                while w > dotdot && out[w] != b'/' {
                    w -= 1;
                }
                out.truncate(w);
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return b".".to_vec();
    }
    out
}

/// Go `path.Split`: `dir` up to and including the last `/`, and the rest.
pub fn split(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => (&[], p),
    }
}

/// Go `path.Join`: the non-empty elements joined by `/`, cleaned; empty if all are empty.
pub fn join(elems: &[&[u8]]) -> Vec<u8> {
    let mut buf = Vec::new();
    for e in elems.iter().filter(|e| !e.is_empty()) {
        if !buf.is_empty() {
            buf.push(b'/');
        }
        buf.extend_from_slice(e);
    }
    if buf.is_empty() {
        return buf;
    }
    clean(&buf)
}

/// Go `path.Base`.
pub fn base(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let mut p = p;
    while p.len() > 1 && p[p.len() - 1] == b'/' {
        p = &p[..p.len() - 1];
    }
    if p == b"/" {
        return b"/".to_vec();
    }
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => p[i + 1..].to_vec(),
        None => p.to_vec(),
    }
}

/// Go `path.Dir`.
pub fn dir(p: &[u8]) -> Vec<u8> {
    let (d, _) = split(p);
    clean(d)
}

/// `filepath.Rel(base, target)`: `None` where Go returns an error (one path absolute and the
/// other relative, or `base` needing to climb above an unknown `..`).
pub fn rel(base: &[u8], target: &[u8]) -> Option<Vec<u8>> {
    let base = clean(base);
    let targ = clean(target);
    if base == targ {
        return Some(b".".to_vec());
    }
    let base: &[u8] = if base == b"." { b"" } else { &base };
    let targ: &[u8] = &targ;
    let base_rooted = base.first() == Some(&b'/');
    let targ_rooted = targ.first() == Some(&b'/');
    if base_rooted != targ_rooted {
        return None;
    }
    let (bl, tl) = (base.len(), targ.len());
    let (mut b0, mut bi, mut t0, mut ti) = (0usize, 0usize, 0usize, 0usize);
    loop {
        while bi < bl && base[bi] != b'/' {
            bi += 1;
        }
        while ti < tl && targ[ti] != b'/' {
            ti += 1;
        }
        if targ[t0..ti] != base[b0..bi] {
            break;
        }
        if bi < bl {
            bi += 1;
        }
        if ti < tl {
            ti += 1;
        }
        b0 = bi;
        t0 = ti;
        if b0 >= bl && t0 >= tl {
            break;
        }
    }
    if &base[b0..bi] == b".." {
        return None;
    }
    if b0 != bl {
        let seps = base[b0..bl].iter().filter(|&&b| b == b'/').count();
        let mut out = b"..".to_vec();
        for _ in 0..seps {
            out.extend_from_slice(b"/..");
        }
        if t0 != tl {
            out.push(b'/');
            out.extend_from_slice(&targ[t0..]);
        }
        return Some(out);
    }
    Some(targ[t0..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        String::from_utf8(clean(s.as_bytes())).unwrap()
    }

    #[test]
    fn clean_matches_go() {
        assert_eq!(c(""), ".");
        assert_eq!(c("./"), ".");
        assert_eq!(c("./bin/"), "bin");
        assert_eq!(c("a//b/./c/.."), "a/b");
        assert_eq!(c("/../x"), "/x");
        assert_eq!(c("../x/.."), "..");
        assert_eq!(c("a/../../b"), "../b");
        assert_eq!(c("/"), "/");
    }

    #[test]
    fn dir_base_join() {
        assert_eq!(dir(b"a"), b".");
        assert_eq!(dir(b"a/b/c"), b"a/b");
        assert_eq!(dir(b"/a"), b"/");
        assert_eq!(base(b"a/b/"), b"b");
        assert_eq!(base(b"."), b".");
        assert_eq!(join(&[b"lib/", b"PaxHeaders.0", b""]), b"lib/PaxHeaders.0");
        assert_eq!(join(&[b"", b"PaxHeaders.0", b"boot"]), b"PaxHeaders.0/boot");
        assert_eq!(join(&[b".", b"x"]), b"x");
    }

    #[test]
    fn rel_matches_go() {
        for (base, targ, want) in [
            ("bin", "bin/gzip", Some("gzip")),
            (".", "bin/true", Some("bin/true")),
            ("usr/bin", "bin/busybox", Some("../../bin/busybox")),
            ("a/b", "a/b", Some(".")),
            ("a/b", "a", Some("..")),
            ("a/b/c", "a/x/y", Some("../../x/y")),
            ("bin", "/bin/gzip", None),
            ("..", "a", None),
            ("/a", "/b/c", Some("../b/c")),
        ] {
            assert_eq!(
                rel(base.as_bytes(), targ.as_bytes())
                    .map(|v| String::from_utf8(v).unwrap())
                    .as_deref(),
                want,
                "rel({base:?}, {targ:?})"
            );
        }
    }
}
