//! Raw state records: every state round-trips through its record exactly, a policy's state
//! round-trips as a whole, and garbage (random bytes, cut records, flipped bits, records of
//! another kind or shape) is a typed error that leaves the target untouched, never a panic.

use proptest::prelude::*;
use tollgate_core::algorithm::storage::Inline;
use tollgate_core::codec::{MAGIC, OVERHEAD, VERSION};
use tollgate_core::{
    Algorithm, AnyLimit, Codec, CodecError, Concurrency, Duration, Gcra, Instant, Meter, Quota,
    Shaper, SlidingLog, SlidingWindow, Unlimited,
};

const HZ: u64 = 1_000;
type I = Instant<HZ>;
type D = Duration<HZ>;

/// Requests `(dt, cost)` driven through `a`, starting at `t0`; the state they leave.
fn drive<A: Algorithm<HZ>>(a: &A, t0: u64, ops: &[(u64, u32)]) -> A::State {
    let mut s = a.new_state();
    let mut t = t0;
    for &(dt, cost) in ops {
        t = t.saturating_add(dt);
        let _ = a.check(&mut s, I::from_ticks(t), cost % (a.capacity().min(8) + 1));
    }
    s
}

/// Encodes, checks the length and frame, decodes into a fresh state, compares, and checks that
/// every cut and every single flipped bit is refused without touching the target.
fn round_trip<A>(a: &A, state: &A::State)
where
    A: Algorithm<HZ>,
    A::State: Codec + PartialEq + core::fmt::Debug + Clone,
{
    let mut buf = vec![0u8; state.encoded_len() + 3];
    let n = state.encode(&mut buf).expect("the buffer is large enough");
    assert_eq!(n, state.encoded_len());
    assert_eq!((buf[0], buf[1]), (MAGIC, VERSION));
    assert_eq!(
        state.encode(&mut buf[..n - 1]),
        Err(CodecError::BufferTooSmall { needed: n })
    );
    let record = &buf[..n];
    let mut back = a.new_state();
    assert_eq!(back.check(record), Ok(n));
    assert_eq!(back.decode_into(record), Ok(n));
    assert_eq!(&back, state);
    // The decoded state decides exactly like the original.
    for probe in [0u64, 1, 999, 60_000] {
        let t = I::from_ticks(1_000_000 + probe);
        assert_eq!(a.peek(&back, t, 1), a.peek(state, t, 1));
    }
    let fresh = a.new_state();
    for cut in 0..n {
        let mut target = fresh.clone();
        assert!(target.decode_into(&record[..cut]).is_err(), "cut at {cut}");
        assert_eq!(target, fresh);
    }
    for byte in 0..n {
        for bit in 0..8 {
            let mut bad = record.to_vec();
            bad[byte] ^= 1 << bit;
            let mut target = fresh.clone();
            assert!(
                target.decode_into(&bad).is_err(),
                "bit {bit} of byte {byte}"
            );
            assert_eq!(target, fresh);
        }
    }
}

fn ops() -> impl Strategy<Value = Vec<(u64, u32)>> {
    prop::collection::vec((0u64..3_000, 0u32..6), 0..40)
}

proptest! {
    #[test]
    fn every_state_round_trips_and_rejects_every_cut_and_flipped_bit(
        t0 in prop_oneof![Just(0u64), 0u64..1_000_000, Just(u64::MAX - 5_000)],
        ops in ops(),
    ) {
        let gcra = Gcra::new(Quota::<HZ>::per_second(4).unwrap().with_burst(6).unwrap());
        round_trip(&gcra, &drive(&gcra, t0, &ops));
        let meter = Meter::new(Quota::<HZ>::per_second(4).unwrap());
        round_trip(&meter, &drive(&meter, t0, &ops));
        let shaper = Shaper::new(Quota::<HZ>::per_second(4).unwrap(), D::from_secs(2)).unwrap();
        round_trip(&shaper, &drive(&shaper, t0, &ops));
        let concurrency = Concurrency::<HZ>::new(8).unwrap();
        round_trip(&concurrency, &drive(&concurrency, t0, &ops));
        let log = SlidingLog::<HZ, 10>::new(Quota::per_seconds(10, 2).unwrap()).unwrap();
        round_trip(&log, &drive(&log, t0, &ops));
        let log16 = SlidingLog::<HZ, 10, u16>::new(Quota::per_seconds(10, 2).unwrap()).unwrap();
        round_trip(&log16, &drive(&log16, t0, &ops));
        let log64 = SlidingLog::<HZ, 10, u64>::new(Quota::per_seconds(10, 2).unwrap()).unwrap();
        round_trip(&log64, &drive(&log64, t0, &ops));
        let window = SlidingWindow::<HZ, 5>::new(Quota::per_seconds(12, 4).unwrap()).unwrap();
        round_trip(&window, &drive(&window, t0, &ops));
        round_trip(&Unlimited, &());
        let any = AnyLimit::<HZ, Inline<10>>::sliding_log(10, D::from_secs(2), 10).unwrap();
        round_trip(&any, &drive(&any, t0, &ops));
    }

    #[test]
    fn random_bytes_never_decode_into_a_state_nor_change_it(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        kind in 1u8..=8,
        framed in any::<bool>(),
    ) {
        // Half the inputs get a valid header and checksum around random fields, so the field
        // checks (not only the checksum) are exercised.
        let input = if framed { frame(kind, &bytes) } else { bytes };
        let gcra = Gcra::new(Quota::<HZ>::per_second(4).unwrap());
        decodes_or_stays(&gcra, &input);
        decodes_or_stays(&Meter::new(Quota::<HZ>::per_second(4).unwrap()), &input);
        decodes_or_stays(&Concurrency::<HZ>::new(3).unwrap(), &input);
        decodes_or_stays(&SlidingLog::<HZ, 4>::new(Quota::per_seconds(4, 2).unwrap()).unwrap(), &input);
        decodes_or_stays(&SlidingLog::<HZ, 4, u16>::new(Quota::per_seconds(4, 2).unwrap()).unwrap(), &input);
        decodes_or_stays(&SlidingWindow::<HZ, 3>::new(Quota::per_seconds(4, 2).unwrap()).unwrap(), &input);
    }
}

