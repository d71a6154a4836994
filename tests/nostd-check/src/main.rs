//! Proves on the host that tollgate-core needs neither `std` nor `alloc`.
//!
//! This binary is `#![no_std]`, defines no global allocator and links no libc, so it fails to
//! build if anything in the dependency graph needs `std` ("duplicate lang item `panic_impl`") or
//! `alloc` ("no global memory allocator found"). Run, it exercises the core API and exits 0, or 1
//! if a decision is wrong, or 101 on a panic. `cargo build && ./target/debug/nostd-check` from
//! this folder; `--features tollgate-core/defmt` works too.

#![no_std]
#![no_main]

use tollgate_core::{
    Algorithm, Concurrency, ConcurrencyState, ConfigError, Decision, Duration, Gcra, GcraState,
    Instant, InsufficientCapacity, LogState, Meter, MeterState, Next, NotUntil, Outcome, Pacer,
    PacerState, Quota, ServerHints, Shaper, ShaperState, SlidingLog, SlidingWindow, WindowState,
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(101)
}

/// Referenced by the prebuilt (panic = unwind) libcore; never called with panic = abort.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// Linux `exit_group`.
fn exit(code: i32) -> ! {
    // SAFETY: exit_group takes one integer argument and never returns.
    unsafe { core::arch::asm!("syscall", in("rax") 231, in("rdi") code, options(noreturn)) }
}

// With no libc, nothing provides the memory routines the compiler calls for struct copies (a
// `Decision` is 40 bytes, a policy's answer several hundred); on this target compiler-builtins leaves them to libc. Byte loops
// through volatile accesses, so LLVM cannot turn them back into calls to themselves.

/// C `memcpy`.
#[unsafe(no_mangle)]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller passes valid, non-overlapping regions of `n` bytes.
    unsafe { memmove(dst, src, n) }
}

/// C `memmove`.
#[unsafe(no_mangle)]
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller passes valid regions of `n` bytes; copying in the direction away from
    // the overlap reads every byte before it is overwritten.
    unsafe {
        if (dst as usize) < (src as usize) {
            for i in 0..n {
                dst.add(i).write_volatile(src.add(i).read_volatile());
            }
        } else {
            for i in (0..n).rev() {
                dst.add(i).write_volatile(src.add(i).read_volatile());
            }
        }
    }
    dst
}

/// C `memset`.
#[unsafe(no_mangle)]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller passes a valid region of `n` bytes.
    unsafe {
        for i in 0..n {
            dst.add(i).write_volatile(c as u8);
        }
    }
    dst
}

/// C `memcmp`.
#[unsafe(no_mangle)]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller passes valid regions of `n` bytes.
    unsafe {
        for i in 0..n {
            let (x, y) = (a.add(i).read_volatile(), b.add(i).read_volatile());
            if x != y {
                return i32::from(x) - i32::from(y);
            }
        }
    }
    0
}

/// C `bcmp`: zero when equal.
#[unsafe(no_mangle)]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: as `memcmp`.
    unsafe { memcmp(a, b, n) }
}

// The kernel enters `_start` with rsp 16-byte aligned; re-align and `call` to get the SysV ABI.
core::arch::global_asm!(".globl _start", "_start:", "and rsp, -16", "call {e}", "ud2", e = sym entry);

extern "C" fn entry() -> ! {
    exit(if checks() && others() == Some(true) {
        0
    } else {
        1
    })
}

const HZ: u64 = 1_000;

type D = Duration<HZ>;

/// An instant the optimiser cannot see through.
fn at(ms: u64) -> Instant<HZ> {
    Instant::<HZ>::from_ticks(core::hint::black_box(ms))
}

/// A denial's wait in ticks.
fn wait(r: Result<(), NotUntil<HZ>>) -> Option<u64> {
    r.err().map(|e| e.retry_after().as_ticks())
}

