//! The naive reference models for the leaky bucket, shared by `props_leaky_bucket.rs` and the
//! `meter` and `shaper` fuzz targets: the meter against a plain list of admissions (with time
//! never going backwards), the shaper against a plain list of scheduled slots.
//!
//! Use it as `use tollgate_testkit::models::leaky_bucket;`.

use tollgate_core::{Decision, Duration, Instant, InsufficientCapacity, Reservation, Shaper};

// ---------------------------------------------------------------------------------------------
// Naive reference: a list of admitted requests (meter, time never going backwards)
// ---------------------------------------------------------------------------------------------

/// GCRA's exact rule read off a plain list: a request is admitted iff, for every earlier admitted
/// request at `tⱼ`, the cost admitted from it on, plus this one, is at most `b + ⌊(t − tⱼ)/T⌋`.
#[derive(Debug, Clone)]
pub struct AdmittedList {
    pub t: u64,
    pub b: u64,
    pub list: Vec<(u64, u64)>,
}

impl AdmittedList {
    /// (wait until every bound holds, time until the last admission has drained)
    pub fn bounds(&self, now: u64, cost: u64) -> (u64, u64) {
        let (t, b, now) = (i128::from(self.t), i128::from(self.b), i128::from(now));
        let (mut wait, mut drain, mut since) = (0i128, now, 0i128);
        for &(tj, cj) in self.list.iter().rev() {
            since += i128::from(cj);
            // (since + cost − b)·T ≤ now − tⱼ  ⇔  since + cost ≤ b + ⌊(now − tⱼ)/T⌋
            wait = wait.max(i128::from(tj) + (since + i128::from(cost) - b) * t - now);
            drain = drain.max(i128::from(tj) + since * t);
        }
        (wait as u64, (drain - now) as u64)
    }

