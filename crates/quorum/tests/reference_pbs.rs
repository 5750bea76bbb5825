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
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(Exponential::try_new(bad), Err(PbsError::InvalidRate));
    }
    let e = Exponential::try_new(2.0)?;
    assert_eq!(e, Exponential::new(2.0));
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
    let e = Exponential::new(1.0);
    for (n, r, w) in [(5usize, 1usize, 2usize), (6, 2, 1), (4, 1, 1)] {
        let wars = Wars::new(n, r, w, e, zero, zero, e)?;
        let p = wars.t_visibility(&[0.0], 100_000, 9)?[0];
        let want = k_staleness(n, r, w, 1)?;
        assert!((p - want).abs() < 0.01, "n={n} r={r} w={w}: {p} vs {want}");
    }
    Ok(())
}
