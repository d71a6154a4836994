//! Raw state records (`tollgate_core::Codec`): arbitrary bytes decoded into a fresh state of
//! every kind, and states built by fuzzed requests written out and read back.
//!
//! The input's first byte picks the mode, the second the tick rate.
//!
//! - **Decode** (raw, or with every record's checksum forged valid so that arbitrary fields reach
//!   the decoders' own checks): the bytes are read into a fresh `GcraState`, `MeterState`,
//!   `ShaperState`, `ConcurrencyState`, `()`, `LogState`s with `u16`, `u32` and `u64` stamps
//!   (fixed rings, and a ring sized at run time in larger storage), `WindowState`s of 2, 4 and 11
//!   buckets (and buckets chosen at run time), `AnyState`s, a tuple policy's state and an array
//!   policy's state. Asserts: no panic; `check` answers exactly what `decode_into` does and
//!   changes nothing; an error is never `BufferTooSmall` and leaves the target exactly as it
//!   was (every field, used or not); a success consumes a whole record (no more than the
//!   input), re-encodes to exactly the bytes consumed, decodes again to an equal state, and the
//!   state can be checked and peeked (peek == check) at several instants, its own among them,
//!   without a panic.
//! - **Round trip**: GCRA, the meter, the shaper, the concurrency limit, sliding logs of every
//!   stamp width (also sized at run time), sliding windows (also with buckets chosen at run
//!   time), an `AnyLimit`, a tuple policy and an array policy are driven by the same fuzzed
//!   requests and releases; after every one each state is encoded (exactly `encoded_len` bytes,
//!   `BufferTooSmall` one byte short), checked and decoded into a fresh state, which equals it,
//!   re-encodes to the same bytes and decides every probe (and a sequence of checks) exactly
//!   like it; the record cut short or with one bit flipped is an error that changes nothing.
#![no_main]

use std::fmt::Debug;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tollgate_core::algorithm::sliding_log::SlidingLogIn;
use tollgate_core::algorithm::sliding_window::SlidingWindowIn;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::codec::{MAGIC, OVERHEAD, VERSION};
use tollgate_core::{
    Algorithm, AnyLimit, Codec, CodecError, Concurrency, Duration, Gcra, Instant, Meter, Named,
    Policy, Quota, Shaper, SlidingLog, SlidingWindow, Unlimited,
};
use tollgate_fuzz::{Cost, Ops, Step, at_rate, forge_checksums};

/// Any limit, its logs and windows in room for eight.
type Any<const HZ: u64> = AnyLimit<HZ, Inline<8>, u32>;
/// A sliding log whose ring is sized at run time, in room for 24.
type SizedLog<const HZ: u64, O> = SlidingLogIn<HZ, O, Inline<24>>;
/// A sliding window whose buckets are chosen at run time, in room for 16.
type SizedWindow<const HZ: u64> = SlidingWindowIn<HZ, Inline<16>>;

fn at<const HZ: u64>(t: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(t)
}

/// Everything a state's `Debug` shows, unused ring slots included: "unchanged" means this.
fn exactly<S: Debug>(s: &S) -> String {
    format!("{s:?}")
}

/// A state's record.
fn record<S: Codec>(s: &S) -> Vec<u8> {
    let n = s.encoded_len();
    let mut out = vec![0u8; n + 3];
    assert_eq!(
        s.encode(&mut out),
        Ok(n),
        "encode wrote other than encoded_len"
    );
    out.truncate(n);
    out
}

// ---- Decode ----

/// The instants a decoded state is checked at: fixed ones across the whole range, and every
/// `u64` the consumed record holds (its own instants), give or take a tick.
fn instants(consumed: &[u8]) -> Vec<u64> {
    let mut ts = vec![0, 1, 999, 1 << 32, u64::MAX / 2, u64::MAX - 1_000, u64::MAX];
    for off in (5..consumed.len().saturating_sub(4)).step_by(4) {
        if let Some(b) = consumed.get(off..off + 8) {
            let v = u64::from_le_bytes(b.try_into().unwrap());
            ts.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
        }
    }
    ts.truncate(24);
    ts
}

