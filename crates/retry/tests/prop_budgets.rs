//! Budget laws against reference models, for arbitrary parameters and operation sequences.

use std::time::Duration;

use proptest::prelude::*;
use quorate_retry::{RetryBudget, RetryCost, RetryQuota, WindowedBudget};

proptest! {
    /// D deposits at percent p allow exactly floor(p * D) retries plus the reserve.
    #[test]
    fn windowed_grants_floor_p_times_d_plus_reserve(
        ppm in 0u64..=2_000_000,
        deposits in 0u64..3000,
        min_per_sec in 0u32..50,
        ttl_s in 1u64..=60,
    ) {
        let percent = ppm as f64 / 1e6;
        let b = WindowedBudget::new(Duration::from_secs(ttl_s), min_per_sec, percent).unwrap();
        for _ in 0..deposits {
            b.on_request(0);
        }
        let want = ppm * deposits / 1_000_000 + u64::from(min_per_sec) * ttl_s;
        let mut got = 0u64;
        while b.try_withdraw(0, RetryCost::Standard).is_some() {
            got += 1;
            prop_assert!(got <= want, "overdraft: more than {want}");
        }
        prop_assert_eq!(got, want);
    }

    /// The windowed budget matches a reference model of the ten-slot window, op for op, under
    /// arbitrary time steps (including backward steps and long idle gaps).
    #[test]
    fn windowed_matches_the_slot_model(
        ppm in 1u64..=3_000_000,
        min_per_sec in 0u32..5,
        ops in proptest::collection::vec((any::<bool>(), 0u64..400, any::<bool>()), 1..400),
    ) {
        let ttl = 1_000_000_000u64; // 1 s, ten slots of 100 ms
        let slot = ttl / 10;
        let b = WindowedBudget::new(Duration::from_nanos(ttl), min_per_sec, ppm as f64 / 1e6).unwrap();
        // Model: amounts in units of 1e-6 retry; each op is charged to the latest window seen.
        let reserve = i128::from(min_per_sec) * 1_000_000;
        let mut events: Vec<(u64, i128)> = Vec::new();
        let mut now = 5 * ttl;
        let mut cur = 0u64;
        for (deposit, step_ms, back) in ops {
            let step = step_ms * 1_000_000;
            now = if back { now.saturating_sub(step / 8) } else { now + step };
            cur = cur.max(now / slot);
            let live: i128 = events.iter().filter(|(w, _)| w + 10 > cur).map(|(_, a)| a).sum();
            if deposit {
                b.on_request(now);
                events.push((cur, i128::from(ppm)));
            } else {
                let model = reserve + live >= 1_000_000;
                let got = b.try_withdraw(now, RetryCost::Standard).is_some();
                prop_assert_eq!(got, model, "at {} (window {})", now, cur);
                if got {
                    events.push((cur, -1_000_000));
                }
            }
        }
    }

    /// The AWS quota matches its model and never leaves [0, capacity].
    #[test]
    fn quota_matches_its_model(
        capacity in 10u64..1000,
        ops in proptest::collection::vec(0u8..4, 1..500),
    ) {
        let q = RetryQuota::new(capacity, 5, 10, 1).unwrap();
        let mut model = capacity;
        let mut held = Vec::new();
        for op in ops {
            match op {
                0 | 1 => {
                    let (cost, kind) = if op == 0 { (5, RetryCost::Standard) } else { (10, RetryCost::Timeout) };
                    let g = q.try_withdraw(0, kind);
                    prop_assert_eq!(g.is_some(), model >= cost);
                    if let Some(g) = g {
                        model -= cost;
                        held.push(g);
                    }
                }
                2 => {
                    q.on_success(0, None);
                    model = (model + 1).min(capacity);
                }
                _ => {
                    if let Some(g) = held.pop() {
                        q.on_success(0, Some(g));
                        model = (model + g.cost()).min(capacity);
                    }
                }
            }
            prop_assert_eq!(q.available(), model);
        }
    }
}

proptest! {
    /// The adaptive throttle's rejection probability equals the SRE formula over the exact
    /// sliding-window counts, whatever the sequence (time moving forward).
    #[test]
    fn adaptive_throttle_matches_the_formula(
        k_tenths in 10u64..40,
        ops in proptest::collection::vec((any::<bool>(), 0u64..3000), 1..300),
    ) {
        use quorate_retry::AdaptiveThrottle;
        let window = 10_000_000_000u64; // 10 s, ten 1 s slots
        let slot = window / 10;
        let k = k_tenths as f64 / 10.0;
        let t = AdaptiveThrottle::new(k, Duration::from_nanos(window)).unwrap().with_seed(3);
        let mut now = 0u64;
        let mut events: Vec<(u64, bool)> = Vec::new(); // (window, is_accept)
        for (accept, step_ms) in ops {
            now += step_ms * 1_000_000;
            let w = now / slot;
            if accept {
                t.on_success(now, None);
            } else {
                let _ = t.on_request(now);
            }
            events.push((w, accept));
            let live = |a: bool| events.iter().filter(|(ew, ea)| ew + 10 > w && *ea == a).count() as f64;
            let (req, acc) = (live(false), live(true));
            let want = ((req * 1000.0 - (k * 1000.0).round() * acc) / ((req + 1.0) * 1000.0)).max(0.0);
            let got = t.reject_probability(now);
            prop_assert!((got - want).abs() < 1e-9, "p {} vs {} at {}", got, want, now);
        }
    }
}

proptest! {
    /// Any percentage written as a fraction `n / d` (d up to 10^6; percent up to 10 to keep
    /// the case cheap) is taken exactly: D deposits fund floor(n × D / d) retries, never one
    /// more or one fewer.
    #[test]
    fn windowed_fractions_are_exact(
        d in 1u64..=1_000_000,
        n_frac in 0.0f64..1.0,
        deposits in 0u64..1000,
    ) {
        let n = ((n_frac * (d * 10) as f64) as u64).min(d * 10);
        let percent = n as f64 / d as f64;
        let b = WindowedBudget::new(Duration::from_secs(1), 0, percent).unwrap();
        for _ in 0..deposits {
            b.on_request(0);
        }
        // A value that is also a whole number of ppm may be read as that (same value).
        let want = u128::from(n) * u128::from(deposits) / u128::from(d);
        let mut got = 0u128;
        while b.try_withdraw(0, RetryCost::Standard).is_some() {
            got += 1;
            prop_assert!(got <= want, "overdraft at {}/{}", n, d);
        }
        prop_assert_eq!(got, want, "{}/{} = {}", n, d, percent);
    }
}
