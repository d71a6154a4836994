//! Seed 003: outbound messages and calls limited to 1 per second "calculated as the average
//! over 10 seconds", per phone number (messages, calls) and per account (calls); 403 bodies with
//! the codes `message-rate-limit`, `multi-message-limit` and `call-rate-limit` and the measured
//! rate; and, for every other endpoint, a 429 with `X-RateLimit-Reset` in epoch milliseconds.

use serde_json::{Value, json};
use tollgate_core::{
    Algorithm, CodedError, Decision, Detail, HeaderConfig, InsufficientCapacity, KeyLimits,
    KeyTable, LimitValues, Measurement, MultiMessageLimit, Named, Next, Outcome, Overrides, Pacer,
    Policy, Quota, RateSentence, ResetFormat, ResetKind, ServerHints, SlidingLog, SlidingWindow,
    TableError, WallClock, XRateLimit,
};
use tollgate_tests::{D, HZ, I, ms, respond, secs};

/// "1 per 1 s, calculated as the average over 10 s": at most 10 in any 10 seconds. A sliding log
/// of 10 entries (100 bytes) counts it exactly; each message counts for exactly 10 s.
type TenPerTenSeconds = SlidingLog<HZ, 10>;

fn ten_per_ten_seconds() -> TenPerTenSeconds {
    SlidingLog::new(Quota::per_seconds(10, 10).unwrap()).unwrap()
}

/// The same rate as the seed's sentence says it: 1 per second, averaged over 10 (a burst of 10).
fn as_the_seed_says_it() -> Quota<HZ> {
    Quota::per_second(1).unwrap().with_burst(10).unwrap()
}

/// The rate the 403 reports, in thousandths per second: what the window holds plus this request,
/// over the window (the seed's "Your rate is: 1.1" for an 11th message in 10 seconds).
fn rate_milli(d: &Decision<HZ>, cost: u32) -> u64 {
    let held = u64::from(d.limit - d.remaining);
    let m = Measurement {
        cost: held,
        span: D::from_secs(10),
    };
    m.with_attempt(cost).per_second_thousandths().unwrap()
}

/// The messaging endpoint: one log per sending number, in a key table.
struct Messaging {
    limit: TenPerTenSeconds,
    numbers: KeyTable<u64, <TenPerTenSeconds as Algorithm<HZ>>::State, 64>,
}

impl Messaging {
    fn new() -> Self {
        let numbers = KeyTable::new();
        Self {
            limit: ten_per_ten_seconds(),
            numbers,
        }
    }

    /// A request from `from` to `recipients` recipients at `t`: one message per recipient.
    fn send(&mut self, from: u64, t: I, recipients: u32) -> Result<Decision<HZ>, TableError<HZ>> {
        self.numbers.check(&self.limit, from, t, recipients)
    }
}

/// Calls: one entry per number and one per account, in the same table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    Number(u64),
    Account(u32),
}
type Calls = KeyTable<Caller, <TenPerTenSeconds as Algorithm<HZ>>::State, 64>;

/// The seed's two call limits, "Outbound Calls Per Number" and "Per Account": both 1 per 1 s
/// over a 10 s sample, each key decided by the limit of its kind.
struct CallLimits {
    per_number: TenPerTenSeconds,
    per_account: TenPerTenSeconds,
}

impl KeyLimits<Caller, HZ> for CallLimits {
    type Limit = TenPerTenSeconds;

    fn limit_for(&self, key: &Caller) -> Option<&TenPerTenSeconds> {
        Some(match key {
            Caller::Number(_) => &self.per_number,
            Caller::Account(_) => &self.per_account,
        })
    }
}

const NUMBER: u64 = 19_195_551_234;
const OTHER_NUMBER: u64 = 19_195_556_789;

fn detail<'a>(name: &'a str, value: &'a str) -> Detail<'a> {
    Detail { name, value }
}

/// The seed's sample details of a POST to `path`.
fn details(path: &str) -> [Detail<'_>; 3] {
    [
        detail("requestMethod", "POST"),
        detail("remoteAddress", "216.82.234.65"),
        detail("requestPath", path),
    ]
}

fn parse(body: impl std::fmt::Display) -> Value {
    serde_json::from_str(&body.to_string()).unwrap()
}

