//! Diagnostics: a problem with where it is and what to do, rendered as
//! `file:line:col: error: message` plus an indented hint, or as a JSON message.

use serde_json::json;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Worth knowing; does not fail `check`.
    Warning,
    /// Fails `check` and `build`.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// A position in a source file (Rust definition or YAML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The file as it should be shown (relative to the current directory where possible).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Severity.
    pub level: Level,
    /// The one-line summary.
    pub message: String,
    /// Where it is, when known.
    pub span: Option<Span>,
    /// The item path in the image (`services[2].binds[0]`), when the problem is about an item.
    pub item: Option<String>,
    /// The image the problem belongs to.
    pub image: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error with no location yet.
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level: Level::Error,
            message: message.into(),
            span: None,
            item: None,
            image: None,
            hint: None,
        }
    }

    /// Human rendering: `file:line:col: error: message`, then `  = hint: ...`.
    pub fn render(&self, color: bool) -> String {
        let level = match (color, self.level) {
            (true, Level::Error) => "\x1b[1;31merror\x1b[0m".to_string(),
            (true, Level::Warning) => "\x1b[1;33mwarning\x1b[0m".to_string(),
            (false, l) => l.as_str().to_string(),
        };
        let mut s = String::new();
        if let Some(span) = &self.span {
            s.push_str(&format!("{span}: "));
        }
        s.push_str(&format!("{level}: {}", self.message));
        match (&self.item, &self.image) {
            (Some(item), Some(image)) => s.push_str(&format!(" (image `{image}`, {item})")),
            (Some(item), None) => s.push_str(&format!(" ({item})")),
            (None, Some(image)) if self.span.is_none() => {
                s.push_str(&format!(" (image `{image}`)"))
            }
            _ => {}
        }
        s.push('\n');
        if let Some(h) = &self.hint {
            s.push_str(&format!("  = hint: {h}\n"));
        }
        s
    }

    /// The JSON message (`reason: "linuxkit-diagnostic"`).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "reason": "linuxkit-diagnostic",
            "level": self.level.as_str(),
            "message": self.message,
            "file": self.span.as_ref().map(|s| s.file.clone()),
            "line": self.span.as_ref().map(|s| s.line),
            "column": self.span.as_ref().map(|s| s.column),
            "item": self.item,
            "image": self.image,
            "hint": self.hint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_message_and_hint() {
        let d = Diagnostic {
            span: Some(Span {
                file: "a.yml".into(),
                line: 3,
                column: 5,
            }),
            hint: Some("rename it".into()),
            ..Diagnostic::error("duplicate service name `x`")
        };
        assert_eq!(
            d.render(false),
            "a.yml:3:5: error: duplicate service name `x`\n  = hint: rename it\n"
        );
        assert_eq!(d.to_json()["line"], 3);
    }
}