    pub fn decide<const HZ: u64>(
        &mut self,
        now: u64,
        cost: u32,
        record: bool,
    ) -> Result<Decision<HZ>, InsufficientCapacity> {
        if u64::from(cost) > self.b {
            return Err(InsufficientCapacity::new(cost, self.b as u32));
        }
        let (wait, reset) = self.bounds(now, u64::from(cost));
        let admitted = wait == 0;
        let mut after = self.clone();
        if admitted && cost > 0 {
            after.list.push((now, u64::from(cost)));
        }
        let reset = if admitted {
            after.bounds(now, 0).1
        } else {
            reset
        };
        let mut remaining = 0;
        while after.bounds(now, 1).0 == 0 {
            after.list.push((now, 1));
            remaining += 1;
        }
        if record && admitted && cost > 0 {
            self.list.push((now, u64::from(cost)));
        }
        Ok(Decision {
            limit: self.b as u32,
            remaining,
            reset: Duration::<HZ>::from_ticks(reset),
            retry_after: (!admitted).then(|| Duration::<HZ>::from_ticks(wait)),
            delay: Duration::<HZ>::from_ticks(0),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Naive reference: a list of scheduled slots (shaper)
// ---------------------------------------------------------------------------------------------

/// Every accepted request as (proceed instant, cost). A new request goes to the earliest instant,
/// not before its arrival, at which the list with it added still satisfies the GCRA bound
/// (`cost from slot j on ≤ b + ⌊(p − pⱼ)/T⌋` for every earlier slot j), if that is within the
/// maximum delay and the queue would drain before the end of time.
#[derive(Debug, Clone)]
pub struct SlotList {
    pub t: u64,
    pub b: u64,
    pub m: u64,
    pub limit: u32,
    /// (proceed instant, cost); wide, because counting `remaining` ignores the end of time.
    pub slots: Vec<(i128, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub accepted: bool,
    /// Whether the queue, with this request added, still drains by the end of time.
    pub fits_time: bool,
    pub delay: u64,
    pub backlog_before: u64,
    pub backlog_after: u64,
}

impl SlotList {
    pub fn new<const HZ: u64>(s: &Shaper<HZ>) -> Self {
        let (t, b) = (
            s.quota().interval().as_ticks(),
            u64::from(s.quota().burst()),
        );
        Self {
            t,
            b,
            m: s.max_delay().as_ticks(),
            limit: s.limit(),
            slots: Vec::new(),
        }
    }

    /// Where a request would go, ignoring the end of time when `endless`.
    pub fn place(&self, now: u64, cost: u64, endless: bool) -> Slot {
        let (t, b) = (i128::from(self.t), i128::from(self.b));
        let now_ = i128::from(now);
        let (mut earliest, mut drain, mut since) = (now_, 0i128, 0i128);
        for &(pj, cj) in self.slots.iter().rev() {
            since += i128::from(cj);
            earliest = earliest.max(pj + (since + i128::from(cost) - b) * t);
            drain = drain.max(pj + since * t);
        }
        let backlog = (drain - now_).max(0);
        let after = backlog + i128::from(cost) * t;
        // A zero cost asks for the metadata only: always accepted, never delayed.
        let delay = if cost == 0 { 0 } else { earliest - now_ };
        let fits_time = endless || now_ + after <= i128::from(u64::MAX);
        Slot {
            accepted: delay <= i128::from(self.m) && fits_time,
            fits_time,
            delay: delay as u64,
            backlog_before: backlog as u64,
            backlog_after: after as u64,
        }
    }

    pub fn reserve<const HZ: u64>(
        &mut self,
        now: u64,
        cost: u32,
        record: bool,
    ) -> Result<Reservation<HZ>, InsufficientCapacity> {
        if u64::from(cost) > self.b {
            return Err(InsufficientCapacity::new(cost, self.b as u32));
        }
        let slot = self.place(now, u64::from(cost), false);
        let mut after = self.clone();
        if slot.accepted && cost > 0 {
            after
                .slots
                .push((i128::from(now + slot.delay), u64::from(cost)));
        }
        // Remaining: unit requests still accepted at `now`, counted one by one (like GCRA's
        // `remaining`, counting only what still drains by the end of time).
        let mut remaining = 0;
        while after.place(now, 1, false).accepted {
            let d = after.place(now, 1, false).delay;
            after.slots.push((i128::from(now) + i128::from(d), 1));
            remaining += 1;
        }
        if record && slot.accepted && cost > 0 {
            self.slots
                .push((i128::from(now + slot.delay), u64::from(cost)));
        }
        // A request whose queue would drain past the end of time is never accepted (the drain
        // instant only grows): it waits until the end, as Gcra's does.
        let retry = if slot.accepted {
            None
        } else if !slot.fits_time {
            Some(u64::MAX - now)
        } else {
            Some(slot.delay - self.m)
        };
        Ok(Reservation {
            proceed_at: Instant::<HZ>::from_ticks(now.saturating_add(slot.delay)),
            delay: Duration::<HZ>::from_ticks(slot.delay),
            decision: Decision {
                limit: self.limit,
                remaining,
                reset: Duration::<HZ>::from_ticks(if slot.accepted {
                    slot.backlog_after
                } else {
                    slot.backlog_before
                }),
                retry_after: retry.map(Duration::<HZ>::from_ticks),
                // A denial proceeds nowhere: only an accepted request waits.
                delay: Duration::<HZ>::from_ticks(if slot.accepted { slot.delay } else { 0 }),
            },
        })
    }
}

/// The most unit requests accepted at once from rest, counted one by one.
pub fn count_limit<const HZ: u64>(s: &Shaper<HZ>) -> u32 {
    let mut fresh = SlotList::new(s);
    let mut n = 0;
    while fresh.place(0, 1, true).accepted {
        let d = fresh.place(0, 1, true).delay;
        fresh.slots.push((i128::from(d), 1));
        n += 1;
    }
    n
}
