//! `cargo linuxkit update [IMAGE...]`: re-resolves tags against their registries (ignoring the
//! cache) and rewrites `linuxkit.lock`, printing `Updating REF old -> new` for every digest
//! that changed, as `cargo update` does for versions. With no IMAGE every locked image is
//! re-resolved; an IMAGE is a reference as written in a definition, or its name without tag.

use linuxkit_oci::store::Platform;

use crate::commands::lock::{apply, package_references, read};
use crate::config::Config;
use crate::error::{Error, Result};

/// Does the `IMAGE` argument `pattern` name `reference`?
fn names(pattern: &str, reference: &str) -> bool {
    if pattern == reference {
        return true;
    }
    // `alpine` names `alpine:3.20`; the tag is after the last '/'.
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => &reference[..slash + i] == pattern,
        None => false,
    }
}

/// Runs `cargo linuxkit update`.
pub fn run(images: &[String], cfg: &Config) -> Result<i32> {
    let packages = package_references(cfg)?;
    if let Some(unknown) = images
        .iter()
        .find(|p| !packages.values().flatten().any(|r| names(p, r)))
    {
        let known: Vec<&str> = packages.values().flatten().map(String::as_str).collect();
        return Err(Error::Usage(format!(
            "no definition uses an image `{unknown}` (registry images in use: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    let resolver = crate::resolve::resolver(cfg, Platform::host(), true)?;
    let mut changed = 0;
    for (path, used) in &packages {
        let old = read(path)?;
        let todo: Vec<String> = used
            .iter()
            .filter(|r| {
                old.get(r).is_none() || images.is_empty() || images.iter().any(|p| names(p, r))
            })
            .cloned()
            .collect();
        let fresh = crate::resolve::lock_entries(&resolver, &todo)?;
        changed += apply(path, &old, used, &fresh, cfg)?;
    }
    if changed == 0 {
        cfg.shell.status("Locked", "every image is up to date");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn an_image_argument_names_a_reference_with_or_without_its_tag() {
        assert!(names("alpine:3.20", "alpine:3.20"));
        assert!(names("alpine", "alpine:3.20"));
        assert!(names("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:v1"));
        assert!(!names("127.0.0.1", "127.0.0.1:5000/a/b"));
        assert!(!names("alpine:3.21", "alpine:3.20"));
        assert!(!names("alp", "alpine:3.20"));
    }
}
