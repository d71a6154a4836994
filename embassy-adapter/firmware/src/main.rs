//! tollgate-embassy in a real embassy application on a Cortex-M3: seven tasks share one
//! [`Outbound`] from a `static`, each asking for more than the carrier allows, and the firmware
//! then checks from its own timestamps that no number and no account ever went over.
//!
//! Run under QEMU with `cargo run --release` from this folder (see `.cargo/config.toml`). The
//! executor is embassy's thread-mode executor; time comes from SysTick at 1 kHz ([`driver`]).
//! Every check is printed through semihosting, then the summary line
//! `embassy firmware: N checks passed, M failed`; the firmware exits with `EXIT_SUCCESS` when all
//! of them hold and with `EXIT_FAILURE` when any does not, on a panic and on a hard fault, so
//! `cargo run` fails with it.
//!
//! What runs (numbers A, B, C; every limit 10 per second, see [`WINDOW`]):
//! - three texters: 15 single messages and 5 two-recipient messages from A (two tasks on one
//!   number), 20 from B, each awaiting `message` in a loop;
//! - three callers: 12 calls from A, 12 from B, 6 from C, together three times the account's
//!   limit;
//! - one task on C that sends 10 with `try_message` with interrupts off, has an interrupt handler
//!   (PendSV) try an 11th, cancels a waiting `message` by racing it against a timer, and then
//!   uses the whole next window.

#![no_std]
#![no_main]

mod check;
#[cfg(feature = "defmt")]
mod defmt_sink;
mod driver;
mod sent;

use core::cell::Cell;
use core::fmt;
use core::mem::size_of;

use check::Tally;
use cortex_m::peripheral::SCB;
use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::{debug, hprint, hprintln};
use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::Timer;
use sent::{Kind, Sent};
use tollgate_embassy::number::E164;
use tollgate_embassy::outbound::{
    CallLimits, Caller, Log, Outbound, OutboundError, OutboundKeys, TryError,
};
use tollgate_embassy::throttle::{Error, KeysFor, Turn};
use tollgate_embassy::tollgate_core::Pacer;
use tollgate_embassy::{Duration, HZ, valid};

/// The carrier's window, 10 s, scaled down tenfold so the run takes about two seconds of
/// virtual time: every limit below is 10 per second instead of 10 per 10 seconds. The shape
/// (an exact sliding log of 10 per window, calls per number and per account) is the carrier's.
const WINDOW: Duration = Duration::from_millis(1_000);

/// Admissions per window, for messages per number and calls per number and per account.
const LIMIT: u32 = 10;

const PER_WINDOW: Log = valid!(Log::per_window(LIMIT, WINDOW));

/// The most recipients one multi-message request may have.
const MAX_RECIPIENTS: u32 = 5;

/// The numbers' states: all zeros until used, so in `.bss` (RAM only, nothing in flash).
static NUMBER_STATES: OutboundKeys<64> = OutboundKeys::new();

/// The carrier's limits scaled as [`WINDOW`] says: queueing up to 6 s (the carrier's minute)
/// and a pacer from 100 ms to 1 s (the carrier's 1 s to 10 s) for its own denials.
static OUTBOUND: Outbound<64> = Outbound::new(
    &NUMBER_STATES,
    PER_WINDOW,
    CallLimits {
        per_number: PER_WINDOW,
        per_account: PER_WINDOW,
    },
    MAX_RECIPIENTS,
    Duration::from_secs(6),
    valid!(Pacer::new(
        Duration::from_millis(100),
        Duration::from_secs(1)
    ))
    .with_max_retries(5),
);

const A: E164 = number("+15551230001");
const B: E164 = number("+15551230002");
const C: E164 = number("+15551230003");
const NUMBERS: [E164; 3] = [A, B, C];

const fn number(s: &str) -> E164 {
    match E164::parse(s) {
        Ok(n) => n,
        Err(_) => panic!("not an E.164 number"),
    }
}

/// The texters: (number, recipients per message, messages). Tasks 0, 1, 2.
const TEXTERS: [(E164, u32, u32); 3] = [(A, 1, 15), (A, 2, 5), (B, 1, 20)];
/// The callers: (number, calls). Tasks 3, 4, 5.
const CALLERS: [(E164, u32); 3] = [(A, 12), (B, 12), (C, 6)];
/// The task on C: 10 at once, then two messages of 5 after the cancelled one.
const CANCELLER: u8 = 6;
const CANCELLER_SENDS: u32 = LIMIT + 2 * MAX_RECIPIENTS;
/// The PendSV handler, as a task number in the log.
const HANDLER: u8 = 7;
const TASKS: usize = TEXTERS.len() + CALLERS.len() + 1;

/// Each task's number when it is done.
static DONE: Channel<CriticalSectionRawMutex, u8, TASKS> = Channel::new();

