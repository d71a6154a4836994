//! What went out when: every admitted message and call as the task that sent it saw it, in a
//! static log the checks read once every task has finished.

use core::cell::RefCell;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use heapless::Vec;
use tollgate_embassy::number::E164;
use tollgate_embassy::throttle::Turn;

/// Entries the log holds: more than the run sends (52 messages and 30 calls).
pub const CAPACITY: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message,
    Call,
}

/// One admission, in ticks.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub kind: Kind,
    pub from: E164,
    /// The task that sent it (see `main`'s task table).
    pub task: u8,
    /// Messages it counts as (its recipients); 1 for a call.
    pub count: u32,
    /// The turn the throttle gave it (`Turn::at`), recorded in the limits' state.
    pub at: u64,
    /// `embassy_time::Instant::now()` once the task had its turn.
    pub released: u64,
}

/// The log, entries that did not fit, and requests the throttle refused with an error.
pub struct Log {
    pub sent: Vec<Sent, CAPACITY>,
    pub lost: u32,
    pub errors: u32,
}

static LOG: Mutex<CriticalSectionRawMutex, RefCell<Log>> = Mutex::new(RefCell::new(Log {
    sent: Vec::new(),
    lost: 0,
    errors: 0,
}));

/// Records an admission; call it right after the turn came.
pub fn record(kind: Kind, from: E164, task: u8, count: u32, turn: Turn) {
    let released = embassy_time::Instant::now().as_ticks();
    let entry = Sent {
        kind,
        from,
        task,
        count,
        at: turn.at.as_ticks(),
        released,
    };
    LOG.lock(|log| {
        let mut log = log.borrow_mut();
        if log.sent.push(entry).is_err() {
            log.lost = log.lost.saturating_add(1);
        }
    });
}

/// Counts a request that should have been admitted but was refused.
pub fn error() {
    LOG.lock(|log| {
        let mut log = log.borrow_mut();
        log.errors = log.errors.saturating_add(1);
    });
}

/// Takes the log out, leaving an empty one.
pub fn take() -> Log {
    LOG.lock(|log| {
        core::mem::replace(
            &mut *log.borrow_mut(),
            Log {
                sent: Vec::new(),
                lost: 0,
                errors: 0,
            },
        )
    })
}

/// The most counted in any window `(x − window, x]` over the entries `keep` selects, and the
/// `x` (in ticks) where that is: a window's count only grows at an admission, so taking every
/// admission instant as `x` finds the busiest.
pub fn busiest(sent: &[Sent], keep: impl Fn(&Sent) -> bool, window: u64) -> (u32, u64) {
    let mut most = (0, 0);
    for x in sent.iter().filter(|s| keep(s)).map(|s| s.at) {
        let held: u32 = sent
            .iter()
            .filter(|s| keep(s) && s.at <= x && s.at + window > x)
            .map(|s| s.count)
            .sum();
        if held > most.0 {
            most = (held, x);
        }
    }
    most
}

/// The total counted over the entries `keep` selects.
pub fn total(sent: &[Sent], keep: impl Fn(&Sent) -> bool) -> u32 {
    sent.iter().filter(|s| keep(s)).map(|s| s.count).sum()
}
