//! Bailis et al., "Probabilistically Bounded Staleness for Practical Partial
//! Quorums" (VLDB 2012): the k-staleness closed form `p_sk = (C(N-W, R) /
//! C(N, R))^k` is the probability that a read misses all of the last k
//! versions; its complement is the probability of k-staleness consistency.

use quorate_quorum::{Exponential, PbsError, Wars, k_stale_probability, k_staleness};

fn binom(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[test]
fn p_sk_is_the_paper_closed_form() -> Result<(), PbsError> {
    for (n, r, w) in [
        (3usize, 1usize, 1usize),
        (5, 1, 2),
        (10, 2, 3),
        (64, 5, 7),
        (2, 1, 1),
    ] {
        for k in [1u32, 2, 5] {
            let want = (binom((n - w) as u64, r as u64) / binom(n as u64, r as u64)).powi(k as i32);
            let got = k_stale_probability(n, r, w, k)?;
            assert!(
                (got - want).abs() < 1e-12,
                "n={n} r={r} w={w} k={k}: {got} vs {want}"
            );
            assert!((k_staleness(n, r, w, k)? - (1.0 - want)).abs() < 1e-12);
        }
    }
    // N=3, R=W=1: the read misses the one written replica with probability 2/3.
    assert!((k_stale_probability(3, 1, 1, 1)? - 2.0 / 3.0).abs() < 1e-12);
    // Strict quorums are never stale.
    assert_eq!(k_stale_probability(3, 2, 2, 1)?, 0.0);
    assert_eq!(
        k_stale_probability(3, 0, 1, 1),
        Err(PbsError::InvalidQuorum { n: 3, r: 0, w: 1 })
    );
    assert_eq!(k_stale_probability(3, 1, 1, 0), Err(PbsError::ZeroK));
    Ok(())
}

#[test]
fn invalid_rates_and_delays_are_typed_errors() -> Result<(), PbsError> {
    for bad in [
        0.0,
        -0.0,
        -1.0,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(Exponential::new(bad), Err(PbsError::InvalidRate));
    }
    let e = Exponential::new(2.0)?;
    assert_eq!((e.rate(), e.mean()), (2.0, 0.5));
    // The smallest and largest positive finite rates are valid.
    assert!(Exponential::new(f64::MIN_POSITIVE).is_ok());
    assert!(Exponential::new(f64::MAX).is_ok());
    let wars = Wars::new(3, 1, 1, e, e, e, e)?;
    assert_eq!(
        wars.t_visibility(&[0.0, f64::NAN], 10, 1),
        Err(PbsError::InvalidDelay { index: 1 })
    );
    Ok(())
}

#[test]
fn wars_at_commit_with_instant_reads_is_the_k1_closed_form() -> Result<(), PbsError> {
    // Acks and read requests take no time, so at t = 0 exactly the W replicas
    // that acknowledged have the write, and the R first responders are a
    // uniformly random R-subset (i.i.d. response latencies): WARS then equals
    // the closed form's consistency probability for k = 1.
    let zero = |_: &mut rand::rngs::SmallRng| 0.0;
    let e = Exponential::new(1.0)?;
    for (n, r, w) in [(5usize, 1usize, 2usize), (6, 2, 1), (4, 1, 1)] {
        let wars = Wars::new(n, r, w, e, zero, zero, e)?;
        let p = wars.t_visibility(&[0.0], 100_000, 9)?[0];
        let want = k_staleness(n, r, w, 1)?;
        assert!((p - want).abs() < 0.01, "n={n} r={r} w={w}: {p} vs {want}");
    }
    Ok(())
}

/// The paper's own example (Section 3): with N = 100 and R = W = 30 the read
/// misses the last write with probability C(70, 30) / C(100, 30) ~ 1.88e-6. The
/// closed forms take any N; only the WARS simulation is limited to 64 replicas.
#[test]
fn closed_forms_take_any_n_as_in_the_papers_example() -> Result<(), PbsError> {
    let p = k_stale_probability(100, 30, 30, 1)?;
    let want = binom(70, 30) / binom(100, 30);
    assert!((p - want).abs() < 1e-18, "{p} vs {want}");
    assert!((p - 1.884_349e-6).abs() < 1e-12, "{p}");
    assert!((k_staleness(100, 30, 30, 1)? - (1.0 - want)).abs() < 1e-15);
    // k = 2: the miss probability squares.
    assert!((k_stale_probability(100, 30, 30, 2)? - want * want).abs() < 1e-20);
    // Beyond 64, and far beyond.
    for (n, r, w) in [(65usize, 1usize, 1usize), (1_000, 10, 20), (100_000, 3, 3)] {
        let want = binom((n - w) as u64, r as u64) / binom(n as u64, r as u64);
        let got = k_stale_probability(n, r, w, 1)?;
        assert!((got - want).abs() < 1e-12, "n={n}: {got} vs {want}");
    }
    // Strict quorums at any size are never stale.
    assert_eq!(k_stale_probability(1_000, 501, 500, 1)?, 0.0);
    // The simulation names its own limit.
    let e = Exponential::new(1.0)?;
    assert_eq!(
        Wars::new(100, 30, 30, e, e, e, e).err(),
        Some(PbsError::TooManyReplicas { n: 100, max: 64 })
    );
    assert!(Wars::new(64, 30, 30, e, e, e, e).is_ok());
    Ok(())
}

mod props {
    use super::binom;
    use proptest::prelude::*;
    use quorate_quorum::{Exponential, PbsError, k_stale_probability, k_staleness};

    proptest! {
        /// For any N (far beyond 64): a probability, 0 for strict quorums,
        /// non-increasing in k, complementary to `k_staleness`.
        #[test]
        fn closed_forms_are_probabilities_for_any_n(
            n in 1usize..5_000,
            rf in 0.0f64..1.0,
            wf in 0.0f64..1.0,
            k in 1u32..6,
        ) {
            let r = 1 + ((n - 1) as f64 * rf) as usize;
            let w = 1 + ((n - 1) as f64 * wf) as usize;
            let p = k_stale_probability(n, r, w, k)?;
            prop_assert!((0.0..=1.0).contains(&p));
            // Strict quorums are never stale (partial ones can underflow to 0.0 in f64 for
            // tiny miss probabilities, so only this direction is exact).
            if r + w > n {
                prop_assert_eq!(p, 0.0);
            }
            prop_assert!(k_stale_probability(n, r, w, k + 1)? <= p);
            prop_assert!((k_staleness(n, r, w, k)? - (1.0 - p)).abs() < 1e-12);
            if n <= 60 {
                let want = (binom((n - w) as u64, r as u64) / binom(n as u64, r as u64))
                    .powi(k as i32);
                prop_assert!((p - want).abs() < 1e-9, "{} vs {}", p, want);
            }
        }

        /// A rate is accepted exactly when it is finite and positive.
        #[test]
        fn exponential_accepts_exactly_finite_positive_rates(bits in any::<u64>()) {
            let rate = f64::from_bits(bits);
            let ok = rate.is_finite() && rate > 0.0;
            match Exponential::new(rate) {
                Ok(e) => {
                    prop_assert!(ok);
                    prop_assert_eq!(e.rate(), rate);
                }
                Err(err) => {
                    prop_assert!(!ok);
                    prop_assert_eq!(err, PbsError::InvalidRate);
                }
            }
        }
    }
}