#[test]
fn seed_003_an_eleventh_message_in_10_seconds_gets_the_403_with_the_measured_rate() {
    let mut messaging = Messaging::new();
    for i in 0..10 {
        assert!(messaging.send(NUMBER, ms(i * 900), 1).unwrap().is_allowed());
    }
    let now = ms(9_000);
    let d = messaging.send(NUMBER, now, 1).unwrap();
    // The message of 0 s stops counting at 10 s.
    assert_eq!(d.retry_after, Some(D::from_secs(1)));
    assert!(messaging.send(OTHER_NUMBER, now, 1).unwrap().is_allowed());

    let sentence = RateSentence::for_quota(
        "send",
        "messages",
        &as_the_seed_says_it(),
        rate_milli(&d, 1),
    );
    let details = details("users/u-asdf/messages");
    let body = parse(CodedError::message_rate_limit(sentence, &details));
    assert_eq!(
        body,
        json!({
            "category": "limit",
            "code": "message-rate-limit",
            "message": "You can send 1 messages per 1 seconds, calculated as the average over 10 seconds. Your rate is: 1.1",
            "details": [
                { "name": "requestMethod", "value": "POST" },
                { "name": "remoteAddress", "value": "216.82.234.65" },
                { "name": "requestPath", "value": "users/u-asdf/messages" },
            ],
        })
    );
    // A 403 is not a rate limit by its status alone; the client tells by the body's code, and
    // with no time in the answer it backs off: one second, the first ceiling.
    assert_eq!(Outcome::from_status(403), Outcome::Failed);
    let outcome = match body["code"].as_str() {
        Some("message-rate-limit" | "call-rate-limit") => Outcome::RateLimited,
        _ => Outcome::from_status(403),
    };
    let pacer = Pacer::new(D::from_secs(1), D::from_secs(60)).unwrap();
    let mut client = pacer.new_state();
    let next = pacer.on_response(&mut client, now, outcome, ServerHints::NONE, u64::MAX);
    assert_eq!(next, Next::SendAt(secs(10)));
    assert!(messaging.send(NUMBER, next.at(), 1).unwrap().is_allowed());
}

#[test]
fn seed_003_a_number_sending_exactly_one_message_a_second_is_never_limited() {
    let mut messaging = Messaging::new();
    for s in 0..600 {
        let d = messaging.send(NUMBER, secs(s), 1).unwrap();
        assert!(d.is_allowed(), "message at {s} s");
    }
    // A window counter in one-second buckets would not do: a message keeps counting until its
    // bucket leaves the window, up to 11 s, so the 11th message of a steady 1/s sender is denied.
    let buckets = SlidingWindow::<HZ, 11>::new(Quota::per_seconds(10, 10).unwrap()).unwrap();
    let mut s = buckets.new_state();
    for t in 0..10 {
        assert!(buckets.check(&mut s, secs(t), 1).unwrap().is_allowed());
    }
    assert!(buckets.check(&mut s, secs(10), 1).unwrap().is_denied());
}

#[test]
fn seed_003_a_multi_message_request_above_the_limit_is_a_typed_error_and_a_multi_message_limit_body()
 {
    let mut messaging = Messaging::new();
    let now = secs(0);
    // One message per recipient: twelve can never be sent at once, so waiting would not help.
    let err = messaging.send(NUMBER, now, 12).unwrap_err();
    let TableError::InsufficientCapacity(exceeded) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        exceeded,
        InsufficientCapacity {
            cost: 12,
            capacity: 10,
            index: None,
        }
    );
    assert!(messaging.numbers.get(&NUMBER).is_none()); // nothing recorded

    let details = details("users/u-asdf/messages");
    assert_eq!(
        parse(MultiMessageLimit::new(exceeded, &details)),
        json!({
            "category": "limit",
            "code": "multi-message-limit",
            "message": "The number of messages [12] in the multi message request is greater than the limit [10].",
            "details": [
                { "name": "requestMethod", "value": "POST" },
                { "name": "remoteAddress", "value": "216.82.234.65" },
                { "name": "requestPath", "value": "users/u-asdf/messages" },
            ],
        })
    );

    // Ten recipients fit at once; then the number must wait until they are 10 s old.
    assert!(messaging.send(NUMBER, now, 10).unwrap().is_allowed());
    let d = messaging.send(NUMBER, ms(500), 2).unwrap();
    assert_eq!(d.retry_after, Some(D::from_millis(9_500)));
    assert_eq!(rate_milli(&d, 2), 1_200);
}

/// A call is placed only if both its number and its account admit it, and then both record it:
/// one all-or-nothing check over the two keys. A denial names the key with the longer wait, and
/// nothing is recorded for either.
fn place_call(
    calls: &mut Calls,
    account: u32,
    number: u64,
    now: I,
) -> Result<(), (Caller, Decision<HZ>)> {
    let limits = CallLimits {
        per_number: ten_per_ten_seconds(),
        per_account: ten_per_ten_seconds(),
    };
    let keys = [Caller::Number(number), Caller::Account(account)];
    let d = calls.check_keys(&limits, keys, now, 1).unwrap();
    match d.denied_index() {
        None => Ok(()),
        Some(i) => Err((keys[i], d.decisions[i])),
    }
}

