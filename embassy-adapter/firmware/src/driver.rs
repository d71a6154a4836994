//! embassy-time's driver for this board: a 64-bit tick count kept by SysTick at `TICK_HZ`, and
//! embassy's timer queue, woken from the SysTick handler when the earliest timer is due.
//!
//! Lives in the firmware, not the library: the library forbids `unsafe`, and the driver is the
//! application's choice (a real board would use an RTC or a general-purpose timer instead).

use core::cell::RefCell;
use core::task::Waker;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::{Driver, TICK_HZ, time_driver_impl};
use embassy_time_queue_utils::Queue;

/// The core clock out of reset on the LM3S6965 (and in QEMU's model of it).
const CORE_HZ: u64 = 12_500_000;

/// SysTick counts `RELOAD + 1` core cycles per tick (24 bits; 12,499 at 1 kHz).
const RELOAD: u32 = {
    let cycles = CORE_HZ / TICK_HZ;
    assert!(
        cycles >= 2 && cycles <= 1 << 24,
        "TICK_HZ out of SysTick's range"
    );
    (cycles - 1) as u32
};

struct State {
    /// Ticks since [`start`].
    ticks: u64,
    /// The tick at which the earliest queued timer is due (`u64::MAX`: none).
    alarm: u64,
    queue: Queue,
}

/// The driver: all of its state behind one critical section.
pub struct SysTickDriver {
    state: Mutex<RefCell<State>>,
}

time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    state: Mutex::new(RefCell::new(State {
        ticks: 0,
        alarm: u64::MAX,
        queue: Queue::new(),
    })),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.state.borrow_ref(cs).ticks)
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut s = self.state.borrow_ref_mut(cs);
            if s.queue.schedule_wake(at, waker) {
                // Wakes at once whatever is already due, and finds the next alarm.
                let now = s.ticks;
                s.alarm = s.queue.next_expiration(now);
            }
        });
    }
}

impl SysTickDriver {
    fn tick(&self) {
        critical_section::with(|cs| {
            let mut s = self.state.borrow_ref_mut(cs);
            s.ticks += 1;
            if s.ticks >= s.alarm {
                let now = s.ticks;
                s.alarm = s.queue.next_expiration(now);
            }
        });
    }
}

/// Starts the tick: SysTick from the core clock, one interrupt per embassy tick.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    DRIVER.tick();
}