/// A report one context leaves for `main`.
type Report<T> = Mutex<CriticalSectionRawMutex, Cell<Option<T>>>;

/// What the PendSV handler saw: the tick it asked at and `try_message`'s answer.
type HandlerReport = (u64, Result<Turn, TryError>);

static FROM_HANDLER: Report<HandlerReport> = Mutex::new(Cell::new(None));

/// What the task on C saw, for the checks at the end.
#[derive(Debug, Clone, Copy)]
struct CancelReport {
    /// The tick of the burst.
    t0: u64,
    /// `try_message`s admitted at `t0` without waiting, of [`LIMIT`].
    burst: u32,
    /// Whether the timer won the race against a waiting `message`.
    cancelled: bool,
    /// Whether C's message state was as before the cancelled request.
    restored: bool,
    /// The turn of a request for a whole window's worth after the cancel.
    next_window: Result<u64, Error>,
    /// The two messages of 5 that follow.
    chunks: [Result<Turn, OutboundError>; 2],
    /// A message to one recipient too many.
    too_many: Result<Turn, OutboundError>,
}

static CANCEL: Report<CancelReport> = Mutex::new(Cell::new(None));

#[embassy_executor::task(pool_size = 3)]
async fn texter(task: u8, from: E164, recipients: u32, messages: u32) {
    for _ in 0..messages {
        match OUTBOUND.message(from, recipients).await {
            Ok(turn) => sent::record(Kind::Message, from, task, recipients, turn),
            Err(_) => sent::error(),
        }
    }
    DONE.send(task).await;
}

#[embassy_executor::task(pool_size = 3)]
async fn caller(task: u8, from: E164, calls: u32) {
    for _ in 0..calls {
        match OUTBOUND.call(from).await {
            Ok(turn) => sent::record(Kind::Call, from, task, 1, turn),
            Err(_) => sent::error(),
        }
    }
    DONE.send(task).await;
}

#[embassy_executor::task]
async fn canceller(task: u8) {
    // A window's worth at once with interrupts off, as an interrupt handler would send them.
    let (t0, burst) = critical_section::with(|_| {
        let t0 = tollgate_embassy::now();
        let mut burst = 0;
        for _ in 0..LIMIT {
            match OUTBOUND.try_message(C, 1) {
                Ok(turn) => {
                    if turn.at == t0 && turn.waited.as_ticks() == 0 {
                        burst += 1;
                    }
                    sent::record(Kind::Message, C, task, 1, turn);
                }
                Err(_) => sent::error(),
            }
        }
        (t0.as_ticks(), burst)
    });

    // An eleventh from an interrupt handler: refused until the window has room.
    SCB::set_pendsv();
    cortex_m::asm::dsb();
    cortex_m::asm::isb();

    // A twelfth waits for its turn at t0 + WINDOW, but a 100 ms timer wins the race and the
    // waiting future is dropped: its turn must be given back.
    let before = OUTBOUND.messages().state_of(&C);
    let race = select(OUTBOUND.message(C, 1), Timer::after_millis(100)).await;
    let cancelled = match race {
        Either::First(Ok(turn)) => {
            sent::record(Kind::Message, C, task, 1, turn); // wrongly sent: let the windows see it
            false
        }
        Either::First(Err(_)) => false,
        Either::Second(()) => true,
    };
    let restored = OUTBOUND.messages().state_of(&C) == before;
    let next_window = OUTBOUND
        .messages()
        .turn_of(&[C], LIMIT)
        .map(|at| at.as_ticks());

    // The whole next window is still there: two messages of 5 recipients.
    let mut chunks = [Err(OutboundError::NoRecipients); 2];
    for chunk in &mut chunks {
        *chunk = OUTBOUND.message(C, MAX_RECIPIENTS).await;
        match *chunk {
            Ok(turn) => sent::record(Kind::Message, C, task, MAX_RECIPIENTS, turn),
            Err(_) => sent::error(),
        }
    }
    let too_many = OUTBOUND.message(C, MAX_RECIPIENTS + 1).await;

    CANCEL.lock(|c| {
        c.set(Some(CancelReport {
            t0,
            burst,
            cancelled,
            restored,
            next_window,
            chunks,
            too_many,
        }));
    });
    DONE.send(task).await;
}

