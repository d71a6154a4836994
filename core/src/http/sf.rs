//! Just enough of Structured Field Values (RFC 9651) for `RateLimit` and `RateLimit-Policy`.
//!
//! The list parser follows RFC 9651 §4.2 to the letter for every bare-item type (integers,
//! decimals, strings, tokens, byte sequences, booleans, dates, display strings) and inner lists,
//! so unknown parameters of any type are skipped correctly and anything malformed fails the whole
//! field. Values are borrowed from the input; nothing is decoded until asked.

use core::fmt;

/// A malformed structured field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SfError;

type R<T> = Result<T, SfError>;

/// A bare item, borrowing from the field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bare<'a> {
    Integer(i64),
    /// The raw text of the decimal (`-` sign included): at most 12 digits, a point, 1 to 3
    /// digits.
    Decimal(&'a [u8]),
    /// The raw content between the quotes, escapes still in place.
    String(&'a [u8]),
    Token(&'a [u8]),
    ByteSequence,
    Boolean(bool),
    Date,
    DisplayString,
}

/// One list member: an item's bare value (`None` for an inner list) and the source span of its
/// parameters, already validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'a> {
    pub value: Option<Bare<'a>>,
    pub params: Params<'a>,
}

/// A validated parameter span; look parameters up with [`Params::get`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params<'a> {
    raw: &'a [u8],
}

impl<'a> Params<'a> {
    /// The value of parameter `key` (the last one wins, as in a dictionary); a parameter written
    /// without a value is `Boolean(true)`.
    pub fn get(&self, key: &[u8]) -> Option<Bare<'a>> {
        let mut c = Cur { s: self.raw, i: 0 };
        let mut found = None;
        while let Ok(Some((k, v))) = c.param() {
            if k == key {
                found = Some(v);
            }
        }
        found
    }
}

/// Parses `input` as an sf-list, calling `each` for every member in order.
///
/// `each` may stop the parse with its own error. An empty (or all-whitespace) input is an empty
/// list.
pub(crate) fn parse_list<'a, E: From<SfError>>(
    input: &'a [u8],
    mut each: impl FnMut(Member<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let mut c = Cur { s: input, i: 0 };
    c.skip_sp();
    if c.at_end() {
        return Ok(());
    }
    loop {
        let value = if c.peek() == Some(b'(') {
            c.inner_list()?;
            None
        } else {
            Some(c.bare()?)
        };
        let params = c.params()?;
        each(Member { value, params })?;
        if c.end_of_member()? {
            return Ok(());
        }
    }
}

/// Parses `input` as an sf-dictionary (RFC 9651 §4.2.2), calling `each` for every member in
/// order with its key; a member written without a value is `Boolean(true)`.
///
/// `each` may stop the parse with its own error. An empty (or all-whitespace) input is an empty
/// dictionary.
pub(crate) fn parse_dict<'a, E: From<SfError>>(
    input: &'a [u8],
    mut each: impl FnMut(&'a [u8], Member<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let mut c = Cur { s: input, i: 0 };
    c.skip_sp();
    if c.at_end() {
        return Ok(());
    }
    loop {
        let key = c.key()?;
        let value = if c.eat(b'=') {
            if c.peek() == Some(b'(') {
                c.inner_list()?;
                None
            } else {
                Some(c.bare()?)
            }
        } else {
            Some(Bare::Boolean(true))
        };
        let params = c.params()?;
        each(key, Member { value, params })?;
        if c.end_of_member()? {
            return Ok(());
        }
    }
}

/// Whether `input` starts like an sf-dictionary member with a value (`key=`), which no
/// sf-list can: a list member's token is never followed by `=`.
pub(crate) fn starts_as_dict(input: &[u8]) -> bool {
    let mut c = Cur { s: input, i: 0 };
    c.skip_sp();
    c.key().is_ok() && c.peek() == Some(b'=')
}

