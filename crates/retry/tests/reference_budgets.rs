//! Budget behaviour checked against the published reference semantics (gRFC A6, Finagle's
//! `RetryBudget`, tower's `TpsBudget`), for cases the other suites do not cover.

use std::time::Duration;

use quorate_retry::{GrpcThrottle, OutcomeClass, RetryBudget, RetryCost, WindowedBudget};

fn granted(b: &WindowedBudget, now: u64, limit: u64) -> u64 {
    let mut n = 0;
    while n < limit && b.try_withdraw(now, RetryCost::Standard).is_some() {
        n += 1;
    }
    n
}

/// gRFC A6 validates `tokenRatio` only as "greater than 0": a ratio above `maxTokens` is a
/// valid configuration (a single success refills the bucket).
#[test]
fn grpc_token_ratio_may_exceed_max_tokens() {
    let t = GrpcThrottle::new(1.0, 2.0).expect("gRFC A6 only requires tokenRatio > 0");
    // 1 token, threshold 0.5.
    assert!(!t.on_failure(0, OutcomeClass::Transient)); // 0
    assert!(t.try_withdraw(0, RetryCost::Standard).is_none());
    t.on_success(0, None); // +2, capped at 1
    assert_eq!(t.milli_tokens(), 1000);
    assert!(t.try_withdraw(0, RetryCost::Standard).is_some());
    // A huge ratio saturates at max_tokens instead of overflowing.
    let big = GrpcThrottle::new(10.0, 1e300).expect("valid");
    for _ in 0..10 {
        big.on_failure(0, OutcomeClass::Transient);
    }
    big.on_success(0, None);
    assert_eq!(big.milli_tokens(), 10_000);
}

/// gRFC A6: "`maxTokens` MUST be specified and MUST be a JSON integer value in the range
/// (0, 1000]".
#[test]
fn grpc_max_tokens_must_be_an_integer_in_range() {
    assert!(GrpcThrottle::new(4.5, 0.1).is_err());
    assert!(GrpcThrottle::new(0.4, 0.1).is_err());
    assert!(GrpcThrottle::new(-1.0, 0.1).is_err());
    assert!(GrpcThrottle::new(f64::INFINITY, 0.1).is_err());
    assert!(GrpcThrottle::new(1.0, 0.1).is_ok());
    assert!(GrpcThrottle::new(1000.0, 0.1).is_ok());
    assert!(GrpcThrottle::new(1001.0, 0.1).is_err());
    assert!(GrpcThrottle::new(10.0, f64::INFINITY).is_err());
    assert!(GrpcThrottle::new(10.0, -0.5).is_err());
}

/// gRFC A6: "Decimal places beyond 3 are ignored. (eg. 0.5466 is treated as 0.546.)"
#[test]
fn grpc_token_ratio_truncates_the_grfc_example() {
    let t = GrpcThrottle::new(10.0, 0.5466).expect("valid");
    for _ in 0..10 {
        t.on_failure(0, OutcomeClass::Transient);
    }
    t.on_success(0, None);
    assert_eq!(t.milli_tokens(), 546);
}

/// Finagle and tower both compute the reserve as `min_per_sec × ttl` in *whole seconds*
/// (`ttl.inSeconds`, `ttl.as_secs()`): a 1.5 s ttl at 10/s reserves 10 retries, not 15.
#[test]
fn windowed_reserve_uses_whole_seconds_of_ttl() {
    let b = WindowedBudget::new(Duration::from_millis(1500), 10, 0.0).expect("valid");
    assert_eq!(b.available(), 10);
    assert_eq!(granted(&b, 0, 100), 10);
    let b = WindowedBudget::new(Duration::from_millis(59_999), 1, 0.0).expect("valid");
    assert_eq!(b.available(), 59);
}

