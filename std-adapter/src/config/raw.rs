//! The file as TOML gives it, every value with its place in the text; and how to name the place
//! of an error TOML reports by its span alone.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A whole policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) limit: Option<Vec<Spanned<RawLimit>>>,
    /// Sorted by name here; the keys' spans give the file's order back.
    pub(super) tiers: Option<BTreeMap<Spanned<String>, Spanned<RawTier>>>,
}

/// One `[tiers.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTier {
    pub(super) limit: Option<Vec<Spanned<RawLimit>>>,
}

/// One `[[limit]]` table, every field optional so that a missing one is our error, with a line.
///
/// Numbers are read as `i128`, so that a negative or too large value is reported as such rather
/// than as a type mismatch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimit {
    pub(super) name: Option<Spanned<String>>,
    pub(super) algorithm: Option<Spanned<String>>,
    pub(super) limit: Option<Spanned<i128>>,
    pub(super) window: Option<Spanned<String>>,
    pub(super) burst: Option<Spanned<i128>>,
    pub(super) max_delay: Option<Spanned<String>>,
    pub(super) slots: Option<Spanned<i128>>,
}

/// One step of a field's path.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// The path (`tiers.pro.limit[1].burst`) of the key or value at exactly `span`, if any.
pub(super) fn locate(document: &DeTable<'_>, span: &Range<usize>) -> Option<String> {
    let mut path = Vec::new();
    find_in_table(document, span, &mut path).then(|| render(&path))
}

fn find_in_table<'a>(
    table: &'a DeTable<'_>,
    span: &Range<usize>,
    path: &mut Vec<Segment<'a>>,
) -> bool {
    for (key, value) in table {
        path.push(Segment::Key(key.get_ref().as_ref()));
        if key.span() == *span || value.span() == *span || find_in_value(value, span, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value<'a>(
    value: &'a Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<Segment<'a>>,
) -> bool {
    match value.get_ref() {
        DeValue::Table(table) => find_in_table(table, span, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                if item.span() == *span || find_in_value(item, span, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

fn render(path: &[Segment<'_>]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&key_text(key));
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A key as TOML would write it in a dotted path: bare when it can be, quoted otherwise.
pub(super) fn key_text(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(text: &str, needle: &str) -> Option<String> {
        let doc = DeTable::parse(text).unwrap();
        let start = text.find(needle).unwrap();
        locate(doc.get_ref(), &(start..start + needle.len()))
    }

    #[test]
    fn keys_and_values_are_located_by_their_spans() {
        let text = "[[limit]]\nname = 'a'\n[[limit]]\nname = 'b'\nfoo = 1\n\
                    [tiers.\"big plan\"]\nlimit = [{ name = 'c' }, { name = 'd', bar = 'x' }]\n";
        assert_eq!(path_of(text, "foo").as_deref(), Some("limit[1].foo"));
        assert_eq!(path_of(text, "'b'").as_deref(), Some("limit[1].name"));
        assert_eq!(
            path_of(text, "bar").as_deref(),
            Some("tiers.\"big plan\".limit[1].bar")
        );
        assert_eq!(
            path_of(text, "'x'").as_deref(),
            Some("tiers.\"big plan\".limit[1].bar")
        );
        assert_eq!(path_of(text, "name = 'a'"), None);
    }
}