/// Every public entry point of the core, with values opaque to the optimiser.
fn checks() -> bool {
    let t = |ms: u64| Instant::<HZ>::from_ticks(core::hint::black_box(ms));
    let Ok(q) = Quota::<HZ>::per_second(core::hint::black_box(4)) else {
        return false;
    };
    let g = Gcra::new(q); // one per 250 ms, burst 4
    let mut s = GcraState::new();

    let burst = (0..4).all(|_| g.try_acquire(&mut s, t(0)).is_ok());
    let waits = g
        .try_acquire(&mut s, t(0))
        .map_err(|e| e.retry_after().as_ticks())
        == Err(250);
    let peeked = g
        .peek(&s, t(249), 1)
        .map(|d| d.retry_after.map(|w| w.as_ticks()));
    let checked = Algorithm::check(&g, &mut s, t(250), 1).map(|d| (d.is_allowed(), d.remaining));
    let too_big = g.check(&mut s, t(250), 5)
        == Err(InsufficientCapacity {
            cost: 5,
            capacity: 4,
            index: None,
        });
    let rest = !g.is_at_rest(&s, t(1_249)) && g.is_at_rest(&s, t(1_250));
    let refused = Quota::<HZ>::per_second(core::hint::black_box(0)) == Err(ConfigError::ZeroLimit);

    burst
        && waits
        && peeked == Ok(Some(1))
        && checked == Ok((true, 0))
        && too_big
        && rest
        && refused
}

/// One check per other algorithm, each as its docs describe it; `None` if a constructor refused.
fn others() -> Option<bool> {
    let n = |x: u32| core::hint::black_box(x);
    let q4 = Quota::<HZ>::per_second(n(4)).ok()?;
    let retry = |d: Decision<HZ>| d.retry_after.map(|w| w.as_ticks());

    // Meter, 4/s like the GCRA above: the whole burst at once; at 249 ms one tick early.
    let (meter, mut ms) = (Meter::new(q4), MeterState::new());
    let meter = meter.check(&mut ms, at(0), 4).is_ok()
        && meter.peek(&ms, at(249), 1).map(retry) == Ok(Some(1));

    // Shaper, nginx `rate=4r/s burst=5 delay=2`: 3 at once, 3 queued 250 ms apart, 2 refused.
    let (shaper, mut ss) = (
        Shaper::nginx_limit_req(q4, n(5), n(2)).ok()?,
        ShaperState::new(),
    );
    let delays = [(); 8].map(|_| {
        shaper
            .reserve(&mut ss, at(0), 1)
            .ok()
            .filter(|r| r.is_accepted())
            .map(|r| r.delay.as_ticks())
    });
    let shaper = delays.iter().flatten().eq(&[0, 0, 0, 250, 500, 750]) && delays[6..] == [None; 2];

    // Sliding window, seed 003: 10 per 10 s in 11 buckets; the 11th at 2.5 s waits until 13 s.
    let (win, mut ws) = (
        SlidingWindow::<HZ, 11>::new(Quota::per_seconds(n(10), 10).ok()?).ok()?,
        WindowState::new(),
    );
    let window = (0..10).all(|_| win.try_acquire(&mut ws, at(2_500)).is_ok())
        && wait(win.try_acquire(&mut ws, at(2_500))) == Some(10_500);

    // Sliding log, seed 004: 2 per rolling hour; the 3rd waits until the 1st is an hour old.
    let (log, mut ls) = (
        SlidingLog::<HZ, 2>::new(Quota::per_hour(n(2)).ok()?).ok()?,
        LogState::new(),
    );
    let log = [0, 1_000]
        .iter()
        .all(|&ms| log.try_acquire(&mut ls, at(ms)).is_ok())
        && wait(log.try_acquire(&mut ls, at(2_000))) == Some(3_598_000);

    // Concurrency, 1 in flight: a permit, none for a second, no releasing more than is held.
    let (conc, mut cs) = (Concurrency::<HZ>::new(n(1)).ok()?, ConcurrencyState::new());
    let conc = conc.try_acquire(&mut cs).is_ok_and(|p| {
        conc.try_acquire(&mut cs).is_err()
            && conc.release_permit(&mut cs, p).is_ok()
            && conc.release(&mut cs, 1).is_err()
    });

    // Pacer: a 429 with Retry-After 45 s outweighs the first backoff (at most 1 s).
    let (pacer, hints) = (
        Pacer::<HZ>::new(D::from_secs(1), D::from_secs(60)).ok()?,
        ServerHints::NONE.with_retry_after(D::from_secs(45)),
    );
    let pacer = pacer.on_response(
        &mut PacerState::new(),
        at(0),
        Outcome::from_status(429),
        hints,
        !0,
    ) == Next::SendAt(at(45_000));

    Some(meter && shaper && window && log && conc && pacer)
}
