//! `cargo linuxkit new`, `cargo linuxkit init` and `cargo linuxkit import --add`: definition
//! packages in the user's own repository.
//!
//! `new` creates a package that builds and boots as it is: a definition (`src/main.rs`: the
//! host's kernel, the embedded `linuxkit-init`, one Rust service), the service
//! (`src/bin/greeter.rs`), `Cargo.toml` with the `linuxkit-dsl` dependency and
//! `[package.metadata.linuxkit]`, a `.gitignore` and a README. `--from FILE.yml` starts the
//! definition from LinuxKit YAML instead (no service). `init` adds the same to an existing
//! package (the definition becomes `src/bin/<package>-image.rs`), and `import --add` adds one
//! more definition generated from YAML. Cargo.toml is edited with `toml_edit`, keeping the
//! user's formatting and comments; no existing file is ever overwritten.

use std::path::{Path, PathBuf};

use toml_edit::{value, Array, DocumentMut, Item, Table};

use crate::cli::DslArgs;
use crate::commands::import::rustfmt;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::source::load_yaml;

/// The name of the Rust service a new package gets.
pub const SERVICE_BIN: &str = "greeter";

/// Where the `linuxkit-dsl` dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DslSource {
    /// A crates.io version requirement.
    Version(String),
    /// A local checkout of the `linuxkit-dsl` crate (its directory).
    Path(PathBuf),
    /// A git repository holding the workspace, optionally at a branch or revision.
    Git {
        /// The repository URL.
        url: String,
        /// `branch = ...`.
        branch: Option<String>,
        /// `rev = ...`.
        rev: Option<String>,
    },
}

impl DslSource {
    /// From the command line: `--dsl-path`, `--dsl-git` (with `--dsl-branch`/`--dsl-rev`), or
    /// `--dsl-version` (default: this tool's own version).
    pub fn from_args(a: &DslArgs) -> Result<DslSource> {
        if let Some(p) = &a.dsl_path {
            let manifest = p.join("Cargo.toml");
            if !manifest.is_file() {
                return Err(Error::Usage(format!(
                    "--dsl-path {}: no Cargo.toml there; give the directory of the linuxkit-dsl crate (linuxkit-dsl/ in a checkout of cargo-linuxkit)",
                    p.display()
                )));
            }
            let abs = std::fs::canonicalize(p).map_err(Error::io(p))?;
            return Ok(DslSource::Path(abs));
        }
        if let Some(url) = &a.dsl_git {
            return Ok(DslSource::Git {
                url: url.clone(),
                branch: a.dsl_branch.clone(),
                rev: a.dsl_rev.clone(),
            });
        }
        Ok(DslSource::Version(
            a.dsl_version
                .clone()
                .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string()),
        ))
    }

    /// The dependency as a TOML value (`"0.1.0"` or an inline table).
    fn item(&self) -> Item {
        match self {
            DslSource::Version(v) => value(v.as_str()),
            DslSource::Path(p) => {
                let mut t = toml_edit::InlineTable::new();
                t.insert("path", p.display().to_string().into());
                value(t)
            }
            DslSource::Git { url, branch, rev } => {
                let mut t = toml_edit::InlineTable::new();
                t.insert("git", url.as_str().into());
                if let Some(b) = branch {
                    t.insert("branch", b.as_str().into());
                }
                if let Some(r) = rev {
                    t.insert("rev", r.as_str().into());
                }
                value(t)
            }
        }
    }
}

/// Checks a package name: what cargo accepts, and a valid Rust function name once `-` is `_`
/// (the definition function is named after the package, and the image after the function).
pub fn check_package_name(name: &str) -> Result<()> {
    let ident = name.replace('-', "_");
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && linuxkit_dsl::codegen::rust_ident(&ident) == ident;
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "`{name}` cannot name a definition package: use lowercase letters, digits, `-` and `_`, starting with a letter, and not a Rust keyword (pass --name NAME)"
        )))
    }
}

/// One file to write.
struct NewFile {
    path: PathBuf,
    contents: String,
}