#[test]
fn seed_003_calls_are_limited_per_number_and_per_account() {
    let mut calls = Calls::new();
    let (account, other_account) = (42, 7);
    for i in 0..6 {
        place_call(&mut calls, account, NUMBER, ms(i * 100)).unwrap();
    }
    for i in 0..4 {
        place_call(&mut calls, account, OTHER_NUMBER, ms(1_000 + i * 100)).unwrap();
    }
    // OTHER_NUMBER has made 4 calls, but its account has made 10.
    let now = secs(2);
    let (key, d) = place_call(&mut calls, account, OTHER_NUMBER, now).unwrap_err();
    assert_eq!(key, Caller::Account(account));
    assert_eq!(d.retry_after, Some(D::from_secs(8)));
    place_call(&mut calls, other_account, 12_125_550_000, now).unwrap();

    let sentence =
        RateSentence::for_quota("create", "calls", &as_the_seed_says_it(), rate_milli(&d, 1));
    let details = details("users/u-asdf/calls");
    assert_eq!(
        parse(CodedError::call_rate_limit(sentence, &details))["message"],
        "You can create 1 calls per 1 seconds, calculated as the average over 10 seconds. Your rate is: 1.1"
    );
    // Nothing was recorded for the refused call: the number still has 6 left.
    let number = calls.get(&Caller::Number(OTHER_NUMBER)).unwrap();
    let left = ten_per_ten_seconds().peek(number, now, 0).unwrap();
    assert_eq!(left.remaining, 6);
    assert!(place_call(&mut calls, account, OTHER_NUMBER, secs(10)).is_ok());
}

/// Every other endpoint: here 10 requests per 10 s per account, answered with a 429 whose
/// `X-RateLimit-Reset` is a unix time in milliseconds.
type Account = Policy<(Named<TenPerTenSeconds>,)>;

/// The scenario starts 1.32 s before 2016-11-16T15:03:10Z, so the seed's sample reset,
/// 1479308598680, is 10 s in.
const START_UNIX_MS: u64 = 1_479_308_588_680;
const WALL: WallClock<HZ> = WallClock::new(I::from_ticks(0), START_UNIX_MS);

const HEADERS: HeaderConfig<HZ> = HeaderConfig::none().with_x_ratelimit(XRateLimit::new(
    ResetFormat::EpochMillis(WALL),
    LimitValues::Single,
));

#[test]
fn seed_003_other_endpoints_answer_429_with_the_reset_in_epoch_milliseconds() {
    let per_account = ten_per_ten_seconds();
    let account: Account = Policy::new((Named::new("account", per_account),));
    let mut table = KeyTable::<u32, <Account as Algorithm<HZ>>::State, 16>::new();
    let mut get = |t: I| {
        table
            .check_policy(&account, 42, t, 1, &Overrides::NONE)
            .unwrap()
    };
    for _ in 0..10 {
        assert!(get(secs(0)).is_allowed());
    }
    let now = ms(1_320);
    let d = get(now);
    assert!(d.is_denied());
    let h = respond(&d, now, &HEADERS);
    assert_eq!(h.get("X-RateLimit-Reset"), Some("1479308598680"));
    assert_eq!(h.get("Retry-After"), None);

    // The body repeats the reset time among its details.
    let reset = WALL.unix_millis_at(now + d.reset()).unwrap().to_string();
    let details = [
        detail("rateLimitResetTime", &reset),
        detail("requestMethod", "GET"),
        detail("remoteAddress", "0:0:0:0:0:0:0:1"),
        detail("requestPath", "users/{{userId}}/account"),
    ];
    let body = CodedError {
        category: "too-many-requests",
        code: "rate-limit-reached",
        message: None,
        details: &details,
    };
    assert_eq!(
        parse(body),
        json!({
            "category": "too-many-requests",
            "code": "rate-limit-reached",
            "details": [
                { "name": "rateLimitResetTime", "value": "1479308598680" },
                { "name": "requestMethod", "value": "GET" },
                { "name": "remoteAddress", "value": "0:0:0:0:0:0:0:1" },
                { "name": "requestPath", "value": "users/{{userId}}/account" },
            ],
        })
    );

    // The client tells milliseconds from seconds by magnitude and waits 8.68 s.
    let client_now = WALL.unix_millis_at(now);
    assert_eq!(client_now, Some(1_479_308_590_000));
    assert_eq!(
        ResetKind::classify(1_479_308_598_680, client_now),
        Ok(ResetKind::EpochMillis)
    );
    let seen = h.read(client_now);
    assert_eq!(seen.buckets()[0].reset, Some(D::from_millis(8_680)));
    let pacer = Pacer::new(D::from_secs(1), D::from_secs(60)).unwrap();
    let mut client = pacer.new_state();
    let next = pacer.on_response(
        &mut client,
        now,
        Outcome::from_status(429),
        seen.server_hints(),
        u64::MAX,
    );
    assert_eq!(next, Next::SendAt(secs(10)));
    assert!(get(next.at() - D::from_millis(1)).is_denied());
    assert!(get(next.at()).is_allowed());
}