/// A record of `kind` around `payload`, with its length and a valid checksum.
fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![MAGIC, VERSION, kind];
    r.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    r.extend_from_slice(payload);
    let crc = crc32fast(&r);
    r.extend_from_slice(&crc.to_le_bytes());
    r
}

/// CRC-32 (IEEE), written out here so the test does not trust the library's.
fn crc32fast(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Decoding `input` either fails and leaves the target as it was, or succeeds into a state that
/// re-encodes to the very same record and decides without panicking.
fn decodes_or_stays<A>(a: &A, input: &[u8])
where
    A: Algorithm<HZ>,
    A::State: Codec + PartialEq + core::fmt::Debug + Clone,
{
    let before = a.new_state();
    let mut target = before.clone();
    let checked = target.check(input);
    match target.decode_into(input) {
        Err(e) => {
            assert_eq!(checked, Err(e));
            assert_eq!(target, before);
        }
        Ok(n) => {
            assert_eq!(checked, Ok(n));
            let mut again = vec![0u8; n];
            assert_eq!(target.encode(&mut again), Ok(n));
            assert_eq!(&again[..], &input[..n]);
            for t in [0u64, 1, 10_000, u64::MAX] {
                let _ = a.check(&mut target.clone(), I::from_ticks(t), 1);
            }
        }
    }
}

#[test]
fn a_policy_state_round_trips_all_or_nothing() {
    use tollgate_core::{Named, Policy};
    let policy = Policy::new((
        Named::new("concurrent", Concurrency::<HZ>::new(5).unwrap()),
        Named::new(
            "minute",
            Gcra::new(Quota::<HZ>::per_minute(300).unwrap().with_burst(5).unwrap()),
        ),
        Named::new(
            "hour",
            SlidingLog::<HZ, 8>::new(Quota::per_hour(8).unwrap()).unwrap(),
        ),
    ));
    let mut state = policy.new_state();
    for t in 0..4 {
        policy.check(&mut state, I::from_ticks(t * 100), 1).unwrap();
    }
    let mut buf = [0u8; 512];
    let n = state.encode(&mut buf).unwrap();
    assert_eq!(n, OVERHEAD + 4 + OVERHEAD + 8 + OVERHEAD + 17 + 4 * 8);
    let mut back = policy.new_state();
    assert_eq!(back.decode_into(&buf[..n]), Ok(n));
    assert_eq!(back, state);
    // A bad last record changes none of the three states.
    let mut bad = buf;
    bad[n - 1] ^= 1;
    let mut target = policy.new_state();
    assert_eq!(target.decode_into(&bad[..n]), Err(CodecError::Checksum));
    assert_eq!(target, policy.new_state());
    // A record of the wrong kind is named as such.
    let mut gcra_state = tollgate_core::GcraState::new();
    assert_eq!(
        gcra_state.decode_into(&buf[..n]),
        Err(CodecError::WrongKind {
            expected: 1,
            found: 4
        })
    );
}

#[test]
fn a_log_record_does_not_fit_a_smaller_ring_and_a_window_needs_its_bucket_count() {
    let big = SlidingLog::<HZ, 8>::new(Quota::per_seconds(8, 1).unwrap()).unwrap();
    let mut s = big.new_state();
    for t in 0..5 {
        big.check(&mut s, I::from_ticks(t), 1).unwrap();
    }
    let mut buf = [0u8; 256];
    let n = s.encode(&mut buf).unwrap();
    let small = SlidingLog::<HZ, 4>::new_undersized(Quota::per_seconds(8, 1).unwrap()).unwrap();
    let mut target = small.new_state();
    assert_eq!(
        target.decode_into(&buf[..n]),
        Err(CodecError::CapacityMismatch)
    );
    let w5 = SlidingWindow::<HZ, 5>::new(Quota::per_seconds(5, 1).unwrap()).unwrap();
    let n = w5.new_state().encode(&mut buf).unwrap();
    let mut w4 = tollgate_core::WindowState::<4>::new();
    assert_eq!(w4.decode_into(&buf[..n]), Err(CodecError::CapacityMismatch));
}
