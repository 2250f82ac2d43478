//! Where the items of a Rust definition were written.
//!
//! Builder methods that add an item to an [`Image`](crate::Image) (`Image::new`, `.init`,
//! `.onboot`, `.service`, `.file`, `.volume`, ...) are `#[track_caller]` and record the source
//! location of the call in a thread-local side table, keyed by the item path the item gets
//! (`services[2]`, `kernel`, `init[0]`). The model itself stays plain data, so model equality is
//! semantic. [`crate::emit::evaluate`] clears the table, calls a definition function and takes
//! the table, giving a [`Definition`](crate::emit::Definition).
//!
//! Container methods that add a part (`.bind`, `.capability`, `.env`, `.mount`, ...) record
//! their location too, keyed by the container's name until the container is added to an image,
//! when they become `services[2].binds[0]` and so on. Lookups fall back to the nearest recorded
//! ancestor ([`Locations::nearest`]).
//!
//! Paths are recorded for the index an item gets when it is appended, so they are exact for
//! images built by appending (the builder style); an image rearranged afterwards (e.g. merged
//! with another) may have a partial or stale table, which only affects diagnostics.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::Location;

use serde::{Deserialize, Serialize};

/// A position in a source file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceLocation {
    /// The file, as the compiler names it (relative to the workspace root for workspace crates).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl SourceLocation {
    /// A location from its parts.
    pub fn new(file: impl Into<String>, line: u32, column: u32) -> Self {
        SourceLocation {
            file: file.into(),
            line,
            column,
        }
    }

    /// The location of a `#[track_caller]` call.
    pub fn from_caller(loc: &Location<'_>) -> Self {
        SourceLocation::new(loc.file(), loc.line(), loc.column())
    }
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Item path -> where the builder call that created the item was written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Locations(pub BTreeMap<String, SourceLocation>);

impl Locations {
    /// The location recorded for `path`, or for its nearest recorded ancestor
    /// (`services[2].binds[0]` falls back to `services[2]`).
    pub fn nearest(&self, path: &str) -> Option<&SourceLocation> {
        let mut p = path;
        loop {
            if let Some(l) = self.0.get(p) {
                return Some(l);
            }
            p = crate::yaml::parent_path(p)?;
        }
    }

    /// The location recorded for exactly `path`.
    pub fn get(&self, path: &str) -> Option<&SourceLocation> {
        self.0.get(path)
    }

    /// Number of recorded paths.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

thread_local! {
    static RECORDED: RefCell<BTreeMap<String, SourceLocation>> = const { RefCell::new(BTreeMap::new()) };
    /// Locations inside containers not yet added to an image, by container name:
    /// (path relative to the container, location).
    static PENDING: RefCell<BTreeMap<String, Vec<(String, SourceLocation)>>> = const { RefCell::new(BTreeMap::new()) };
}

/// Records that a part of container `name` (`binds[0]`, `capabilities`) was written at `loc`;
/// the entry gets its full path when the container is added to an image.
pub(crate) fn record_nested(name: &str, relative: String, loc: &'static Location<'static>) {
    PENDING.with(|p| {
        p.borrow_mut()
            .entry(name.to_string())
            .or_default()
            .push((relative, SourceLocation::from_caller(loc)));
    });
}

/// Moves the pending entries of container `old` to `new` (the container was renamed).
pub(crate) fn rename_nested(old: &str, new: &str) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(entries) = p.remove(old) {
            p.entry(new.to_string()).or_default().extend(entries);
        }
    });
}

/// The container `name` was added to an image at `prefix` (`services[2]`): its pending
/// entries become `services[2].binds[0]`, ...
pub(crate) fn adopt_nested(name: &str, prefix: &str) {
    let entries = PENDING
        .with(|p| p.borrow_mut().remove(name))
        .unwrap_or_default();
    RECORDED.with(|r| {
        let mut r = r.borrow_mut();
        for (relative, loc) in entries {
            r.insert(format!("{prefix}.{relative}"), loc);
        }
    });
}

/// Records that the item at `path` was created at `loc` (called by builder methods).
pub(crate) fn record(path: String, loc: &'static Location<'static>) {
    RECORDED.with(|r| {
        r.borrow_mut()
            .insert(path, SourceLocation::from_caller(loc));
    });
}

/// Clears the thread's recorded locations (before evaluating a definition).
pub fn clear_recorded() {
    RECORDED.with(|r| r.borrow_mut().clear());
    PENDING.with(|p| p.borrow_mut().clear());
}

/// Takes the thread's recorded locations, leaving the table empty.
pub fn take_recorded() -> Locations {
    Locations(RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut())))
}
