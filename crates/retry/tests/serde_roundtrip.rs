//! Serde round trips, and validation on deserialize.
#![cfg(feature = "serde")]

use std::time::Duration;

use quorate_retry::{
    Backoff, BreakerConfig, Idempotency, Jitter, OutcomeClass, RetryPolicy, TripRule,
};

#[test]
fn policies_round_trip() {
    let policy = RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(5), 1.5, Duration::from_secs(2))
            .unwrap()
            .with_jitter(Jitter::Decorrelated),
    )
    .with_max_attempts(7)
    .unwrap()
    .with_deadline(Duration::from_secs(3))
    .unwrap()
    .with_idempotency(Idempotency::Keyed);
    let json = serde_json::to_string(&policy).unwrap();
    assert_eq!(serde_json::from_str::<RetryPolicy>(&json).unwrap(), policy);
    let cfg = BreakerConfig::new(
        TripRule::failure_rate(0.5, Duration::from_secs(10), 20).unwrap(),
        Duration::from_secs(1),
        Duration::from_secs(30),
        3,
    )
    .unwrap();
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<BreakerConfig>(&json).unwrap(), cfg);
    let c = serde_json::to_string(&OutcomeClass::Timeout).unwrap();
    assert_eq!(
        serde_json::from_str::<OutcomeClass>(&c).unwrap(),
        OutcomeClass::Timeout
    );
}

#[test]
fn invalid_backoff_is_rejected_on_deserialize() {
    let good = serde_json::to_value(
        Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_secs(2)).unwrap(),
    )
    .unwrap();
    let mut base_over_cap = good.clone();
    base_over_cap["base_nanos"] = serde_json::json!(3_000_000_000u64);
    assert!(serde_json::from_value::<Backoff>(base_over_cap).is_err());
    let mut shrinking = good;
    shrinking["growth"] = serde_json::json!({ "Exponential": 1u64 << 31 });
    assert!(serde_json::from_value::<Backoff>(shrinking).is_err());
}

#[test]
fn invalid_policy_and_breaker_are_rejected_on_deserialize() {
    let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(1)).unwrap());
    let mut v = serde_json::to_value(policy).unwrap();
    v["max_attempts"] = serde_json::json!(0);
    assert!(serde_json::from_value::<RetryPolicy>(v).is_err());
    let cfg = BreakerConfig::new(
        TripRule::ConsecutiveFailures(3),
        Duration::from_secs(1),
        Duration::from_secs(2),
        1,
    )
    .unwrap();
    let good = serde_json::to_value(cfg).unwrap();
    for (field, bad) in [
        ("open_base", serde_json::json!(5_000_000_000u64)),
        ("probes", serde_json::json!(0)),
    ] {
        let mut v = good.clone();
        v[field] = bad;
        assert!(
            serde_json::from_value::<BreakerConfig>(v).is_err(),
            "{field}"
        );
    }
    let mut v = good;
    v["rule"] = serde_json::json!({ "FailureRate": { "threshold_ppm": 2_000_000, "window_nanos": 1_000_000_000u64, "min_calls": 5 } });
    assert!(serde_json::from_value::<BreakerConfig>(v).is_err());
}

#[test]
fn count_based_rule_round_trips_and_is_bounded_on_deserialize() {
    let cfg = BreakerConfig::new(
        TripRule::failure_rate_count(0.5, 100, 20).unwrap(),
        Duration::from_secs(1),
        Duration::from_secs(30),
        3,
    )
    .unwrap();
    let json = serde_json::to_value(cfg).unwrap();
    assert_eq!(
        serde_json::from_value::<BreakerConfig>(json.clone()).unwrap(),
        cfg
    );
    // A window that would size a huge allocation is refused before anything is allocated.
    let mut v = json;
    v["rule"] = serde_json::json!({ "FailureRateCount": { "threshold_ppm": 500_000, "window_calls": u32::MAX, "min_calls": 5 } });
    assert!(serde_json::from_value::<BreakerConfig>(v).is_err());
}

#[test]
fn slow_call_rule_round_trips_and_is_validated_on_deserialize() {
    let plain = BreakerConfig::new(
        TripRule::failure_rate_count(0.5, 100, 20).unwrap(),
        Duration::from_secs(1),
        Duration::from_secs(30),
        3,
    )
    .unwrap();
    // A configuration without slow calls serializes as before (no `slow` key).
    let v = serde_json::to_value(plain).unwrap();
    assert!(v.get("slow").is_none(), "{v}");
    let cfg = plain.with_slow_calls(Duration::from_secs(4), 0.5).unwrap();
    let json = serde_json::to_value(cfg).unwrap();
    assert_eq!(
        serde_json::from_value::<BreakerConfig>(json.clone()).unwrap(),
        cfg
    );
    for bad in [
        serde_json::json!({ "nanos": 0, "threshold_ppm": 500_000 }),
        serde_json::json!({ "nanos": 5, "threshold_ppm": 0 }),
        serde_json::json!({ "nanos": 5, "threshold_ppm": 1_000_001 }),
    ] {
        let mut v = json.clone();
        v["slow"] = bad.clone();
        assert!(serde_json::from_value::<BreakerConfig>(v).is_err(), "{bad}");
    }
    // Slow calls on a consecutive-failures rule are refused on deserialize too.
    let mut v = json;
    v["rule"] = serde_json::json!({ "ConsecutiveFailures": 3 });
    assert!(serde_json::from_value::<BreakerConfig>(v).is_err());
}
