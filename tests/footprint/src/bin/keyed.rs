//! A 64-number keyed GCRA in a `static` ("1 message per second per number, averaged over 10
//! seconds"), refusing new numbers when full: the table must be all zeros until used, so it lands
//! in `.bss` and costs no flash for its image.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::cell::RefCell;

use cortex_m_rt::entry;
use critical_section::Mutex;
use tollgate_core::{Gcra, GcraState, Instant, KeyTable, Quota, valid};
use tollgate_footprint::{inputs, report};

static PER_NUMBER: Gcra<1_000> = Gcra::new(valid!(Quota::per_second(1), with_burst(10)));
static NUMBERS: Mutex<RefCell<KeyTable<u64, GcraState, 64>>> =
    Mutex::new(RefCell::new(KeyTable::new()));

#[entry]
fn main() -> ! {
    loop {
        let (number, now) = inputs();
        let allowed = critical_section::with(|cs| {
            NUMBERS
                .borrow_ref_mut(cs)
                .check(&PER_NUMBER, number, Instant::from_ticks(now), 1)
                .is_ok_and(|d| d.is_allowed())
        });
        report(allowed);
    }
}