/// Fails, naming all of them, when any of `files` exists; nothing has been written then.
fn refuse_existing(files: &[NewFile], rename: &str) -> Result<()> {
    let existing: Vec<String> = files
        .iter()
        .filter(|f| f.path.symlink_metadata().is_ok())
        .map(|f| f.path.display().to_string())
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "refusing to overwrite existing file{}: {} (move {} away, or choose another name with {rename})",
        if existing.len() == 1 { "" } else { "s" },
        existing.join(", "),
        if existing.len() == 1 { "it" } else { "them" },
    )))
}

fn write_all(files: &[NewFile]) -> Result<()> {
    for f in files {
        if let Some(dir) = f.path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        crate::fsutil::write_atomic(&f.path, f.contents.as_bytes()).map_err(Error::io(&f.path))?;
    }
    Ok(())
}

/// The definition file of a new system named `name` (package `package`).
pub fn definition_source(name: &str, package: &str) -> String {
    let ident = name.replace('-', "_");
    format!(
        r#"//! The `{name}` system, defined in Rust.
//!
//! `cargo linuxkit build` compiles this file, runs it and builds the image it returns into
//! `target/linuxkit/` (kernel+initrd by default; `-f iso-efi`, `-f qcow2-bios`, ... for other
//! formats); `cargo linuxkit run {name}` boots it in QEMU. Mistakes in image references, paths,
//! binds and names are compile errors, and your editor completes every field.

use linuxkit_dsl::{{Capability, Container, Image, Kernel, Namespace}};

/// Kernel modules the system loads from the host kernel: virtio networking (for QEMU) and
/// overlayfs. Only these and their dependencies go into the image.
const MODULES: &str = "virtio_pci,virtio_net,overlay";

/// The `{name}` system: the host's kernel, cargo-linuxkit's own init (PID 1, carried by the
/// tool, so it builds offline), and one service built from this package (`src/bin/{SERVICE_BIN}.rs`).
///
/// Every service is a container holding only the privileges it is given here. The greeter
/// prints a greeting and then powers the machine off, so `cargo linuxkit run` ends by itself:
/// for that it needs to see PID 1 (`pid: host`) and to signal it (`CAP_KILL`). Remove the
/// `GREETER_POWEROFF` line and those two privileges to keep the system running (ctrl-c stops
/// the VM).
#[linuxkit_dsl::image]
pub fn {ident}() -> Image {{
    Image::new(
        Kernel::new(format!("kernel:host?modules={{MODULES}}")).cmdline("console=ttyS0 panic=-1"),
    )
    .init(["init:linuxkit-init"])
    .service(
        // `cargo:<package>.<binary>`: a binary of this package, built as a static image.
        Container::new("{SERVICE_BIN}", "cargo:{package}.{SERVICE_BIN}")
            .env("GREETER_POWEROFF=1")
            .pid(Namespace::Host)
            .capability(Capability::Kill),
    )
}}

linuxkit_dsl::main!({ident});
"#
    )
}

/// The service binary of a new package.
pub fn service_source(name: &str) -> String {
    format!(
        r#"//! `{SERVICE_BIN}`: the service of the `{name}` system. It runs in its own container,
//! started and supervised by the init.
//!
//! It prints a greeting; with `GREETER_POWEROFF=1` it then asks PID 1 to power the machine
//! off (SIGUSR2, LinuxKit's convention), which needs `pid: host` and `CAP_KILL`.

use std::time::Duration;

unsafe extern "C" {{
    fn kill(pid: i32, sig: i32) -> i32;
}}

/// SIGUSR2 on Linux (x86_64 and arm64): "power off" to a LinuxKit init.
const SIGUSR2: i32 = 12;

fn main() {{
    println!("Hello from {name}!");
    if std::env::var("GREETER_POWEROFF").as_deref() == Ok("1") {{
        println!("asking init to power off");
        // SAFETY: kill(2) with constant arguments touches no memory of this process.
        if unsafe {{ kill(1, SIGUSR2) }} != 0 {{
            eprintln!("cannot signal PID 1: {{}}", std::io::Error::last_os_error());
        }}
    }}
    // A service runs until the system stops.
    loop {{
        std::thread::sleep(Duration::from_secs(3600));
    }}
}}
"#
    )
}

