//! Backoff schedules: growth curves, caps, jitter bounds, configuration errors.

use std::time::Duration;

use quorate_retry::{Backoff, BackoffState, ConfigError, FastRng, Jitter};

const MS: Duration = Duration::from_millis(1);

fn raw(b: &Backoff, n: usize) -> Vec<u64> {
    let mut s = BackoffState::new();
    let mut rng = FastRng::seed_from_u64(0);
    (0..n)
        .map(|_| b.next_delay_nanos(&mut s, &mut rng))
        .collect()
}

#[test]
fn exponential_grows_as_base_times_factor_pow_n_not_base_pow_n() {
    // base 3 ms, factor 2: 3, 6, 12, 24 ms. base^n would be 3, 9, 27, ...
    let b = Backoff::exponential(3 * MS, 2.0, Duration::from_secs(100)).unwrap();
    let got = raw(&b, 12);
    for (n, d) in got.iter().enumerate() {
        assert_eq!(*d, 3_000_000u64 << n, "retry {n}");
    }
}

#[test]
fn exponential_with_fractional_factor_is_exact_for_dyadic_factors() {
    let b = Backoff::exponential(Duration::from_nanos(1024), 1.5, Duration::from_secs(1)).unwrap();
    let got = raw(&b, 6);
    assert_eq!(got, [1024, 1536, 2304, 3456, 5184, 7776]);
}

#[test]
fn exponential_with_arbitrary_factor_tracks_the_float_curve() {
    let b = Backoff::exponential(Duration::from_millis(7), 1.3, Duration::from_secs(1000)).unwrap();
    let got = raw(&b, 30);
    for (n, d) in got.iter().enumerate() {
        let want = 7e6 * 1.3f64.powi(n as i32);
        assert!(
            (*d as f64 - want).abs() <= 1.0 + want * 1e-9,
            "retry {n}: {d} vs {want}"
        );
    }
}

#[test]
fn exponential_caps_and_stays_capped_without_overflow() {
    let b = Backoff::exponential(MS, 1000.0, Duration::from_secs(5)).unwrap();
    let got = raw(&b, 200);
    assert_eq!(got[0], 1_000_000);
    assert_eq!(got[1], 1_000_000_000);
    assert!(got[2..].iter().all(|&d| d == 5_000_000_000));
}

#[test]
fn linear_and_constant() {
    let b = Backoff::linear(10 * MS, 5 * MS, 30 * MS).unwrap();
    assert_eq!(raw(&b, 6), [10, 15, 20, 25, 30, 30].map(|x| x * 1_000_000));
    let c = Backoff::constant(4 * MS).unwrap();
    assert_eq!(raw(&c, 3), [4_000_000; 3]);
}

#[test]
fn every_jitter_mode_stays_within_its_bounds_and_below_the_cap() {
    let cap = Duration::from_millis(200);
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let b = Backoff::exponential(5 * MS, 2.0, cap)
            .unwrap()
            .with_jitter(jitter);
        let mut rng = FastRng::seed_from_u64(11);
        let mut s = BackoffState::new();
        for n in 0..1000u32 {
            let unjittered = (5_000_000u64 << n.min(40)).min(200_000_000);
            let d = b.next_delay_nanos(&mut s, &mut rng);
            assert!(d <= 200_000_000, "{jitter:?} exceeded the cap: {d}");
            match jitter {
                Jitter::None => assert_eq!(d, unjittered),
                Jitter::Full => assert!(d <= unjittered),
                Jitter::Equal => assert!(d >= unjittered / 2 && d <= unjittered),
                Jitter::Decorrelated => assert!(d >= 5_000_000),
            }
        }
    }
}

#[test]
fn jitter_is_really_applied() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let b = Backoff::exponential(100 * MS, 2.0, Duration::from_secs(10))
            .unwrap()
            .with_jitter(jitter);
        // Fifty clients that failed together draw their first delay: they must not all agree.
        let firsts: std::collections::BTreeSet<u64> = (0..50)
            .map(|seed| {
                b.next_delay_nanos(&mut BackoffState::new(), &mut FastRng::seed_from_u64(seed))
            })
            .collect();
        assert!(
            firsts.len() > 45,
            "{jitter:?}: only {} distinct delays",
            firsts.len()
        );
    }
}

#[test]
fn decorrelated_follows_its_recurrence() {
    let base = 5_000_000u64;
    let b = Backoff::exponential(Duration::from_nanos(base), 2.0, Duration::from_secs(2))
        .unwrap()
        .with_jitter(Jitter::Decorrelated);
    let mut s = BackoffState::new();
    let mut rng = FastRng::seed_from_u64(5);
    let mut prev = base;
    for _ in 0..500 {
        let d = b.next_delay_nanos(&mut s, &mut rng);
        assert!(
            d >= base && d <= (prev * 3).min(2_000_000_000),
            "{d} outside [base, min(cap, 3*{prev})]"
        );
        prev = d;
    }
}

#[test]
fn seeded_delays_replay() {
    let b = Backoff::exponential(MS, 2.0, Duration::from_secs(1))
        .unwrap()
        .with_jitter(Jitter::Full);
    let a: Vec<_> = b.delays(FastRng::seed_from_u64(9)).take(50).collect();
    let c: Vec<_> = b.delays(FastRng::seed_from_u64(9)).take(50).collect();
    assert_eq!(a, c);
}

#[test]
fn invalid_configuration_is_a_typed_error() {
    let s = Duration::from_secs(1);
    assert_eq!(
        Backoff::exponential(2 * s, 2.0, s),
        Err(ConfigError::BaseExceedsCap)
    );
    assert_eq!(
        Backoff::linear(2 * s, s, s),
        Err(ConfigError::BaseExceedsCap)
    );
    for f in [0.5, 0.999, f64::NAN, f64::INFINITY, -2.0, 1000.5] {
        assert_eq!(
            Backoff::exponential(s, f, s),
            Err(ConfigError::InvalidFactor),
            "{f}"
        );
    }
    assert_eq!(
        Backoff::constant(Duration::MAX),
        Err(ConfigError::DurationTooLarge)
    );
    assert!(Backoff::exponential(s, 1.0, s).is_ok());
}

#[test]
fn state_counts_retries() {
    let b = Backoff::constant(MS).unwrap();
    let mut s = BackoffState::default();
    for _ in 0..5 {
        b.next_delay(&mut s, &mut FastRng::seed_from_u64(0));
    }
    assert_eq!(s.retries(), 5);
}
