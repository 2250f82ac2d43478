//! Where images come from: command-line inputs turned into [`Definition`]s.
//!
//! An input naming a `.yml`/`.yaml` file (or `-` for stdin) is LinuxKit YAML; several files are
//! merged into one image as upstream does (build spec §1.14). Any other input is the name of an
//! image defined in Rust in the workspace (evaluated through [`crate::evaluate`]). No inputs
//! means every image of the workspace.

use std::io::Read;
use std::path::{Path, PathBuf};

use linuxkit_dsl::yaml::{merge_with_origins, Locator, Origins};
use linuxkit_dsl::{Image, Locations, SourceLocation};

use crate::config::Config;
use crate::diag::{Diagnostic, Span};
use crate::error::{Error, Result};
use crate::evaluate::evaluate;
use crate::workspace::{discover, DefinitionTarget, Workspace};

/// One parsed YAML input.
#[derive(Debug, Clone)]
pub struct YamlInput {
    /// The name shown in messages (the path as given, or `<stdin>`).
    pub display: String,
    /// Positions of its items.
    pub locator: Locator,
}

/// Where a definition was written.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A Rust definition of the workspace.
    Rust {
        /// The definition target.
        target: DefinitionTarget,
        /// The workspace root (locations are relative to it).
        root: PathBuf,
        /// Where the definition is declared.
        source: SourceLocation,
        /// Where each item was written.
        locations: Locations,
    },
    /// One or more LinuxKit YAML files, merged.
    Yaml {
        /// The files, in order.
        inputs: Vec<YamlInput>,
        /// Merged item path -> input.
        origins: Origins,
        /// What the YAML reader warned about (reported with `check`'s problems).
        warnings: Vec<linuxkit_dsl::YamlWarning>,
    },
}

/// An image definition ready to check, export or build.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The image name (also the default output name).
    pub name: String,
    /// The model.
    pub image: Image,
    /// Where it came from.
    pub origin: Origin,
}

impl Definition {
    /// Where item `path` (`services[1].binds[0]`, `kernel`) was written, or its nearest ancestor.
    pub fn span(&self, path: &str) -> Option<Span> {
        match &self.origin {
            Origin::Rust {
                root,
                locations,
                source,
                ..
            } => {
                let loc = locations.nearest(path).unwrap_or(source);
                Some(Span {
                    file: display_path(&root.join(&loc.file)),
                    line: loc.line as usize,
                    column: loc.column as usize,
                })
            }
            Origin::Yaml {
                inputs, origins, ..
            } => {
                let (input, local) = if inputs.len() == 1 {
                    (0, path.to_string())
                } else {
                    origins
                        .origin(path)
                        .unwrap_or((inputs.len() - 1, path.to_string()))
                };
                let f = inputs.get(input)?;
                let pos = f
                    .locator
                    .nearest(&local)
                    .unwrap_or(linuxkit_dsl::yaml::Position { line: 1, column: 1 });
                Some(Span {
                    file: f.display.clone(),
                    line: pos.line,
                    column: pos.column,
                })
            }
        }
    }

