//! The naive reference model for the sliding log, shared by `props_sliding_log.rs` and the
//! `sliding_log` fuzz target: a plain list of every admission, decided by the documented rule
//! (`used(t) + c ≤ N` and fewer than `CAP` distinct live ticks, at `max(now, newest admission)`).
//!
//! Use it as `use tollgate_testkit::models::sliding_log;`.

use tollgate_core::{Decision, Duration, InsufficientCapacity};

/// The reference: every admission ever made, as (recorded instant, cost), in order. Time is
/// `u128` so that nothing here can overflow or saturate.
#[derive(Debug, Clone)]
pub struct Naive {
    pub limit: u32,
    pub window: u128,
    pub cap: usize,
    pub log: Vec<(u128, u32)>,
}

impl Naive {
    pub fn new(limit: u32, window: u64, cap: usize) -> Self {
        Self {
            limit,
            window: u128::from(window),
            cap,
            log: Vec::new(),
        }
    }

    /// The instant a request at `now` is decided at: `now`, or the newest admission if later.
    pub fn effective(&self, now: u128) -> u128 {
        self.log.last().map_or(now, |&(t, _)| t.max(now))
    }

    pub fn live(&self, t: u128) -> impl Iterator<Item = &(u128, u32)> {
        self.log.iter().filter(move |&&(x, _)| x + self.window > t)
    }

    pub fn used(&self, t: u128) -> u64 {
        self.live(t).map(|&(_, c)| u64::from(c)).sum()
    }

    pub fn distinct_live(&self, t: u128) -> usize {
        let mut ticks: Vec<u128> = self.live(t).map(|&(x, _)| x).collect();
        ticks.dedup();
        ticks.len()
    }

    pub fn admits(&self, now: u128, cost: u32) -> bool {
        let t = self.effective(now);
        cost == 0
            || (self.distinct_live(t) < self.cap
                && self.used(t) + u64::from(cost) <= u64::from(self.limit))
    }

    pub fn record(&mut self, now: u128, cost: u32) {
        if cost > 0 {
            let t = self.effective(now);
            self.log.push((t, cost));
        }
    }

    pub fn decide<const HZ: u64>(
        &self,
        now: u64,
        cost: u32,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        if cost > self.limit {
            return Err(InsufficientCapacity::new(cost, self.limit));
        }
        let now = u128::from(now);
        let admitted = self.admits(now, cost);
        let mut after = self.clone();
        if admitted {
            after.record(now, cost);
        }
        // Unit requests admitted one after another at the same instant.
        let mut remaining = 0;
        let mut probe = after.clone();
        while probe.admits(now, 1) {
            probe.record(now, 1);
            remaining += 1;
        }
        let t = after.effective(now);
        let reset = match after.log.last() {
            Some(&(newest, _)) if newest + self.window > t => newest + self.window - now,
            _ => 0,
        };
        // The first expiry of a live admission after which the request fits.
        let retry = if admitted {
            None
        } else {
            let at = self
                .live(t)
                .map(|&(x, _)| x + self.window)
                .find(|&x| self.admits(x, cost))
                .expect("a request within the limit fits once the window is empty");
            Some(at - now)
        };
        let ticks = |x: u128| Duration::<HZ>::from_ticks(u64::try_from(x).unwrap_or(u64::MAX));
        Ok(Decision {
            limit: self.limit,
            remaining,
            reset: ticks(reset),
            retry_after: retry.map(ticks),
            delay: Duration::<HZ>::from_ticks(0),
        })
    }
}
