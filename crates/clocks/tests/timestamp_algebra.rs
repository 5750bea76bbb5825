//! Timestamp algebra and text form, after CockroachDB's `hlc.Timestamp` (`Next`, `Prev`,
//! `WallNext`, `String`). CockroachDB's unit of wall time is one nanosecond beside a 32-bit
//! logical counter; ours is one 65.536 µs tick beside a 16-bit counter, so "wall time + 1"
//! reads "one tick later" and the carry happens at logical 65,535.

use proptest::prelude::*;
use quorate_clocks::{LOGICAL_MASK, ParseTimestampError, TICK_NANOS, Timestamp};

/// CockroachDB's `makeTS(wall, logical)`, with the wall time counted in ticks.
fn ts(ticks: u64, logical: u16) -> Timestamp {
    Timestamp::from_parts(ticks * TICK_NANOS, logical)
}

const LAST_TICK: u64 = u64::MAX >> 16;

#[test]
fn next_as_cockroachdb_timestamp_next() {
    // (1, 2) -> (1, 3)
    assert_eq!(ts(1, 2).next(), Some(ts(1, 3)));
    // Carry: (1, max) -> (2, 0)
    assert_eq!(ts(1, u16::MAX).next(), Some(ts(2, 0)));
    // The largest wall time still counts up to the largest logical value ...
    assert_eq!(
        ts(LAST_TICK, u16::MAX - 1).next(),
        Some(ts(LAST_TICK, u16::MAX))
    );
    // ... and there is nothing after that (CockroachDB panics; we return None).
    assert_eq!(ts(LAST_TICK, u16::MAX), Timestamp::MAX);
    assert_eq!(Timestamp::MAX.next(), None);
}

#[test]
fn prev_as_cockroachdb_timestamp_prev() {
    // (1, 2) -> (1, 1), (1, 1) -> (1, 0), and the borrow (1, 0) -> (0, max).
    assert_eq!(ts(1, 2).prev(), Some(ts(1, 1)));
    assert_eq!(ts(1, 1).prev(), Some(ts(1, 0)));
    assert_eq!(ts(1, 0).prev(), Some(ts(0, u16::MAX)));
    // CockroachDB's (0, 1).Prev() is its empty timestamp (0, 0), which is not a valid
    // timestamp here: the smallest one has no predecessor.
    assert_eq!(ts(0, 1), Timestamp::ZERO);
    assert_eq!(Timestamp::ZERO.prev(), None);
}

#[test]
fn wall_next_as_cockroachdb_timestamp_wall_next() {
    // (1, 2) -> (2, 0); (1, max) -> (2, 0); (1, 0) -> (2, 0).
    assert_eq!(ts(1, 2).wall_next(), Some(ts(2, 0)));
    assert_eq!(ts(1, u16::MAX).wall_next(), Some(ts(2, 0)));
    assert_eq!(ts(1, 0).wall_next(), Some(ts(2, 0)));
    assert_eq!(Timestamp::ZERO.wall_next(), Some(ts(1, 0)));
    assert_eq!(ts(LAST_TICK, 0).wall_next(), None);
    assert_eq!(ts(LAST_TICK - 1, 9).wall_next(), Some(ts(LAST_TICK, 0)));
}

#[test]
fn text_form_as_cockroachdb_string() {
    // CockroachDB prints "<s>.<9-digit ns>,<logical>", and "0,<logical>" for wall time 0.
    assert_eq!(Timestamp::ZERO.to_string(), "0,1");
    assert_eq!(ts(0, 7).to_string(), "0,7");
    assert_eq!(ts(1, 0).to_string(), "0.000065536,0");
    assert_eq!(ts(15_259, 3).to_string(), "1.000013824,3"); // 15,259 ticks = 1.000013824 s
    assert_eq!(Timestamp::MAX.to_string(), "18446744073.709486080,65535");
    let t = Timestamp::from_parts(1_700_000_000_000_000_000, 42);
    assert_eq!(t.to_string(), "1700000000.000000000,42");
}

