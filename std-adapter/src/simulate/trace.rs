//! Request traces: one JSON object per line.

use std::borrow::Cow;

use serde::Deserialize;

/// One request of a trace: `{"t_ms": 1500, "key": "acct-1", "cost": 1, "hold_ms": 250}`.
///
/// `key` defaults to one shared key ([`None`]), `cost` to 1; `hold_ms` is how long an admitted
/// request holds its concurrency permits (none: released at once); `tier` names the tier (plan)
/// whose limits apply to the key, for policy files with tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Milliseconds since the trace's start; never less than the previous line's.
    pub t_ms: u64,
    /// The key, or `None` for the one shared key.
    pub key: Option<Cow<'a, str>>,
    /// The request's cost.
    pub cost: u32,
    /// How long an admitted request holds its concurrency permits.
    pub hold_ms: Option<u64>,
    /// The tier whose limits apply, or `None` for the simulation's default.
    pub tier: Option<Cow<'a, str>>,
}

/// A line as written, strings borrowed from it (the usual case: no escapes in them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Borrowed<'a> {
    t_ms: u64,
    #[serde(default, borrow)]
    key: Option<&'a str>,
    #[serde(default)]
    cost: Option<u32>,
    #[serde(default)]
    hold_ms: Option<u64>,
    #[serde(default, borrow)]
    tier: Option<&'a str>,
}

/// A line whose strings had escapes, so cannot be borrowed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Owned {
    t_ms: u64,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    cost: Option<u32>,
    #[serde(default)]
    hold_ms: Option<u64>,
    #[serde(default)]
    tier: Option<String>,
}

impl<'a> Request<'a> {
    /// Reads one trace line.
    ///
    /// # Errors
    ///
    /// serde_json's message when the line is not such an object (a missing `t_ms`, a negative
    /// or fractional number, a number too large, an unknown field, trailing text).
    ///
    /// # Examples
    ///
    /// ```
    /// use tollgate_std::simulate::Request;
    ///
    /// let r = Request::parse(br#"{"t_ms": 1500, "key": "acct-1", "hold_ms": 250}"#)?;
    /// assert_eq!((r.t_ms, r.key.as_deref(), r.cost, r.hold_ms), (1500, Some("acct-1"), 1, Some(250)));
    /// assert!(Request::parse(br#"{"t_ms": -1}"#).is_err());
    /// assert!(Request::parse(br#"{"t_ms": 1, "cots": 2}"#).is_err()); // a typo is not ignored
    /// # Ok::<(), String>(())
    /// ```
    pub fn parse(line: &'a [u8]) -> Result<Self, String> {
        if let Some(request) = fast(line) {
            return Ok(request);
        }
        // serde reads a struct from an array too: `[1]` would pass as `{"t_ms": 1}`.
        if line.trim_ascii_start().first() != Some(&b'{') {
            return Err(String::from("expected a JSON object, {\"t_ms\": ...}"));
        }
        match serde_json::from_slice::<Borrowed<'a>>(line) {
            Ok(b) => Ok(Self {
                t_ms: b.t_ms,
                key: b.key.map(Cow::Borrowed),
                cost: b.cost.unwrap_or(1),
                hold_ms: b.hold_ms,
                tier: b.tier.map(Cow::Borrowed),
            }),
            // Escaped strings cannot be borrowed; any other error repeats, and is reported.
            Err(_) => match serde_json::from_slice::<Owned>(line) {
                Ok(o) => Ok(Self {
                    t_ms: o.t_ms,
                    key: o.key.map(Cow::Owned),
                    cost: o.cost.unwrap_or(1),
                    hold_ms: o.hold_ms,
                    tier: o.tier.map(Cow::Owned),
                }),
                Err(e) => Err(e.to_string()),
            },
        }
    }
}

/// The lines a trace writer writes, read without serde: an object of this format's fields,
/// each once, numbers as plain non-negative integers, strings without escapes. Anything else
/// (escapes, `null`, a duplicate or unknown field, malformed JSON) is `None`, and [`Request::parse`]
/// hands the line to serde_json, which reads it or says what is wrong. On every line this
/// accepts, serde_json reads the same request (a property test checks it).
fn fast(line: &[u8]) -> Option<Request<'_>> {
    let mut at = Scan { line, i: 0 };
    at.blank();
    at.byte(b'{')?;
    let (mut t_ms, mut key, mut cost, mut hold_ms, mut tier) = (None, None, None, None, None);
    at.blank();
    if at.peek() == Some(b'}') {
        return None; // no t_ms
    }
    loop {
        at.blank();
        let field = at.raw_string()?;
        at.blank();
        at.byte(b':')?;
        at.blank();
        let fresh = match field {
            b"t_ms" => t_ms.replace(at.number()?).is_none(),
            b"key" => key.replace(at.string()?).is_none(),
            b"cost" => cost.replace(u32::try_from(at.number()?).ok()?).is_none(),
            b"hold_ms" => hold_ms.replace(at.number()?).is_none(),
            b"tier" => tier.replace(at.string()?).is_none(),
            _ => return None,
        };
        if !fresh {
            return None;
        }
        at.blank();
        match at.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    at.blank();
    if at.i != line.len() {
        return None;
    }
    Some(Request {
        t_ms: t_ms?,
        key: key.map(Cow::Borrowed),
        cost: cost.unwrap_or(1),
        hold_ms,
        tier: tier.map(Cow::Borrowed),
    })
}

