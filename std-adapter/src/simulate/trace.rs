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

#[cfg(test)]
mod tests {
    use super::*;

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