/// The exactness promise (`floor(p × D)` retries for `D` deposits) must hold for rational
/// percentages that are not whole parts per million, such as one in three: Finagle grants
/// one retry per three requests at `1.0 / 3.0`, and so must we.
#[test]
fn windowed_one_in_three_is_exact() {
    for (percent, deposits, want) in [
        (1.0 / 3.0, 3u64, 1u64),
        (1.0 / 3.0, 300, 100),
        (1.0 / 3.0, 299, 99),
        (2.0 / 3.0, 3, 2),
        (1.0 / 7.0, 7, 1),
        (1.0 / 7.0, 7000, 1000),
        (10.0 / 3.0, 3, 10),
        (0.6, 10, 6),
        (0.123_457, 1_000_000, 123_457),
    ] {
        let b = WindowedBudget::new(Duration::from_secs(1), 0, percent).expect("valid");
        for _ in 0..deposits {
            b.on_request(0);
        }
        assert_eq!(
            granted(&b, 0, 10_000_000),
            want,
            "percent {percent}, {deposits} deposits"
        );
    }
}

/// 0% with no reserve never retries; 0% with a reserve retries only from the reserve, and
/// deposits add nothing (tower's `(0, 1)` amounts).
#[test]
fn windowed_zero_percent() {
    let b = WindowedBudget::new(Duration::from_secs(1), 0, 0.0).expect("valid");
    for _ in 0..1000 {
        b.on_request(0);
    }
    assert_eq!(granted(&b, 0, 10), 0);
    let b = WindowedBudget::new(Duration::from_secs(2), 3, 0.0).expect("valid");
    for _ in 0..1000 {
        b.on_request(0);
    }
    assert_eq!(granted(&b, 0, 100), 6);
    // The withdrawals expire with the window and the reserve is whole again.
    assert_eq!(granted(&b, 2_000_000_000, 100), 6);
}

/// Negative, NaN and infinite percentages, and tiny ones, are handled at construction.
#[test]
fn windowed_rejects_bad_percentages() {
    let s = Duration::from_secs(1);
    for bad in [
        -0.0001,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1000.0001,
    ] {
        assert!(WindowedBudget::new(s, 0, bad).is_err(), "{bad}");
    }
    assert!(WindowedBudget::new(s, 0, -0.0).is_ok());
}

/// The SRE formula in the very first window (time starting at 0, as with a fresh manual
/// clock): an accept recorded before the first request must be counted once, not twice.
#[test]
fn adaptive_counts_the_first_window_once() {
    use quorate_retry::AdaptiveThrottle;
    let t = AdaptiveThrottle::new(1.0, Duration::from_secs(10))
        .expect("valid")
        .with_seed(3);
    t.on_success(0, None); // accepts = 1
    let _ = t.on_request(0); // requests = 1
    let _ = t.on_request(0); // requests = 2
    // max(0, (2 - 1 * 1) / (2 + 1)) = 1/3
    let p = t.reject_probability(0);
    assert!((p - 1.0 / 3.0).abs() < 1e-12, "p = {p}");
}

/// NaN, infinities and negative values are typed errors in every float-taking constructor.
#[test]
fn non_finite_and_negative_floats_are_rejected_everywhere() {
    use quorate_retry::{AdaptiveThrottle, TripRule};
    let s = Duration::from_secs(10);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, -0.0001] {
        assert!(AdaptiveThrottle::new(bad, s).is_err(), "k {bad}");
        assert!(TripRule::failure_rate(bad, s, 1).is_err(), "rate {bad}");
        assert!(
            TripRule::failure_rate_count(bad, 10, 1).is_err(),
            "count {bad}"
        );
        assert!(GrpcThrottle::new(bad, 0.1).is_err(), "max_tokens {bad}");
        assert!(GrpcThrottle::new(10.0, bad).is_err(), "token_ratio {bad}");
        assert!(WindowedBudget::new(s, 0, bad).is_err(), "percent {bad}");
    }
    assert!(AdaptiveThrottle::new(2.0, Duration::ZERO).is_err());
    assert!(AdaptiveThrottle::new(2.0, Duration::MAX).is_err());
}

/// The ttl reads back as given, even when it is not a multiple of ten slots.
#[test]
fn windowed_ttl_reads_back_exactly() {
    for ttl in [
        Duration::from_nanos(1_000_000_007),
        Duration::from_millis(1500),
        Duration::from_secs(60),
    ] {
        assert_eq!(WindowedBudget::new(ttl, 0, 0.1).unwrap().ttl(), ttl);
    }
}