/// `try_message` from an interrupt handler; pended once by the task on C.
#[exception]
fn PendSV() {
    let now = tollgate_embassy::now().as_ticks();
    let answer = OUTBOUND.try_message(C, 1);
    if let Ok(turn) = answer {
        sent::record(Kind::Message, C, HANDLER, 1, turn); // wrongly sent: let the windows see it
    }
    FROM_HANDLER.lock(|c| c.set(Some((now, answer))));
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        fail("the core peripherals were already taken")
    };
    driver::start(peripherals.SYST);

    hprintln!(
        "embassy firmware: {} Hz ticks; {} per {} ms per number (messages, calls) and per account (calls): the carrier's 10 per 10 s, scaled by 1/10",
        HZ,
        LIMIT,
        WINDOW.as_millis()
    );
    hprintln!(
        "embassy firmware: size_of OutboundKeys<64> = {} B (the 64-slot message table {} B, the call table {} B), Outbound<64> = {} B",
        size_of::<OutboundKeys<64>>(),
        size_of::<KeysFor<E164, Log, 64>>(),
        size_of::<KeysFor<Caller, CallLimits, 64>>(),
        size_of::<Outbound<64>>()
    );

    let mut task = 0;
    for (from, recipients, messages) in TEXTERS {
        spawner.spawn(texter(task, from, recipients, messages).expect("a pool slot per texter"));
        task += 1;
    }
    for (from, calls) in CALLERS {
        spawner.spawn(caller(task, from, calls).expect("a pool slot per caller"));
        task += 1;
    }
    spawner.spawn(canceller(CANCELLER).expect("one canceller"));

    let all_done = async {
        for _ in 0..TASKS {
            DONE.receive().await;
        }
    };
    let finished = embassy_time::with_timeout(embassy_time::Duration::from_secs(20), all_done)
        .await
        .is_ok();
    let ended = embassy_time::Instant::now().as_millis();

    let mut t = Tally::new();
    let log = sent::take();
    let sent = &log.sent[..];

    hprintln!(
        "[what went out when, by turn; {} ms of virtual time]",
        ended
    );
    for n in NUMBERS {
        timeline(format_args!("messages from {n}"), sent, |s| {
            s.kind == Kind::Message && s.from == n
        });
    }
    for n in NUMBERS {
        timeline(format_args!("calls from {n}"), sent, |s| {
            s.kind == Kind::Call && s.from == n
        });
    }
    timeline(format_args!("calls, account"), sent, |s| {
        s.kind == Kind::Call
    });

    hprintln!("[tasks]");
    t.assert(
        format_args!("all {TASKS} tasks finished"),
        finished,
        format_args!("{finished}"),
    );
    t.expect(
        format_args!("requests refused with an error"),
        log.errors,
        0,
    );
    t.expect(
        format_args!("admissions the log had no room for"),
        log.lost,
        0,
    );

    hprintln!("[totals: everything asked for went out]");
    for n in NUMBERS {
        let asked = TEXTERS
            .iter()
            .filter(|(from, ..)| *from == n)
            .map(|(_, recipients, messages)| recipients * messages)
            .sum::<u32>()
            + if n == C { CANCELLER_SENDS } else { 0 };
        let got = sent::total(sent, |s| s.kind == Kind::Message && s.from == n);
        t.expect(format_args!("messages from {n}"), got, asked);
    }
    for n in NUMBERS {
        let asked: u32 = CALLERS
            .iter()
            .filter(|(from, _)| *from == n)
            .map(|(_, calls)| calls)
            .sum();
        let got = sent::total(sent, |s| s.kind == Kind::Call && s.from == n);
        t.expect(format_args!("calls from {n}"), got, asked);
    }
    let calls: u32 = CALLERS.iter().map(|(_, calls)| calls).sum();
    t.expect(
        format_args!("calls, account"),
        sent::total(sent, |s| s.kind == Kind::Call),
        calls,
    );

    hprintln!(
        "[windows: at most {} in any (x - {} ms, x], over the turns]",
        LIMIT,
        WINDOW.as_millis()
    );
    let w = WINDOW.as_ticks();
    for n in NUMBERS {
        let most = sent::busiest(sent, |s| s.kind == Kind::Message && s.from == n, w);
        // Every number asked for more than a window holds, so its busiest window is full.
        window(&mut t, format_args!("messages from {n}"), most, true);
    }
    for n in NUMBERS {
        let most = sent::busiest(sent, |s| s.kind == Kind::Call && s.from == n, w);
        window(&mut t, format_args!("calls from {n}"), most, false);
    }
    let most = sent::busiest(sent, |s| s.kind == Kind::Call, w);
    window(&mut t, format_args!("calls, account"), most, true);

    hprintln!("[turns: each task released at or after its turn, its turns in order]");
    let early = sent.iter().filter(|s| s.released < s.at).count();
    let lag = sent
        .iter()
        .map(|s| s.released.saturating_sub(s.at))
        .max()
        .unwrap_or(0);
    t.assert(
        format_args!("releases before their turn"),
        early == 0,
        format_args!(
            "{early} of {}; latest release {lag} ticks after its turn",
            sent.len()
        ),
    );
    let out_of_order = (0..=HANDLER)
        .filter(|&task| {
            let mut turns = sent.iter().filter(|s| s.task == task).map(|s| s.at);
            let mut last = 0;
            !turns.all(|at| {
                let in_order = at >= last;
                last = at;
                in_order
            })
        })
        .count();
    t.expect(
        format_args!("tasks whose turns go backwards"),
        out_of_order,
        0,
    );

    hprintln!("[try_message, an interrupt handler, a cancelled wait]");
    match CANCEL.lock(Cell::get) {
        None => t.assert(
            format_args!("the task on C reported"),
            false,
            format_args!("no report"),
        ),
        Some(r) => cancel_checks(&mut t, r, FROM_HANDLER.lock(Cell::get)),
    }

    hprintln!(
        "embassy firmware: {} checks passed, {} failed",
        t.passed,
        t.failed
    );
    exit(t.failed == 0)
}

