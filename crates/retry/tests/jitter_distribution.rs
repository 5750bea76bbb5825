//! Distribution tests: each jitter mode draws from the uniform it claims (Kolmogorov-Smirnov,
//! fixed seeds, so the tests are deterministic).

use std::time::Duration;

use quorate_retry::{Backoff, BackoffState, FastRng, Jitter};

/// The one-sample Kolmogorov-Smirnov statistic of `samples` (values in [0, 1]) against U(0, 1).
fn ks_uniform(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len() as f64;
    samples
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let lo = x - i as f64 / n;
            let hi = (i as f64 + 1.0) / n - x;
            lo.max(hi)
        })
        .fold(0.0, f64::max)
}

/// The critical value at alpha = 0.001: 1.95 / sqrt(n).
fn critical(n: usize) -> f64 {
    1.95 / (n as f64).sqrt()
}

const N: usize = 20_000;

#[test]
fn ks_statistic_detects_a_non_uniform_sample() {
    // Self-check: squares of uniforms are not uniform, and the statistic must say so.
    let mut rng = FastRng::seed_from_u64(1);
    let mut s: Vec<f64> = (0..N)
        .map(|_| rand::Rng::random::<f64>(&mut rng).powi(2))
        .collect();
    assert!(ks_uniform(&mut s) > critical(N) * 5.0);
    let mut u: Vec<f64> = (0..N).map(|_| rand::Rng::random::<f64>(&mut rng)).collect();
    assert!(ks_uniform(&mut u) < critical(N));
}

/// Draws the delay of retry `n` from a fresh state for many seeds... by advancing one state per
/// sample to retry `n`.
fn draws(jitter: Jitter, retry: u32, seed: u64) -> Vec<u64> {
    let b = Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(60))
        .unwrap()
        .with_jitter(jitter);
    let mut rng = FastRng::seed_from_u64(seed);
    (0..N)
        .map(|_| {
            let mut s = BackoffState::new();
            let mut d = 0;
            for _ in 0..=retry {
                d = b.next_delay_nanos(&mut s, &mut rng);
            }
            d
        })
        .collect()
}

#[test]
fn full_jitter_is_uniform_on_zero_to_the_delay() {
    for retry in [0u32, 3, 6] {
        let d = 10_000_000f64 * f64::from(1u32 << retry);
        let mut u: Vec<f64> = draws(Jitter::Full, retry, 100 + u64::from(retry))
            .into_iter()
            .map(|x| x as f64 / d)
            .collect();
        let ks = ks_uniform(&mut u);
        assert!(ks < critical(N), "retry {retry}: D = {ks}");
    }
}

#[test]
fn equal_jitter_is_uniform_on_half_to_the_delay() {
    for retry in [0u32, 4] {
        let d = 10_000_000f64 * f64::from(1u32 << retry);
        let mut u: Vec<f64> = draws(Jitter::Equal, retry, 200 + u64::from(retry))
            .into_iter()
            .map(|x| (x as f64 - d / 2.0) / (d / 2.0))
            .collect();
        assert!(u.iter().all(|x| (0.0..=1.0).contains(x)));
        let ks = ks_uniform(&mut u);
        assert!(ks < critical(N), "retry {retry}: D = {ks}");
        // And it is *not* uniform on [0, d] (that would be full jitter).
        let mut wrong: Vec<f64> = u.iter().map(|x| (x + 1.0) / 2.0).collect();
        assert!(ks_uniform(&mut wrong) > critical(N) * 5.0);
    }
}

#[test]
fn decorrelated_jitter_is_uniform_on_base_to_three_times_the_previous_sleep() {
    // Pool the conditional draws: given the previous sleep p (and 3p below the cap), the next
    // sleep is uniform on [base, 3p].
    let base = 10_000_000f64;
    let b = Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(3600))
        .unwrap()
        .with_jitter(Jitter::Decorrelated);
    let mut rng = FastRng::seed_from_u64(300);
    let mut u = Vec::with_capacity(N);
    while u.len() < N {
        let mut s = BackoffState::new();
        let mut prev = base;
        for _ in 0..8 {
            let d = b.next_delay_nanos(&mut s, &mut rng) as f64;
            u.push((d - base) / (3.0 * prev - base));
            prev = d;
        }
    }
    u.truncate(N);
    let ks = ks_uniform(&mut u);
    assert!(ks < critical(N), "D = {ks}");
}

#[test]
fn no_jitter_is_a_point_mass() {
    let d = draws(Jitter::None, 2, 1);
    assert!(d.iter().all(|&x| x == 40_000_000));
}

#[test]
fn thread_local_default_draws_varied_values_in_range() {
    // The default generator is seeded by the OS, so no statistical test runs on it here (those
    // use fixed seeds above); it runs the same code as `FastRng`. Check range and variety only.
    let b = Backoff::constant(Duration::from_millis(100))
        .unwrap()
        .with_jitter(Jitter::Full);
    let mut s = BackoffState::new();
    let draws: std::collections::BTreeSet<u64> = (0..100)
        .map(|_| b.next_delay_nanos(&mut s, &mut quorate_retry::ThreadLocalRng))
        .collect();
    assert!(draws.iter().all(|&d| d <= 100_000_000));
    assert!(draws.len() > 90);
}
