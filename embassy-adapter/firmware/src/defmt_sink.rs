//! With the `defmt` feature: the global logger and panic handler that defmt's macros link
//! against. The logger drops every frame (QEMU's semihosting console has no defmt decoder); a
//! defmt panic ends the run as a failure, like any other panic.

use cortex_m_semihosting::hprintln;

#[defmt::global_logger]
struct Discard;

// SAFETY: every method is a no-op, so there is no state to protect and any call order is sound.
unsafe impl defmt::Logger for Discard {
    fn acquire() {}
    unsafe fn flush() {}
    unsafe fn release() {}
    unsafe fn write(_bytes: &[u8]) {}
}

defmt::timestamp!("{=u64:ms}", embassy_time::Instant::now().as_millis());

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    hprintln!("PANIC (defmt; its message went to the discarding logger)");
    crate::exit(false)
}
