//! Lexical path operations with Go's `path/filepath` semantics (Unix), on raw bytes.
//!
//! Upstream turns a hard link into a symlink whose target is `filepath.Rel(filepath.Dir(name), linkname)`;
//! reproducing the initrd byte for byte needs the same results, including the odd cases
//! (`./` prefixes, trailing slashes, `..` in names, absolute link names).

/// `filepath.Clean`: the shortest lexically equivalent path.
pub(crate) fn clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path[0] == b'/';
    let mut parts: Vec<&[u8]> = Vec::new();
    // Number of leading `..` elements that cannot be cancelled (only for relative paths).
    let mut dotdots = 0usize;
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.len() > dotdots {
                    parts.pop();
                } else if !rooted {
                    parts.push(b"..");
                    dotdots += 1;
                }
            }
            other => parts.push(other),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    if rooted {
        out.push(b'/');
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// `filepath.Dir`: everything before the last `/`, cleaned (`.` when there is no `/`).
pub(crate) fn dir(path: &[u8]) -> Vec<u8> {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => clean(&path[..=i]),
        None => b".".to_vec(),
    }
}

/// `filepath.Rel(base, target)`: `None` where Go returns an error (one path absolute and the
/// other relative, or `base` needing to climb above an unknown `..`).
pub(crate) fn rel(base: &[u8], target: &[u8]) -> Option<Vec<u8>> {
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

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap_or_default()
    }

    #[test]
    fn clean_matches_go() {
        for (input, want) in [
            ("", "."),
            ("./bin/", "bin"),
            ("a//b/./c/..", "a/b"),
            ("../../x", "../../x"),
            ("/../x", "/x"),
            ("a/../..", ".."),
            ("/", "/"),
        ] {
            assert_eq!(s(clean(input.as_bytes())), want, "clean({input:?})");
        }
    }

    #[test]
    fn dir_matches_go() {
        for (input, want) in [
            ("bin/zcat", "bin"),
            ("zcat", "."),
            ("./bin/zcat", "bin"),
            ("a/b/", "a/b"),
            ("/x", "/"),
        ] {
            assert_eq!(s(dir(input.as_bytes())), want, "dir({input:?})");
        }
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
                rel(base.as_bytes(), targ.as_bytes()).map(s).as_deref(),
                want,
                "rel({base:?}, {targ:?})"
            );
        }
    }
}
