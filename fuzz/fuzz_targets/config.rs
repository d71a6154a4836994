//! Config construction from arbitrary numbers, for every constructor: a typed error or a valid
//! limiter, never a panic; a valid configuration honours its own invariants and decides a first
//! request sanely, and each error is exactly the one its documented condition gives.
//!
//! Covers `Quota` (every constructor and `with_burst`), `Gcra`, `Meter`, `Shaper::new` and
//! `Shaper::nginx_limit_req`, `SlidingWindow` at 1, 2, 3 and 16 buckets (`new`, and `per_window`
//! from any count and window, with no rate to be fine enough), `SlidingWindowIn::with_buckets`
//! for any number of buckets, `SlidingLog` (`new`, `new_undersized` and `per_window`, `u16`/
//! `u32`/`u64` offsets), `SlidingLogIn::with_capacity` for any number of entries,
//! `Concurrency`, `Pacer` (`new`, `from_millis`, every option, each `BackoffError` exactly when
//! its condition holds) and `HttpDate::from_unix_secs`, at five tick rates up to `u64::MAX` Hz.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::algorithm::sliding_log::SlidingLogIn;
use tollgate_core::algorithm::sliding_window::SlidingWindowIn;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::{
    Algorithm, BackoffError, Concurrency, ConfigError, Duration, Gcra, HttpDate, Instant, Meter,
    Next, Offset, Outcome, Pacer, Quota, ServerHints, Shaper, SlidingLog, SlidingWindow,
};

#[derive(Debug, Arbitrary)]
struct Input {
    limit: u32,
    window: u64,
    secs: u64,
    burst: u32,
    now: u64,
    cost: u32,
    max_delay: u64,
    nginx: (u32, u32),
    base: u64,
    cap: u64,
    max_retries: u32,
    max_wait: Option<u64>,
    random: u64,
    /// Ring entries or buckets chosen at run time.
    entries: u8,
}

fn exercise<const HZ: u64>(q: Quota<HZ>, i: &Input) {
    // The interval never rounds down: limit intervals cover the window.
    assert!(
        u128::from(q.interval().as_ticks()) * u128::from(q.limit())
            >= u128::from(q.window().as_ticks())
    );
    assert!(q.interval().as_ticks() >= 1);
    assert!(
        q.interval()
            .as_ticks()
            .checked_mul(u64::from(q.burst()))
            .is_some()
    );
    let now = Instant::<HZ>::from_ticks(i.now);
    let burst = match q.with_burst(i.burst) {
        Ok(b) => {
            assert_eq!(
                (b.burst(), b.limit(), b.window()),
                (i.burst, q.limit(), q.window())
            );
            assert!(
                b.interval()
                    .as_ticks()
                    .checked_mul(u64::from(i.burst))
                    .is_some()
            );
            b
        }
        Err(e) => {
            let want = if i.burst == 0 {
                ConfigError::ZeroBurst
            } else {
                ConfigError::Overflow
            };
            assert_eq!(e, want);
            assert!(
                i.burst == 0
                    || q.interval()
                        .as_ticks()
                        .checked_mul(u64::from(i.burst))
                        .is_none()
            );
            q
        }
    };
    for q in [q, burst] {
        gcra_and_meter(q, now, i.cost);
        shaper(q, now, i);
        one_bucket(q);
        sliding_window::<HZ, 2>(q, now, i.cost);
        sliding_window::<HZ, 3>(q, now, i.cost);
        sliding_window::<HZ, 16>(q, now, i.cost);
        sliding_log::<HZ, 1, u16>(q, now, i.cost);
        sliding_log::<HZ, 8, u32>(q, now, i.cost);
        sliding_log::<HZ, 8, u64>(q, now, i.cost);
    }
}

fn gcra_and_meter<const HZ: u64>(q: Quota<HZ>, now: Instant<HZ>, cost: u32) {
    let g = Gcra::new(q);
    let mut s = g.new_state();
    let d = g.check(&mut s, now, cost);
    match d {
        Ok(d) => assert!(d.remaining <= d.limit && d.limit == q.burst()),
        Err(e) => assert!(e.cost > e.capacity && e.capacity == q.burst()),
    }
    let _ = g.try_acquire(&mut s, now);
    let m = Meter::new(q);
    let mut ms = m.new_state();
    assert_eq!(
        m.check(&mut ms, now, cost),
        d,
        "the meter differs from gcra"
    );
}

