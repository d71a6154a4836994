//! The carrier's outbound limits on the host, in virtual time (embassy-time's mock driver): the
//! issue's proofs, one test each.

mod mock;

use std::cell::RefCell;

use embassy_futures::join::join_array;
use embassy_futures::poll_once;
use embassy_time::Timer;
use mock::{STEP_MS, clock, fill, most_in_any_window, ms, number, run};
use tollgate_embassy::outbound::{Caller, Outbound, OutboundKeys, TryError};
use tollgate_embassy::throttle::Turn;

const WINDOW_MS: u64 = 10_000;

/// Checks a task woke at its turn (within one step of virtual time) and returns the instant.
fn woke_at(turn: Turn) -> u64 {
    let now = embassy_time::Instant::now().as_ticks();
    assert!(
        now >= turn.at.as_ticks(),
        "woke at {now}, before its turn {:?}",
        turn.at
    );
    assert!(
        now < turn.at.as_ticks() + ms(STEP_MS) + 1,
        "woke at {now}, long after {:?}",
        turn.at
    );
    now
}

#[test]
fn a_burst_of_30_messages_goes_at_the_limit_and_no_faster() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let from = number(1);
    let sent = RefCell::new(Vec::new());
    run(join_array(core::array::from_fn::<_, 30, _>(|i| {
        let (outbound, sent) = (&outbound, &sent);
        async move {
            let turn = outbound.message(from, 1).await.unwrap();
            sent.borrow_mut().push((i, woke_at(turn)));
        }
    })));
    let sent = sent.into_inner();
    // Ten at once, ten when the first ten leave the window, ten more 10 s later: in the order
    // the tasks asked.
    let expected: Vec<(usize, u64)> = (0..30)
        .map(|i| (i, ms(i as u64 / 10 * WINDOW_MS)))
        .collect();
    let mut by_task = sent.clone();
    by_task.sort();
    assert_eq!(
        by_task.iter().map(|&(i, _)| i).collect::<Vec<_>>(),
        (0..30).collect::<Vec<_>>()
    );
    for (&(i, at), &(_, want)) in by_task.iter().zip(&expected) {
        assert!(
            at >= want && at <= want + ms(STEP_MS),
            "task {i} went at {at}, its turn is {want}"
        );
    }
    let admitted: Vec<(u64, u32)> = sent.iter().map(|&(_, t)| (t, 1)).collect();
    assert_eq!(most_in_any_window(&admitted, ms(WINDOW_MS)), 10);
}

#[test]
fn three_numbers_proceed_independently() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let sent = RefCell::new(Vec::new());
    // 15 messages from each of three numbers, interleaved.
    run(join_array(core::array::from_fn::<_, 45, _>(|i| {
        let (outbound, sent) = (&outbound, &sent);
        let from = number(i as u64 % 3);
        async move {
            let turn = outbound.message(from, 1).await.unwrap();
            sent.borrow_mut().push((from, turn.at.as_ticks()));
        }
    })));
    let sent = sent.into_inner();
    for n in 0..3 {
        let mut times: Vec<u64> = sent
            .iter()
            .filter(|(f, _)| *f == number(n))
            .map(|&(_, t)| t)
            .collect();
        times.sort();
        // Each number alone: its first ten at once, the next five when they leave the window.
        let want: Vec<u64> = (0..15)
            .map(|i| if i < 10 { 0 } else { ms(WINDOW_MS) })
            .collect();
        assert_eq!(times, want, "number {n}");
    }
}