#[test]
fn text_form_parses_back_and_rejects_the_rest() {
    for t in [
        Timestamp::ZERO,
        Timestamp::MAX,
        ts(1, 0),
        ts(15_259, 3),
        ts(LAST_TICK, 0),
    ] {
        assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t), "{t}");
    }
    // The logical part is optional (logical 0).
    assert_eq!("0.000065536".parse::<Timestamp>(), Ok(ts(1, 0)));
    use ParseTimestampError::*;
    for (bad, why) in [
        ("", Syntax),
        ("0", Zero),
        ("0,0", Zero),
        ("1,0", Syntax),   // seconds need the nanoseconds
        ("1.5,0", Syntax), // exactly nine digits of nanoseconds
        ("1.0000000000,0", Syntax),
        ("-1.000000000,0", Syntax),
        ("+1.000000000,0", Syntax),
        (" 0,1", Syntax),
        ("0,1 ", Syntax),
        ("0,", Syntax),
        ("0,-1", Syntax),
        ("0,1,2", Syntax),
        ("1.000000000,0", NotOnTick),
        ("0.000065537,0", NotOnTick),
        ("0,65536", OutOfRange),
        ("18446744073.709551616,0", OutOfRange),
        ("99999999999999999999.000000000,0", OutOfRange),
        ("0.00006553a,0", Syntax),
    ] {
        assert_eq!(bad.parse::<Timestamp>(), Err(why), "{bad:?}");
    }
}

fn any_ts() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (1u64..).prop_map(Timestamp::from_u64),
        // Near the ends and at tick boundaries, where the carries happen.
        (0u64..4, any::<u16>()).prop_map(|(t, l)| ts(t, l)),
        (LAST_TICK - 3..=LAST_TICK, any::<u16>()).prop_map(|(t, l)| ts(t, l)),
        (
            any::<u64>(),
            prop_oneof![Just(0u16), Just(1), Just(u16::MAX)]
        )
            .prop_map(|(t, l)| ts(t >> 16, l)),
    ]
}

proptest! {
    /// `next` is the immediate successor and `prev` the immediate predecessor: no timestamp
    /// lies strictly between, and they invert each other.
    #[test]
    fn next_and_prev_are_immediate_and_inverse(t in any_ts()) {
        match t.next() {
            Some(n) => {
                prop_assert!(n > t);
                prop_assert_eq!(n.as_u64(), t.as_u64() + 1);
                prop_assert_eq!(n.prev(), Some(t));
                if t.logical() == u16::MAX {
                    prop_assert_eq!((n.physical_nanos(), n.logical()), (t.physical_nanos() + TICK_NANOS, 0));
                } else {
                    prop_assert_eq!((n.physical_nanos(), n.logical()), (t.physical_nanos(), t.logical() + 1));
                }
            }
            None => prop_assert_eq!(t, Timestamp::MAX),
        }
        match t.prev() {
            Some(p) => {
                prop_assert!(p < t);
                prop_assert_eq!(p.as_u64() + 1, t.as_u64());
                prop_assert_eq!(p.next(), Some(t));
            }
            None => prop_assert_eq!(t, Timestamp::ZERO),
        }
    }

    /// `wall_next` is the first stamp of the next tick: greater than every stamp of `t`'s
    /// tick and at most `next` of the last of them.
    #[test]
    fn wall_next_is_the_start_of_the_next_tick(t in any_ts()) {
        match t.wall_next() {
            Some(w) => {
                prop_assert!(w > t);
                prop_assert_eq!(w.logical(), 0);
                prop_assert_eq!(w.physical_nanos(), t.physical_nanos() + TICK_NANOS);
                let last_of_tick = Timestamp::from_u64(t.as_u64() | LOGICAL_MASK);
                prop_assert_eq!(last_of_tick.next(), Some(w));
            }
            None => prop_assert_eq!(t.physical_nanos(), LAST_TICK << 16),
        }
    }

    /// The text form round-trips every valid timestamp and preserves nothing but it.
    #[test]
    fn text_form_round_trips(t in any_ts()) {
        let s = t.to_string();
        prop_assert_eq!(s.parse::<Timestamp>(), Ok(t));
    }

    /// Parsing arbitrary text never panics; whatever parses prints back the same way.
    #[test]
    fn parsing_arbitrary_text_never_panics(s in "[0-9.,+-]{0,32}|\\PC{0,24}") {
        if let Ok(t) = s.parse::<Timestamp>() {
            let again = t.to_string().parse::<Timestamp>();
            prop_assert_eq!(again, Ok(t));
        }
    }
}
