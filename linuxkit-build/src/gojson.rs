//! JSON exactly as Go's `encoding/json` writes it with `json.MarshalIndent(v, "", "    ")`.
//!
//! LinuxKit writes `config.json`, `runtime.json` and JSON metadata this way. Compared with
//! `serde_json`'s pretty printer the only difference is Go's HTML-safe escaping: `<`, `>` and `&`
//! become `\u003c`, `\u003e` and `\u0026`, and U+2028 / U+2029 become `\u2028` / `\u2029`.
//! Everything else already matches: 4-space indent, `": "` after keys, `[]` and `{}` for empty
//! collections, `\b \f \n \r \t` and lowercase `\u00xx` for other control characters, and no
//! trailing newline. Map keys must be sorted by the caller (use `BTreeMap`), as Go sorts them.
//!
//! A [`serde_json::ser::Formatter`] is used rather than post-processing the bytes so that only
//! string contents are touched.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

/// Serialise `value` as Go's `json.MarshalIndent(value, "", "    ")` does (HTML escaping on,
/// no trailing newline).
pub fn to_vec_indent<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(1024);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter::new());
    value.serialize(&mut ser)?;
    Ok(out)
}

/// A [`Formatter`] producing Go's `MarshalIndent` layout with a 4-space indent and Go's
/// HTML-safe string escaping.
pub struct GoFormatter {
    pretty: PrettyFormatter<'static>,
}

impl GoFormatter {
    /// A formatter with Go's 4-space `MarshalIndent` layout.
    pub fn new() -> Self {
        GoFormatter {
            pretty: PrettyFormatter::with_indent(b"    "),
        }
    }
}

impl Default for GoFormatter {
    fn default() -> Self {
        Self::new()
    }
}

/// Write `fragment` (a piece of a JSON string that serde_json found needs no escaping) with
/// Go's additional escapes.
fn write_go_fragment<W: ?Sized + io::Write>(writer: &mut W, fragment: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in fragment.char_indices() {
        let escape: &[u8] = match c {
            '<' => b"\\u003c",
            '>' => b"\\u003e",
            '&' => b"\\u0026",
            '\u{2028}' => b"\\u2028",
            '\u{2029}' => b"\\u2029",
            _ => continue,
        };
        writer.write_all(&fragment.as_bytes()[start..i])?;
        writer.write_all(escape)?;
        start = i + c.len_utf8();
    }
    writer.write_all(&fragment.as_bytes()[start..])
}

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_go_fragment(writer, fragment)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object_value(writer)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn render<T: Serialize>(v: &T) -> String {
        String::from_utf8(to_vec_indent(v).unwrap()).unwrap()
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        assert_eq!(
            render(&"a && b <c> >d \u{2028}\u{2029} é"),
            r#""a \u0026\u0026 b \u003cc\u003e \u003ed \u2028\u2029 é""#
        );
    }

    #[test]
    fn control_characters_are_escaped_like_go() {
        assert_eq!(
            render(&"\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}"),
            "\"\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}\""
        );
    }

    #[test]
    fn layout_is_marshal_indent_with_four_spaces() {
        let mut m = BTreeMap::new();
        m.insert("b", vec![1, 2]);
        m.insert("a", vec![]);
        assert_eq!(
            render(&m),
            "{\n    \"a\": [],\n    \"b\": [\n        1,\n        2\n    ]\n}"
        );
        let empty: BTreeMap<String, String> = BTreeMap::new();
        assert_eq!(render(&empty), "{}");
    }
}
