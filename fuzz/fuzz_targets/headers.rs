//! The header parsers and the client pacer, on arbitrary bytes: the response headers a client
//! reads (`RateLimitSummary`), and seed 004's request test headers a server reads
//! (`TestHeaders`), applied to a policy.
//!
//! The input is a header block: a flag byte (which `now` the client knows, which tick rate its
//! pacer runs at), then `name: value` lines separated by `\n` (a trailing `\r` is dropped), with
//! names and values of any bytes. Use `fuzz/dict/headers.dict`.
//!
//! Every dialect the parser reads is covered (the classic `X-RateLimit-*` family with `-Used`
//! and `-Reset-After`, `X-Rate-Limit-*`, named families, OpenAI's and Anthropic's, Shopify's
//! call limit, the IETF drafts 06, 07 and 10/11); the dictionary has each one's field names.
//!
//! Asserts: no panic and no overflow anywhere; a field line is read as the field its name
//! names (any case) or ignored; a malformed line is an error that changes nothing; the summary
//! stays within its bounds and equals one built at once by `from_headers`; a `Retry-After` of
//! plain delay-seconds is always accepted and the longest wait wins; an
//! HTTP-date that parses renders back to a date that parses to the same instant;
//! `suggested_wait` is `Retry-After` when there is one; read delta seconds (`Retry-After`,
//! `X-RateLimit-Reset-After`, fractional too) are never shortened; the pacer's hints are the
//! most restrictive bucket's figures among all dialects, every time rounded up (never shorter
//! than what the server said), and a pacer fed them never sends before the
//! server's `Retry-After`. Test headers: a forced denial exactly when some `X-RateLimit` line is
//! neither blank nor zero, every lowering is a non-empty UTF-8 interval name with its decimal
//! value (saturating), at most the table's room (the rest flagged as truncated), and applied to
//! a policy they never raise a limit and never admit what the plain check denies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::http::{MAX_BUCKETS, MAX_NAME_LEN};
use tollgate_core::{
    Dialect, Duration, Gcra, HeaderField, HttpDate, Instant, Named, Outcome, Pacer, Policy, Quota,
    RateLimitSummary, ResetKind, ServerHints, TestHeaders,
};

/// The clocks a client may have: none, seed 001's, zero, the end of time, and others.
const NOWS: [Option<u64>; 8] = [
    None,
    Some(1_742_377_155_000),
    Some(0),
    Some(u64::MAX),
    Some(1_000_000_000_000),
    Some(4_102_444_800_000),
    Some(999),
    Some(1_479_308_590_000),
];

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

fn hints_round_up<const HZ: u64>(s: &RateLimitSummary, now: u64, random: u64) {
    let hints: ServerHints<HZ> = s.server_hints::<HZ>();
    // Times are rounded up to whole ticks: never shorter than what the server said.
    if let (Some(ms), Some(ticks)) = (s.retry_after(), hints.retry_after) {
        let exact = u128::from(ms.as_ticks()) * u128::from(HZ);
        assert!(u128::from(ticks.as_ticks()) * 1_000 >= exact.min(u128::from(u64::MAX) * 1_000));
    }
    assert_eq!(s.retry_after().is_some(), hints.retry_after.is_some());
    if let Some(n) = hints.remaining {
        let least = s.all_buckets().filter_map(|b| b.info.remaining).min();
        assert!(least.is_some());
        assert!(
            u64::from(n)
                <= s.all_buckets()
                    .filter_map(|b| b.info.remaining)
                    .max()
                    .unwrap()
        );
    }
    // The hints are the most restrictive bucket's figures, of whichever dialect, its reset
    // rounded up to whole ticks: never a wait shorter than the server said.
    match s
        .most_restrictive()
        .and_then(|b| Some((b.info.remaining?, b.info.reset?)))
    {
        Some((n, r)) => {
            assert_eq!(hints.remaining, Some(u32::try_from(n).unwrap_or(u32::MAX)));
            let ticks = hints.reset.expect("a binding bucket's reset is handed on");
            let exact = u128::from(r.as_ticks()) * u128::from(HZ);
            assert!(
                u128::from(ticks.as_ticks()) * 1_000 >= exact.min(u128::from(u64::MAX) * 1_000)
            );
            // Nothing with a reset is more binding: every exhausted bucket waits no longer.
            if n == 0 {
                for b in s.all_buckets().filter(|b| b.info.remaining == Some(0)) {
                    assert!(b.info.reset.is_none_or(|other| other <= r));
                }
            }
        }
        None => assert_eq!(hints.reset, None),
    }
    // A pacer fed the hints never sends before the server's Retry-After.
    let pacer = Pacer::<HZ>::new(
        Duration::<HZ>::from_ticks(1),
        Duration::<HZ>::from_ticks(HZ.saturating_mul(60)),
    )
    .unwrap()
    .with_spread(random & 1 == 1);
    let mut state = pacer.new_state();
    let t = Instant::<HZ>::from_ticks(now);
    for outcome in [Outcome::RateLimited, Outcome::Success, Outcome::Failed] {
        let next = pacer.on_response(&mut state, t, outcome, hints, random);
        if let Some(ra) = hints.retry_after {
            assert!(next.at().as_ticks() >= now.saturating_add(ra.as_ticks()));
        }
        assert!(next.at() >= t);
    }
}

