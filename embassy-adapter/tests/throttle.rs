//! The throttle and the outbound limits in corners: turns reserved ahead while other keys are
//! active, queues beyond their longest delay, carrier pauses that arrive while requests wait.

mod mock;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use embassy_futures::poll_once;
use embassy_time::MockDriver;
use mock::{clock, fill, most_in_any_window, ms, number, run};
use tollgate_core::{Gcra, Pacer, Quota, SlidingLog, TableError, valid};
use tollgate_embassy::carrier::Denial;
use tollgate_embassy::outbound::{
    CallLimits, DEFAULT_MAX_DELAY, Outbound, OutboundError, OutboundKeys,
};
use tollgate_embassy::throttle::{Keys, KeysFor, Refused, Throttle};
use tollgate_embassy::{Duration, HZ};

type Log = SlidingLog<HZ, 10>;
const LOG10: Log = valid!(Log::per_window(10, Duration::from_secs(10)));

fn advance_ms(ms: u64) {
    MockDriver::get().advance(embassy_time::Duration::from_millis(ms));
}

/// A turn reserved 10 s ahead for a new key: the table makes room at the present, so keys
/// still active now keep their states (they would be at rest by the turn, not now).
#[test]
fn a_turn_ahead_never_drops_keys_active_now() {
    let _clock = clock();
    let keys: KeysFor<u64, Log, 8> = Keys::new();
    let t: Throttle<u64, Log, 8> = Throttle::new(LOG10, Duration::from_secs(60), &keys);
    for k in (1..=6).chain([100]) {
        for _ in 0..10 {
            t.try_acquire(k, 1).unwrap();
        }
    }
    // [100, 200]: 100's turn is 10 s away, 200 needs a slot the table does not have now.
    let mut both = Box::pin(t.acquire_all([100u64, 200], 1));
    let Poll::Ready(Err(Refused::Error(TableError::Full { retry_after }))) =
        poll_once(both.as_mut())
    else {
        panic!("a full table must refuse the new key");
    };
    assert_eq!(
        retry_after.as_ticks(),
        ms(10_000),
        "measured from now, not from the turn"
    );
    for k in 1..=6 {
        assert!(
            t.try_acquire(k, 1).is_err(),
            "key {k} got an 11th message within its window"
        );
    }

    // Not full: the insert's routine sweep also runs at the present.
    let keys: KeysFor<u64, Log, 64> = Keys::new();
    let t: Throttle<u64, Log, 64> = Throttle::new(LOG10, Duration::from_secs(60), &keys);
    for k in (1..=40).chain([1000]) {
        for _ in 0..10 {
            t.try_acquire(k, 1).unwrap();
        }
    }
    let mut waiting = Vec::new();
    for b in 0..5u64 {
        let mut f = Box::pin(t.acquire_all([1000u64, 2000 + b], 1));
        assert!(poll_once(f.as_mut()).is_pending());
        waiting.push(f);
    }
    let over: Vec<u64> = (1..=40).filter(|&k| t.try_acquire(k, 1).is_ok()).collect();
    assert!(
        over.is_empty(),
        "an 11th admitted within the window for {over:?}"
    );
}

/// Counts how often each task is woken; polls only woken tasks; steps time when none is.
struct Flag {
    woken: AtomicBool,
    wakes: AtomicUsize,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.woken.store(true, Ordering::SeqCst);
    }
}

type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

fn run_counting_wakes(mut tasks: Vec<Option<Task<'_>>>) -> Vec<usize> {
    let flags: Vec<Arc<Flag>> = tasks
        .iter()
        .map(|_| {
            Arc::new(Flag {
                woken: AtomicBool::new(true),
                wakes: AtomicUsize::new(0),
            })
        })
        .collect();
    while tasks.iter().any(Option::is_some) {
        let mut polled = false;
        for (t, flag) in tasks.iter_mut().zip(&flags) {
            if let Some(fut) = t
                && flag.woken.swap(false, Ordering::SeqCst)
            {
                polled = true;
                let waker = Waker::from(flag.clone());
                if fut
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_ready()
                {
                    *t = None;
                }
            }
        }
        if !polled {
            advance_ms(1);
        }
    }
    flags
        .iter()
        .map(|f| f.wakes.load(Ordering::SeqCst))
        .collect()
}