/// The README of a new package: what it is and the next three commands.
pub fn readme(name: &str, from: Option<&Path>) -> String {
    let what = match from {
        Some(f) => format!("imported from the LinuxKit file `{}`", f.display()),
        None => format!(
            "the host's kernel, cargo-linuxkit's init and the `{SERVICE_BIN}` service of this package"
        ),
    };
    format!(
        "# {name}\n\nA LinuxKit system defined in Rust ({what}); the definition is `src/main.rs`.\n\n\
         ```sh\n\
         cargo linuxkit check          # every check that needs no image contents\n\
         cargo linuxkit build          # the bootable kernel+initrd in target/linuxkit/\n\
         cargo linuxkit run {name}     # boot it in QEMU\n\
         ```\n\n\
         `cargo linuxkit build -f iso-efi -f qcow2-bios` writes other formats; \
         `cargo linuxkit export {name}` prints the LinuxKit YAML.\n"
    )
}

fn gitignore() -> String {
    "/target\n".to_string()
}

/// Adds `linuxkit-dsl` to `[dependencies]` unless some form of it is there.
fn ensure_dsl_dependency(doc: &mut DocumentMut, dsl: &DslSource) {
    let deps = doc
        .entry("dependencies")
        .or_insert_with(|| Item::Table(Table::new()));
    if let Some(t) = deps.as_table_like_mut() {
        if !t.contains_key("linuxkit-dsl") {
            t.insert("linuxkit-dsl", dsl.item());
        }
    }
}

/// Appends `target` to `[package.metadata.linuxkit] definitions`; returns false when it is
/// there already.
fn add_definition(doc: &mut DocumentMut, manifest: &Path, target: &str) -> Result<bool> {
    let bad = |message: &str| Error::Manifest {
        manifest: manifest.to_path_buf(),
        message: message.to_string(),
    };
    let package = doc
        .get_mut("package")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| bad("has no [package]"))?;
    let metadata = package
        .entry("metadata")
        .or_insert(Item::Table(implicit_table()));
    let metadata = metadata
        .as_table_like_mut()
        .ok_or_else(|| bad("`package.metadata` is not a table"))?;
    let lk = metadata
        .entry("linuxkit")
        .or_insert(Item::Table(Table::new()));
    let lk = lk
        .as_table_like_mut()
        .ok_or_else(|| bad("`package.metadata.linuxkit` is not a table"))?;
    let defs = lk
        .entry("definitions")
        .or_insert(value(Array::new()))
        .as_array_mut()
        .ok_or_else(|| bad("`definitions` must be a list of target names"))?;
    if defs.iter().any(|v| v.as_str() == Some(target)) {
        return Ok(false);
    }
    defs.push(target);
    Ok(true)
}

fn implicit_table() -> Table {
    let mut t = Table::new();
    t.set_implicit(true);
    t
}

/// Adds a `[[bin]]` target when the package does not discover binaries itself.
fn add_bin_target(doc: &mut DocumentMut, name: &str, path: &str) {
    let autobins = doc
        .get("package")
        .and_then(|p| p.get("autobins"))
        .and_then(Item::as_bool)
        .unwrap_or(true);
    let listed = doc
        .get("bin")
        .and_then(Item::as_array_of_tables)
        .is_some_and(|bins| {
            bins.iter()
                .any(|b| b.get("name").and_then(Item::as_str) == Some(name))
        });
    if autobins && path == format!("src/bin/{name}.rs") || listed {
        return;
    }
    let mut t = Table::new();
    t.insert("name", value(name));
    t.insert("path", value(path));
    let bins = doc
        .entry("bin")
        .or_insert(Item::ArrayOfTables(toml_edit::ArrayOfTables::new()));
    if let Some(a) = bins.as_array_of_tables_mut() {
        a.push(t);
    }
}

/// The manifest of a new package.
fn new_manifest(package: &str, definition_target: &str, dsl: &DslSource) -> String {
    let mut doc = DocumentMut::new();
    let mut pkg = Table::new();
    pkg.insert("name", value(package));
    pkg.insert("version", value("0.1.0"));
    pkg.insert("edition", value("2021"));
    pkg.insert("publish", value(false));
    doc.insert("package", Item::Table(pkg));
    ensure_dsl_dependency(&mut doc, dsl);
    let mut defs = Array::new();
    defs.push(definition_target);
    let mut lk = Table::new();
    lk.insert("definitions", value(defs));
    lk.decor_mut().set_prefix(
        "\n# The targets whose images `cargo linuxkit` builds (bins that call linuxkit_dsl::main!).\n",
    );
    let mut meta = implicit_table();
    meta.insert("linuxkit", Item::Table(lk));
    if let Some(p) = doc.get_mut("package").and_then(Item::as_table_mut) {
        p.insert("metadata", Item::Table(meta));
    }
    doc.to_string()
}