/// Reads `bytes` into a fresh state of `alg`: see the module docs.
fn decode_into_fresh<A, const HZ: u64>(what: &str, alg: &A, bytes: &[u8])
where
    A: Algorithm<HZ>,
    A::State: Codec + Clone + PartialEq + Debug,
{
    let fresh = alg.new_state();
    let mut target = fresh.clone();
    let checked = target.check(bytes);
    assert_eq!(
        exactly(&target),
        exactly(&fresh),
        "{what}: check changed the target"
    );
    let got = target.decode_into(bytes);
    assert_eq!(checked, got, "{what}: check disagrees with decode_into");
    let n = match got {
        Err(e) => {
            assert!(
                !matches!(e, CodecError::BufferTooSmall { .. }),
                "{what}: a read answered {e:?}"
            );
            assert_eq!(
                exactly(&target),
                exactly(&fresh),
                "{what}: a failed read ({e:?}) changed the target"
            );
            return;
        }
        Ok(n) => n,
    };
    assert!(
        n >= OVERHEAD && n <= bytes.len(),
        "{what}: consumed {n} of {}",
        bytes.len()
    );
    let consumed = &bytes[..n];
    assert_eq!(
        target.encoded_len(),
        n,
        "{what}: encoded_len of a read state"
    );
    assert_eq!(
        record(&target),
        consumed,
        "{what}: re-encoded to other bytes"
    );
    let mut again = fresh.clone();
    assert_eq!(again.decode_into(consumed), Ok(n));
    assert_eq!(again, target, "{what}: read twice, two states");
    // Whatever the record held, deciding it never panics, and peek answers what check does.
    let cap = alg.capacity();
    for t in instants(consumed) {
        let _ = alg.is_at_rest(&target, at::<HZ>(t));
        for cost in [0, 1, cap.min(3), cap, cap.saturating_add(1)] {
            let mut s = target.clone();
            let peeked = alg.peek(&s, at::<HZ>(t), cost);
            assert_eq!(
                peeked,
                alg.check(&mut s, at::<HZ>(t), cost),
                "{what}: peek != check"
            );
            let _ = alg.release(&mut s, cost);
        }
    }
}

fn decode<const HZ: u64>(bytes: &[u8]) {
    let d = Duration::<HZ>::from_ticks;
    let q = Quota::<HZ>::new(5, d(1_000))
        .unwrap()
        .with_burst(3)
        .unwrap();
    let gcra = Gcra::new(q);
    decode_into_fresh("gcra", &gcra, bytes);
    decode_into_fresh("meter", &Meter::new(q), bytes);
    let shaper = Shaper::new(q, d(400)).unwrap();
    decode_into_fresh("shaper", &shaper, bytes);
    let conc = Concurrency::<HZ>::new(5).unwrap();
    decode_into_fresh("concurrency", &conc, bytes);
    decode_into_fresh::<_, HZ>("unlimited", &Unlimited, bytes);
    let log16 = SlidingLog::<HZ, 4, u16>::new(q)
        .unwrap_or_else(|_| SlidingLog::<HZ, 4, u16>::new_undersized(q).unwrap());
    decode_into_fresh("log u16", &log16, bytes);
    let log32 = SlidingLog::<HZ, 8>::new(q).unwrap();
    decode_into_fresh("log u32", &log32, bytes);
    let log64 = SlidingLog::<HZ, 8, u64>::new(q).unwrap();
    decode_into_fresh("log u64", &log64, bytes);
    // A ring of 5 in room for 24: a record of more entries does not fit it.
    let sized = SizedLog::<HZ, u32>::with_capacity(5, d(1_000), 5).unwrap();
    decode_into_fresh("log sized", &sized, bytes);
    let w2 = SlidingWindow::<HZ, 2>::new(q).unwrap();
    decode_into_fresh("window 2", &w2, bytes);
    let w4 = SlidingWindow::<HZ, 4>::new(q).unwrap();
    decode_into_fresh("window 4", &w4, bytes);
    let w11 = SlidingWindow::<HZ, 11>::new(q).unwrap();
    decode_into_fresh("window 11", &w11, bytes);
    let w_sized = SizedWindow::<HZ>::with_buckets(5, d(1_000), 4).unwrap();
    decode_into_fresh("window sized", &w_sized, bytes);
    for (what, any) in [
        ("any gcra", Any::<HZ>::Gcra(gcra)),
        ("any shaper", Any::<HZ>::Shaper(shaper)),
        ("any log", Any::<HZ>::sliding_log(5, d(1_000), 8).unwrap()),
        (
            "any window",
            Any::<HZ>::sliding_window(5, d(1_000), 4).unwrap(),
        ),
        ("any concurrency", Any::<HZ>::Concurrency(conc)),
        ("any unlimited", Any::<HZ>::Unlimited),
    ] {
        decode_into_fresh(what, &any, bytes);
    }
    let tuple = Policy::new((
        Named::new("rate", gcra),
        Named::new("log", log32),
        Named::new("window", w4),
        Named::new("concurrent", conc),
    ));
    decode_into_fresh("tuple policy", &tuple, bytes);
    let array = Policy::new([
        Named::new("rate", Any::<HZ>::Gcra(gcra)),
        Named::new("log", Any::<HZ>::SlidingLog(log32)),
    ]);
    decode_into_fresh("array policy", &array, bytes);
}