/// Twelve waiters on one a second, queueing at most 5 s ahead: the first six get turns 0-5 s
/// and each is woken once, at its turn; the other six are told the queue is full, and for how
/// long.
#[test]
fn waiters_are_woken_once_and_a_full_queue_says_so() {
    let _clock = clock();
    let keys: KeysFor<(), Gcra<HZ>, 1> = Keys::new();
    let t: Throttle<(), Gcra<HZ>, 1> = Throttle::new(
        Gcra::new(valid!(Quota::per_second(1))),
        Duration::from_secs(5),
        &keys,
    );
    let answers = RefCell::new(Vec::new());
    let tasks = (0..12)
        .map(|i| {
            let (t, answers) = (&t, &answers);
            Some(Box::pin(async move {
                let got = t.acquire((), 1).await;
                answers
                    .borrow_mut()
                    .push((i, got.map(|turn| turn.at.as_ticks())));
            }) as Task<'_>)
        })
        .collect();
    let wakes = run_counting_wakes(tasks);
    let mut answers = answers.into_inner();
    answers.sort_by_key(|a| a.0);
    for (i, got) in answers {
        if i < 6 {
            assert_eq!(got, Ok(ms(1_000 * i)), "task {i}");
        } else {
            // Nothing is queued for the refused: the next turn (6 s) is 1 s beyond reach.
            assert_eq!(
                got,
                Err(Refused::Busy {
                    retry_after: Duration::from_secs(1)
                }),
                "task {i}"
            );
        }
    }
    // One wake for each task that slept until its turn (the first goes at once), none for the
    // ones refused: nobody re-checks in a loop.
    assert_eq!(wakes, [0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
}

/// A carrier pause that arrives while a message waits for its turn holds it back too: the
/// turn is given back and the message queues again after the pause.
#[test]
fn a_pause_that_comes_while_waiting_holds_the_message_back() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let from = number(1);
    fill(&outbound, from);
    let mut waiting = Box::pin(outbound.message(from, 1)); // its turn: 10 s
    assert!(poll_once(waiting.as_mut()).is_pending());
    advance_ms(5_000);
    let (denial, next) =
        outbound
            .backoff()
            .on_response(429, [("Retry-After", "30")], b"", None, u64::MAX);
    assert_eq!(
        (denial, next.at().as_ticks()),
        (Denial::TooManyRequests, ms(35_000))
    );
    let turn = run(waiting).unwrap();
    assert_eq!(turn.at.as_ticks(), ms(35_000));
    assert_eq!(
        turn.waited.as_ticks(),
        ms(35_000),
        "waited from when it asked"
    );

    // A pause extended while a request waits for it is waited out to its new end.
    let (_, first) =
        outbound
            .backoff()
            .on_response(429, [("Retry-After", "1")], b"", None, u64::MAX);
    let mut waiting = Box::pin(outbound.call(from));
    assert!(poll_once(waiting.as_mut()).is_pending());
    advance_ms(500);
    let (_, longer) =
        outbound
            .backoff()
            .on_response(429, [("Retry-After", "20")], b"", None, u64::MAX);
    assert!(longer.at() > first.at());
    let turn = run(waiting).unwrap();
    assert_eq!(turn.at, longer.at());
}

/// The carrier's 429 carries `X-RateLimit-Reset` alone: nothing remains until then.
#[test]
fn a_429_with_only_a_reset_pauses_until_the_reset() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let now_ms = 1_479_308_596_180u64;
    let (_, next) = outbound.backoff().on_response(
        429,
        [("X-RateLimit-Reset", "1479308606180")], // 10 s away, in epoch milliseconds
        b"",
        Some(now_ms),
        u64::MAX,
    );
    assert_eq!(next.at().as_ticks(), ms(10_000));
    // Whatever the dialect: a reset in another family than the classic one counts too.
    let now = embassy_time::Instant::now().as_ticks();
    let (_, next) = outbound.backoff().on_response(
        429,
        [
            ("X-RateLimit-Limit", "100"),
            ("x-ratelimit-reset-requests", "30s"),
        ],
        b"",
        None,
        u64::MAX,
    );
    assert_eq!(next.at().as_ticks(), now + ms(30_000));
    // A 403 without the carrier's code, whose headers show nothing left: a rate limit too.
    advance_ms(30_000); // past the pause above
    let now = embassy_time::Instant::now().as_ticks();
    let (denial, next) = outbound.backoff().on_response(
        403,
        [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "12")],
        b"{}",
        None,
        u64::MAX,
    );
    assert_eq!(denial, Denial::None);
    assert_eq!(next.at().as_ticks(), now + ms(12_000));
}