#[test]
fn calls_are_bound_by_the_number_and_by_the_account() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let calls = RefCell::new(Vec::new());
    // Four numbers place 8 calls each at once: 32 calls, more than the account's 10 per 10 s,
    // and each number alone would be allowed all 8.
    run(join_array(core::array::from_fn::<_, 32, _>(|i| {
        let (outbound, calls) = (&outbound, &calls);
        let from = number(i as u64 % 4);
        async move {
            let turn = outbound.call(from).await.unwrap();
            calls.borrow_mut().push((from, woke_at(turn)));
        }
    })));
    let calls = calls.into_inner();
    let all: Vec<(u64, u32)> = calls.iter().map(|&(_, t)| (t, 1)).collect();
    assert_eq!(
        most_in_any_window(&all, ms(WINDOW_MS)),
        10,
        "the account's limit"
    );
    for n in 0..4 {
        let mine: Vec<(u64, u32)> = calls
            .iter()
            .filter(|(f, _)| *f == number(n))
            .map(|&(_, t)| (t, 1))
            .collect();
        assert_eq!(mine.len(), 8);
        assert!(most_in_any_window(&mine, ms(WINDOW_MS)) <= 10);
    }
    let last = calls.iter().map(|&(_, t)| t).max().unwrap();
    assert!(
        last >= ms(30_000) && last <= ms(30_000 + STEP_MS),
        "32 calls at 10 per 10 s: the last at 30 s, not {last}"
    );

    // A number's own limit binds too: 10 calls from one number fill it while the account
    // has room for nothing more either; after the window, an 11th from that number waits for
    // its own window even though another number can call at once.
    embassy_time::MockDriver::get().advance(embassy_time::Duration::from_secs(60));
    let busy = number(7);
    for _ in 0..10 {
        outbound.try_call(busy).unwrap();
    }
    assert!(
        matches!(outbound.try_call(busy), Err(TryError::Wait { key: 0, .. })),
        "the number binds first"
    );
    // A call denied by the account charges no number.
    let idle = number(8);
    assert!(
        matches!(outbound.try_call(idle), Err(TryError::Wait { key: 1, .. })),
        "the account binds"
    );
    assert_eq!(
        outbound.calls().state_of(&Caller::Number(idle)),
        None,
        "the denied number was charged"
    );
}

#[test]
fn waiting_tasks_are_released_in_arrival_order() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let from = number(1);
    // The window fills over its first second: one message every 100 ms.
    for _ in 0..10 {
        outbound.try_message(from, 1).unwrap();
        embassy_time::MockDriver::get().advance(embassy_time::Duration::from_millis(100));
    }
    let order = RefCell::new(Vec::new());
    // Twelve tasks then arrive 10 ms apart, in reverse index order, while the window is full.
    run(join_array(core::array::from_fn::<_, 12, _>(|i| {
        let (outbound, order) = (&outbound, &order);
        async move {
            Timer::after_millis(10 * (11 - i as u64)).await;
            let turn = outbound.message(from, 1).await.unwrap();
            order.borrow_mut().push((i, woke_at(turn)));
        }
    })));
    let order = order.into_inner();
    let released: Vec<usize> = order.iter().map(|&(i, _)| i).collect();
    assert_eq!(
        released,
        (0..12).rev().collect::<Vec<_>>(),
        "released in the order they asked"
    );
    // Each takes the place of the message that leaves the window next: 10.0 s, 10.1 s, ...,
    // 10.9 s, then 20.0 s and 20.1 s (when the first of their own turns leave it).
    for (k, &(i, at)) in order.iter().enumerate() {
        let want = ms(if k < 10 {
            10_000 + 100 * k as u64
        } else {
            20_000 + 100 * (k as u64 - 10)
        });
        assert!(
            at >= want && at <= want + ms(STEP_MS),
            "task {i} went at {at}, its turn is {want}"
        );
    }
}

