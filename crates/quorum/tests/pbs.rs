//! PBS: k-staleness closed form and WARS t-visibility.

use quorate_quorum::{Exponential, PbsError, Wars, k_staleness};
use rand::Rng;
use rand::rngs::SmallRng;

type R = Result<(), PbsError>;

fn binom(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[test]
fn k_staleness_matches_binomial_formula() -> R {
    for (n, r, w) in [(3usize, 1usize, 1usize), (5, 2, 2), (10, 3, 2), (7, 1, 3)] {
        let miss = binom((n - w) as u64, r as u64) / binom(n as u64, r as u64);
        for k in 1..4u32 {
            let want = 1.0 - miss.powi(k as i32);
            assert!(
                (k_staleness(n, r, w, k)? - want).abs() < 1e-12,
                "n={n} r={r} w={w} k={k}"
            );
        }
    }
    // Strict quorums are never stale; staleness shrinks as k grows.
    assert_eq!(k_staleness(5, 3, 3, 1)?, 1.0);
    assert!(k_staleness(3, 1, 1, 2)? > k_staleness(3, 1, 1, 1)?);
    Ok(())
}

#[test]
fn k_staleness_rejects_bad_input() {
    assert_eq!(
        k_staleness(3, 0, 1, 1),
        Err(PbsError::InvalidQuorum { n: 3, r: 0, w: 1 })
    );
    assert_eq!(
        k_staleness(3, 1, 4, 1),
        Err(PbsError::InvalidQuorum { n: 3, r: 1, w: 4 })
    );
    assert_eq!(
        k_staleness(0, 1, 1, 1),
        Err(PbsError::InvalidQuorum { n: 0, r: 1, w: 1 })
    );
    assert_eq!(k_staleness(3, 1, 1, 0), Err(PbsError::ZeroK));
}

#[test]
fn t_visibility_is_seeded_monotone_and_strict_quorums_are_consistent() -> R {
    let e = Exponential::new(1.0)?;
    let wars = Wars::new(3, 1, 1, e, e, e, e)?;
    let ts = [0.0, 0.5, 1.0, 5.0, 50.0];
    let a = wars.t_visibility(&ts, 20_000, 3)?;
    let b = wars.t_visibility(&ts, 20_000, 3)?;
    assert_eq!(a, b);
    assert!(a.windows(2).all(|w| w[0] <= w[1]), "{a:?}");
    assert!(a[0] < 0.95 && a[4] > 0.999, "{a:?}");
    // At t = 0 the read is at least as fresh as the write quorum's share.
    assert!(a[0] >= 1.0 / 3.0 - 0.02, "{a:?}");
    let strict = Wars::new(3, 2, 2, e, e, e, e)?;
    assert_eq!(strict.t_visibility(&[0.0], 5_000, 1)?, vec![1.0]);
    assert_eq!(wars.t_visibility(&[0.0], 0, 1), Err(PbsError::NoTrials));
    Ok(())
}

#[test]
fn closures_serve_as_latency_distributions() -> R {
    // Writes are slow to arrive (10) and reads fast (1): a read right after commit
    // misses unless it reaches the one replica that acknowledged.
    let slow = |_: &mut SmallRng| 10.0;
    let fast = |_: &mut SmallRng| 1.0;
    let jitter = |rng: &mut SmallRng| rng.random::<f64>();
    let wars = Wars::new(3, 1, 1, slow, fast, fast, jitter)?;
    let p = wars.t_visibility(&[0.0, 20.0], 10_000, 5)?;
    // All writes land at 10 and commit at 11: every replica has it when the read arrives.
    assert_eq!(p, vec![1.0, 1.0]);
    let racing = |rng: &mut SmallRng| rng.random::<f64>() * 10.0;
    let wars = Wars::new(5, 1, 1, racing, fast, fast, fast)?;
    let p = wars.t_visibility(&[0.0, 10.0], 10_000, 5)?;
    assert!(p[0] < 1.0 && p[1] == 1.0, "{p:?}");
    Ok(())
}
