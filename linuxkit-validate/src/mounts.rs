//! Paths, binds (`src:dst[:opts]`), tmpfs entries (`dst[:opts]`) and mount options.

use crate::scalars::volume_name;
use crate::suggest::did_you_mean;

/// Mount options that runc applies itself, without a `=value`: mount flags, propagation modes,
/// recursive (`mount_setattr`) flags and runc extensions. With [`FILESYSTEM_FLAGS`] they are
/// the options runc understands; `key=value` options are always accepted, since they are
/// handed to the filesystem.
pub const MOUNT_FLAGS: &[&str] = &[
    // Flags.
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rw",
    "silent",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    // Propagation.
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    // Recursive flags.
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
    // runc extensions.
    "tmpcopyup",
    "idmap",
    "ridmap",
];

/// Checks an absolute path: starts with `/` and has no `..` component.
pub fn absolute_path(s: &str) -> Result<(), String> {
    check_path("path", s)
}

/// Checks the path of a `files` entry. LinuxKit strips one leading `/`, so `etc/hosts` and
/// `/etc/hosts` are the same file; the path must not be empty or contain a `..` component.
pub fn file_path(s: &str) -> Result<(), String> {
    if s.is_empty() || s == "/" {
        return Err(format!(
            "file path is empty: expected a path such as \"/etc/hosts\", got {s:?}"
        ));
    }
    if s.split('/').any(|c| c == "..") {
        return Err(format!(
            "file path must not contain a '..' component: {s:?}"
        ));
    }
    if s.contains('\0') {
        return Err(format!("file path must not contain a NUL character: {s:?}"));
    }
    Ok(())
}

/// A path that runc resolves inside the container's root (a mount destination, a masked or
/// read-only path, a device node). Upstream passes it through as written, and runc accepts it
/// relative or with `..`: it puts `/` in front and cleans it. `Ok(None)` for an absolute path
/// without `..`; `Ok(Some(p))` for a relative path or one with a `..` component, `p` being the
/// absolute path runc uses; `Err` (naming `what`) for an empty path or one with a NUL.
pub fn container_path(what: &str, s: &str) -> Result<Option<String>, String> {
    if s.is_empty() {
        return Err(format!(
            "{what} is empty: expected an absolute path such as \"/etc/hosts\""
        ));
    }
    if s.contains('\0') {
        return Err(format!("{what} must not contain a NUL character: {s:?}"));
    }
    if s.starts_with('/') && !s.split('/').any(|c| c == "..") {
        return Ok(None);
    }
    let rooted = format!("/{}", s.trim_start_matches('/'));
    let clean = crate::gopath::clean(rooted.as_bytes());
    Ok(Some(String::from_utf8_lossy(&clean).into_owned()))
}

fn check_path(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!(
            "{what} is empty: expected an absolute path such as \"/etc/hosts\""
        ));
    }
    if !s.starts_with('/') {
        return Err(format!("{what} must be absolute (start with '/'): {s:?}"));
    }
    if s.split('/').any(|c| c == "..") {
        return Err(format!("{what} must not contain a '..' component: {s:?}"));
    }
    if s.contains('\0') {
        return Err(format!("{what} must not contain a NUL character: {s:?}"));
    }
    Ok(())
}

/// A bind split into its parts, as LinuxKit splits it (on every `:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindSpec<'a> {
    /// Host path, or the name of a volume of the image when it does not start with `/`.
    pub source: &'a str,
    /// Absolute path in the container.
    pub destination: &'a str,
    /// Comma-separated options; `None` means LinuxKit's default `rw,rbind,rshared`.
    pub options: Option<&'a str>,
}

impl<'a> BindSpec<'a> {
    /// The volume this bind refers to: its source when that is not an absolute path.
    pub fn volume(&self) -> Option<&'a str> {
        (!self.source.starts_with('/')).then_some(self.source)
    }
}

