//! The naive reference model for the client pacer, shared by `props_pacer.rs` and the `pacer`
//! fuzz target. It keeps every lower bound any response ever imposed as an exact `u128` instant,
//! in a plain list, and computes the backoff ceiling by repeated doubling; the pacer keeps one
//! saturating `u64` and shifts.
//!
//! Use it as `use tollgate_testkit::models::pacer;`.

use tollgate_core::{Duration, GiveUpReason, Instant, Next, Outcome, Pacer, ServerHints};

pub const END: u128 = u64::MAX as u128;

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub base: u64,
    pub cap: u64,
    pub max_retries: u32,
    pub spread: bool,
    pub max_wait: Option<u64>,
}

impl Config {
    pub fn pacer<const HZ: u64>(&self) -> Pacer<HZ> {
        let p = Pacer::new(
            Duration::<HZ>::from_ticks(self.base),
            Duration::<HZ>::from_ticks(self.cap),
        )
        .unwrap()
        .with_max_retries(self.max_retries)
        .with_spread(self.spread);
        match self.max_wait {
            Some(w) => p.with_max_wait(Duration::<HZ>::from_ticks(w)),
            None => p,
        }
    }
}

/// The reference model: a list of bounds and a failure count.
#[derive(Debug, Default)]
pub struct Model {
    pub bounds: Vec<u128>,
    pub failures: u32,
}

pub fn clamp(x: u128) -> u64 {
    u64::try_from(x.min(END)).unwrap()
}

/// `min(cap, base · 2^(k−1))` by doubling, zero for `k = 0`.
pub fn model_ceiling(c: &Config, k: u32) -> u128 {
    if k == 0 {
        return 0;
    }
    let mut ceiling = u128::from(c.base);
    let mut i = 1;
    while i < k && ceiling < u128::from(c.cap) {
        ceiling *= 2;
        i += 1;
    }
    ceiling.min(u128::from(c.cap))
}

pub fn model_jitter(ceiling: u128, random: u64) -> u128 {
    u128::from(random) * (ceiling + 1) / (1u128 << 64)
}

impl Model {
    pub fn ready_at(&self) -> u64 {
        clamp(self.bounds.iter().copied().max().unwrap_or(0))
    }

    pub fn step<const HZ: u64>(
        &mut self,
        c: &Config,
        now: u64,
        outcome: Outcome,
        hints: ServerHints<HZ>,
        random: u64,
    ) -> Next<HZ> {
        let t = u128::from(now);
        self.bounds.push(t);
        if let Some(ra) = hints.retry_after {
            self.bounds.push(t + u128::from(ra.as_ticks()));
        } else if let (Some(n), Some(reset)) = (hints.remaining, hints.reset.map(|r| r.as_ticks()))
        {
            if n == 0 {
                self.bounds.push(t + u128::from(reset));
            } else if c.spread {
                self.bounds
                    .push(t + u128::from(reset).div_ceil(u128::from(n)));
            }
        }
        let floor = self.ready_at();
        let attempts = self.failures.saturating_add(1);
        let give_up = |m: &mut Model, reason| {
            m.failures = 0;
            Next::GiveUp {
                attempts,
                reason,
                ready_at: Instant::<HZ>::from_ticks(floor),
            }
        };
        match outcome {
            Outcome::Success => {
                self.failures = 0;
                Next::SendAt(Instant::<HZ>::from_ticks(floor))
            }
            Outcome::Failed => give_up(self, GiveUpReason::NotRetryable),
            Outcome::RateLimited | Outcome::Retryable => {
                if attempts > c.max_retries {
                    return give_up(self, GiveUpReason::RetriesExhausted);
                }
                let backoff = model_jitter(model_ceiling(c, attempts), random);
                let at = u128::from(floor).max((t + backoff).min(END));
                if at - t > u128::from(c.max_wait.unwrap_or(u64::MAX)) {
                    return give_up(self, GiveUpReason::WaitTooLong);
                }
                self.bounds.push(at);
                self.failures = attempts;
                Next::SendAt(Instant::<HZ>::from_ticks(clamp(at)))
            }
        }
    }
}
