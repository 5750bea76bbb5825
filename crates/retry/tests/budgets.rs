//! The four budget semantics, checked against their anchors' documented behaviour.

use std::time::Duration;

use quorate_retry::{
    AdaptiveThrottle, ConfigError, GrpcThrottle, OutcomeClass, RetryBudget, RetryCost, RetryQuota,
    WindowedBudget,
};

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn granted(b: &dyn RetryBudget, now: u64, asks: usize) -> usize {
    (0..asks)
        .filter(|_| b.try_withdraw(now, RetryCost::Standard).is_some())
        .count()
}

// ----- windowed (Finagle / tower TpsBudget) -----

#[test]
fn windowed_is_exact_where_tower_truncates() {
    // tower#857: TpsBudget at 0.6 turns 10 deposits into 10 retries. Exactly floor(p * D).
    for (percent, deposits, want) in [
        (0.6, 10, 6),
        (0.6, 7, 4),
        (0.3, 10, 3),
        (0.33, 100, 33),
        (0.2, 9, 1),
        (1.0, 5, 5),
        (2.5, 4, 10),
        (0.001, 999, 0),
        (0.001, 1000, 1),
    ] {
        let b = WindowedBudget::new(Duration::from_secs(1), 0, percent).unwrap();
        for _ in 0..deposits {
            b.on_request(0);
        }
        assert_eq!(
            granted(&b, 0, 10_000),
            want,
            "percent {percent}, {deposits} deposits"
        );
    }
}

#[test]
fn windowed_reserve_is_min_per_sec_times_ttl() {
    // tower's tps_reserve: ttl 1 s, 5/s, 100% → 5 retries with no deposits.
    let b = WindowedBudget::new(Duration::from_secs(1), 5, 1.0).unwrap();
    assert_eq!(granted(&b, 0, 100), 5);
    let b = WindowedBudget::new(Duration::from_secs(10), 3, 0.2).unwrap();
    assert_eq!(b.available(), 30);
    for _ in 0..50 {
        b.on_request(0);
    }
    assert_eq!(granted(&b, 0, 1000), 30 + 10);
}

#[test]
fn windowed_empty_and_zero_percent() {
    let b = WindowedBudget::new(Duration::from_secs(1), 0, 1.0).unwrap();
    assert_eq!(granted(&b, 0, 3), 0);
    let z = WindowedBudget::new(Duration::from_secs(1), 0, 0.0).unwrap();
    for _ in 0..100 {
        z.on_request(0);
    }
    assert_eq!(granted(&z, 0, 3), 0);
}

#[test]
fn windowed_deposits_leak_after_the_ttl() {
    // tower's tps_leaky.
    let b = WindowedBudget::new(Duration::from_secs(1), 0, 1.0).unwrap();
    b.on_request(0);
    assert_eq!(granted(&b, 3 * SEC, 1), 0);
}

#[test]
fn windowed_slots_expire_one_by_one() {
    // tower's tps_slots, in our time.
    let b = WindowedBudget::new(Duration::from_secs(1), 0, 0.5).unwrap();
    b.on_request(0);
    b.on_request(0);
    assert_eq!(
        granted(&b, 901 * MS, 1),
        1,
        "900 ms later the deposits are still valid"
    );
    let mut t = 901 * MS + 2001 * MS; // blank slate
    b.on_request(t);
    t += 301 * MS;
    b.on_request(t);
    t += 801 * MS;
    b.on_request(t);
    // The first of the three has expired; the second and third make one retry.
    assert_eq!(granted(&b, t, 2), 1);
}

#[test]
fn windowed_withdrawals_expire_too_so_the_ratio_is_per_window() {
    let b = WindowedBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
    let mut total = 0;
    // 100 requests per second for 60 s, always asking for as many retries as possible.
    for s in 0..60u64 {
        for i in 0..100u64 {
            b.on_request(s * SEC + i * 10 * MS);
        }
        let got = granted(&b, s * SEC + 999 * MS, 1000);
        total += got;
        // Never more than half of the requests in the last ten seconds.
        let window_requests = 100 * (s + 1).min(10);
        assert!(got as u64 <= window_requests / 2);
    }
    // In steady state each second's 100 requests fund 50 retries.
    assert!((2900..=3000).contains(&total), "{total}");
}

#[test]
fn windowed_survives_idle_gaps_and_backward_time() {
    let b = WindowedBudget::new(Duration::from_secs(2), 0, 1.0).unwrap();
    b.on_request(1000 * SEC);
    assert_eq!(
        granted(&b, 999 * SEC, 1),
        1,
        "a lagging clock reading counts in the current window"
    );
    b.on_request(5000 * SEC);
    b.on_request(u64::MAX);
    assert_eq!(granted(&b, u64::MAX, 5), 1);
}