/// Splits and checks a bind `source:destination[:options]`.
pub fn parse_bind(s: &str) -> Result<BindSpec<'_>, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, destination, options) = match parts[..] {
        [source, destination] => (source, destination, None),
        [source, destination, options] => (source, destination, Some(options)),
        [_] => {
            return Err(format!(
                "bind is missing ':': expected \"source:destination[:options]\", got {s:?}"
            ))
        }
        _ => {
            return Err(format!(
                "bind has too many ':': expected \"source:destination[:options]\", got {s:?}"
            ))
        }
    };
    if source.is_empty() {
        return Err(format!(
            "bind has an empty source: expected an absolute host path or a volume name, got {s:?}"
        ));
    }
    if source.starts_with('/') {
        check_path("bind source", source)?;
    } else if volume_name(source).is_err() {
        return Err(format!(
            "bind source {source:?} is neither an absolute path nor a volume name (lowercase letters, digits, '_', '-'): {s:?}"
        ));
    }
    check_path("bind destination", destination)?;
    if let Some(options) = options {
        bind_options(options)?;
    }
    Ok(BindSpec {
        source,
        destination,
        options,
    })
}

/// Checks a bind `source:destination[:options]`: 2 or 3 parts, an absolute destination, a
/// source that is an absolute path or a volume name, known options.
pub fn bind(s: &str) -> Result<(), String> {
    parse_bind(s).map(|_| ())
}

/// Checks a tmpfs entry `destination[:option,option]`.
pub fn tmpfs(s: &str) -> Result<(), String> {
    let (destination, options) = match s.split_once(':') {
        Some((destination, options)) => (destination, Some(options)),
        None => (s, None),
    };
    if options.is_some_and(|o| o.contains(':')) {
        return Err(format!(
            "tmpfs has too many ':': expected \"destination[:option,option]\", got {s:?}"
        ));
    }
    check_path("tmpfs destination", destination)?;
    if let Some(options) = options {
        mount_options(options)?;
    }
    Ok(())
}

/// Options without a `=value` that runc does not apply itself but hands to the filesystem as
/// data (`defaults` is a flag of value 0, `acl` has no flag; the rest are filesystem options).
pub const FILESYSTEM_FLAGS: &[&str] = &[
    "acl",
    "noacl",
    "defaults",
    "newinstance",
    "userxattr",
    "nsdelegate",
    "memory_recursiveprot",
    "noswap",
    "inode32",
    "inode64",
    "nouuid",
    "discard",
    "nodiscard",
];

/// Checks the options of a bind mount: [`mount_options`], and none that runc hands to the
/// filesystem as data (`key=value`, [`FILESYSTEM_FLAGS`]): runc refuses to start a container
/// whose bind mount has any ("bind mounts cannot have any filesystem-specific options applied").
pub fn bind_options(s: &str) -> Result<(), String> {
    mount_options(s)?;
    match s
        .split(',')
        .find(|o| o.contains('=') || FILESYSTEM_FLAGS.contains(o))
    {
        Some(o) => Err(format!(
            "mount option {o:?} is filesystem data, which runc refuses on a bind mount: use flags such as ro, nosuid, nodev, noexec, rbind, rshared"
        )),
        None => Ok(()),
    }
}

/// Checks a comma-separated list of mount options: known flags (see [`MOUNT_FLAGS`]) or
/// `key=value`.
pub fn mount_options(s: &str) -> Result<(), String> {
    for option in s.split(',') {
        mount_option(s, option)?;
    }
    Ok(())
}