/// Adds `dir` to the members of the workspace above it, if there is one that does not already
/// include it (as `cargo new` does). Returns the workspace manifest it edited.
fn join_enclosing_workspace(dir: &Path) -> Result<Option<PathBuf>> {
    let Some(parent) = dir.parent() else {
        return Ok(None);
    };
    for anc in parent.ancestors() {
        let manifest = anc.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let Ok(mut doc) = text.parse::<DocumentMut>() else {
            continue;
        };
        let Some(ws) = doc.get_mut("workspace").and_then(Item::as_table_like_mut) else {
            continue;
        };
        let rel = dir
            .strip_prefix(anc)
            .unwrap_or(dir)
            .to_string_lossy()
            .into_owned();
        let members = ws
            .entry("members")
            .or_insert(value(Array::new()))
            .as_array_mut();
        let Some(members) = members else {
            return Ok(None);
        };
        let covered = members.iter().filter_map(|v| v.as_str()).any(|m| {
            m == rel
                || m.strip_suffix("/*")
                    .is_some_and(|p| Path::new(&rel).parent() == Some(Path::new(p)))
        });
        if !covered {
            members.push(rel.as_str());
            crate::fsutil::write_atomic(&manifest, doc.to_string().as_bytes())
                .map_err(Error::io(&manifest))?;
            return Ok(Some(manifest));
        }
        return Ok(None);
    }
    Ok(None)
}

/// Options of [`new`] and [`init`].
#[derive(Debug, Clone)]
pub struct NewOptions {
    /// The package name (default: the directory's name).
    pub name: Option<String>,
    /// Start from this LinuxKit YAML file instead of the template.
    pub from: Option<PathBuf>,
    /// Where `linuxkit-dsl` comes from.
    pub dsl: DslSource,
}

/// The definition (and optional service) sources for a package `package` whose image is `name`.
fn definition_files(
    name: &str,
    package: &str,
    from: Option<&Path>,
    definition_path: &Path,
    bin_dir: &Path,
    cfg: &Config,
) -> Result<Vec<NewFile>> {
    let mut files = Vec::new();
    match from {
        Some(yaml) => {
            let def = load_yaml(&[yaml.to_string_lossy().into_owned()], cfg)?;
            let code = rustfmt(&linuxkit_dsl::codegen::to_rust(
                &def.image,
                &name.replace('-', "_"),
            ));
            files.push(NewFile {
                path: definition_path.to_path_buf(),
                contents: format!(
                    "//! The `{name}` system, imported from `{}` by `cargo linuxkit`.\n\n{code}",
                    yaml.display()
                ),
            });
        }
        None => {
            files.push(NewFile {
                path: definition_path.to_path_buf(),
                contents: definition_source(name, package),
            });
            files.push(NewFile {
                path: bin_dir.join(format!("{SERVICE_BIN}.rs")),
                contents: service_source(name),
            });
        }
    }
    Ok(files)
}

/// `cargo linuxkit new PATH`.
pub fn new(path: &Path, opts: &NewOptions, cfg: &Config) -> Result<i32> {
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Usage(format!("{}: not a directory name", path.display())))?,
    };
    check_package_name(&name)?;
    if path.exists() {
        return Err(Error::Usage(format!(
            "destination `{}` already exists: use `cargo linuxkit init` in an existing package",
            path.display()
        )));
    }
    let mut files = vec![NewFile {
        path: path.join("Cargo.toml"),
        contents: new_manifest(&name, &name, &opts.dsl),
    }];
    files.extend(definition_files(
        &name,
        &name,
        opts.from.as_deref(),
        &path.join("src").join("main.rs"),
        &path.join("src").join("bin"),
        cfg,
    )?);
    files.push(NewFile {
        path: path.join(".gitignore"),
        contents: gitignore(),
    });
    files.push(NewFile {
        path: path.join("README.md"),
        contents: readme(&name, opts.from.as_deref()),
    });
    write_all(&files)?;
    let abs = std::fs::canonicalize(path).map_err(Error::io(path))?;
    if let Some(ws) = join_enclosing_workspace(&abs)? {
        cfg.shell.status(
            "Adding",
            format!("`{name}` to the members of {}", ws.display()),
        );
    }
    cfg.shell.status(
        "Created",
        format!("definition package `{name}` in {}", path.display()),
    );
    if !cfg.shell.is_quiet() {
        eprintln!(
            "\nNext:\n  cd {}\n  cargo linuxkit build\n  cargo linuxkit run {name}",
            path.display()
        );
    }
    Ok(0)
}