/// Whether `s` can be written as an sf-string: printable ASCII only (RFC 9651 §3.3.3).
pub(crate) fn is_sf_string(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Writes a string (checked with [`is_sf_string`]) as an sf-string: quoted, `"` and `\` escaped.
pub(crate) struct SfString<'a>(pub &'a str);

impl fmt::Display for SfString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for part in self.0.split_inclusive(['"', '\\']) {
            match part.strip_suffix(['"', '\\']) {
                Some(head) => {
                    f.write_str(head)?;
                    f.write_str("\\")?;
                    f.write_str(part.get(head.len()..).ok_or(fmt::Error)?)?;
                }
                None => f.write_str(part)?,
            }
        }
        f.write_str("\"")
    }
}

/// Decodes the raw content of an sf-string (escapes in place) into `out`.
///
/// Returns `false` if `out` is too small. The raw content was validated by the parser, so it is
/// ASCII and every `\` is followed by `"` or `\`.
pub(crate) fn unescape_into<const N: usize>(raw: &[u8], out: &mut heapless::String<N>) -> bool {
    let mut escaped = false;
    for &b in raw {
        if b == b'\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        if out.push(char::from(b)).is_err() {
            return false;
        }
    }
    true
}

struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    /// After a list or dictionary member: `true` at the end of the field, `false` after a
    /// comma with another member to come; a trailing comma or anything else is an error.
    fn end_of_member(&mut self) -> Result<bool, SfError> {
        self.skip_ows();
        if self.at_end() {
            return Ok(true);
        }
        if !self.eat(b',') {
            return Err(SfError);
        }
        self.skip_ows();
        if self.at_end() {
            return Err(SfError); // a trailing comma
        }
        Ok(false)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn bump(&mut self) {
        self.i = self.i.saturating_add(1);
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.bump();
        Some(b)
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn span(&self, from: usize) -> &'a [u8] {
        self.s.get(from..self.i).unwrap_or(&[])
    }

    fn skip_sp(&mut self) {
        while self.eat(b' ') {}
    }

    fn skip_ows(&mut self) {
        while self.eat(b' ') || self.eat(b'\t') {}
    }

    /// `( inner-item *( 1*SP inner-item ) *SP ) ")"`, with each item's parameters.
    fn inner_list(&mut self) -> R<()> {
        if !self.eat(b'(') {
            return Err(SfError);
        }
        loop {
            self.skip_sp();
            if self.eat(b')') {
                return Ok(());
            }
            self.bare()?;
            self.params()?;
            match self.peek() {
                Some(b' ' | b')') => {}
                _ => return Err(SfError),
            }
        }
    }

    /// Validates a run of parameters and returns their span.
    fn params(&mut self) -> R<Params<'a>> {
        let from = self.i;
        while self.param()?.is_some() {}
        Ok(Params {
            raw: self.span(from),
        })
    }

    /// One `";" *SP key [ "=" bare-item ]`, or `None` if no parameter starts here.
    fn param(&mut self) -> R<Option<(&'a [u8], Bare<'a>)>> {
        if !self.eat(b';') {
            return Ok(None);
        }
        self.skip_sp();
        let key = self.key()?;
        let value = if self.eat(b'=') {
            self.bare()?
        } else {
            Bare::Boolean(true)
        };
        Ok(Some((key, value)))
    }

    /// `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
    fn key(&mut self) -> R<&'a [u8]> {
        let from = self.i;
        match self.next() {
            Some(b'a'..=b'z' | b'*') => {}
            _ => return Err(SfError),
        }
        while let Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*') = self.peek() {
            self.bump();
        }
        Ok(self.span(from))
    }

    fn bare(&mut self) -> R<Bare<'a>> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => Ok(self.token()),
            Some(b':') => self.byte_sequence(),
            Some(b'?') => {
                self.bump();
                match self.next() {
                    Some(b'0') => Ok(Bare::Boolean(false)),
                    Some(b'1') => Ok(Bare::Boolean(true)),
                    _ => Err(SfError),
                }
            }
            Some(b'@') => {
                self.bump();
                match self.number()? {
                    Bare::Integer(_) => Ok(Bare::Date),
                    _ => Err(SfError),
                }
            }
            Some(b'%') => self.display_string(),
            _ => Err(SfError),
        }
    }

    /// RFC 9651 §4.2.4: at most 15 integer digits; a decimal has at most 12 before the point,
    /// 1 to 3 after, 16 characters in all.
    fn number(&mut self) -> R<Bare<'a>> {
        let from = self.i;
        let negative = self.eat(b'-');
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(SfError);
        }
        let mut value: i64 = 0;
        let mut chars: usize = 0;
        let mut point: Option<usize> = None;
        while let Some(b) = self.peek() {
            match b {
                b'0'..=b'9' => {
                    if point.is_none() {
                        value = value
                            .checked_mul(10)
                            .and_then(|v| v.checked_add(i64::from(b.wrapping_sub(b'0'))))
                            .ok_or(SfError)?;
                    }
                }
                b'.' if point.is_none() => {
                    if chars > 12 {
                        return Err(SfError);
                    }
                    point = Some(chars);
                }
                _ => break,
            }
            self.bump();
            chars = chars.saturating_add(1);
            if (point.is_none() && chars > 15) || chars > 16 {
                return Err(SfError);
            }
        }
        match point {
            None => Ok(Bare::Integer(if negative {
                value.wrapping_neg()
            } else {
                value
            })),
            Some(at) => {
                let frac = chars.saturating_sub(at).saturating_sub(1);
                if frac == 0 || frac > 3 {
                    Err(SfError)
                } else {
                    Ok(Bare::Decimal(self.span(from)))
                }
            }
        }
    }

    fn string(&mut self) -> R<Bare<'a>> {
        if !self.eat(b'"') {
            return Err(SfError);
        }
        let from = self.i;
        loop {
            match self.next() {
                Some(b'\\') => match self.next() {
                    Some(b'"' | b'\\') => {}
                    _ => return Err(SfError),
                },
                Some(b'"') => {
                    let raw = self.s.get(from..self.i.saturating_sub(1)).ok_or(SfError)?;
                    return Ok(Bare::String(raw));
                }
                Some(0x20..=0x7e) => {}
                _ => return Err(SfError),
            }
        }
    }

    fn token(&mut self) -> Bare<'a> {
        let from = self.i;
        self.bump();
        while let Some(b) = self.peek() {
            if is_tchar(b) || b == b':' || b == b'/' {
                self.bump();
            } else {
                break;
            }
        }
        Bare::Token(self.span(from))
    }

    fn byte_sequence(&mut self) -> R<Bare<'a>> {
        if !self.eat(b':') {
            return Err(SfError);
        }
        loop {
            match self.next() {
                Some(b':') => return Ok(Bare::ByteSequence),
                Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=') => {}
                _ => return Err(SfError),
            }
        }
    }

    /// `%"…"` with lowercase `%xx` escapes, whose decoded bytes must be UTF-8.
    fn display_string(&mut self) -> R<Bare<'a>> {
        if !(self.eat(b'%') && self.eat(b'"')) {
            return Err(SfError);
        }
        let mut utf8 = Utf8::default();
        loop {
            let byte = match self.next() {
                Some(b'%') => {
                    let hi = lower_hex(self.next())?;
                    let lo = lower_hex(self.next())?;
                    hi.wrapping_shl(4) | lo
                }
                Some(b'"') => {
                    return if utf8.done() {
                        Ok(Bare::DisplayString)
                    } else {
                        Err(SfError)
                    };
                }
                Some(b @ 0x20..=0x7e) => b,
                _ => return Err(SfError),
            };
            utf8.push(byte)?;
        }
    }
}

