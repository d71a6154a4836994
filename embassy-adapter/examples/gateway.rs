//! An SMS and voice gateway in virtual time: tasks sending messages and placing calls from three
//! numbers through one `static` throttle with the carrier's limits, printing when each goes out.
//!
//! `cargo run -p tollgate-embassy --example gateway`
//!
//! Time is embassy-time's mock driver, advanced by the loop at the bottom whenever every task
//! is waiting, so a minute of gateway traffic prints in a blink. (A std executor on real time
//! cannot share a workspace build with the mock driver; the same code runs as real firmware in
//! `embassy-adapter/firmware`.)

use core::future::Future;
use core::pin::Pin;
use std::cell::RefCell;

use embassy_futures::poll_once;
use embassy_futures::select::{Either, select};
use embassy_time::{MockDriver, Timer};
use tollgate_embassy::number::E164;
use tollgate_embassy::outbound::{Outbound, OutboundKeys};
use tollgate_embassy::throttle::Turn;

/// The carrier's limits for 56 numbers (55 calling), at most 4 recipients per multi-message: the
/// numbers' states, then the limits over them.
static STATES: OutboundKeys<64> = OutboundKeys::new();
static OUTBOUND: Outbound<64> = Outbound::carrier(&STATES, 4);

const NUMBERS: [E164; 3] = [
    match E164::parse("+15551230001") {
        Ok(n) => n,
        Err(_) => panic!("a valid number"),
    },
    match E164::parse("+15551230002") {
        Ok(n) => n,
        Err(_) => panic!("a valid number"),
    },
    match E164::parse("+442071838750") {
        Ok(n) => n,
        Err(_) => panic!("a valid number"),
    },
];

/// What went out: a message (of some recipients) or a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Call,
}

/// One send: when (ms), what, from which number, how many recipients, and its line.
type Sent = (u64, Kind, E164, u32, String);

/// Everything that went out.
static LOG: std::sync::Mutex<Vec<Sent>> = std::sync::Mutex::new(Vec::new());

fn went(turn: Turn, kind: Kind, from: E164, cost: u32, what: String) {
    let at = tollgate_embassy::to_embassy(turn.at).as_millis();
    let waited = embassy_time::Duration::from_ticks(turn.waited.as_ticks()).as_millis();
    let line = format!(
        "{:>8.3} s  {from} {what:<24} waited {:>6.3} s",
        at as f64 / 1e3,
        waited as f64 / 1e3
    );
    LOG.lock().unwrap().push((at, kind, from, cost, line));
}

/// The most sent in any 10-second window `(x − 10 s, x]` among `sends`.
fn most_in_any_window<'a>(sends: impl Iterator<Item = &'a Sent> + Clone) -> u32 {
    sends
        .clone()
        .map(|&(x, ..)| {
            sends
                .clone()
                .filter(|&&(t, ..)| t <= x && t + 10_000 > x)
                .map(|s| s.3)
                .sum()
        })
        .max()
        .unwrap_or(0)
}

/// A campaign: one number sends `count` messages as fast as it is allowed.
async fn campaign(from: E164, count: u32) {
    for i in 1..=count {
        let turn = OUTBOUND.message(from, 1).await.expect("a message fits");
        went(turn, Kind::Message, from, 1, format!("message {i}/{count}"));
    }
}

/// An operator places calls from two numbers, one after the other.
async fn dialer() {
    for i in 0..14 {
        let from = NUMBERS[i % 2];
        let turn = OUTBOUND.call(from).await.expect("a call fits");
        went(turn, Kind::Call, from, 1, format!("call {}", i + 1));
    }
}

/// A group message to 10 recipients, split into chunks the carrier accepts.
async fn group() {
    let from = NUMBERS[2];
    let recipients: Vec<u32> = (1..=10).collect();
    Timer::after_secs(2).await;
    let plan: Vec<(usize, u64)> = OUTBOUND
        .plan(from, &recipients)
        .expect("a cap above zero")
        .map(|(chunk, at)| (chunk.len(), at.as_ticks()))
        .collect();
    for (n, _) in plan {
        let turn = OUTBOUND
            .message(from, n as u32)
            .await
            .expect("a chunk fits");
        went(
            turn,
            Kind::Message,
            from,
            n as u32,
            format!("group chunk of {n}"),
        );
    }
}

/// A task that gives up waiting after 1.5 s: its turn is given back.
async fn impatient() {
    Timer::after_millis(500).await;
    let from = NUMBERS[0];
    match select(OUTBOUND.message(from, 1), Timer::after_millis(1_500)).await {
        Either::First(turn) => went(
            turn.expect("fits"),
            Kind::Message,
            from,
            1,
            "impatient message".into(),
        ),
        Either::Second(()) => {
            println!("   2.000 s  {from} an impatient task gave up waiting; its turn went back")
        }
    }
}

fn main() {
    MockDriver::get().reset();
    println!(
        "tollgate-embassy gateway: the carrier's limits, 10 per 10 s per number (messages, calls) and per account (calls)"
    );
    let mut tasks: Vec<Pin<Box<dyn Future<Output = ()>>>> = vec![
        Box::pin(campaign(NUMBERS[0], 25)),
        Box::pin(campaign(NUMBERS[1], 12)),
        Box::pin(dialer()),
        Box::pin(group()),
        Box::pin(impatient()),
    ];
    let polls = RefCell::new(0u64);
    // The executor: poll every task; when all are waiting, move virtual time on by 1 ms.
    while !tasks.is_empty() {
        tasks.retain_mut(|t| {
            *polls.borrow_mut() += 1;
            poll_once(t.as_mut()).is_pending()
        });
        if !tasks.is_empty() {
            MockDriver::get().advance(embassy_time::Duration::from_millis(1));
        }
    }
    let mut log = LOG.lock().unwrap().clone();
    log.sort_by_key(|s| s.0);
    for s in &log {
        println!("{}", s.4);
    }
    // Checked from what went out, not assumed.
    let mut over = false;
    for (kind, name) in [(Kind::Message, "messages"), (Kind::Call, "calls")] {
        for n in NUMBERS {
            let most = most_in_any_window(log.iter().filter(|s| s.1 == kind && s.2 == n));
            println!("most {name} from {n} in any 10 s: {most}");
            over |= most > 10;
        }
    }
    let calls = most_in_any_window(log.iter().filter(|s| s.1 == Kind::Call));
    println!("most calls from the account in any 10 s: {calls}");
    over |= calls > 10;
    let end = embassy_time::Instant::now().as_millis();
    println!(
        "{} sends in {:.1} s of virtual time ({} polls)",
        log.len(),
        end as f64 / 1e3,
        polls.into_inner()
    );
    if over {
        eprintln!("a limit was exceeded");
        std::process::exit(1);
    }
}