/// The account-wide pacer never gives up: every rate-limit 403 in a row pauses, doubling to
/// the 10-second cap.
#[test]
fn every_denial_in_a_row_pauses() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let body = br#"{"category": "limit", "code": "message-rate-limit"}"#;
    let mut pauses = Vec::new();
    for _ in 0..8 {
        let now = embassy_time::Instant::now().as_ticks();
        let (denial, next) = outbound.backoff().on_response(
            403,
            [("content-type", "application/json")],
            body,
            None,
            u64::MAX,
        );
        assert_eq!(denial, Denial::MessageRate);
        let pause = next.at().as_ticks() - now;
        pauses.push(pause / ms(1));
        MockDriver::get().advance(embassy_time::Duration::from_ticks(pause));
    }
    assert_eq!(
        pauses,
        [1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000]
    );
}

/// With a per-number call limit stricter than the account's, the awaited calls obey it.
#[test]
fn awaited_calls_obey_a_stricter_number_limit() {
    let _clock = clock();
    let per_number: Log = valid!(Log::per_window(2, Duration::from_secs(10)));
    let pacer = valid!(Pacer::new(Duration::from_secs(1), Duration::from_secs(10)));
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::new(
        &keys,
        LOG10,
        CallLimits {
            per_number,
            per_account: LOG10,
        },
        10,
        DEFAULT_MAX_DELAY,
        pacer,
    );
    let calls = RefCell::new(Vec::new());
    run(embassy_futures::join::join_array(core::array::from_fn::<
        _,
        12,
        _,
    >(|i| {
        let (outbound, calls) = (&outbound, &calls);
        async move {
            let turn = outbound.call(number(i as u64 % 3)).await.unwrap();
            calls.borrow_mut().push((i % 3, turn.at.as_ticks()));
        }
    })));
    let calls = calls.into_inner();
    for n in 0..3 {
        let mine: Vec<(u64, u32)> = calls
            .iter()
            .filter(|c| c.0 == n)
            .map(|&(_, t)| (t, 1))
            .collect();
        assert_eq!(most_in_any_window(&mine, ms(10_000)), 2, "number {n}");
        // 4 calls at 2 per 10 s: two at 0 s, two at 10 s.
        assert_eq!(
            mine.iter().map(|m| m.0).collect::<Vec<_>>(),
            [0, 0, ms(10_000), ms(10_000)]
        );
    }
}

/// A message whose turn is beyond the longest delay is refused as busy, not queued.
#[test]
fn a_full_queue_refuses_a_message_as_busy() {
    let _clock = clock();
    let pacer = valid!(Pacer::new(Duration::from_secs(1), Duration::from_secs(10)));
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::new(
        &keys,
        LOG10,
        CallLimits {
            per_number: LOG10,
            per_account: LOG10,
        },
        10,
        Duration::from_secs(5),
        pacer,
    );
    for _ in 0..10 {
        outbound.try_message(number(1), 1).unwrap();
    }
    advance_ms(2_000);
    let refused = run(outbound.message(number(1), 1));
    assert_eq!(
        refused,
        Err(OutboundError::Busy {
            retry_after: Duration::from_secs(3)
        })
    );
}

/// Ten messages wait for their turn at 10 s; at 9.5 s the carrier pauses sending until 10.5 s.
/// Their turns are given back when they come, so they go when the pause ends, not a window
/// later behind ten unused turns.
#[test]
fn turns_that_fall_in_a_pause_are_given_back() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let from = number(1);
    fill(&outbound, from);
    let went = RefCell::new(Vec::new());
    let waiting = embassy_futures::join::join_array(core::array::from_fn::<_, 10, _>(|_| {
        let (outbound, went) = (&outbound, &went);
        async move {
            let turn = outbound.message(from, 1).await.unwrap();
            went.borrow_mut().push(turn.at.as_ticks());
        }
    }));
    let pause = async {
        embassy_time::Timer::after_millis(9_500).await;
        outbound
            .backoff()
            .on_response(429, [("Retry-After", "1")], b"", None, u64::MAX);
    };
    run(embassy_futures::join::join(waiting, pause));
    let mut went = went.into_inner();
    went.sort();
    assert!(
        went.iter().all(|&t| t >= ms(10_500)),
        "none inside the pause: {went:?}"
    );
    // Nine go as the pause ends. The last turn given back is the last unit of the log's
    // newest entry, which a sliding log keeps (it decides at that instant): that one turn stays
    // spent, and its request goes when the window has moved on.
    assert_eq!(went[..9], [ms(10_500); 9]);
    assert_eq!(went[9], ms(20_000));
    let mut all: Vec<(u64, u32)> = went.iter().map(|&t| (t, 1)).collect();
    all.extend([(0, 1); 10]);
    assert!(most_in_any_window(&all, ms(10_000)) <= 10);
}