// ---- Round trip ----

#[derive(Debug, Arbitrary)]
struct Trip {
    limit: u8,
    window: u32,
    burst: u8,
    /// Whole intervals of shaper queue.
    queue: u8,
    /// Ring entries of the sized log.
    entries: u8,
    /// Buckets of the sized window.
    buckets: u8,
    /// Which `AnyLimit`.
    any: u8,
    start: Step,
    /// A clock step, a cost, whether to release it instead, and where to cut or flip a record.
    ops: Ops<(Step, Cost, bool, u16)>,
}

/// Writes `state` out and reads it back: see the module docs. `mutate` picks the cut and the
/// flipped bit.
fn round_trip<A, const HZ: u64>(
    what: &str,
    alg: &A,
    state: &A::State,
    now: u64,
    scale: u64,
    mutate: u16,
) where
    A: Algorithm<HZ>,
    A::State: Codec + Clone + PartialEq + Debug,
{
    let bytes = record(state);
    let n = bytes.len();
    assert!(n >= OVERHEAD);
    assert_eq!((bytes[0], bytes[1]), (MAGIC, VERSION), "{what}: the frame");
    let mut short = vec![0u8; n - 1];
    assert_eq!(
        state.encode(&mut short),
        Err(CodecError::BufferTooSmall { needed: n }),
        "{what}: one byte short"
    );
    let fresh = alg.new_state();
    let mut back = fresh.clone();
    assert_eq!(back.check(&bytes), Ok(n), "{what}: check of its own record");
    assert_eq!(
        back.decode_into(&bytes),
        Ok(n),
        "{what}: read of its own record"
    );
    assert_eq!(&back, state, "{what}: read back another state");
    assert_eq!(record(&back), bytes, "{what}: read back, written otherwise");

    // The same decisions, at every probe, and along a sequence of checks.
    let cap = alg.capacity();
    let probes = [
        now,
        now.saturating_add(scale / 2),
        now.saturating_add(scale).saturating_add(1),
        u64::MAX,
    ];
    for t in probes {
        let t = at::<HZ>(t);
        assert_eq!(
            alg.is_at_rest(&back, t),
            alg.is_at_rest(state, t),
            "{what}: at rest"
        );
        for cost in [0, 1, cap] {
            assert_eq!(
                alg.peek(&back, t, cost),
                alg.peek(state, t, cost),
                "{what}: peek"
            );
        }
    }
    let (mut a, mut b) = (state.clone(), back);
    for (dt, cost) in [(0, cap), (1, 1), (scale / 2, cap.min(2))] {
        let t = at::<HZ>(now.saturating_add(dt));
        assert_eq!(
            alg.check(&mut a, t, cost),
            alg.check(&mut b, t, cost),
            "{what}: check"
        );
        assert_eq!(a, b, "{what}: checked apart");
    }

    // Cut short, or one bit flipped: an error, and the target unchanged.
    let untouched = exactly(&fresh);
    let cut = usize::from(mutate) % n;
    let mut target = fresh;
    assert!(
        target.decode_into(&bytes[..cut]).is_err(),
        "{what}: cut at {cut}"
    );
    assert_eq!(
        exactly(&target),
        untouched,
        "{what}: a cut record changed it"
    );
    let mut bad = bytes;
    bad[usize::from(mutate) % n] ^= 1 << (mutate >> 13);
    assert!(target.check(&bad).is_err(), "{what}: a flipped bit passed");
    assert!(
        target.decode_into(&bad).is_err(),
        "{what}: a flipped bit was read"
    );
    assert_eq!(
        exactly(&target),
        untouched,
        "{what}: a flipped bit changed it"
    );
}

/// An algorithm under test, its state, and how to drive and check it.
struct Driven<'a, A: Algorithm<HZ>, const HZ: u64> {
    what: &'static str,
    alg: &'a A,
    state: A::State,
}

impl<'a, A, const HZ: u64> Driven<'a, A, HZ>
where
    A: Algorithm<HZ>,
    A::State: Codec + Clone + PartialEq + Debug,
{
    fn new(what: &'static str, alg: &'a A) -> Self {
        Self {
            what,
            alg,
            state: alg.new_state(),
        }
    }

    fn op(&mut self, now: u64, cost: Cost, release: bool, scale: u64, mutate: u16) {
        let cost = cost.of(self.alg.capacity());
        if release {
            let _ = self.alg.release(&mut self.state, cost);
        } else {
            let _ = self.alg.check(&mut self.state, at::<HZ>(now), cost);
        }
        round_trip(self.what, self.alg, &self.state, now, scale, mutate);
    }
}

