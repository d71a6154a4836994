//! tollgate-std's TOML policy files from arbitrary text: a policy or an error naming the file, a
//! line within the text and a field, never a panic. Every limit of a policy that loads keeps its
//! spec beside it and decides a first request (or says the cost can never fit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::Algorithm;
use tollgate_std::config::PolicyFile;
use tollgate_std::{Instant, Limit};

/// Decides one unit at instant zero on a fresh state, unless the state is large (a log of many
/// entries would make the target slow, not find anything new).
fn first_request(limit: &Limit) {
    if limit.capacity() > 4_096 {
        return;
    }
    let mut state = limit.new_state();
    match limit.check(&mut state, Instant::from_ticks(0), 1) {
        Ok(d) => assert!(d.is_allowed() || matches!(limit, Limit::Concurrency(_))),
        Err(e) => assert_eq!(e.cost, 1),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match PolicyFile::parse(&text, "fuzz.toml") {
        Ok(file) => {
            assert_eq!(file.specs().len(), file.limits.len());
            assert!(!file.limits.is_empty() || !file.tiers.is_empty());
            for tier in &file.tiers {
                assert_eq!(tier.specs().len(), tier.limits.len());
                assert!(file.tier(&tier.name).is_some());
                tier.limits.iter().for_each(|l| first_request(l.algorithm()));
            }
            file.limits.iter().for_each(|l| first_request(l.algorithm()));
        }
        Err(e) => {
            assert_eq!(e.file(), "fuzz.toml");
            let lines = text.lines().count().max(1) + 1;
            if let Some(line) = e.line() {
                assert!(line >= 1 && line <= lines, "line {line} of {lines}");
            }
            assert!(e.to_string().starts_with("fuzz.toml"));
        }
    }
});
