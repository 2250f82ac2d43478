//! LinuxKit YAML: parsing with file:line:col errors, writing, merging several files, and
//! locating item paths (`services[2].binds[0]`) in a YAML text.
//!
//! - [`from_yaml_str`] parses one file into an [`Image`]; every error is a [`YamlError`] with
//!   file, line, column and a hint. Unknown keys are rejected at every level, as upstream's JSON
//!   schema does, and `trust:` is accepted and ignored.
//! - [`to_yaml_string`] writes an [`Image`] as LinuxKit YAML.
//! - [`merge`] combines several files the way `linuxkit build a.yml b.yml` does.
//! - [`Locator`] maps item paths to positions, so problems found by [`crate::check`] on a model
//!   parsed from YAML can be reported at file:line:col.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use crate::model::{Image, Kernel};

/// A LinuxKit YAML file that cannot be used, with where and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct YamlError {
    /// The file name given to the parser.
    pub file: String,
    /// 1-based line (1 when unknown).
    pub line: usize,
    /// 1-based column (1 when unknown).
    pub column: usize,
    /// What is wrong, e.g. ``unknown field `nmae`, expected one of `name`, `image`, ...``.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Could not serialise an image as YAML (only possible with exotic values).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the image as YAML: {0}")]
pub struct WriteError(#[from] serde_norway::Error);

/// Something in a LinuxKit YAML file that upstream builds, but probably not as meant (a file
/// with several documents, a scalar that upstream's template pass empties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlWarning {
    /// The file name given to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What upstream does with it.
    pub message: String,
    /// What to write instead.
    pub hint: String,
}

/// A parsed file and what [`parse`] warns about.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The model.
    pub image: Image,
    /// Warnings, in file order.
    pub warnings: Vec<YamlWarning>,
}

/// Parses a LinuxKit YAML file (see [`parse`]; its warnings are dropped).
///
/// `file_name` is only used in errors. An empty document is an error (upstream:
/// `invalid config: EOF`); an empty mapping `{}` is a valid, empty image.
pub fn from_yaml_str(text: &str, file_name: &str) -> Result<Image, YamlError> {
    parse(text, file_name).map(|p| p.image)
}

/// Parses a LinuxKit YAML file with upstream's rules: what its JSON schema refuses is an error
/// (unknown keys, a number, boolean or null where a string or list is expected, an unquoted
/// `mode`, a key written twice in one mapping); what upstream builds in a way that is probably
/// not meant is a warning (a second document, which upstream ignores; a scalar starting with
/// `@` other than `@pkg:`, which upstream's template pass replaces by an empty string).
pub fn parse(text: &str, file_name: &str) -> Result<Parsed, YamlError> {
    let err = |line: usize, column: usize, message: String, hint: String| YamlError {
        file: file_name.to_string(),
        line,
        column,
        message,
        hint,
    };
    if is_empty_document(text) {
        return Err(err(
            1,
            1,
            "empty document (upstream: invalid config: EOF)".into(),
            "write at least `{}`, or a mapping with `kernel`, `init`, `onboot`, `services`, ..."
                .into(),
        ));
    }
    let mut warnings = Vec::new();
    let warn = |pos: Position, message: String, hint: String| YamlWarning {
        file: file_name.to_string(),
        line: pos.line,
        column: pos.column,
        message,
        hint,
    };
    // Upstream decodes the first document and ignores the rest.
    let text = match second_document(text) {
        Some((at, pos)) => {
            warnings.push(warn(
                pos,
                "only the first document of the file is used; upstream ignores the others too".into(),
                "a LinuxKit file holds one image: move the other documents to files of their own (several files are merged by `build a.yml b.yml`)".into(),
            ));
            &text[..at]
        }
        None => text,
    };
    let image = serde_norway::from_str::<Image>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let raw = e.to_string();
        let message = strip_location_suffix(&raw).to_string();
        let hint = hint_for(&message);
        err(line, column, message, hint)
    })?;
    // The schema types `mode` as a string: an unquoted `mode: 0644` is an integer upstream.
    let locator = Locator::new(text, file_name)?;
    let mut unquoted: Vec<_> = locator
        .plain_values()
        .filter(|(path, _, v)| {
            path.ends_with(".mode") && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
        })
        .collect();
    unquoted.sort_by_key(|(_, p, _)| (p.line, p.column));
    if let Some((path, pos, value)) = unquoted.first() {
        return Err(err(
            pos.line,
            pos.column,
            format!("{path}: invalid type: integer {value}, expected a string"),
            format!("quote the octal mode: mode: \"{value}\""),
        ));
    }
    if let Some((path, pos)) = locator.duplicates.first() {
        return Err(err(
            pos.line,
            pos.column,
            format!("{path}: mapping key written twice"),
            "upstream refuses a key written twice in one mapping (`already defined`): keep one"
                .into(),
        ));
    }
    for node in &locator.scalars {
        if node.plain {
            if let Some(kind) = core_type(&node.value) {
                if !takes_non_string(&node.path, kind) {
                    let (message, hint) = if kind == "null" {
                        (
                            format!("{}: invalid type: null, expected a value", node.path),
                            "upstream's schema refuses an empty or null value: write the value, or remove the key".to_string(),
                        )
                    } else {
                        (
                            format!(
                                "{}: invalid type: {kind} {}, expected a string",
                                node.path, node.value
                            ),
                            format!(
                                "upstream's schema refuses a {kind} here: quote it, \"{}\"",
                                node.value
                            ),
                        )
                    };
                    return Err(err(node.pos.line, node.pos.column, message, hint));
                }
            }
        }
        if node.value.starts_with('@') && !node.value.starts_with("@pkg:") {
            warnings.push(warn(
                node.pos,
                format!("{}: upstream's template pass replaces a value starting with '@' by an empty string: {}", node.path, node.value),
                "cargo-linuxkit keeps the text; if an empty value is meant, write \"\"".into(),
            ));
        }
    }
    warnings.sort_by_key(|w| (w.line, w.column));
    Ok(Parsed { image, warnings })
}

