//! The naive reference model for the sliding window counter, shared by
//! `props_sliding_window.rs` and the `sliding_window` fuzz target: a plain list of admitted
//! `(bucket, cost, instant)` entries, re-summed from scratch for every question, with the same
//! bucket arithmetic as the algorithm done naively in `u128`.
//!
//! Use it as `use tollgate_testkit::models::sliding_window;`.

use tollgate_core::{Decision, Duration, InsufficientCapacity};

/// The reference model: the same bucket arithmetic, done naively in `u128` over every admission.
#[derive(Debug, Clone)]
pub struct Model {
    pub n: u32,
    pub g: u128,
    pub b: u128,
    /// Bucket of the latest admission (0 when fresh).
    pub cur: u128,
    /// Every admission: (bucket, cost, recorded instant).
    pub log: Vec<(u128, u32, u64)>,
}

/// What the model answers, with whether its `retry_after` and `reset` are exact (their instants
/// fit a `u64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<const HZ: u64> {
    pub decision: Decision<HZ>,
    pub retry_exact: bool,
    pub reset_exact: bool,
}

pub const MAX: u128 = u64::MAX as u128;

impl Model {
    pub fn new(n: u32, w: u64, b: usize) -> Self {
        let (w, b) = (u128::from(w), b as u128);
        let g = (w - 1).div_ceil(b - 1);
        Self {
            n,
            g,
            b,
            cur: 0,
            log: Vec::new(),
        }
    }

    pub fn bucket(&self, now: u64) -> u128 {
        (u128::from(now) / self.g).max(self.cur)
    }

    /// Cost of the admissions counted in bucket `k`: those in buckets `k − B + 1 ..= k`.
    pub fn counted(&self, k: u128) -> u64 {
        self.log
            .iter()
            .filter(|(bk, _, _)| bk + self.b > k)
            .map(|(_, c, _)| u64::from(*c))
            .sum()
    }

    pub fn reset<const HZ: u64>(&self, k: u128, now: u64) -> (Duration<HZ>, bool) {
        match self
            .log
            .iter()
            .filter(|(bk, _, _)| bk + self.b > k)
            .map(|(bk, _, _)| *bk)
            .max()
        {
            None => (Duration::<HZ>::from_ticks(0), true),
            Some(kn) => {
                let at = (kn + self.b) * self.g;
                (
                    Duration::<HZ>::from_ticks((at.min(MAX) - u128::from(now)) as u64),
                    at <= MAX,
                )
            }
        }
    }

    pub fn decide<const HZ: u64>(
        &self,
        now: u64,
        cost: u32,
    ) -> Result<(Answer<HZ>, bool), InsufficientCapacity> {
        if cost > self.n {
            return Err(InsufficientCapacity::new(cost, self.n));
        }
        let k = self.bucket(now);
        let (counted, cost64, n) = (self.counted(k), u64::from(cost), u64::from(self.n));
        if cost == 0 || counted + cost64 <= n {
            let after = counted + cost64;
            let (reset, reset_exact) = if cost == 0 {
                self.reset(k, now)
            } else {
                let at = (k + self.b) * self.g;
                (
                    Duration::<HZ>::from_ticks((at.min(MAX) - u128::from(now)) as u64),
                    at <= MAX,
                )
            };
            let decision = Decision {
                limit: self.n,
                remaining: (n - after) as u32,
                reset,
                retry_after: None,
                delay: Duration::<HZ>::from_ticks(0),
            };
            return Ok((
                Answer {
                    decision,
                    retry_exact: true,
                    reset_exact,
                },
                cost > 0,
            ));
        }
        let j = (1..=self.b)
            .find(|j| self.counted(k + j) + cost64 <= n)
            .expect("everything has expired after B buckets");
        let at = (k + j) * self.g;
        let (reset, reset_exact) = self.reset(k, now);
        Ok((
            Answer {
                decision: Decision {
                    limit: self.n,
                    remaining: (n - counted) as u32,
                    reset,
                    retry_after: Some(Duration::<HZ>::from_ticks(
                        (at.min(MAX) - u128::from(now)) as u64,
                    )),
                    delay: Duration::<HZ>::from_ticks(0),
                },
                retry_exact: at <= MAX,
                reset_exact,
            },
            false,
        ))
    }

    pub fn check<const HZ: u64>(
        &mut self,
        now: u64,
        cost: u32,
    ) -> Result<Answer<HZ>, InsufficientCapacity> {
        let (answer, record) = self.decide(now, cost)?;
        if record {
            let k = self.bucket(now);
            let at = now.max((self.cur * self.g) as u64);
            self.cur = k;
            self.log.push((k, cost, at));
        }
        Ok(answer)
    }

    pub fn is_at_rest(&self, now: u64) -> bool {
        self.counted(self.bucket(now)) == 0
    }
}