/// Seed 004's request test headers: read as documented, and never loosening a policy.
fn test_headers(lines: &[(&[u8], &[u8])], now: u64) {
    let t = TestHeaders::<'_, 3>::from_headers(lines.iter().map(|&(n, v)| (n, v)));
    let mut deny = false;
    let mut lowered: Vec<(&str, u32)> = Vec::new();
    for &(name, value) in lines {
        // Optional whitespace is spaces and tabs only (RFC 9110), not CR, LF or form feed.
        let value = trim(value);
        if name.eq_ignore_ascii_case(b"x-ratelimit") {
            deny |= !value.is_empty() && !value.iter().all(|&b| b == b'0');
        } else if name.len() > 12
            && name[..12].eq_ignore_ascii_case(b"x-ratelimit-")
            && let Ok(interval) = std::str::from_utf8(&name[12..])
            && !value.is_empty()
            && value.iter().all(u8::is_ascii_digit)
        {
            let n = value.iter().fold(0u32, |n, &d| {
                n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
            });
            lowered.push((interval, n));
        }
    }
    assert_eq!(t.forces_denial(), deny);
    assert_eq!(t.lowered(), &lowered[..lowered.len().min(3)]);
    assert_eq!(t.truncated(), lowered.len() > 3);
    assert_eq!(t.overrides().lower, t.lowered());
    assert_eq!(t.overrides().deny, deny);

    // Applied to a policy, they never raise a limit nor admit what the plain check denies.
    let hour = Quota::<1_000>::per_hour(5).unwrap();
    let minute = Quota::<1_000>::per_minute(3)
        .unwrap()
        .with_burst(2)
        .unwrap();
    let p = Policy::new((
        Named::new("Hour", Gcra::new(hour)),
        Named::new("minute", Gcra::new(minute)),
    ));
    let mut s = p.new_state();
    let at = Instant::<1_000>::from_ticks(now);
    for cost in [1, 2, 1, 0, 3] {
        let o = t.overrides();
        let (mut plain_state, before) = (s, s);
        let plain = p.check(&mut plain_state, at, cost);
        match p.check_with(&mut s, at, cost, &o) {
            Ok(d) => {
                assert!(d.reports[0].decision.limit <= 5 && d.reports[1].decision.limit <= 2);
                if d.is_allowed() {
                    assert!(
                        plain.is_ok_and(|d| d.is_allowed()),
                        "an override admitted more"
                    );
                    assert_eq!(s, plain_state);
                } else {
                    assert_eq!(s, before);
                }
            }
            Err(_) => assert_eq!(s, before),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, block)) = data.split_first() else {
        return;
    };
    let now = NOWS[usize::from(flags & 7)];
    let lines: Vec<(&[u8], &[u8])> = block
        .split(|&b| b == b'\n')
        .take(64)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .map(|line| match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        })
        .collect();

    let mut s = RateLimitSummary::new();
    let mut longest_delay: Option<u64> = None;
    for &(name, value) in &lines {
        let before = s.clone();
        let got = s.feed(name, value, now);
        match got {
            Err(_) => assert_eq!(s, before, "a malformed line changed the summary"),
            Ok(field) => assert_eq!(field, HeaderField::from_name(name)),
        }
        if HeaderField::from_name(name).is_none() {
            assert_eq!(s, before, "an unknown field changed the summary");
        }
        assert!(s.legacy().len() <= MAX_BUCKETS && s.ietf().len() <= MAX_BUCKETS);
        assert!(s.others().len() <= MAX_BUCKETS);
        assert_eq!(
            s.all_buckets().count(),
            s.legacy().len() + s.ietf().len() + s.others().len()
        );
        for b in s.ietf().iter().chain(s.others()) {
            assert!(b.name.as_ref().is_none_or(|n| n.len() <= MAX_NAME_LEN));
        }
        // A bucket's remaining count never exceeds its limit when it was derived from a used
        // count, and every other dialect's bucket name is lower case.
        for b in s.all_buckets() {
            assert!(b.dialect != Dialect::Ietf || b.info.name.is_some());
            if b.dialect != Dialect::Ietf
                && let Some(n) = &b.info.name
            {
                assert_eq!(n.as_str(), n.to_ascii_lowercase());
            }
        }

        if HeaderField::from_name(name) == Some(HeaderField::RetryAfter) {
            let v = trim(value);
            // Plain delay-seconds are exactly that many seconds (if they fit in milliseconds).
            if !v.is_empty()
                && v.iter().all(u8::is_ascii_digit)
                && let Some(secs) = std::str::from_utf8(v)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                && let Some(ms) = secs.checked_mul(1_000)
            {
                assert!(got.is_ok(), "delay-seconds {secs} refused");
                longest_delay = longest_delay.max(Some(ms));
            }
            // An HTTP-date that parses renders back to one that parses to the same instant.
            let now_secs = now.unwrap_or(0) / 1_000;
            if let Ok(d) = HttpDate::parse(v, now_secs) {
                let text = d.to_string();
                assert_eq!(HttpDate::parse(text.as_bytes(), now_secs), Ok(d), "{text}");
                assert_eq!(
                    HttpDate::parse_imf_fixdate(text.as_bytes()),
                    Ok(d),
                    "{text}"
                );
                if let Ok(secs) = u64::try_from(d.unix_secs()) {
                    assert_eq!(HttpDate::from_unix_secs(secs), Some(d));
                }
            }
        }
        // Delta seconds (fractional too) that are read are never shortened.
        if matches!(
            HeaderField::from_name(name),
            Some(HeaderField::XRateLimitResetAfter | HeaderField::RetryAfter)
        ) && got.is_ok()
            && !s.truncated()
            && let Some(secs) = std::str::from_utf8(trim(value))
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
            && secs.is_finite()
            && secs < 1e12
        {
            let waits = s
                .retry_after()
                .into_iter()
                .chain(s.legacy().iter().filter_map(|b| b.reset));
            assert!(
                waits.map(|w| w.as_ticks()).max().unwrap_or(0) as f64 >= (secs * 1_000.0).floor()
            );
        }
        if HeaderField::from_name(name) == Some(HeaderField::XRateLimitReset) {
            for n in trim(value).split(|&b| b == b',') {
                if let Some(v) = std::str::from_utf8(trim(n))
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                {
                    let _ = ResetKind::classify(v, now);
                    let _ = ResetKind::wait(v, now);
                }
            }
        }
    }
    if let (Some(ms), Some(got)) = (longest_delay, s.retry_after()) {
        assert!(got.as_ticks() >= ms, "a shorter Retry-After won");
    }
    let at_once = RateLimitSummary::from_headers(lines.iter().copied(), now);
    assert_eq!(at_once, s, "from_headers differs from feeding line by line");

    match s.retry_after() {
        Some(ra) => assert_eq!(s.suggested_wait(), Some(ra)),
        None => {
            let exhausted = s
                .all_buckets()
                .filter(|b| b.info.remaining == Some(0))
                .filter_map(|b| b.info.reset)
                .max();
            assert_eq!(s.suggested_wait(), exhausted);
        }
    }

    test_headers(&lines, now.unwrap_or(0) / 1_000);

    let pacer_now = now.unwrap_or(0) / 7;
    let random = u64::from(flags).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    match (flags >> 3) & 3 {
        0 => hints_round_up::<1>(&s, pacer_now, random),
        1 => hints_round_up::<1_000>(&s, pacer_now, random),
        2 => hints_round_up::<32_768>(&s, pacer_now, random),
        _ => hints_round_up::<1_000_000_000>(&s, pacer_now, random),
    }
});
