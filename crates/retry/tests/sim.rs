//! The retry-storm simulator: deterministic, and it reproduces the study's ranking.

use quorate_retry::sim::{
    Strategy, amplification_table, attempts_per_request, report, run_storm, storm_table,
};

#[test]
fn same_seed_same_bytes() {
    assert_eq!(
        report(&[10, 30], 2, 2_000, 99),
        report(&[10, 30], 2, 2_000, 99)
    );
    assert_ne!(storm_table(&[30], 1, 1), storm_table(&[30], 1, 2));
}

#[test]
fn every_client_finishes_and_calls_at_least_once() {
    for s in Strategy::ALL {
        let r = run_storm(s, 25, 3);
        assert!(r.calls >= 25);
        assert!(r.completion_nanos > 0);
    }
}

#[test]
fn jitter_does_less_work_and_finishes_sooner_than_plain_exponential() {
    // Brooker's result: without jitter, clients retry in lock step and one wins per round
    // (N(N+1)/2 calls); full jitter cuts the work by far.
    let mean = |s: Strategy| {
        (0..5)
            .map(|seed| run_storm(s, 50, seed))
            .fold((0, 0), |a, r| (a.0 + r.calls, a.1 + r.completion_nanos))
    };
    let (exp_calls, exp_time) = mean(Strategy::Exponential);
    let (full_calls, full_time) = mean(Strategy::FullJitter);
    let (dec_calls, _) = mean(Strategy::Decorrelated);
    assert!(
        full_calls * 3 / 2 < exp_calls,
        "{full_calls} vs {exp_calls}"
    );
    assert!(dec_calls * 3 / 2 < exp_calls);
    assert!(full_time < exp_time);
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