fn shaper<const HZ: u64>(q: Quota<HZ>, now: Instant<HZ>, i: &Input) {
    let t = q.interval().as_ticks();
    match Shaper::new(q, Duration::<HZ>::from_ticks(i.max_delay)) {
        Ok(sh) => {
            let limit = u128::from(q.burst()) + u128::from(i.max_delay / t);
            assert_eq!(u128::from(sh.limit()), limit);
            assert_eq!(sh.max_delay().as_ticks(), i.max_delay);
            let mut s = sh.new_state();
            let by_trait = sh.peek(&s, now, i.cost);
            match sh.reserve(&mut s, now, i.cost) {
                Ok(r) => {
                    assert!(r.decision.remaining <= r.decision.limit);
                    assert!(r.delay.as_ticks() <= i.max_delay || r.is_denied());
                    assert_eq!(by_trait, Ok(r.decision));
                }
                Err(e) => {
                    assert!(e.cost > e.capacity);
                    assert_eq!(by_trait, Err(e));
                }
            }
        }
        Err(e) => {
            assert_eq!(e, ConfigError::Overflow);
            // `with_burst` checked that b·T fits.
            let bt = t * u64::from(q.burst());
            let fits = bt.checked_add(i.max_delay).is_some()
                && u32::try_from(u128::from(q.burst()) + u128::from(i.max_delay / t)).is_ok();
            assert!(!fits, "Shaper::new refused a configuration that fits");
        }
    }
    let (burst, delay) = i.nginx;
    match Shaper::nginx_limit_req(q, burst, delay) {
        Ok(sh) => {
            // `delay` requests pass at once beyond the first, the rest of the burst is queued.
            let nodelay = delay.min(burst);
            assert_eq!(sh.capacity(), nodelay + 1);
            assert_eq!(u64::from(sh.limit()), u64::from(burst) + 1);
            let mut s = sh.new_state();
            let _ = sh.reserve(&mut s, now, i.cost);
        }
        Err(e) => assert!(matches!(e, ConfigError::Overflow)),
    }
}

/// One bucket cannot slide: a typed error (a state for it would not even compile).
fn one_bucket<const HZ: u64>(q: Quota<HZ>) {
    assert_eq!(
        SlidingWindow::<HZ, 1>::new(q).err(),
        Some(ConfigError::CapacityTooSmall)
    );
}

