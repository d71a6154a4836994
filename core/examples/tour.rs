//! A tour of tollgate-core: seed 000's advice replayed against its limits.
//!
//! Run with `cargo run -p tollgate-core --example tour`.

use tollgate_core::{Duration, Gcra, Instant, Quota};

const HZ: u64 = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // "300 requests per minute", 5 at once.
    let gcra = Gcra::new(Quota::<HZ>::per_minute(300)?.with_burst(5)?);
    let mut state = gcra.new_state();
    let t0 = Instant::<HZ>::from_ticks(0);
    for i in 0..6 {
        let d = gcra.check(&mut state, t0, 1)?;
        println!(
            "request {i} at t=0: {} (limit {}, remaining {}, reset {} ms, retry after {:?} ms)",
            if d.is_allowed() { "allowed" } else { "denied" },
            d.limit,
            d.remaining,
            d.reset.as_millis(),
            d.retry_after.map(|r| r.as_millis())
        );
    }
    let later = t0 + Duration::<HZ>::from_millis(200);
    println!("after 200 ms: {:?}", gcra.try_acquire(&mut state, later));
    Ok(())
}
