//! `tollgate simulate`'s input from arbitrary bytes: each line a request (or an error naming what
//! is wrong), each request decided by a policy of every kind of limit (or an error naming the
//! line), never a panic; the summary counts every request decided exactly once, and no limit
//! that promises a count per window (or in flight) was ever passed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate_std::PolicyFile;
use tollgate_std::simulate::{Request, Simulation};

/// Two tiers of every algorithm, small enough that a few requests reach each limit.
const POLICY: &str = r#"
[[tiers.a.limit]]
name = "inflight"
algorithm = "concurrency"
limit = 2

[[tiers.a.limit]]
name = "second"
algorithm = "sliding-log"
limit = 3
window = "1s"

[[tiers.a.limit]]
name = "ten"
algorithm = "sliding-window"
limit = 5
window = "10s"
slots = 4

[[tiers.b.limit]]
name = "rate"
algorithm = "gcra"
limit = 2
window = "1s"
burst = 2

[[tiers.b.limit]]
name = "queue"
algorithm = "shaper"
limit = 4
window = "1s"
burst = 1
max_delay = "500ms"

[[tiers.b.limit]]
name = "level"
algorithm = "leaky-bucket"
limit = 3
window = "1s"

[[tiers.b.limit]]
name = "day"
algorithm = "unlimited"
"#;

fuzz_target!(|data: &[u8]| {
    static FILE: OnceLock<PolicyFile> = OnceLock::new();
    let file = FILE.get_or_init(|| POLICY.parse().expect("the target's policy"));
    let mut sim = Simulation::new(file, Some("a")).expect("tier a");
    let mut decided = 0u64;
    for (i, line) in data.split(|&b| b == b'\n').take(256).enumerate() {
        let number = i as u64 + 1;
        let request = match Request::parse(line) {
            Ok(r) => r,
            Err(message) => {
                assert!(!message.is_empty());
                continue;
            }
        };
        match sim.decide(number, &request) {
            Ok(o) => {
                decided += 1;
                if o.allowed {
                    assert!(o.exceeded.is_none() && o.retry_after_ms.is_none());
                } else {
                    assert!(o.exceeded.is_some(), "{o:?}");
                    assert_eq!(o.delay_ms, 0);
                }
            }
            Err(e) => {
                assert_eq!(e.line, number);
                assert!(e.to_string().starts_with(&format!("trace line {number}: ")));
            }
        }
    }
    let summary = sim.finish();
    assert_eq!(summary.requests, decided);
    assert_eq!(summary.admitted + summary.denied, decided);
    assert_eq!(summary.keys.iter().map(|k| k.requests).sum::<u64>(), decided);
    // Counted from the decisions: no window of a sliding log or window, and no moment of the
    // concurrency limit, ever held more than its limit.
    assert!(summary.limits_held(), "{:?}", summary.limits);
});
