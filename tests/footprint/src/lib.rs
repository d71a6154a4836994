//! The parts every footprint binary shares: the same inputs, opaque to the optimiser, and the
//! same halt. The binaries differ only in what they do with the inputs, so the difference of
//! their sizes is what that costs.
#![no_std]
#![forbid(unsafe_code)]

/// The phone number and the instant (in ms) to decide for, as a modem task would read them:
/// `black_box` keeps the optimiser from folding the decision into a constant.
#[inline(never)]
pub fn inputs() -> (u64, u64) {
    core::hint::black_box((15_551_234_567, 0))
}

/// Hands a result to the outside world, so that it is computed.
#[inline(never)]
pub fn report(allowed: bool) {
    core::hint::black_box(allowed);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::nop();
    }
}