fn sliding_window<const HZ: u64, const B: usize>(q: Quota<HZ>, now: Instant<HZ>, cost: u32) {
    let w = q.window().as_ticks();
    match SlidingWindow::<HZ, B>::new(q) {
        Ok(sw) => {
            assert!(B >= 2 && B as u64 <= w);
            let (g, span) = (sw.granularity().as_ticks(), sw.span().as_ticks());
            assert!(g >= 1);
            assert!(
                u128::from(g) * (B as u128 - 1) >= u128::from(w) - 1,
                "buckets too short"
            );
            assert_eq!(u128::from(span), u128::from(g) * B as u128);
            let mut s = sw.new_state();
            match sw.check(&mut s, now, cost) {
                Ok(d) => assert!(d.remaining <= d.limit && d.limit == q.limit()),
                Err(e) => assert!(e.cost > e.capacity && e.capacity == q.limit()),
            }
        }
        Err(ConfigError::GranularityTooFine) => assert!(B >= 2 && B as u64 > w),
        Err(ConfigError::Overflow) => {
            let g = (w - 1).div_ceil(B as u64 - 1);
            assert!(g.checked_mul(B as u64).is_none());
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn sliding_log<const HZ: u64, const CAP: usize, O: Offset>(
    q: Quota<HZ>,
    now: Instant<HZ>,
    cost: u32,
) {
    let too_long = q.window().as_ticks() > O::MAX_WINDOW;
    // A ring of one entry only takes a limit of one.
    let too_small = CAP == 1 && q.limit() > 1;
    match SlidingLog::<HZ, CAP, O>::new_undersized(q) {
        Ok(log) => {
            assert!(!too_long && !too_small);
            let mut s = log.new_state();
            match log.check(&mut s, now, cost) {
                Ok(d) => assert!(d.remaining <= d.limit && d.limit == q.limit()),
                Err(e) => assert!(e.cost > e.capacity && e.capacity == q.limit()),
            }
        }
        Err(ConfigError::CapacityTooSmall) => assert!(too_small),
        Err(e) => assert!(!too_small && too_long && e == ConfigError::WindowTooLong),
    }
    match SlidingLog::<HZ, CAP, O>::new(q) {
        Ok(_) => assert!(!too_long && CAP as u64 >= u64::from(q.limit())),
        Err(ConfigError::CapacityTooSmall) => assert!((CAP as u64) < u64::from(q.limit())),
        Err(e) => assert!(too_long && e == ConfigError::WindowTooLong),
    }
}

/// `per_window` from any count and window: only the count and the window matter (no rate has to
/// be a whole number of ticks), and every error is exactly one whose condition holds.
fn sliding_log_per_window<const HZ: u64, const CAP: usize, O: Offset>(i: &Input) {
    let (limit, window) = (i.limit, i.window);
    let now = Instant::<HZ>::from_ticks(i.now);
    match SlidingLog::<HZ, CAP, O>::per_window(limit, Duration::<HZ>::from_ticks(window)) {
        Ok(log) => {
            assert!(limit > 0 && window > 0 && CAP as u64 >= u64::from(limit));
            assert!(window <= O::MAX_WINDOW);
            assert_eq!(
                (log.limit(), log.window().as_ticks(), log.entries()),
                (limit, window, CAP as u32)
            );
            let mut s = log.new_state();
            match log.check(&mut s, now, i.cost) {
                // From rest the whole limit passes at once.
                Ok(d) => assert!(d.is_allowed() && d.limit == limit && d.remaining <= limit),
                Err(e) => assert!(e.cost > e.capacity && e.capacity == limit),
            }
        }
        Err(ConfigError::ZeroLimit) => assert_eq!(limit, 0),
        Err(ConfigError::ZeroWindow) => assert_eq!(window, 0),
        Err(ConfigError::CapacityTooSmall) => assert!((CAP as u64) < u64::from(limit)),
        Err(ConfigError::WindowTooLong) => assert!(window > O::MAX_WINDOW),
        Err(e) => panic!("unexpected {e:?}"),
    }
}

/// `with_capacity` for any number of entries, in a storage of eight.
fn sliding_log_with_capacity<const HZ: u64, O: Offset>(i: &Input) {
    let (limit, window, entries) = (i.limit, i.window, usize::from(i.entries % 12));
    let now = Instant::<HZ>::from_ticks(i.now);
    let built = SlidingLogIn::<HZ, O, Inline<8>>::with_capacity(
        limit,
        Duration::<HZ>::from_ticks(window),
        entries,
    );
    match built {
        Ok(log) => {
            assert!(limit > 0 && window > 0 && window <= O::MAX_WINDOW);
            assert!((1..=8).contains(&entries) && (entries > 1 || limit == 1));
            assert_eq!(
                (log.limit(), log.window().as_ticks(), log.entries()),
                (limit, window, entries as u32)
            );
            assert_eq!(Algorithm::<HZ>::capacity(&log), limit);
            let mut s = Algorithm::<HZ>::new_state(&log);
            match log.check(&mut s, now, i.cost) {
                // From rest the whole limit passes at once, even with fewer entries.
                Ok(d) => assert!(d.is_allowed() && d.limit == limit && d.remaining <= limit),
                Err(e) => assert!(e.cost > e.capacity && e.capacity == limit),
            }
            // Within one window the ring holds `entries` distinct instants and not one more.
            if window > entries as u64 {
                let mut s = Algorithm::<HZ>::new_state(&log);
                let mut admitted = 0;
                for k in 0..=entries as u64 {
                    let t = Instant::<HZ>::from_ticks(i.now.min(1 << 62) + k);
                    if log.check(&mut s, t, 1).unwrap().is_allowed() {
                        admitted += 1;
                    }
                }
                assert_eq!(admitted, entries.min(limit as usize));
            }
        }
        Err(ConfigError::ZeroLimit) => assert_eq!(limit, 0),
        Err(ConfigError::ZeroWindow) => assert_eq!(window, 0),
        Err(ConfigError::CapacityTooSmall) => {
            assert!(entries == 0 || entries > 8 || (entries == 1 && limit > 1));
        }
        Err(ConfigError::WindowTooLong) => assert!(window > O::MAX_WINDOW),
        Err(e) => panic!("unexpected {e:?}"),
    }
}

/// The bucket geometry of `limit` per `window` ticks in `buckets` buckets, and the error its
/// numbers call for.
fn window_geometry<const HZ: u64, S: tollgate_core::algorithm::storage::Storage>(
    built: Result<SlidingWindowIn<HZ, S>, ConfigError>,
    limit: u32,
    window: u64,
    buckets: usize,
    room: usize,
    now: Instant<HZ>,
    cost: u32,
) {
    let b = buckets as u64;
    match built {
        Ok(sw) => {
            assert!(limit > 0 && window > 0 && buckets >= 2 && buckets <= room && b <= window);
            let (g, span) = (sw.granularity().as_ticks(), sw.span().as_ticks());
            assert_eq!((sw.limit(), sw.window().as_ticks()), (limit, window));
            assert_eq!(sw.buckets(), buckets as u32);
            // The coarsest buckets that still cover the window.
            assert!(g >= 1 && u128::from(g) * (u128::from(b) - 1) >= u128::from(window) - 1);
            assert!(g == 1 || u128::from(g - 1) * (u128::from(b) - 1) < u128::from(window) - 1);
            assert_eq!(u128::from(span), u128::from(g) * u128::from(b));
            let mut s = Algorithm::<HZ>::new_state(&sw);
            match sw.check(&mut s, now, cost) {
                Ok(d) => assert!(d.is_allowed() && d.limit == limit && d.remaining <= limit),
                Err(e) => assert!(e.cost > e.capacity && e.capacity == limit),
            }
        }
        Err(ConfigError::ZeroLimit) => assert_eq!(limit, 0),
        Err(ConfigError::ZeroWindow) => assert_eq!(window, 0),
        Err(ConfigError::CapacityTooSmall) => assert!(buckets < 2 || buckets > room),
        Err(ConfigError::GranularityTooFine) => assert!(b > window),
        Err(ConfigError::Overflow) => {
            let g = (window - 1).div_ceil(b - 1);
            assert!(g.checked_mul(b).is_none());
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
}

fn raw_windows<const HZ: u64>(i: &Input) {
    sliding_log_per_window::<HZ, 1, u16>(i);
    sliding_log_per_window::<HZ, 8, u32>(i);
    sliding_log_per_window::<HZ, 8, u64>(i);
    sliding_log_with_capacity::<HZ, u16>(i);
    sliding_log_with_capacity::<HZ, u32>(i);
    sliding_log_with_capacity::<HZ, u64>(i);
    let (limit, window, now) = (i.limit, i.window, Instant::<HZ>::from_ticks(i.now));
    let w = Duration::<HZ>::from_ticks(window);
    window_geometry(
        SlidingWindow::<HZ, 2>::per_window(limit, w),
        limit,
        window,
        2,
        2,
        now,
        i.cost,
    );
    window_geometry(
        SlidingWindow::<HZ, 16>::per_window(limit, w),
        limit,
        window,
        16,
        16,
        now,
        i.cost,
    );
    let buckets = usize::from(i.entries % 20);
    window_geometry(
        SlidingWindowIn::<HZ, Inline<16>>::with_buckets(limit, w, buckets),
        limit,
        window,
        buckets,
        16,
        now,
        i.cost,
    );
}

fn concurrency<const HZ: u64>(i: &Input) {
    match Concurrency::<HZ>::new(i.limit) {
        Ok(c) => {
            assert!(i.limit > 0);
            let c = c.with_retry_hint(Duration::<HZ>::from_ticks(i.window));
            assert_eq!((c.max(), c.retry_hint().as_ticks()), (i.limit, i.window));
            let mut s = c.new_state();
            match c.check(&mut s, Instant::<HZ>::from_ticks(i.now), i.cost) {
                Ok(d) => assert!(d.remaining <= d.limit),
                Err(e) => assert!(e.cost > e.capacity),
            }
        }
        Err(e) => assert!(i.limit == 0 && e == ConfigError::ZeroLimit),
    }
}

fn pacer<const HZ: u64>(i: &Input) {
    let built = match Pacer::<HZ>::new(
        Duration::<HZ>::from_ticks(i.base),
        Duration::<HZ>::from_ticks(i.cap),
    ) {
        Ok(p) => {
            assert!(i.base > 0 && i.cap >= i.base);
            Some(p)
        }
        Err(BackoffError::ZeroBase) => {
            assert_eq!(i.base, 0);
            None
        }
        Err(BackoffError::CapBelowBase) => {
            assert!(i.base > 0 && i.cap < i.base);
            None
        }
        #[allow(unreachable_patterns)]
        Err(e) => panic!("unexpected {e:?}"),
    };
    let ticks = |ms: u64| (u128::from(ms) * u128::from(HZ)).div_ceil(1_000);
    let by_millis = match Pacer::<HZ>::from_millis(i.base, i.cap) {
        Ok(p) => {
            assert_eq!(u128::from(p.base().as_ticks()), ticks(i.base));
            assert_eq!(u128::from(p.cap().as_ticks()), ticks(i.cap));
            Some(p)
        }
        Err(BackoffError::Overflow) => {
            assert!(ticks(i.base) > u128::from(u64::MAX) || ticks(i.cap) > u128::from(u64::MAX));
            None
        }
        Err(BackoffError::ZeroBase) => {
            assert_eq!(ticks(i.base), 0);
            None
        }
        Err(BackoffError::CapBelowBase) => {
            assert!(ticks(i.base) > 0 && ticks(i.cap) < ticks(i.base));
            None
        }
        #[allow(unreachable_patterns)]
        Err(e) => panic!("unexpected {e:?}"),
    };
    for p in [built, by_millis].into_iter().flatten() {
        let mut p = p
            .with_max_retries(i.max_retries)
            .with_spread(i.random & 1 == 1);
        if let Some(w) = i.max_wait {
            p = p.with_max_wait(Duration::<HZ>::from_ticks(w));
        }
        let k = i.max_retries.saturating_add(1);
        assert!(p.backoff(k, i.random) <= p.backoff_ceiling(k));
        assert!(p.backoff_ceiling(k) <= p.cap());
        let mut s = p.new_state();
        let now = Instant::<HZ>::from_ticks(i.now);
        let hints = ServerHints::NONE
            .with_remaining(i.limit)
            .with_reset(Duration::<HZ>::from_ticks(i.window));
        match p.on_response(&mut s, now, Outcome::RateLimited, hints, i.random) {
            Next::SendAt(at) => assert!(at >= now),
            Next::GiveUp { ready_at, .. } => assert!(ready_at >= now),
        }
    }
}

fn run<const HZ: u64>(i: &Input) {
    if let Ok(q) = Quota::<HZ>::new(i.limit, Duration::<HZ>::from_ticks(i.window)) {
        exercise(q, i);
    } else {
        let e = Quota::<HZ>::new(i.limit, Duration::<HZ>::from_ticks(i.window)).unwrap_err();
        let want = if i.limit == 0 {
            ConfigError::ZeroLimit
        } else if i.window == 0 {
            ConfigError::ZeroWindow
        } else if i.window < u64::from(i.limit) {
            ConfigError::RateTooFine
        } else {
            ConfigError::Overflow
        };
        assert_eq!(e, want);
    }
    match Quota::<HZ>::per_seconds(i.limit, i.secs) {
        Ok(q) => {
            assert_eq!(q.window().as_ticks(), i.secs * HZ);
            exercise(q, i);
        }
        Err(ConfigError::Overflow) if i.secs.checked_mul(HZ).is_none() => {}
        Err(e) => {
            let window = Duration::<HZ>::from_ticks(i.secs.checked_mul(HZ).unwrap());
            assert_eq!(Err(e), Quota::<HZ>::new(i.limit, window));
        }
    }
    for q in [
        Quota::<HZ>::per_second(i.limit),
        Quota::<HZ>::per_minute(i.limit),
        Quota::<HZ>::per_hour(i.limit),
        Quota::<HZ>::per_day(i.limit),
    ]
    .into_iter()
    .flatten()
    {
        exercise(q, i);
    }
    raw_windows::<HZ>(i);
    concurrency::<HZ>(i);
    pacer::<HZ>(i);
}

fuzz_target!(|i: Input| {
    run::<1>(&i);
    run::<1_000>(&i);
    run::<32_768>(&i);
    run::<1_000_000_000>(&i);
    run::<{ u64::MAX }>(&i);
    if let Some(d) = HttpDate::from_unix_secs(i.secs) {
        assert_eq!(d.unix_secs(), i64::try_from(i.secs).unwrap());
        assert_eq!(HttpDate::parse_imf_fixdate(d.to_string().as_bytes()), Ok(d));
    }
});
