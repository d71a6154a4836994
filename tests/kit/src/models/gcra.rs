//! The naive reference model for GCRA, shared by `props_gcra.rs` and the `gcra` fuzz target.
//!
//! The model keeps a plain list of admitted `(time, cost)` pairs, in admission order, and admits a
//! request of cost `c` at `t` iff `c ≤ b` and, for every admitted entry `j`,
//!
//! ```text
//! S_j + c ≤ b + ⌊(t − t_j) / T⌋        (S_j: the cost admitted from j on, j included)
//! ```
//!
//! computed in `i128` with floor division, so a backwards `t` is decided as at that earlier
//! instant. Near the end of time it also denies what GCRA's schedule could not hold:
//! `t + c·T` or some `t_j + (S_j + c)·T` beyond `u64::MAX`. Everything else (waits, remaining,
//! reset, being at rest) is derived from that rule alone, by search or by the same sums, never
//! from GCRA's theoretical arrival time.
//!
//! Use it as `use tollgate_testkit::models::gcra;`.

/// The reference model: the admitted requests and the rule above.
#[derive(Debug, Clone)]
pub struct Model {
    /// Burst `b`.
    pub b: u64,
    /// Emission interval `T`, in ticks.
    pub t: u64,
    /// Admitted `(time, cost)`, in admission order; zero costs are never recorded.
    pub admitted: Vec<(u64, u64)>,
}

impl Model {
    pub fn new(b: u32, t: u64) -> Self {
        Self {
            b: u64::from(b),
            t,
            admitted: Vec::new(),
        }
    }

    /// `(t_j, S_j)` for every admitted entry.
    pub fn suffix_sums(&self) -> Vec<(u64, u64)> {
        let mut s = 0u64;
        let mut out: Vec<(u64, u64)> = self
            .admitted
            .iter()
            .rev()
            .map(|&(tj, cj)| {
                s += cj;
                (tj, s)
            })
            .collect();
        out.reverse();
        out
    }

    /// Whether a request of `cost ≤ b` at `now` is admitted.
    pub fn admits(&self, now: u64, cost: u64) -> bool {
        assert!(cost <= self.b);
        if cost == 0 {
            return true;
        }
        let (b, t, c, end) = (
            i128::from(self.b),
            i128::from(self.t),
            i128::from(cost),
            i128::from(u64::MAX),
        );
        if i128::from(now) + c * t > end {
            return false;
        }
        self.suffix_sums().into_iter().all(|(tj, sj)| {
            let (tj, sj) = (i128::from(tj), i128::from(sj));
            let spacing = (i128::from(now) - tj).div_euclid(t); // floor, also when negative
            sj + c <= b + spacing && tj + (sj + c) * t <= end
        })
    }

    pub fn record(&mut self, now: u64, cost: u64) {
        if cost > 0 {
            self.admitted.push((now, cost));
        }
    }

    /// The wait after which a request of `cost ≤ b` at `now` is admitted if nothing else arrives:
    /// the least `w ≥ 0` meeting every entry's inequality; if the schedule cannot hold the request
    /// even then, "never", spelled as the wait until the end of time.
    pub fn retry_after(&self, now: u64, cost: u64) -> u64 {
        let (b, t, c) = (i128::from(self.b), i128::from(self.t), i128::from(cost));
        let w = self
            .suffix_sums()
            .into_iter()
            .map(|(tj, sj)| i128::from(tj) + (i128::from(sj) + c - b) * t - i128::from(now))
            .fold(0i128, i128::max);
        let w = u64::try_from(w).unwrap();
        let then = now.checked_add(w).unwrap();
        if self.admits(then, cost) {
            assert!(w == 0 || !self.admits(then - 1, cost), "the least wait");
            w
        } else {
            u64::MAX - now
        }
    }

    /// Unit requests admitted at `now`, one after another, until one is denied.
    pub fn remaining(&self, now: u64) -> u64 {
        let mut m = self.clone();
        let mut n = 0;
        while n <= self.b && m.admits(now, 1) {
            m.record(now, 1);
            n += 1;
        }
        n
    }

    /// Whether every entry's inequality holds for every cost `c ≤ b` at `now` and later, so the
    /// model decides like an empty one: `S_j ≤ ⌊(now − t_j) / T⌋` for every `j`.
    pub fn is_at_rest(&self, now: u64) -> bool {
        self.suffix_sums()
            .into_iter()
            .all(|(tj, sj)| i128::from(now) >= i128::from(tj) + i128::from(sj) * i128::from(self.t))
    }

    /// The least wait after which the model is at rest.
    pub fn reset(&self, now: u64) -> u64 {
        let w = self
            .suffix_sums()
            .into_iter()
            .map(|(tj, sj)| i128::from(tj) + i128::from(sj) * i128::from(self.t) - i128::from(now))
            .fold(0i128, i128::max);
        let w = u64::try_from(w).unwrap();
        assert!(self.is_at_rest(now + w) && (w == 0 || !self.is_at_rest(now + w - 1)));
        w
    }
}