/// Drives every `Driven` given through the same operations.
macro_rules! drive {
    ($trip:expr, $t:expr, $scale:expr; $($d:ident),+ $(,)?) => {{
        let mut now = $trip.start.apply(0, $t, $scale);
        // A few dozen requests fill every ring; more only slow the round trips down.
        for (i, &(step, cost, release, mutate)) in $trip.ops.0.iter().take(40).enumerate() {
            if i > 0 {
                now = step.apply(now, $t, $scale);
            }
            $(
                if let Some(d) = $d.as_mut() {
                    d.op(now, cost, release, $scale, mutate);
                }
            )+
        }
    }};
}

fn trip<const HZ: u64>(trip: &Trip) {
    let d = Duration::<HZ>::from_ticks;
    let limit = 1 + u32::from(trip.limit % 24);
    let window = u64::from(trip.window).max(u64::from(limit));
    let Ok(q) = Quota::<HZ>::new(limit, d(window)) else {
        return;
    };
    let Ok(q) = q.with_burst(1 + u32::from(trip.burst % 24)) else {
        return;
    };
    let t = q.interval().as_ticks();
    let scale = window.max(t.saturating_mul(u64::from(q.burst())));

    let gcra = Gcra::new(q);
    let meter = Meter::new(q);
    let shaper = Shaper::new(q, d(t.saturating_mul(u64::from(trip.queue % 8)))).ok();
    let conc = Concurrency::<HZ>::new(limit).unwrap();
    let log16 = SlidingLog::<HZ, 8, u16>::new_undersized(q).ok();
    let log32 = SlidingLog::<HZ, 8>::new_undersized(q).ok();
    let log64 = SlidingLog::<HZ, 8, u64>::new_undersized(q).unwrap();
    let entries = 1 + usize::from(trip.entries % 24);
    let sized_log = SizedLog::<HZ, u32>::with_capacity(limit, d(window), entries).ok();
    let w4 = SlidingWindow::<HZ, 4>::new(q).ok();
    let buckets = 2 + usize::from(trip.buckets % 15);
    let sized_window = SizedWindow::<HZ>::with_buckets(limit, d(window), buckets).ok();
    let any = match trip.any % 7 {
        0 => Some(Any::<HZ>::Gcra(gcra)),
        1 => Some(Any::<HZ>::Meter(meter)),
        2 => shaper.map(Any::<HZ>::Shaper),
        3 => Any::<HZ>::sliding_log(limit, d(window), 1 + entries % 8).ok(),
        4 => Any::<HZ>::sliding_window(limit, d(window), 2 + buckets % 7).ok(),
        5 => Some(Any::<HZ>::Concurrency(conc)),
        _ => Some(Any::<HZ>::Unlimited),
    };
    let tuple = Policy::new((
        Named::new("rate", gcra),
        Named::new("log", log32),
        Named::new("window", w4),
        Named::new("concurrent", conc),
    ));
    let array = any.map(|any| {
        Policy::new([
            Named::new("rate", Any::<HZ>::Gcra(gcra)),
            Named::new("any", any),
        ])
    });

    let mut g = Some(Driven::new("gcra", &gcra));
    let mut m = Some(Driven::new("meter", &meter));
    let mut sh = shaper.as_ref().map(|a| Driven::new("shaper", a));
    let mut c = Some(Driven::new("concurrency", &conc));
    let mut l16 = log16.as_ref().map(|a| Driven::new("log u16", a));
    let mut l32 = log32.as_ref().map(|a| Driven::new("log u32", a));
    let mut l64 = Some(Driven::new("log u64", &log64));
    let mut ls = sized_log.as_ref().map(|a| Driven::new("log sized", a));
    let mut w = w4.as_ref().map(|a| Driven::new("window 4", a));
    let mut ws = sized_window
        .as_ref()
        .map(|a| Driven::new("window sized", a));
    let mut an = any.as_ref().map(|a| Driven::new("any", a));
    let mut tp = Some(Driven::new("tuple policy", &tuple));
    let mut ap = array.as_ref().map(|a| Driven::new("array policy", a));
    drive!(trip, t, scale; g, m, sh, c, l16, l32, l64, ls, w, ws, an, tp, ap);
}

fn run<const HZ: u64>(mode: u8, data: &[u8]) {
    match mode % 4 {
        0 => decode::<HZ>(data),
        1 => {
            let mut forged = data.to_vec();
            forge_checksums(&mut forged);
            decode::<HZ>(&forged);
        }
        _ => {
            if let Ok(t) = Trip::arbitrary_take_rest(Unstructured::new(data)) {
                trip::<HZ>(&t);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, rate, rest @ ..] = data else {
        return;
    };
    at_rate!(*rate, run(*mode, rest));
});
