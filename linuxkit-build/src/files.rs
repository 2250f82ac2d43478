//! The `files` section (upstream `filesystem()`, build spec §3.6).

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use linuxkit_dsl::Image;

use crate::error::BuildError;
use crate::gotar::type_flag;
use crate::image_tar::lk_header;
use crate::oci_config::IdMap;
use crate::sink::EntrySink;

const SOURCE: &str = "linuxkit.files";

/// Writes every `files` entry. `files_base` is what relative `source` paths resolve against
/// (upstream: the process's working directory); `home` expands `~/`.
pub(crate) fn write_files(
    image: &Image,
    ids: &IdMap,
    files_base: &Path,
    home: Option<&Path>,
    progress: &dyn Fn(&str),
    sink: &mut dyn EntrySink,
) -> Result<(), BuildError> {
    let mut added: HashSet<String> = HashSet::new();
    if !image.files.is_empty() {
        progress("Add files:");
    }
    for (count, f) in image.files.iter().enumerate() {
        progress(&format!("  {}", f.path));
        let location = format!("files[{count}]");
        if f.path.is_empty() {
            return Err(BuildError::Files("did not specify path for file".into()));
        }
        let path = f.path.strip_prefix('/').unwrap_or(&f.path).to_string();
        let mut mode: i64 = if f.directory { 0o700 } else { 0o600 };
        if let Some(m) = nonempty(&f.mode) {
            mode = parse_go_octal(m).map_err(|e| {
                BuildError::Files(format!("cannot parse file mode as octal value: {e}"))
            })?;
        }
        let mut dir_mode = mode;
        if dir_mode & 0o700 != 0 {
            dir_mode |= 0o100;
        }
        if dir_mode & 0o070 != 0 {
            dir_mode |= 0o010;
        }
        if dir_mode & 0o007 != 0 {
            dir_mode |= 0o001;
        }
        let uid = ids.resolve(f.uid.as_ref())?;
        let gid = ids.resolve(f.gid.as_ref())?;

        let symlink = nonempty(&f.symlink);
        let source = nonempty(&f.source);
        let metadata = nonempty(&f.metadata);
        let mut content = Content::Bytes(f.contents.clone().unwrap_or_default().into_bytes());
        if !f.directory && symlink.is_none() && f.contents.is_none() {
            if source.is_none() && metadata.is_none() {
                return Err(BuildError::Files(format!(
                    "contents of file ({path}) not specified"
                )));
            }
            if source.is_some() && metadata.is_some() {
                return Err(BuildError::Files(format!(
                    "specified Source and Metadata for file: {path}"
                )));
            }
            if let Some(src) = source {
                let expanded = match (src.strip_prefix("~/"), home) {
                    (Some(rest), Some(home)) if src.len() > 2 => {
                        format!("{}/{rest}", home.display())
                    }
                    _ => src.to_string(),
                };
                let full: PathBuf = files_base.join(&expanded);
                let meta = fs::metadata(&full);
                if f.optional && meta.is_err() {
                    continue;
                }
                let open_err =
                    |e: std::io::Error| BuildError::Files(format!("open {expanded}: {e}"));
                let meta = meta.map_err(open_err)?;
                if meta.is_dir() {
                    return Err(BuildError::Files(format!(
                        "read {expanded}: is a directory"
                    )));
                }
                let file = fs::File::open(&full).map_err(open_err)?;
                content = Content::File(file, meta.len(), expanded);
            } else if let Some(kind) = metadata {
                content = Content::Bytes(crate::metadata::metadata(image, kind)?);
            }
        } else {
            if metadata.is_some() {
                return Err(BuildError::Files(format!(
                    "specified Contents and Metadata for file: {path}"
                )));
            }
            if source.is_some() {
                return Err(BuildError::Files(format!(
                    "specified Contents and Source for file: {path}"
                )));
            }
        }

        // Parent directories not yet written by this section (images' dirs are not tracked).
        let mut root = String::new();
        for p in go_dir(&path).split('/') {
            if p == "." || p == "/" {
                continue;
            }
            if root.is_empty() {
                root = p.to_string();
            } else {
                root = format!("{root}/{p}");
            }
            if added.insert(root.clone()) {
                let mut h = lk_header(root.as_bytes(), type_flag::DIR, dir_mode, SOURCE, &location);
                h.uid = i64::from(uid);
                h.gid = i64::from(gid);
                sink.entry(h, &mut std::io::empty())?;
            }
        }
        added.insert(path.clone());

        let mut h = lk_header(path.as_bytes(), type_flag::REG_A, mode, SOURCE, &location);
        h.uid = i64::from(uid);
        h.gid = i64::from(gid);
        if f.directory {
            if f.contents.is_some() {
                return Err(BuildError::Files(
                    "directory with contents not allowed".into(),
                ));
            }
            h.typeflag = type_flag::DIR;
            sink.entry(h, &mut std::io::empty())?;
        } else if let Some(target) = symlink {
            h.typeflag = type_flag::SYMLINK;
            h.linkname = target.as_bytes().to_vec();
            sink.entry(h, &mut std::io::empty())?;
        } else {
            match content {
                Content::Bytes(b) => {
                    h.size = b.len() as i64;
                    sink.entry(h, &mut b.as_slice())?;
                }
                Content::File(file, len, name) => {
                    h.size = len as i64;
                    let mut file = file.take(len);
                    sink.entry(h, &mut file).map_err(|e| match e {
                        BuildError::ImageRead { source, .. } => {
                            BuildError::Files(format!("read {name}: {source}"))
                        }
                        other => other,
                    })?;
                }
            }
        }
    }
    Ok(())
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

enum Content {
    Bytes(Vec<u8>),
    /// A host file streamed into the output: the file, its size, its name for messages.
    File(fs::File, u64, String),
}

/// Go's `path.Dir` on a UTF-8 path.
fn go_dir(p: &str) -> String {
    String::from_utf8_lossy(&crate::gotar::path::dir(p.as_bytes())).into_owned()
}

/// Go's `strconv.ParseInt(s, 8, 32)`, with its error text.
fn parse_go_octal(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing {s:?}: invalid syntax");
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(syntax());
    }
    let v = i64::from_str_radix(digits, 8)
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))?;
    let v = if neg { -v } else { v };
    if v > i64::from(i32::MAX) || v < i64::from(i32::MIN) {
        return Err(format!(
            "strconv.ParseInt: parsing {s:?}: value out of range"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::gotar::Header;
    use linuxkit_dsl::{Container, File};

    #[derive(Default)]
    struct Record(Vec<(Header, Vec<u8>)>);

    impl EntrySink for Record {
        fn entry(&mut self, h: Header, data: &mut dyn Read) -> Result<(), BuildError> {
            let mut buf = Vec::new();
            data.read_to_end(&mut buf).unwrap();
            self.0.push((h, buf));
            Ok(())
        }
    }

    fn run(image: &Image, base: &Path) -> Result<Vec<(Header, Vec<u8>)>, BuildError> {
        let mut rec = Record::default();
        let ids = IdMap::for_image(image);
        write_files(
            image,
            &ids,
            base,
            Some(Path::new("/nonexistent-home")),
            &|_| {},
            &mut rec,
        )?;
        Ok(rec.0)
    }

    fn file(path: &str) -> File {
        File {
            path: path.into(),
            ..File::default()
        }
    }

    fn summary(entries: &[(Header, Vec<u8>)]) -> Vec<String> {
        entries
            .iter()
            .map(|(h, d)| {
                format!(
                    "{} {} {:o} {}:{} {}",
                    h.name_lossy(),
                    h.typeflag as char,
                    h.mode,
                    h.uid,
                    h.gid,
                    String::from_utf8_lossy(d)
                )
            })
            .collect()
    }

    #[test]
    fn parents_take_the_file_owner_and_derived_mode_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("src.txt"), "host").unwrap();
        let mut image = Image::default();
        image.services.push(Container {
            name: "svc".into(),
            image: "x".into(),
            ..Container::default()
        });
        image.files = vec![
            File {
                contents: Some("a".into()),
                uid: Some(linuxkit_dsl::Id::Name("svc".into())),
                ..file("/etc/app/conf")
            },
            File {
                source: Some("src.txt".into()),
                mode: Some("4755".into()),
                ..file("etc/app/bin")
            },
            File {
                source: Some("missing".into()),
                optional: true,
                ..file("opt/never/x")
            },
            File {
                symlink: Some("/target".into()),
                ..file("./link")
            },
            File {
                directory: true,
                ..file("var/empty")
            },
        ];
        let got = summary(&run(&image, dir.path()).unwrap());
        assert_eq!(
            got,
            [
                "etc 5 700 100:0 ",
                "etc/app 5 700 100:0 ",
                "etc/app/conf \0 600 100:0 a",
                "etc/app/bin \0 4755 0:0 host",
                "./link 2 600 0:0 ",
                "var 5 700 0:0 ",
                "var/empty 5 700 0:0 ",
            ]
        );
    }

    #[test]
    fn invalid_entries_fail_with_upstream_messages() {
        let base = Path::new("/");
        let cases = [
            (
                File {
                    source: Some("x".into()),
                    contents: Some("y".into()),
                    ..file("a")
                },
                "specified Contents and Source for file: a",
            ),
            (
                File {
                    directory: true,
                    contents: Some("y".into()),
                    ..file("d")
                },
                "directory with contents not allowed",
            ),
            (file("/empty"), "contents of file (empty) not specified"),
            (
                File {
                    contents: Some("y".into()),
                    mode: Some("0o644".into()),
                    ..file("m")
                },
                "cannot parse file mode as octal value",
            ),
            (
                File {
                    source: Some("/nonexistent/file".into()),
                    ..file("s")
                },
                "open /nonexistent/file",
            ),
            (
                File {
                    contents: Some("y".into()),
                    ..File::default()
                },
                "did not specify path for file",
            ),
        ];
        for (f, want) in cases {
            let image = Image {
                files: vec![f],
                ..Image::default()
            };
            let err = run(&image, base).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn octal_modes_parse_like_go() {
        assert_eq!(parse_go_octal("0644"), Ok(0o644));
        assert_eq!(parse_go_octal("4755"), Ok(0o4755));
        assert!(parse_go_octal("0o644")
            .unwrap_err()
            .contains("invalid syntax"));
        assert!(parse_go_octal("9").is_err());
        assert!(parse_go_octal("").is_err());
    }
}