/// Where the second document of `text` starts (byte offset and position), if there is one.
fn second_document(text: &str) -> Option<(usize, Position)> {
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0;
    loop {
        match parser.next_token() {
            Ok((Event::DocumentStart, mark)) => {
                documents += 1;
                if documents == 2 {
                    let at = text
                        .char_indices()
                        .nth(mark.index())
                        .map_or(text.len(), |(i, _)| i);
                    let pos = Position {
                        line: mark.line(),
                        column: mark.col() + 1,
                    };
                    return Some((at, pos));
                }
            }
            Ok((Event::StreamEnd, _)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The type YAML's core schema (yaml.v3, upstream's parser) gives a plain scalar, when it is not
/// a string: `null` (empty, `~`, `null`), `bool` (`true`, `False`, ...), `integer` (`10`,
/// `0x1f`, `0o17`, `-3`, `1_000`) or `float` (`1.5`, `1e3`, `.inf`, `.nan`).
fn core_type(value: &str) -> Option<&'static str> {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Some("null"),
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return Some("bool"),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Some("float"),
        _ => {}
    }
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    let digits = |s: &str, radix: u32| {
        !s.is_empty() && s.chars().all(|c| c == '_' || c.is_digit(radix)) && !s.starts_with('_')
    };
    let int = if let Some(h) = unsigned.strip_prefix("0x") {
        digits(h, 16)
    } else if let Some(o) = unsigned.strip_prefix("0o") {
        digits(o, 8)
    } else if let Some(b) = unsigned.strip_prefix("0b") {
        digits(b, 2)
    } else {
        digits(unsigned, 10)
    };
    if int {
        return Some("integer");
    }
    // [0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)? with at least one digit before the exponent.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = mantissa.chars().filter(|c| *c == '.').count() <= 1
        && mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa
            .chars()
            .all(|c| c == '.' || c == '_' || c.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    (mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some()))
        .then_some("float")
}

/// Whether the schema lets the value at `path` be a `kind` scalar (not a string): booleans,
/// numbers and ids, and everything under `resources`. `sysctl` and `annotations` values are
/// strings whatever their key says.
fn takes_non_string(path: &str, kind: &str) -> bool {
    const NUMBERS: [&str; 7] = [
        "oomScoreAdj",
        "hostID",
        "containerID",
        "size",
        "major",
        "minor",
        "additionalGids",
    ];
    const IDS: [&str; 2] = ["uid", "gid"];
    const BOOLS: [&str; 5] = [
        "readonly",
        "noNewPrivileges",
        "directory",
        "optional",
        "createInRoot",
    ];
    if path.contains(".sysctl.") || path.contains(".annotations.") {
        return false;
    }
    if path.contains(".resources.") {
        return kind != "null";
    }
    // The key of the value, or of the list it is an item of.
    let key = path.trim_end_matches(|c: char| c == ']' || c.is_ascii_digit());
    let key = key.strip_suffix('[').unwrap_or(key);
    let key = key.rsplit('.').next().unwrap_or(key);
    match kind {
        "integer" => NUMBERS.contains(&key) || IDS.contains(&key),
        "bool" => BOOLS.contains(&key),
        _ => false,
    }
}

fn is_empty_document(text: &str) -> bool {
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return true,
            Ok((
                Event::Scalar(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
                | Event::Alias(..),
                _,
            )) => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// serde_norway appends ` at line L column C` to its messages; the location is reported apart.
fn strip_location_suffix(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => &message[..i],
        _ => message,
    }
}

/// Keys of every mapping of LinuxKit's schema, by the name of the serde struct.
const SECTIONS: &[(&str, &str)] = &[
    ("`kernel`, `init`", "the top level of the file"),
    ("`cmdline`, `binary`", "the `kernel` section"),
    (
        "`name`, `image`, `capabilities`",
        "an onboot/onshutdown/services entry",
    ),
    ("`path`, `directory`", "a `files` entry"),
    ("`name`, `image`, `readonly`", "a `volumes` entry"),
    ("`cgroups`, `mounts`, `mkdir`", "a `runtime` section"),
];

fn hint_for(message: &str) -> String {
    if let Some(rest) = message.split("unknown field `").nth(1) {
        let key = rest.split('`').next().unwrap_or("");
        let allowed: Vec<&str> = rest
            .split("expected one of ")
            .nth(1)
            .or_else(|| rest.split("expected ").nth(1))
            .map(|list| {
                list.split(", ")
                    .map(|k| k.trim_matches('`'))
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let section = SECTIONS
            .iter()
            .find(|(keys, _)| rest.contains(keys))
            .map(|(_, s)| *s)
            .unwrap_or("this mapping");
        return match closest(key, &allowed) {
            Some(s) => format!(
                "did you mean `{s}`? `{key}` is not a key of {section} in LinuxKit's schema"
            ),
            None => format!(
                "`{key}` is not a key of {section} in LinuxKit's schema; remove it or use one of the listed keys"
            ),
        };
    }
    if message.contains("missing field `name`") || message.contains("missing field `image`") {
        return "every onboot, onshutdown and services entry needs both `name` and `image`".into();
    }
    if message.contains("invalid type") {
        if message.contains("mode") && message.contains("integer") {
            return "write file modes as quoted octal strings, e.g. mode: \"0644\"".into();
        }
        if message.contains("expected a sequence") {
            return "this key takes a list: write `[a, b]` or one `- item` per line".into();
        }
        return "the value has the wrong type for this key; see LinuxKit's docs/yaml.md".into();
    }
    if message.contains("more than one document") {
        return "a LinuxKit file holds one document: remove the extra `---`".into();
    }
    "fix the YAML syntax at this position (indentation, quotes, `:` after keys)".into()
}

/// The allowed name closest to `word` (edit distance <= 1/3 of its length, at least 2).
pub(crate) fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let limit = (word.len() / 3).max(2);
    allowed
        .iter()
        .map(|a| (levenshtein(word, a), *a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Writes an image as LinuxKit YAML (keys in LinuxKit's order, unset fields omitted).
pub fn to_yaml_string(image: &Image) -> Result<String, WriteError> {
    Ok(serde_norway::to_string(image)?)
}

/// Merges several parsed files left to right, as upstream's `AppendConfig` does:
///
/// - each kernel field set to a non-empty value in a later file overrides the earlier one;
///   `tar` and `ucode` override whenever they are set, even to `""`;
/// - `init`, `onboot`, `onshutdown`, `services`, `files` and `volumes` are appended;
/// - `trust` (ignored anyway) keeps the last one set.
///
/// Upstream then re-checks service name uniqueness; here [`crate::check::check`] reports
/// `duplicate service name` on the merged image, and volume references are checked against the
/// volumes of all files (upstream only sees the last file's volumes, a quirk not copied).
/// Use [`merge_with_origins`] to map a merged item path back to its file.
pub fn merge(images: Vec<Image>) -> Image {
    merge_with_origins(images).0
}

/// Which input an item of a merged image came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    /// Per input file, per section: (section name, start index in the merged list, count).
    starts: Vec<Vec<(&'static str, usize, usize)>>,
}

impl Origins {
    /// Maps a path of the merged image (`services[5].binds[0]`) to the input index and the
    /// path in that input (`(1, "services[2].binds[0]")`). `kernel` paths map to the last input
    /// that set a kernel section.
    pub fn origin(&self, path: &str) -> Option<(usize, String)> {
        let (section, rest) = match path.find('[') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => {
                let first = path.split('.').next().unwrap_or(path);
                let input = self
                    .starts
                    .iter()
                    .rposition(|s| s.iter().any(|(n, _, c)| *n == first && *c > 0))?;
                return Some((input, path.to_string()));
            }
        };
        let close = rest.find(']')?;
        let index: usize = rest[..close].parse().ok()?;
        let tail = &rest[close + 1..];
        for (input, sections) in self.starts.iter().enumerate() {
            for (name, start, count) in sections {
                if *name == section && index >= *start && index < start + count {
                    return Some((input, format!("{section}[{}]{tail}", index - start)));
                }
            }
        }
        None
    }
}

/// [`merge`], also returning how merged item paths map back to the inputs.
pub fn merge_with_origins(images: Vec<Image>) -> (Image, Origins) {
    let mut out = Image::default();
    let mut origins = Origins::default();
    for image in images {
        let mut sections = Vec::new();
        if let Some(k) = image.kernel {
            let base = out.kernel.get_or_insert_with(Kernel::default);
            if !k.image.is_empty() {
                base.image = k.image;
            }
            for (dst, src) in [(&mut base.cmdline, k.cmdline), (&mut base.binary, k.binary)] {
                match src {
                    Some(v) if !v.is_empty() || dst.is_none() => *dst = Some(v),
                    _ => {}
                }
            }
            if k.tar.is_some() {
                base.tar = k.tar;
            }
            if k.ucode.is_some() {
                base.ucode = k.ucode;
            }
            sections.push(("kernel", 0, 1));
        }
        macro_rules! append {
            ($field:ident, $name:literal) => {
                sections.push(($name, out.$field.len(), image.$field.len()));
                out.$field.extend(image.$field);
            };
        }
        append!(init, "init");
        append!(onboot, "onboot");
        append!(onshutdown, "onshutdown");
        append!(services, "services");
        append!(files, "files");
        append!(volumes, "volumes");
        if image.trust.is_some() {
            out.trust = image.trust;
        }
        origins.starts.push(sections);
    }
    (out, origins)
}

/// The parent of an item path: `services[2].binds[0]` -> `services[2].binds` -> `services[2]`
/// -> `services` -> none.
pub fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        if let Some(i) = path.rfind('[') {
            return Some(&path[..i]);
        }
    }
    match path.rfind('.') {
        Some(i) => Some(&path[..i]),
        None => Some(""),
    }
    .filter(|p| !p.is_empty())
}

/// A 1-based position in a YAML text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Maps item paths (`services[2].binds[0]`, `kernel.cmdline`, `files[1]`) to positions in a
/// YAML text: a mapping entry maps to its key, a list item to the item's first character.
#[derive(Debug, Clone, Default)]
pub struct Locator {
    positions: HashMap<String, Position>,
    /// Mapping values written as plain (unquoted) scalars: path -> (position, text).
    plain: HashMap<String, (Position, String)>,
    /// Every scalar that is a mapping value or a list item, in file order.
    scalars: Vec<ScalarNode>,
    /// Keys written a second time in the same mapping: (path, position of the repeat).
    duplicates: Vec<(String, Position)>,
}

/// A scalar value or list item of a YAML text.
#[derive(Debug, Clone)]
struct ScalarNode {
    path: String,
    pos: Position,
    value: String,
    /// Written without quotes (so YAML's core schema may read it as a number, bool or null).
    plain: bool,
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        /// A list item that is a block mapping: its position is its first key's.
        pending: Option<(String, Position)>,
        /// Keys seen so far.
        seen: std::collections::HashSet<String>,
    },
    Seq {
        path: String,
        index: usize,
        pending: Option<(String, Position)>,
    },
}

impl Frame {
    fn pending(&mut self) -> &mut Option<(String, Position)> {
        match self {
            Frame::Map { pending, .. } | Frame::Seq { pending, .. } => pending,
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Locator {
    /// Reads the positions of every node of `text`. The text should already have parsed with
    /// [`from_yaml_str`]; a syntax error here gives a [`YamlError`] too.
    pub fn new(text: &str, file_name: &str) -> Result<Locator, YamlError> {
        let mut positions = HashMap::new();
        let mut plain = HashMap::new();
        let mut scalars = Vec::new();
        let mut duplicates = Vec::new();
        let mut documents = 0;
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, mark) = parser.next_token().map_err(|e| YamlError {
                file: file_name.to_string(),
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_string(),
                hint: hint_for(e.info()),
            })?;
            let pos = Position {
                line: mark.line(),
                column: mark.col() + 1,
            };
            let is_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::MappingStart(..)
                    | Event::SequenceStart(..)
                    | Event::Alias(..)
            );
            if is_node {
                if let Some((p, _)) = stack.last_mut().and_then(|f| f.pending().take()) {
                    positions.insert(p, pos);
                }
                if let (
                    Event::Scalar(value, TScalarStyle::Plain, ..),
                    Some(Frame::Map {
                        path, key: Some(k), ..
                    }),
                ) = (&event, stack.last())
                {
                    plain.insert(join(path, k), (pos, value.clone()));
                }
                // Where does this node sit: as a key, as a mapping value, as a list item?
                let mut item = false;
                let path = match stack.last_mut() {
                    None => Some(String::new()),
                    Some(Frame::Map {
                        path, key, seen, ..
                    }) => match key.take() {
                        None => {
                            let name = match &event {
                                Event::Scalar(s, ..) => s.clone(),
                                _ => "?".to_string(),
                            };
                            if !seen.insert(name.clone()) {
                                duplicates.push((join(path, &name), pos));
                            }
                            positions.insert(join(path, &name), pos);
                            *key = Some(name);
                            if matches!(event, Event::MappingStart(..) | Event::SequenceStart(..)) {
                                // A complex key: skip it as an opaque subtree.
                                stack.push(Frame::Seq {
                                    path: "\u{0}".into(),
                                    index: 0,
                                    pending: None,
                                });
                            }
                            None
                        }
                        Some(k) => Some(join(path, &k)),
                    },
                    Some(Frame::Seq { path, index, .. }) => {
                        let p = format!("{path}[{index}]");
                        *index += 1;
                        item = true;
                        Some(p)
                    }
                };
                if let (Some(p), Event::Scalar(value, style, ..)) = (&path, &event) {
                    scalars.push(ScalarNode {
                        path: p.clone(),
                        pos,
                        value: value.clone(),
                        plain: *style == TScalarStyle::Plain,
                    });
                }
                if let Some(p) = path {
                    let pending = match event {
                        Event::MappingStart(..) | Event::SequenceStart(..) if item => {
                            Some((p.clone(), pos))
                        }
                        _ => {
                            if item {
                                positions.insert(p.clone(), pos);
                            }
                            None
                        }
                    };
                    match event {
                        Event::MappingStart(..) => stack.push(Frame::Map {
                            path: p,
                            key: None,
                            pending,
                            seen: Default::default(),
                        }),
                        Event::SequenceStart(..) => stack.push(Frame::Seq {
                            path: p,
                            index: 0,
                            pending,
                        }),
                        _ => {}
                    }
                }
            } else {
                match event {
                    Event::MappingEnd | Event::SequenceEnd => {
                        if let Some(mut f) = stack.pop() {
                            if let Some((p, start)) = f.pending().take() {
                                positions.insert(p, start);
                            }
                        }
                    }
                    Event::StreamEnd => break,
                    // Only the first document counts (see `parse`).
                    Event::DocumentStart if documents > 0 => break,
                    Event::DocumentStart => documents += 1,
                    _ => {}
                }
            }
        }
        Ok(Locator {
            positions,
            plain,
            scalars,
            duplicates,
        })
    }

    /// Mapping values written as unquoted scalars, with their text (used to reject an
    /// unquoted `mode: 0644`, which LinuxKit's schema refuses as an integer).
    pub fn plain_values(&self) -> impl Iterator<Item = (&str, Position, &str)> {
        self.plain
            .iter()
            .map(|(k, (p, v))| (k.as_str(), *p, v.as_str()))
    }

    /// The position of exactly `path`.
    pub fn get(&self, path: &str) -> Option<Position> {
        self.positions.get(path).copied()
    }

    /// The position of `path`, or of its nearest ancestor that is in the text
    /// (a problem about an unset field points at its container entry).
    pub fn nearest(&self, path: &str) -> Option<Position> {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            p = parent_path(p)?;
        }
    }
}

#[cfg(test)]
mod tests;