#[test]
fn a_cancelled_acquire_leaks_no_capacity() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let from = number(1);
    for _ in 0..9 {
        outbound.try_message(from, 1).unwrap();
    }
    let full = outbound.messages().state_of(&from);

    // Dropped before its first poll: nothing was reserved.
    drop(outbound.message(from, 1));
    assert_eq!(outbound.messages().state_of(&from), full);

    // One place is left: it is taken at once, and the next waits for the window.
    outbound.try_message(from, 1).unwrap();
    let before = outbound.messages().state_of(&from);
    {
        let mut waiting = Box::pin(outbound.message(from, 1));
        assert!(poll_once(waiting.as_mut()).is_pending()); // its turn (10 s) is reserved
        assert_ne!(outbound.messages().state_of(&from), before);
        embassy_time::MockDriver::get().advance(embassy_time::Duration::from_secs(3));
    } // dropped at 3 s, before its turn
    assert_eq!(
        outbound.messages().state_of(&from),
        before,
        "the turn was given back"
    );

    // The turn is free for the next task: it goes at 10 s, not 10 s plus a slot.
    let turn = run(outbound.message(from, 1)).unwrap();
    assert_eq!(turn.at.as_ticks(), ms(10_000));

    // Cancelled behind later waiters: they keep their turns, and the cancelled one's place in
    // the window is taken out of the log, so a newcomer can use it.
    embassy_time::MockDriver::get().advance(embassy_time::Duration::from_secs(60));
    let t0 = embassy_time::Instant::now().as_ticks();
    fill(&outbound, from);
    // Ten more wait: all for t0 + 10 s, when the first ten leave the window (full again then).
    let mut waiting: Vec<_> = (0..10)
        .map(|_| Box::pin(outbound.message(from, 1)))
        .collect();
    for w in &mut waiting {
        assert!(poll_once(w.as_mut()).is_pending());
    }
    let late = outbound.messages().turn_of(&[from], 1).unwrap();
    assert_eq!(
        late.as_ticks(),
        t0 + ms(20_000),
        "the window at 10 s is full"
    );
    drop(waiting.remove(3)); // one in the middle gives up
    let newcomer = outbound.messages().turn_of(&[from], 1).unwrap();
    assert_eq!(
        newcomer.as_ticks(),
        t0 + ms(10_000),
        "its place is free again"
    );
    let mut sent = Vec::new();
    let newcomer = Box::pin(outbound.message(from, 1));
    let turns = run(embassy_futures::join::join(
        embassy_futures::join::join_array(<[_; 9]>::try_from(waiting).ok().unwrap()),
        newcomer,
    ));
    for t in turns.0.into_iter().chain([turns.1]) {
        let t = t.unwrap();
        assert_eq!(
            t.at.as_ticks(),
            t0 + ms(10_000),
            "the others keep their turns"
        );
        sent.push((t.at.as_ticks(), 1));
    }
    sent.extend((0..10).map(|_| (t0, 1)));
    assert_eq!(most_in_any_window(&sent, ms(WINDOW_MS)), 10);
}

#[test]
fn too_many_recipients_are_refused_and_planned_into_chunks() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 4);
    let from = number(1);
    assert_eq!(
        outbound.try_message(from, 5),
        Err(TryError::Error(
            tollgate_embassy::outbound::OutboundError::TooManyRecipients {
                recipients: 5,
                max: 4
            }
        ))
    );
    assert_eq!(outbound.messages().state_of(&from), None, "nothing charged");
    let recipients: Vec<u32> = (0..22).collect();
    let plan: Vec<(Vec<u32>, u64)> = outbound
        .plan(from, &recipients)
        .unwrap()
        .map(|(chunk, at)| (chunk.to_vec(), at.as_ticks()))
        .collect();
    assert_eq!(
        plan.iter().flat_map(|(c, _)| c.clone()).collect::<Vec<_>>(),
        recipients
    );
    // Chunks of at most 4 filling each window of 10: 4 + 4 + 2 at once, the same at 10 s, the
    // last 2 at 20 s.
    let shape: Vec<(usize, u64)> = plan.iter().map(|(c, at)| (c.len(), *at)).collect();
    let (t10, t20) = (ms(10_000), ms(20_000));
    assert_eq!(
        shape,
        [
            (4, 0),
            (4, 0),
            (2, 0),
            (4, t10),
            (4, t10),
            (2, t10),
            (2, t20)
        ]
    );
    // Sending the plan as it says gets exactly the turns it gave, and never more than 10
    // recipients in any 10 s.
    let mut admitted = Vec::new();
    for (chunk, at) in &plan {
        let turn = run(outbound.message(from, chunk.len() as u32)).unwrap();
        assert_eq!(turn.at.as_ticks(), *at);
        admitted.push((*at, chunk.len() as u32));
    }
    assert!(most_in_any_window(&admitted, ms(WINDOW_MS)) <= 10);
}

