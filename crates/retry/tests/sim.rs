//! The retry-storm simulator: deterministic, a faithful reproduction of Brooker's published
//! simulator (aws-samples/aws-arch-backoff-simulator), and the study's conclusions.

use quorate_retry::sim::{
    StormResult, Strategy, amplification_table, attempts_per_request, mean_storm, report,
    run_storm, storm_table,
};

const SEED: u64 = 2015;
const MS: u64 = 1_000_000;

#[test]
fn same_seed_same_bytes() {
    assert_eq!(
        report(&[10, 30], 2, 2_000, 99),
        report(&[10, 30], 2, 2_000, 99)
    );
    assert_ne!(storm_table(&[30], 1, 1), storm_table(&[30], 1, 2));
    let table = storm_table(&[10], 1, 3);
    for s in Strategy::ALL {
        assert!(table.contains(s.label()), "{table}");
    }
}

#[test]
fn every_client_finishes_and_calls_at_least_once() {
    for s in Strategy::ALL {
        let r = run_storm(s, 25, 3);
        assert!(r.calls >= 25);
        assert!(r.completion_nanos > 0);
    }
    // One client never conflicts: one read and one write, four hops of about 10 ms.
    for s in Strategy::ALL {
        let r = run_storm(s, 1, 8);
        assert_eq!(r.calls, 1);
        assert!((20 * MS..60 * MS).contains(&r.completion_nanos), "{r:?}");
    }
}

/// Means of Brooker's own simulator, run unchanged but for Python 3 syntax with 1000 trials
/// per cell: (write calls, completion ms) in [`Strategy::ALL`] order (exponential, full,
/// equal, decorrelated, none).
const BROOKER_1000_TRIALS: [(usize, [(u64, u64); 5]); 2] = [
    (
        20,
        [
            (149, 14_349),
            (100, 1_002),
            (107, 1_615),
            (101, 825),
            (152, 601),
        ],
    ),
    (
        50,
        [
            (623, 36_550),
            (332, 2_854),
            (347, 4_266),
            (374, 2_194),
            (690, 1_141),
        ],
    ),
];

/// Our model gives the reference simulator's numbers: with 100 trials every mean is within
/// 4% (calls) and 10% (completion time) of its 1000-trial means. Over 40 seeds the worst
/// deviations were 2% and 7.2%, so the bounds hold for sampling noise, not for a different
/// model (the pre-fix simulator, which skipped the read, was off by several times in time).
#[test]
fn reproduces_brookers_simulator() {
    for (n, row) in BROOKER_1000_TRIALS {
        for (s, (calls, ms)) in Strategy::ALL.into_iter().zip(row) {
            let r = mean_storm(s, n, 100, SEED);
            let got_ms = r.completion_nanos / MS;
            assert!(
                r.calls * 100 >= calls * 96 && r.calls * 100 <= calls * 104,
                "N={n} {}: {} calls, reference {calls}",
                s.label(),
                r.calls
            );
            assert!(
                got_ms * 100 >= ms * 90 && got_ms * 100 <= ms * 110,
                "N={n} {}: {got_ms} ms, reference {ms}",
                s.label()
            );
        }
    }
}

/// The study's published conclusions. Work: full jitter < equal jitter < decorrelated <
/// exponential < no backoff. Completion time: decorrelated < full < equal, all far below
/// plain exponential. Trials per N are enough for the comparisons to hold over 60 seeds.
///
/// Two comparisons do not hold at small N in the reference simulator itself, so they are
/// checked from N = 40 (and 30) on: at N = 20 and 30 decorrelated jitter does about as much
/// work as full jitter, less than equal jitter (Brooker's simulator, 1000 trials, N = 20:
/// full 100, decorrelated 101, equal 107 calls), and at N = 20 plain exponential and no
/// backoff do the same work (149 vs 152 calls).
#[test]
fn the_studys_conclusions_hold() {
    for (n, trials) in [(20, 100), (30, 60), (40, 40), (60, 30), (80, 30), (100, 40)] {
        let [e, f, q, d, z]: [StormResult; 5] =
            Strategy::ALL.map(|s| mean_storm(s, n, trials, SEED));
        let work = (e.calls, f.calls, q.calls, d.calls, z.calls);
        let time = [e, f, q, d, z].map(|r| r.completion_nanos / MS);
        let ctx = format!("N={n}: calls (exp, full, equal, decorr, none) {work:?}, ms {time:?}");
        assert!(f.calls < q.calls, "{ctx}");
        assert!(q.calls.max(d.calls) < e.calls, "{ctx}");
        if n >= 30 {
            assert!(e.calls < z.calls, "{ctx}");
        }
        if n >= 40 {
            assert!(f.calls < d.calls && q.calls < d.calls, "{ctx}");
        }
        assert!(d.completion_nanos < f.completion_nanos, "{ctx}");
        assert!(f.completion_nanos < q.completion_nanos, "{ctx}");
        // "Far below": every jittered strategy finishes in under a quarter of the time.
        assert!(q.completion_nanos * 4 < e.completion_nanos, "{ctx}");
    }
}

#[test]
fn budgets_bound_amplification_when_everything_fails() {
    let none = attempts_per_request(0, 1.0, 2_000, 1);
    assert!((none - 4.0).abs() < 1e-9);
    for which in 1..5 {
        let a = attempts_per_request(which, 1.0, 2_000, 1);
        assert!(a < 1.5, "budget {which}: {a}");
    }
    // And they cost nothing when nothing fails.
    for which in 0..5 {
        assert!((attempts_per_request(which, 0.0, 1_000, 1) - 1.0).abs() < 1e-9);
    }
    assert_eq!(amplification_table(500, 4).lines().count(), 12);
}