/// Checks a busiest window: never over the limit, and exactly at it when `full`.
fn window(t: &mut Tally, what: fmt::Arguments<'_>, (most, x): (u32, u64), full: bool) {
    let seen = format_args!("{most} in the window ending at {} ms", ticks_to_ms(x));
    if full {
        t.assert(
            format_args!("{what}: at the limit, never over"),
            most == LIMIT,
            seen,
        );
    } else {
        t.assert(format_args!("{what}: never over"), most <= LIMIT, seen);
    }
}

fn cancel_checks(t: &mut Tally, r: CancelReport, handler: Option<HandlerReport>) {
    let w = WINDOW.as_ticks();
    t.expect(
        format_args!("try_message with interrupts off: 10 admitted at once, no wait"),
        r.burst,
        LIMIT,
    );
    match handler {
        None => t.assert(
            format_args!("the PendSV handler ran"),
            false,
            format_args!("it did not"),
        ),
        Some((now, answer)) => t.expect(
            format_args!(
                "try_message from PendSV at {} ms: an 11th waits for the window",
                ticks_to_ms(now)
            ),
            answer,
            Err(TryError::Wait {
                retry_after: Duration::from_ticks((r.t0 + w).saturating_sub(now)),
                key: 0,
            }),
        ),
    }
    t.assert(
        format_args!("a waiting message raced against a 100 ms timer: the timer wins"),
        r.cancelled,
        format_args!("{}", r.cancelled),
    );
    t.assert(
        format_args!("the cancelled turn given back: C's state as before"),
        r.restored,
        format_args!("{}", r.restored),
    );
    t.expect(
        format_args!("after the cancel, a whole window (10) fits at t0 + 1 s"),
        r.next_window,
        Ok(r.t0 + w),
    );
    match r.chunks {
        [Ok(first), Ok(second)] => {
            t.expect(
                format_args!("5 recipients after the cancel: its turn at t0 + 1 s"),
                first.at.as_ticks(),
                r.t0 + w,
            );
            let apart = second.at.as_ticks() - first.at.as_ticks();
            t.assert(
                format_args!("5 more: in the same window, so all 10 of it were usable"),
                apart < w,
                format_args!("{apart} ticks after the first"),
            );
        }
        chunks => t.assert(
            format_args!("two messages of 5 after the cancel"),
            false,
            format_args!("{chunks:?}"),
        ),
    }
    t.expect(
        format_args!("a message to 6 recipients is refused"),
        r.too_many,
        Err(OutboundError::TooManyRecipients {
            recipients: MAX_RECIPIENTS + 1,
            max: MAX_RECIPIENTS,
        }),
    );
}

/// Prints one line: how many went out at each turn, in order of the turns.
fn timeline(what: fmt::Arguments<'_>, sent: &[Sent], keep: impl Fn(&Sent) -> bool) {
    const SHOWN: usize = 12;
    hprint!("  {}:", what);
    let mut after = None;
    let mut groups = 0;
    // The next turn after `after`, until none is left.
    while let Some(at) = sent
        .iter()
        .filter(|s| keep(s) && after.is_none_or(|a| s.at > a))
        .map(|s| s.at)
        .min()
    {
        if groups == SHOWN {
            hprint!(" ...");
            break;
        }
        let n = sent::total(sent, |s| keep(s) && s.at == at);
        hprint!(
            "{} {} at {} ms",
            if groups == 0 { "" } else { "," },
            n,
            ticks_to_ms(at)
        );
        after = Some(at);
        groups += 1;
    }
    hprintln!();
}

const fn ticks_to_ms(ticks: u64) -> u64 {
    ticks * 1_000 / HZ
}

/// Prints why and fails the run.
fn fail(why: &str) -> ! {
    hprintln!("embassy firmware: {}", why);
    exit(false)
}

/// Ends the QEMU run with the given verdict.
fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(
        clippy::empty_loop,
        reason = "only reached on hardware without a debugger"
    )]
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    exit(false)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("HARD FAULT: {:?}", frame);
    exit(false)
}