#[test]
fn windowed_configuration_errors() {
    let s = Duration::from_secs(1);
    for bad in [f64::NAN, -0.1, 1000.1, f64::INFINITY] {
        assert_eq!(
            WindowedBudget::new(s, 0, bad).unwrap_err(),
            ConfigError::OutOfRange { what: "percent" }
        );
    }
    assert!(WindowedBudget::new(Duration::from_millis(999), 0, 0.1).is_err());
    assert!(WindowedBudget::new(Duration::from_secs(61), 0, 0.1).is_err());
    assert!(WindowedBudget::new(s, u32::MAX, 0.1).is_err());
    assert!(WindowedBudget::new(s, 0, 1000.0).is_ok());
}

// ----- gRPC (gRFC A6) -----

#[test]
fn grpc_throttles_at_half_of_max_tokens() {
    let t = GrpcThrottle::new(10.0, 0.1).unwrap();
    // 10 tokens; each failure costs 1; retries allowed while tokens > 5.
    let mut allowed = 0;
    for _ in 0..10 {
        if t.on_failure(0, OutcomeClass::Transient)
            && t.try_withdraw(0, RetryCost::Standard).is_some()
        {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 4, "9, 8, 7, 6 are > 5; 5 is not");
    assert_eq!(t.milli_tokens(), 0);
    // Each success earns 0.1: at 5.1 tokens retries resume (51 successes).
    for _ in 0..50 {
        t.on_success(0, None);
    }
    assert!(t.try_withdraw(0, RetryCost::Standard).is_none());
    t.on_success(0, None);
    assert!(t.try_withdraw(0, RetryCost::Standard).is_some());
}

#[test]
fn grpc_matches_the_reference_sequence() {
    // max_tokens 4 (threshold 2), token_ratio 1.6, as in gRPC core's throttle test.
    let t = GrpcThrottle::new(4.0, 1.6).unwrap();
    let fail = |t: &GrpcThrottle| t.on_failure(0, OutcomeClass::Transient);
    assert!(fail(&t)); // 3 > 2
    t.on_success(0, None); // 4.6 capped at 4
    assert_eq!(t.milli_tokens(), 4000);
    assert!(fail(&t)); // 3
    assert!(!fail(&t)); // 2: at the threshold, no retry
    assert!(!fail(&t)); // 1
    assert!(!fail(&t)); // 0
    assert!(!fail(&t)); // stays at 0
    assert_eq!(t.milli_tokens(), 0);
    t.on_success(0, None); // 1.6
    t.on_success(0, None); // 3.2
    assert!(t.try_withdraw(0, RetryCost::Standard).is_some());
    assert!(fail(&t)); // 2.2 > 2
    assert!(!fail(&t)); // 1.2
}

#[test]
fn grpc_tokens_are_capped_and_fatal_or_unsent_failures_are_free() {
    let t = GrpcThrottle::new(3.0, 1.0).unwrap();
    for _ in 0..10 {
        t.on_success(0, None);
    }
    assert_eq!(t.milli_tokens(), 3000);
    t.on_failure(0, OutcomeClass::Fatal);
    t.on_failure(0, OutcomeClass::NotSent);
    assert_eq!(t.milli_tokens(), 3000);
}

#[test]
fn grpc_token_ratio_keeps_three_decimals() {
    let t = GrpcThrottle::new(10.0, 0.1239).unwrap();
    for _ in 0..10 {
        t.on_failure(0, OutcomeClass::Throttled);
    }
    t.on_success(0, None);
    assert_eq!(t.milli_tokens(), 123);
}

#[test]
fn grpc_configuration_errors() {
    assert!(GrpcThrottle::new(0.0, 0.1).is_err());
    assert!(GrpcThrottle::new(1000.5, 0.1).is_err());
    assert!(GrpcThrottle::new(f64::NAN, 0.1).is_err());
    assert!(GrpcThrottle::new(10.0, f64::NAN).is_err());
    assert!(GrpcThrottle::new(10.0, 0.0).is_err());
    assert!(GrpcThrottle::new(10.0, 0.0009).is_err());
    assert!(GrpcThrottle::new(1000.0, 0.001).is_ok());
}

// ----- AWS SDK retry quota -----

#[test]
fn aws_standard_quota_costs_and_refills() {
    let q = RetryQuota::standard();
    // 500 / 5 = 100 retries, then exhausted.
    let grants: Vec<_> = (0..101)
        .map(|_| q.try_withdraw(0, RetryCost::Standard))
        .collect();
    assert!(grants[..100].iter().all(Option::is_some));
    assert!(grants[100].is_none());
    assert_eq!(q.available(), 0);
    // A first-try success refills 1; a successful retry refunds its 5.
    q.on_success(0, None);
    assert_eq!(q.available(), 1);
    q.on_success(0, grants[0]);
    assert_eq!(q.available(), 6);
    // Timeouts cost 10.
    assert!(q.try_withdraw(0, RetryCost::Timeout).is_none());
    for _ in 0..4 {
        q.on_success(0, None);
    }
    assert_eq!(
        q.try_withdraw(0, RetryCost::Timeout).map(|g| g.cost()),
        Some(10)
    );
    assert_eq!(q.available(), 0);
}

#[test]
fn aws_quota_never_exceeds_capacity() {
    let q = RetryQuota::standard();
    for _ in 0..1000 {
        q.on_success(0, None);
    }
    let g = q.try_withdraw(0, RetryCost::Standard);
    q.on_success(0, g);
    q.on_success(0, g);
    assert_eq!(q.available(), 500);
}

#[test]
fn aws_configuration_errors() {
    assert!(RetryQuota::new(0, 5, 10, 1).is_err());
    assert!(RetryQuota::new(500, 0, 10, 1).is_err());
    assert!(RetryQuota::new(8, 5, 10, 1).is_err());
    assert!(RetryQuota::new(8, 5, 5, 9).is_err());
}

// ----- Google SRE adaptive throttling -----

#[test]
fn sre_rejection_probability_follows_the_formula() {
    let t = AdaptiveThrottle::new(2.0, Duration::from_secs(120))
        .unwrap()
        .with_seed(3);
    // 100 requests, 30 accepted: p = (100 - 60) / 101.
    for i in 0..100 {
        assert!(t.on_request(0), "p = 0 until the counts say otherwise");
        if i < 30 {
            t.on_success(0, None);
        } else {
            t.on_failure(0, OutcomeClass::Throttled);
        }
        if i == 29 {
            break;
        }
    }
    for _ in 30..100 {
        // Record the remaining requests without asking (they count whatever the decision).
        let _ = t.on_request(0);
    }
    let p = t.reject_probability(0);
    assert!((p - 40.0 / 101.0).abs() < 1e-12, "{p}");
}

#[test]
fn sre_rejects_at_the_claimed_rate() {
    // Freeze the counts' effect by measuring the rejection rate over a short burst in which p
    // barely moves: 10 000 requests, 2 000 accepts, K = 2 → p ≈ 0.6.
    let t = AdaptiveThrottle::new(2.0, Duration::from_secs(120))
        .unwrap()
        .with_seed(11);
    for i in 0..10_000 {
        let _ = t.on_request(0);
        if i % 5 == 0 {
            t.on_success(0, None);
        }
    }
    let p0 = t.reject_probability(0);
    let rejected = (0..1000).filter(|_| !t.on_request(0)).count();
    let p1 = t.reject_probability(0);
    let rate = rejected as f64 / 1000.0;
    assert!(
        rate > p0 - 0.05 && rate < p1 + 0.05,
        "rate {rate}, p from {p0} to {p1}"
    );
}

#[test]
fn sre_counts_expire_with_the_window() {
    let t = AdaptiveThrottle::new(2.0, Duration::from_secs(10))
        .unwrap()
        .with_seed(1);
    for _ in 0..1000 {
        let _ = t.on_request(0);
    }
    assert!(t.reject_probability(0) > 0.9);
    assert_eq!(t.reject_probability(11 * SEC), 0.0);
    assert!(t.on_request(11 * SEC));
}

#[test]
fn sre_fatal_answers_count_as_accepts() {
    let t = AdaptiveThrottle::new(1.0, Duration::from_secs(10))
        .unwrap()
        .with_seed(1);
    for _ in 0..100 {
        let _ = t.on_request(0);
        t.on_failure(0, OutcomeClass::Fatal);
    }
    assert_eq!(t.reject_probability(0), 0.0);
}

#[test]
fn sre_configuration_errors() {
    assert!(AdaptiveThrottle::new(0.99, Duration::from_secs(1)).is_err());
    assert!(AdaptiveThrottle::new(f64::NAN, Duration::from_secs(1)).is_err());
    assert!(AdaptiveThrottle::new(2.0, Duration::from_nanos(5)).is_err());
}

#[test]
fn budgets_are_object_safe_and_shareable() {
    let budgets: Vec<std::sync::Arc<dyn RetryBudget>> = vec![
        std::sync::Arc::new(WindowedBudget::new(Duration::from_secs(1), 1, 0.1).unwrap()),
        std::sync::Arc::new(GrpcThrottle::new(10.0, 0.1).unwrap()),
        std::sync::Arc::new(RetryQuota::standard()),
        std::sync::Arc::new(AdaptiveThrottle::new(2.0, Duration::from_secs(1)).unwrap()),
    ];
    for b in &budgets {
        assert!(b.on_request(0));
        b.on_success(0, None);
        assert!(b.try_withdraw(0, RetryCost::Standard).is_some(), "{b:?}");
    }
}
