//! Quota validation, shared by every rate algorithm: good quotas and each `ConfigError`.

use tollgate_core::{ConfigError, Duration, Quota};

use crate::HZ;
use crate::harness::Tally;

type Q = Quota<HZ>;

/// `(interval ticks, burst)` of a quota, or why it was refused.
fn shape(q: Result<Q, ConfigError>) -> Result<(u64, u32), ConfigError> {
    q.map(|q| (q.interval().as_ticks(), q.burst()))
}

pub fn run(t: &mut Tally) {
    t.expect(
        format_args!("4/s: one per 8192 ticks, burst 4"),
        shape(Q::per_second(4)),
        Ok((8_192, 4)),
    );
    t.expect(
        format_args!("3/s rounds the interval up, never down"),
        shape(Q::per_second(3)),
        Ok((10_923, 3)),
    );
    t.expect(
        format_args!("300/min with burst 5"),
        shape(Q::per_minute(300).and_then(|q| q.with_burst(5))),
        Ok((6_554, 5)),
    );
    t.expect(
        format_args!("one per tick is the finest rate"),
        shape(Q::per_second(32_768)),
        Ok((1, 32_768)),
    );
    t.expect(
        format_args!("finer than a tick"),
        shape(Q::per_second(32_769)),
        Err(ConfigError::RateTooFine),
    );
    t.expect(
        format_args!("zero limit"),
        shape(Q::per_second(0)),
        Err(ConfigError::ZeroLimit),
    );
    t.expect(
        format_args!("zero window"),
        shape(Q::new(1, Duration::<HZ>::from_ticks(0))),
        Err(ConfigError::ZeroWindow),
    );
    t.expect(
        format_args!("zero burst"),
        shape(Q::per_second(1).and_then(|q| q.with_burst(0))),
        Err(ConfigError::ZeroBurst),
    );
    t.expect(
        format_args!("a window of u64::MAX seconds"),
        shape(Q::per_seconds(1, u64::MAX)),
        Err(ConfigError::Overflow),
    );
    t.expect(
        format_args!("a burst past the end of time"),
        shape(Q::new(1, Duration::<HZ>::from_ticks(u64::MAX)).and_then(|q| q.with_burst(2))),
        Err(ConfigError::Overflow),
    );
}