#[test]
fn a_carrier_denial_pauses_the_next_acquire() {
    let _clock = clock();
    let keys = OutboundKeys::<64>::new();
    let outbound = Outbound::carrier(&keys, 10);
    let from = number(1);
    run(outbound.message(from, 1)).unwrap();
    // The carrier's 403 for the message rate: paused by the pacer's backoff (at most 1 s for a
    // first failure, here exactly 1 s: the random word is u64::MAX).
    let body = br#"{"category": "limit", "code": "message-rate-limit", "message": "You can send 1 messages per 1 seconds, calculated as the average over 10 seconds. Your rate is: 1.1"}"#;
    let (denial, next) = outbound.backoff().on_response(
        403,
        [("content-type", "application/json")],
        body,
        None,
        u64::MAX,
    );
    assert_eq!(denial, tollgate_embassy::carrier::Denial::MessageRate);
    assert_eq!(next.at().as_ticks(), ms(1_000));
    assert!(matches!(
        outbound.try_message(from, 1),
        Err(TryError::Paused { .. })
    ));
    let turn = run(outbound.message(from, 1)).unwrap();
    assert_eq!(
        turn.at.as_ticks(),
        ms(1_000),
        "at the end of the pause, not before"
    );
    // A 429 with the reset in epoch milliseconds, 2.5 s away.
    let now_ms = 1_479_308_596_180 + 1_000;
    let (_, next) = outbound.backoff().on_response(
        429,
        [
            ("X-RateLimit-Reset", "1479308599680"),
            ("X-RateLimit-Remaining", "0"),
        ],
        b"",
        Some(now_ms),
        0,
    );
    let now = embassy_time::Instant::now().as_ticks();
    assert_eq!(next.at().as_ticks(), now + ms(2_500));
    let turn = run(outbound.call(from)).unwrap();
    assert_eq!(turn.at.as_ticks(), now + ms(2_500));
}

#[test]
fn a_full_number_table_refuses_new_numbers_as_the_core_table_does() {
    let _clock = clock();
    // 8 slots hold 7 numbers; each sending keeps its number active for 10 s.
    let keys = OutboundKeys::<8>::new();
    let outbound = Outbound::carrier(&keys, 10);
    for i in 0..7 {
        outbound.try_message(number(i), 1).unwrap();
    }
    embassy_time::MockDriver::get().advance(embassy_time::Duration::from_secs(4));
    let refused = outbound.try_message(number(99), 1);
    let Err(TryError::Error(tollgate_embassy::outbound::OutboundError::Throttle(
        tollgate_core::TableError::Full { retry_after },
    ))) = refused
    else {
        panic!("expected Full, got {refused:?}");
    };
    // The first number comes to rest 10 s after its message, 6 s from now.
    assert_eq!(retry_after.as_ticks(), ms(6_000));
    assert!(
        run(outbound.message(number(99), 1)).is_err(),
        "acquire reports Full too"
    );
    // Known numbers still send; once the first entries come to rest, the new one gets a place.
    assert!(outbound.try_message(number(3), 1).is_ok());
    embassy_time::MockDriver::get().advance(embassy_time::Duration::from_secs(6));
    assert!(outbound.try_message(number(99), 1).is_ok());
}
