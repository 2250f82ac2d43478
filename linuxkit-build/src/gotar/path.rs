//! Go's `path` package semantics on byte strings (`Clean`, `Dir`, `Base`, `Join`, `Split`),
//! which decide entry names exactly as upstream does.

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
}