/// A cursor over a line for [`fast`].
struct Scan<'a> {
    line: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.line.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON's whitespace.
    fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters, as bytes.
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.byte(b'"')?;
        let rest = &self.line[self.i..];
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.i += len + 1;
        Some(&rest[..len])
    }

    /// A string without escapes or control characters, valid UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.raw_string()?).ok()
    }

    /// A non-negative integer as JSON writes it (no leading zero, sign, fraction or exponent)
    /// that fits a `u64`.
    fn number(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.line[start] == b'0';
        let more = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !more).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// serde_json's reading of a line, never the fast path's.
    fn slow(line: &[u8]) -> Option<Request<'_>> {
        let o = serde_json::from_slice::<Owned>(line).ok()?;
        (line.trim_ascii_start().first() == Some(&b'{')).then(|| Request {
            t_ms: o.t_ms,
            key: o.key.map(Cow::Owned),
            cost: o.cost.unwrap_or(1),
            hold_ms: o.hold_ms,
            tier: o.tier.map(Cow::Owned),
        })
    }

    /// Lines as writers write them and as they break them: fields in any order, repeated or
    /// unknown, odd numbers and strings, blanks anywhere.
    fn line() -> impl Strategy<Value = String> {
        let blank = prop::sample::select(vec!["", "", "", " ", "  ", "\t", "\r", "\n"]);
        let number = prop_oneof![
            6 => any::<u64>().prop_map(|n| n.to_string()),
            6 => (0u64..100_000).prop_map(|n| n.to_string()),
            1 => Just("18446744073709551616".to_string()),
            1 => Just("4294967296".to_string()),
            3 => prop::sample::select(vec!["0", "01", "-1", "1.5", "1e3", "1E3", "null", "\"5\"", "", "00"])
                .prop_map(String::from),
        ];
        let string = prop_oneof![
            8 => "[a-z0-9+-]{0,12}".prop_map(|s| format!("\"{s}\"")),
            4 => "[^\"\\\\]{0,6}".prop_map(|s| format!("\"{s}\"")),
            1 => Just(r#""a\"b""#.to_string()),
            1 => Just(r#""\u00e9""#.to_string()),
            1 => Just("\"\x01\"".to_string()),
            1 => Just("null".to_string()),
            1 => Just("7".to_string()),
            1 => Just("\"unterminated".to_string()),
        ];
        let fields = (
            number.clone(),
            prop::option::weighted(0.5, number.clone()),
            prop::option::weighted(0.5, number),
            prop::option::weighted(0.8, string.clone()),
            prop::option::weighted(0.3, string),
            prop::sample::select(vec!["", "", "", "", "", "t_ms", "key", "cots"]),
        )
            .prop_map(|(t, cost, hold, key, tier, extra)| {
                let mut fields = vec![("t_ms", t)];
                fields.extend(cost.map(|v| ("cost", v)));
                fields.extend(hold.map(|v| ("hold_ms", v)));
                fields.extend(key.map(|v| ("key", v)));
                fields.extend(tier.map(|v| ("tier", v)));
                if !extra.is_empty() {
                    fields.push((extra, String::from("1")));
                }
                fields
            })
            .prop_shuffle();
        let blanks = prop::collection::vec(blank, 14);
        let tail = prop::sample::select(vec!["", "", "", "", "", "", ",", "}", "x", "]"]);
        (fields, blanks, tail).prop_map(|(fields, b, tail)| {
            let body: Vec<String> = fields
                .into_iter()
                .enumerate()
                .map(|(i, (name, value))| {
                    format!(
                        "{}\"{name}\"{}:{}{value}{}",
                        b[i % 14],
                        b[(i + 3) % 14],
                        b[(i + 5) % 14],
                        b[(i + 7) % 14]
                    )
                })
                .collect();
            format!("{}{{{}}}{}{tail}", b[12], body.join(","), b[13])
        })
    }

    proptest! {
        #[test]
        fn the_fast_path_reads_what_serde_reads(line in line()) {
            if let Some(fast) = fast(line.as_bytes()) {
                prop_assert_eq!(Some(fast), slow(line.as_bytes()), "{:?}", line);
            }
        }

        #[test]
        fn every_well_formed_line_reads_alike_either_way(t in any::<u64>(), key in "[a-z0-9-]{1,10}", cost in any::<u32>(), hold in any::<Option<u64>>()) {
            let mut line = format!(r#"{{"t_ms": {t}, "key": "{key}", "cost": {cost}"#);
            if let Some(h) = hold {
                line.push_str(&format!(r#", "hold_ms": {h}"#));
            }
            line.push('}');
            let fast = fast(line.as_bytes());
            prop_assert!(fast.is_some());
            prop_assert_eq!(fast, slow(line.as_bytes()));
        }
    }

    #[test]
    fn defaults_and_escapes() {
        let r = Request::parse(br#"{"t_ms":0}"#).unwrap();
        assert_eq!(
            r,
            Request {
                t_ms: 0,
                key: None,
                cost: 1,
                hold_ms: None,
                tier: None
            }
        );
        let r = Request::parse(br#"{"t_ms":7,"key":"a\"b","tier":"pro","cost":0}"#).unwrap();
        assert_eq!(r.key.as_deref(), Some("a\"b"));
        assert_eq!((r.tier.as_deref(), r.cost), (Some("pro"), 0));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in [
            &b""[..],
            b"{}",
            b"[1]",
            br#"{"t_ms": 1.5}"#,
            br#"{"t_ms": 18446744073709551616}"#,
            br#"{"t_ms": 1, "cost": 4294967296}"#,
            br#"{"t_ms": 1, "key": 5}"#,
            br#"{"t_ms": 1} x"#,
            br#"{"t_ms": 1, "t_ms": 2}"#,
        ] {
            assert!(
                Request::parse(line).is_err(),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