    /// Where the definition itself is (`examples/sshd.rs:10:1`, or the YAML files).
    pub fn declared_at(&self) -> String {
        match &self.origin {
            Origin::Rust { root, source, .. } => {
                format!("{}:{}", display_path(&root.join(&source.file)), source.line)
            }
            Origin::Yaml { inputs, .. } => inputs
                .iter()
                .map(|i| i.display.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }

    /// The directory relative `files[].source` paths are read from: the current directory for
    /// YAML (as upstream), the package directory for Rust definitions.
    pub fn files_base(&self) -> PathBuf {
        match &self.origin {
            Origin::Rust { target, .. } => target
                .manifest_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            Origin::Yaml { .. } => PathBuf::from("."),
        }
    }
}

/// A path relative to the current directory when it is below it.
pub fn display_path(p: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
        .display()
        .to_string()
}

/// Does this input name LinuxKit YAML?
pub fn is_yaml_input(s: &str) -> bool {
    s == "-" || s.ends_with(".yml") || s.ends_with(".yaml")
}

/// The loaded definitions (and the workspace, when it was read).
#[derive(Debug)]
pub struct Loaded {
    /// The definitions, in input order.
    pub definitions: Vec<Definition>,
    /// The workspace, when Rust definitions were loaded.
    pub workspace: Option<Workspace>,
}

impl Loaded {
    /// The image names, comma-separated (for messages).
    pub fn names(&self) -> String {
        image_names(&self.definitions)
    }
}

fn image_names(defs: &[Definition]) -> String {
    defs.iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads `inputs` (see the module docs). YAML errors are printed as diagnostics and returned as
/// [`Error::Problems`].
pub fn load(inputs: &[String], cfg: &Config) -> Result<Loaded> {
    let yaml = inputs.iter().filter(|s| is_yaml_input(s)).count();
    if yaml > 0 && yaml < inputs.len() {
        return Err(Error::Usage(
            "cannot mix LinuxKit YAML files and workspace image names in one command".into(),
        ));
    }
    if yaml > 0 {
        return Ok(Loaded {
            definitions: vec![load_yaml(inputs, cfg)?],
            workspace: None,
        });
    }
    let ws = discover(cfg.manifest_path.as_deref(), &cfg.cargo)?;
    let definitions = load_workspace(&ws, inputs, cfg)?;
    Ok(Loaded {
        definitions,
        workspace: Some(ws),
    })
}

/// Evaluates the workspace's definitions and picks the named images (all when `names` is empty).
pub fn load_workspace(ws: &Workspace, names: &[String], cfg: &Config) -> Result<Vec<Definition>> {
    if ws.definitions.is_empty() {
        return Err(Error::NoDefinitions);
    }
    let evaluated = evaluate(ws, &ws.definitions, cfg)?;
    let mut all = Vec::new();
    for ev in evaluated {
        for d in ev.document.images {
            all.push(Definition {
                name: d.name,
                image: d.image,
                origin: Origin::Rust {
                    target: ev.target.clone(),
                    root: ws.root.clone(),
                    source: d.source,
                    locations: d.locations,
                },
            });
        }
    }
    if names.is_empty() {
        return Ok(all);
    }
    let mut picked = Vec::new();
    for n in names {
        match all.iter().find(|d| &d.name == n) {
            Some(d) => picked.push(d.clone()),
            None => {
                return Err(Error::UnknownImage {
                    name: n.clone(),
                    available: image_names(&all),
                })
            }
        }
    }
    Ok(picked)
}

/// Parses and merges YAML files; the name is the last file's stem (`moby` for stdin).
pub fn load_yaml(files: &[String], cfg: &Config) -> Result<Definition> {
    let mut images = Vec::new();
    let mut inputs = Vec::new();
    let mut warnings = Vec::new();
    let mut problems = 0;
    for f in files {
        let (display, text) = if f == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(Error::io("<stdin>"))?;
            ("<stdin>".to_string(), s)
        } else {
            let text = std::fs::read_to_string(f).map_err(Error::io(f))?;
            (f.clone(), text)
        };
        let parsed = linuxkit_dsl::yaml::parse(&text, &display)
            .and_then(|p| Ok((p, Locator::new(&text, &display)?)));
        match parsed {
            Ok((parsed, locator)) => {
                warnings.extend(parsed.warnings);
                images.push(parsed.image);
                inputs.push(YamlInput { display, locator });
            }
            Err(e) => {
                problems += 1;
                cfg.shell.diagnostic(&Diagnostic {
                    span: Some(Span {
                        file: e.file.clone(),
                        line: e.line,
                        column: e.column,
                    }),
                    hint: Some(e.hint.clone()).filter(|h| !h.is_empty()),
                    ..Diagnostic::error(e.message.clone())
                });
            }
        }
    }
    if problems > 0 {
        return Err(Error::Problems {
            count: problems,
            what: files.join(", "),
        });
    }
    let name = match files.last().map(String::as_str) {
        Some("-") | None => "moby".to_string(),
        Some(f) => Path::new(f)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "moby".into()),
    };
    let (image, origins) = merge_with_origins(images);
    Ok(Definition {
        name,
        image,
        origin: Origin::Yaml {
            inputs,
            origins,
            warnings,
        },
    })
}