fn lower_hex(b: Option<u8>) -> R<u8> {
    match b {
        Some(b @ b'0'..=b'9') => Ok(b.wrapping_sub(b'0')),
        Some(b @ b'a'..=b'f') => Ok(b.wrapping_sub(b'a').wrapping_add(10)),
        _ => Err(SfError),
    }
}

/// `tchar` of RFC 9110 §5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A streaming UTF-8 validator (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF).
#[derive(Default)]
struct Utf8 {
    /// Continuation bytes still expected.
    need: u8,
    /// The allowed range of the next continuation byte.
    lo: u8,
    hi: u8,
}

impl Utf8 {
    fn push(&mut self, b: u8) -> R<()> {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return Err(SfError);
            }
            self.need = self.need.saturating_sub(1);
            (self.lo, self.hi) = (0x80, 0xbf);
            return Ok(());
        }
        (self.need, self.lo, self.hi) = match b {
            0x00..=0x7f => (0, 0x80, 0xbf),
            0xc2..=0xdf => (1, 0x80, 0xbf),
            0xe0 => (2, 0xa0, 0xbf),
            0xed => (2, 0x80, 0x9f),
            0xe1..=0xef => (2, 0x80, 0xbf),
            0xf0 => (3, 0x90, 0xbf),
            0xf1..=0xf3 => (3, 0x80, 0xbf),
            0xf4 => (3, 0x80, 0x8f),
            _ => return Err(SfError),
        };
        Ok(())
    }

    fn done(&self) -> bool {
        self.need == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn members(s: &str) -> Result<Vec<Option<Bare<'_>>>, SfError> {
        let mut out = Vec::new();
        parse_list(s.as_bytes(), |m: Member<'_>| {
            out.push(m.value);
            Ok::<(), SfError>(())
        })?;
        Ok(out)
    }

    type DictMembers<'a> = Vec<(&'a [u8], Option<Bare<'a>>)>;

    fn dict(s: &str) -> Result<DictMembers<'_>, SfError> {
        let mut out = Vec::new();
        parse_dict(s.as_bytes(), |k, m: Member<'_>| {
            out.push((k, m.value));
            Ok::<(), SfError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn dictionaries_parse_and_only_they_start_as_one() {
        assert_eq!(
            dict("limit=100, remaining=25;x=1,  reset=5, flag, l=(1 2)").unwrap(),
            [
                (&b"limit"[..], Some(Bare::Integer(100))),
                (b"remaining", Some(Bare::Integer(25))),
                (b"reset", Some(Bare::Integer(5))),
                (b"flag", Some(Bare::Boolean(true))),
                (b"l", None),
            ]
        );
        assert_eq!(dict(" ").unwrap(), []);
        for bad in ["limit=100,", "Limit=1", "a=1 b=2", "a=", "=1", "a=1,,b=2"] {
            assert_eq!(dict(bad), Err(SfError), "{bad}");
        }
        assert!(starts_as_dict(b" limit=100"));
        for list in [&br#""a";r=1"#[..], b"a;r=1", b"100;w=60", b"", b"Limit=1"] {
            assert!(!starts_as_dict(list), "{list:?}");
        }
    }

    #[test]
    fn every_bare_item_type_parses() {
        let got = members(
            r#"1, -2, 3.25, "a\"b", tok/en:x, :aGk=:, ?0, ?1, @1659578233, %"f%c3%bc", (1 "x";a);b"#,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                Some(Bare::Integer(1)),
                Some(Bare::Integer(-2)),
                Some(Bare::Decimal(b"3.25")),
                Some(Bare::String(br#"a\"b"#)),
                Some(Bare::Token(b"tok/en:x")),
                Some(Bare::ByteSequence),
                Some(Bare::Boolean(false)),
                Some(Bare::Boolean(true)),
                Some(Bare::Date),
                Some(Bare::DisplayString),
                None,
            ]
        );
    }

    #[test]
    fn parameters_are_found_last_one_winning() {
        let mut seen = Vec::new();
        parse_list(b"\"a\";q=1;w=2;q=3;flag;x=\"y\"", |m: Member<'_>| {
            seen.push((
                m.params.get(b"q"),
                m.params.get(b"flag"),
                m.params.get(b"zz"),
            ));
            Ok::<(), SfError>(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [(Some(Bare::Integer(3)), Some(Bare::Boolean(true)), None)]
        );
    }

    #[test]
    fn malformed_lists_fail() {
        for s in [
            "1,",
            ",1",
            "1,,2",
            "\"unterminated",
            "\"bad\\escape\"",
            "1;Q=2",
            "1 2",
            "1234567890123456",
            "1234567890123.5",
            "1.2345",
            "1.",
            "?2",
            ":not base64!:",
            "@1.5",
            "%\"%C3%BC\"",
            "%\"%c3\"",
            "%\"%ed%a0%80\"",
            "(1 2",
            "(1,2)",
            "\"tab\there\"",
            "é",
        ] {
            assert_eq!(members(s), Err(SfError), "{s}");
        }
        assert_eq!(members("  ").unwrap(), []);
        assert_eq!(members("123456789012345").unwrap().len(), 1);
        assert_eq!(
            members("-123456789012.123").unwrap(),
            [Some(Bare::Decimal(b"-123456789012.123"))]
        );
    }

    #[test]
    fn sf_strings_escape_quotes_and_backslashes() {
        let mut s = std::string::String::new();
        core::fmt::write(&mut s, format_args!("{}", SfString(r#"a"b\c""#))).unwrap();
        assert_eq!(s, r#""a\"b\\c\"""#);
        let mut back = heapless::String::<16>::new();
        let raw = s.as_bytes().get(1..s.len() - 1).unwrap();
        assert!(unescape_into(raw, &mut back));
        assert_eq!(back, r#"a"b\c""#);
        assert!(is_sf_string("minute ~!"));
        assert!(!is_sf_string("naïve"));
        assert!(!is_sf_string("tab\there"));
    }
}
