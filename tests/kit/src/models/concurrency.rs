//! The naive reference model for the concurrency limit, shared by `props_concurrency.rs` and
//! the `concurrency` fuzz target: a plain `u64` of cost in flight, admitting `c` iff `c == 0` or
//! `in_flight + c ≤ max`.
//!
//! Use it as `use tollgate_testkit::models::concurrency;`.

use tollgate_core::{Decision, Duration, InsufficientCapacity};

/// The naive model's answer to a check of `cost` with `in_flight` already taken.
pub fn model_decide<const HZ: u64>(
    max: u32,
    hint: u64,
    in_flight: u64,
    cost: u32,
) -> Result<(Decision<HZ>, u64), InsufficientCapacity> {
    if cost > max {
        return Err(InsufficientCapacity::new(cost, max));
    }
    let wanted = in_flight + u64::from(cost);
    let admitted = cost == 0 || wanted <= u64::from(max);
    let after = if admitted { wanted } else { in_flight };
    let decision = Decision {
        limit: max,
        remaining: u32::try_from(u64::from(max).saturating_sub(after)).unwrap(),
        reset: Duration::<HZ>::from_ticks(if after == 0 { 0 } else { hint }),
        retry_after: (!admitted).then_some(Duration::<HZ>::from_ticks(hint)),
        delay: Duration::<HZ>::from_ticks(0),
    };
    Ok((decision, after))
}