/// The package manifest to edit: `--manifest-path`, or Cargo.toml in the current directory.
fn package_manifest(cfg: &Config) -> Result<PathBuf> {
    let manifest = match &cfg.manifest_path {
        Some(p) => p.clone(),
        None => PathBuf::from("Cargo.toml"),
    };
    if !manifest.is_file() {
        return Err(Error::Usage(format!(
            "no {} here: run `cargo linuxkit init` in the directory of a Cargo package (or pass --manifest-path), or `cargo linuxkit new NAME` to create one",
            manifest.display()
        )));
    }
    Ok(manifest)
}

fn read_manifest(manifest: &Path) -> Result<DocumentMut> {
    let text = std::fs::read_to_string(manifest).map_err(Error::io(manifest))?;
    let doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| Error::Manifest {
            manifest: manifest.to_path_buf(),
            message: format!("is not valid TOML: {e}"),
        })?;
    if doc.get("package").is_none() {
        return Err(Error::Manifest {
            manifest: manifest.to_path_buf(),
            message: "is a virtual workspace manifest (no [package]): run this in a member's directory, or `cargo linuxkit new NAME` to add a definition package to the workspace".into(),
        });
    }
    Ok(doc)
}

fn package_name(doc: &DocumentMut, manifest: &Path) -> Result<String> {
    doc.get("package")
        .and_then(|p| p.get("name"))
        .and_then(Item::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Manifest {
            manifest: manifest.to_path_buf(),
            message: "has no package name".into(),
        })
}

/// `cargo linuxkit init`: a definition in an existing package.
pub fn init(opts: &NewOptions, cfg: &Config) -> Result<i32> {
    let manifest = package_manifest(cfg)?;
    let dir = manifest
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut doc = read_manifest(&manifest)?;
    let package = package_name(&doc, &manifest)?;
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("{package}-image"));
    check_package_name(&name)?;
    let rel = format!("src/bin/{name}.rs");
    let files = definition_files(
        &name,
        &package,
        opts.from.as_deref(),
        &dir.join(&rel),
        &dir.join("src").join("bin"),
        cfg,
    )?;
    refuse_existing(&files, "--name NAME")?;
    ensure_dsl_dependency(&mut doc, &opts.dsl);
    add_definition(&mut doc, &manifest, &name)?;
    add_bin_target(&mut doc, &name, &rel);
    if opts.from.is_none() {
        add_bin_target(&mut doc, SERVICE_BIN, &format!("src/bin/{SERVICE_BIN}.rs"));
    }
    write_all(&files)?;
    crate::fsutil::write_atomic(&manifest, doc.to_string().as_bytes())
        .map_err(Error::io(&manifest))?;
    for f in &files {
        cfg.shell.status("Created", f.path.display().to_string());
    }
    cfg.shell.status(
        "Updated",
        format!(
            "{} (linuxkit-dsl dependency, definition `{name}`)",
            manifest.display()
        ),
    );
    if !cfg.shell.is_quiet() {
        eprintln!("\nNext:\n  cargo linuxkit build {name}\n  cargo linuxkit run {name}");
    }
    Ok(0)
}