fn mount_option(list: &str, option: &str) -> Result<(), String> {
    if option.is_empty() {
        return Err(format!(
            "empty mount option in {list:?}: expected options separated by single commas"
        ));
    }
    if let Some((key, _)) = option.split_once('=') {
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            return Err(format!(
                "invalid mount option {option:?}: expected key=value with a lowercase key"
            ));
        }
        return Ok(());
    }
    if MOUNT_FLAGS.contains(&option) || FILESYSTEM_FLAGS.contains(&option) {
        return Ok(());
    }
    Err(format!(
        "unknown mount option {option:?}{}: expected a flag such as ro, rw, nosuid, nodev, noexec, relatime, a propagation such as rshared, rslave, rprivate, or key=value",
        did_you_mean(
            option,
            MOUNT_FLAGS.iter().chain(FILESYSTEM_FLAGS).copied()
        )
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths() {
        for p in ["/", "/etc/x", "/a/b/", "/a/..b/.c", "/a/./b"] {
            assert_eq!(absolute_path(p), Ok(()), "{p}");
        }
        assert_eq!(
            absolute_path("etc/x"),
            Err("path must be absolute (start with '/'): \"etc/x\"".into())
        );
        assert_eq!(
            absolute_path("/a/../b"),
            Err("path must not contain a '..' component: \"/a/../b\"".into())
        );
        assert!(absolute_path("/a/..").is_err());
        assert!(absolute_path("").unwrap_err().contains("empty"));
        assert!(absolute_path("/a\0").unwrap_err().contains("NUL"));
    }

    #[test]
    fn container_paths() {
        assert_eq!(container_path("x", "/etc"), Ok(None));
        assert_eq!(
            container_path("x", "writeable-host-etc"),
            Ok(Some("/writeable-host-etc".into()))
        );
        assert_eq!(container_path("x", "/a/../b"), Ok(Some("/b".into())));
        assert_eq!(container_path("x", "../../b"), Ok(Some("/b".into())));
        assert!(container_path("x", "").is_err());
        assert!(container_path("x", "a\0").is_err());
    }

    #[test]
    fn file_paths() {
        for p in [
            "etc/hosts",
            "/etc/hosts",
            "root/.ssh/authorized_keys",
            "/a/..b",
        ] {
            assert_eq!(file_path(p), Ok(()), "{p}");
        }
        assert!(file_path("").unwrap_err().contains("empty"));
        assert!(file_path("/").unwrap_err().contains("empty"));
        assert_eq!(
            file_path("etc/../x"),
            Err("file path must not contain a '..' component: \"etc/../x\"".into())
        );
    }

    #[test]
    fn binds() {
        for b in [
            "/a:/b",
            "/var/:/host_var:rbind,rshared",
            "/a:/b:ro",
            "data:/data",
            "my_vol-1:/x:ro,nosuid",
        ] {
            assert_eq!(bind(b), Ok(()), "{b}");
        }
        assert_eq!(
            parse_bind("vol:/x:ro"),
            Ok(BindSpec {
                source: "vol",
                destination: "/x",
                options: Some("ro")
            })
        );
        assert_eq!(parse_bind("vol:/x").map(|b| b.volume()), Ok(Some("vol")));
        assert_eq!(parse_bind("/v:/x").map(|b| b.volume()), Ok(None));

        assert_eq!(
            bind("/a"),
            Err(
                "bind is missing ':': expected \"source:destination[:options]\", got \"/a\"".into()
            )
        );
        assert!(bind("/a:/b:ro:x").unwrap_err().contains("too many ':'"));
        assert!(bind(":/b").unwrap_err().contains("empty source"));
        assert!(bind("Data:/b")
            .unwrap_err()
            .contains("neither an absolute path nor a volume name"));
        assert!(bind("/a/../b:/b")
            .unwrap_err()
            .starts_with("bind source must not contain a '..'"));
        assert_eq!(
            bind("/a:b"),
            Err("bind destination must be absolute (start with '/'): \"b\"".into())
        );
        assert_eq!(
            bind("/a:/b:ro,nosiud"),
            Err("unknown mount option \"nosiud\" (did you mean \"nosuid\"?): expected a flag such as ro, rw, nosuid, nodev, noexec, relatime, a propagation such as rshared, rslave, rprivate, or key=value".into())
        );
        assert!(bind("/a:/b:").unwrap_err().contains("empty mount option"));
    }

    #[test]
    fn tmpfs_entries() {
        for t in ["/tmp", "/tmp:size=1m", "/run:nosuid,nodev,mode=755"] {
            assert_eq!(tmpfs(t), Ok(()), "{t}");
        }
        assert!(tmpfs("/tmp:size=1m:x")
            .unwrap_err()
            .contains("too many ':'"));
        assert!(tmpfs("tmp")
            .unwrap_err()
            .starts_with("tmpfs destination must be absolute"));
        assert!(tmpfs("/tmp:bogus")
            .unwrap_err()
            .contains("unknown mount option \"bogus\""));
    }

    #[test]
    fn options() {
        for o in [
            "nosuid,nodev",
            "rw",
            "lowerdir=/etc,upperdir=/u",
            "mode=0620,ptmxmode=0666,newinstance",
            "rshared,rbind",
        ] {
            assert_eq!(mount_options(o), Ok(()), "{o}");
        }
        assert!(mount_options("")
            .unwrap_err()
            .contains("empty mount option"));
        assert!(mount_options("ro,,rw")
            .unwrap_err()
            .contains("empty mount option"));
        assert!(mount_options("=x").unwrap_err().contains("lowercase key"));
        assert!(mount_options("Size=1")
            .unwrap_err()
            .contains("lowercase key"));
        assert!(mount_options("readonly")
            .unwrap_err()
            .contains("unknown mount option \"readonly\""));
    }
}