/// `cargo linuxkit import FILE.yml --add`: the generated definition becomes a target of the
/// package (file, `[[bin]]` when needed, `definitions` entry, `linuxkit-dsl` dependency).
pub fn import_add(
    file: &Path,
    function: Option<&str>,
    dsl: &DslSource,
    cfg: &Config,
) -> Result<i32> {
    let manifest = package_manifest(cfg)?;
    let dir = manifest
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut doc = read_manifest(&manifest)?;
    let package = package_name(&doc, &manifest)?;
    let name = match function {
        Some(f) => f.replace('_', "-"),
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase().replace(['.', '_'], "-"))
            .unwrap_or_default(),
    };
    check_package_name(&name)?;
    let rel = format!("src/bin/{name}.rs");
    let files = definition_files(
        &name,
        &package,
        Some(file),
        &dir.join(&rel),
        &dir.join("src").join("bin"),
        cfg,
    )?;
    refuse_existing(&files, "--fn NAME")?;
    ensure_dsl_dependency(&mut doc, dsl);
    if !add_definition(&mut doc, &manifest, &name)? {
        return Err(Error::Usage(format!(
            "{}: `{name}` is already a definition target; pass --fn NAME for another name",
            manifest.display()
        )));
    }
    add_bin_target(&mut doc, &name, &rel);
    write_all(&files)?;
    crate::fsutil::write_atomic(&manifest, doc.to_string().as_bytes())
        .map_err(Error::io(&manifest))?;
    cfg.shell.status(
        "Imported",
        format!(
            "{} -> {} (image `{name}`)",
            file.display(),
            dir.join(&rel).display()
        ),
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        assert!(check_package_name("myos").is_ok());
        assert!(check_package_name("my-os_2").is_ok());
        for bad in ["My", "9os", "fn", "main", "a b", "", "-x"] {
            assert!(check_package_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_manifest_declares_dependency_and_definition() {
        let m = new_manifest("myos", "myos", &DslSource::Path("/src/linuxkit-dsl".into()));
        let doc: DocumentMut = m.parse().unwrap();
        assert_eq!(
            doc["dependencies"]["linuxkit-dsl"]["path"].as_str(),
            Some("/src/linuxkit-dsl")
        );
        let defs = doc["package"]["metadata"]["linuxkit"]["definitions"]
            .as_array()
            .unwrap();
        assert_eq!(
            defs.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>(),
            ["myos"]
        );
        assert!(!m.contains("[package.metadata]\n"), "{m}");
        let v = new_manifest("myos", "myos", &DslSource::Version("0.1.0".into()));
        assert!(v.contains("linuxkit-dsl = \"0.1.0\""), "{v}");
    }

    #[test]
    fn editing_keeps_comments_and_appends_definitions() {
        let text = "# mine\n[package]\nname = \"app\" # keep\nversion = \"1.0.0\"\n\n[dependencies]\nserde = \"1\"\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        ensure_dsl_dependency(&mut doc, &DslSource::Version("0.1.0".into()));
        assert!(add_definition(&mut doc, Path::new("Cargo.toml"), "app-image").unwrap());
        assert!(!add_definition(&mut doc, Path::new("Cargo.toml"), "app-image").unwrap());
        add_bin_target(&mut doc, "app-image", "src/bin/app-image.rs");
        let out = doc.to_string();
        assert!(
            out.starts_with("# mine\n[package]\nname = \"app\" # keep\n"),
            "{out}"
        );
        assert!(out.contains("linuxkit-dsl = \"0.1.0\""), "{out}");
        assert!(
            out.contains("[package.metadata.linuxkit]\ndefinitions = [\"app-image\"]"),
            "{out}"
        );
        assert!(
            !out.contains("[[bin]]"),
            "auto-discovered bins need no [[bin]]: {out}"
        );
        let mut doc: DocumentMut = "[package]\nname = \"a\"\nautobins = false\n"
            .parse()
            .unwrap();
        add_bin_target(&mut doc, "x", "src/bin/x.rs");
        assert!(doc
            .to_string()
            .contains("[[bin]]\nname = \"x\"\npath = \"src/bin/x.rs\""));
    }

    #[test]
    fn existing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.rs");
        std::fs::write(&a, "keep").unwrap();
        let files = [
            NewFile {
                path: a.clone(),
                contents: String::new(),
            },
            NewFile {
                path: dir.path().join("b.rs"),
                contents: String::new(),
            },
        ];
        let e = refuse_existing(&files, "--name NAME")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&a.display().to_string()) && !e.contains("b.rs"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "keep");
    }
}
