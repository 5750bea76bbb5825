//! Probabilistically Bounded Staleness (Bailis et al., VLDB 2012).
//!
//! Two questions about partial (`R + W <= N`) or expanding quorums:
//! *k-staleness* — how likely is a read to return one of the last `k` versions
//! (closed form, independent of timing) — and *t-visibility* — how likely is a
//! read issued `t` after a write commits to see it, under the WARS latency model:
//! a write reaches replica `i` after `W_i`, its ack returns after `A_i`, a read
//! request reaches it after `R_i` and the response returns after `S_i`. The write
//! commits when the `W`-th ack arrives; the read returns the first `R` responses
//! and is consistent if one of them came from a replica that had the write.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::error::PbsError;
use crate::nodeset::MAX_NODES;

/// Sizes for the closed forms: any `N`, `R` and `W` in `1..=N`.
fn check(n: usize, r: usize, w: usize) -> Result<(), PbsError> {
    if n == 0 || r == 0 || r > n || w == 0 || w > n {
        Err(PbsError::InvalidQuorum { n, r, w })
    } else {
        Ok(())
    }
}

/// Sizes for the WARS simulation, which keeps per-replica state in fixed arrays: as
/// [`check`], with `N` at most 64.
fn check_simulated(n: usize, r: usize, w: usize) -> Result<(), PbsError> {
    check(n, r, w)?;
    if n > MAX_NODES {
        return Err(PbsError::TooManyReplicas { n, max: MAX_NODES });
    }
    Ok(())
}

/// Probability that a read quorum of `r` of `n` replicas returns one of the
/// last `k` committed versions, each written to `w` replicas:
/// `1 - (C(n - w, r) / C(n, r))^k`. Equals `1` when `r + w > n`.
///
/// This is the paper's "probability of k-staleness consistency", `1 - p_sk`;
/// [`k_stale_probability`] returns `p_sk` itself. Any `N` is accepted (the
/// 64-replica limit applies only to the [`Wars`] simulation): the product is
/// evaluated term by term, so large `N` neither overflows nor loses precision.
///
/// # Errors
///
/// [`PbsError::InvalidQuorum`] for `N = 0` or `R`, `W` outside `1..=N`,
/// [`PbsError::ZeroK`] for `k == 0`.
///
/// ```
/// use quorate_quorum::k_staleness;
/// # fn main() -> Result<(), quorate_quorum::PbsError> {
/// assert_eq!(k_staleness(3, 2, 2, 1)?, 1.0);
/// // N=3, R=W=1: a read misses the last write with probability 2/3.
/// assert!((k_staleness(3, 1, 1, 1)? - 1.0 / 3.0).abs() < 1e-12);
/// // The paper's example: N=100, R=W=30 is consistent with probability 1 - 1.88e-6.
/// assert!((1.0 - k_staleness(100, 30, 30, 1)? - 1.884e-6).abs() < 1e-9);
/// # Ok(()) }
/// ```
pub fn k_staleness(n: usize, r: usize, w: usize, k: u32) -> Result<f64, PbsError> {
    Ok(1.0 - k_stale_probability(n, r, w, k)?)
}

/// The paper's `p_sk`: the probability that a read quorum of `r` of `n`
/// replicas misses every one of the last `k` committed versions (each written
/// to `w` replicas), `(C(n - w, r) / C(n, r))^k`; `0` when `r + w > n`.
///
/// # Errors
///
/// As [`k_staleness`].
///
/// ```
/// use quorate_quorum::k_stale_probability;
/// # fn main() -> Result<(), quorate_quorum::PbsError> {
/// // N=3, R=W=1: the read misses the one written replica with probability 2/3.
/// assert!((k_stale_probability(3, 1, 1, 1)? - 2.0 / 3.0).abs() < 1e-12);
/// assert_eq!(k_stale_probability(3, 2, 2, 1)?, 0.0);
/// // Any N: the paper's N=100, R=W=30 example.
/// assert!((k_stale_probability(100, 30, 30, 1)? - 1.884e-6).abs() < 1e-9);
/// # Ok(()) }
/// ```
pub fn k_stale_probability(n: usize, r: usize, w: usize, k: u32) -> Result<f64, PbsError> {
    check(n, r, w)?;
    if k == 0 {
        return Err(PbsError::ZeroK);
    }
    if r + w > n {
        return Ok(0.0);
    }
    // C(n - w, r) / C(n, r) = prod_{i < r} (n - w - i) / (n - i)
    let mut miss = 1.0f64;
    for i in 0..r {
        miss *= (n - w - i) as f64 / (n - i) as f64;
    }
    let k = i32::try_from(k).unwrap_or(i32::MAX);
    Ok(miss.powi(k))
}

/// A one-way latency distribution for the WARS model.
///
/// Implemented for closures `Fn(&mut SmallRng) -> f64`, so any empirical or
/// parametric distribution can be plugged in. Samples should be non-negative.
///
/// ```
/// use quorate_quorum::{Exponential, LatencyDistribution};
/// use rand::{rngs::SmallRng, SeedableRng};
/// let mut rng = SmallRng::seed_from_u64(1);
/// let fixed = |_: &mut SmallRng| 2.5;
/// assert_eq!(fixed.sample(&mut rng), 2.5);
/// assert!(Exponential::new(0.5)?.sample(&mut rng) >= 0.0);
/// # Ok::<(), quorate_quorum::PbsError>(())
/// ```
pub trait LatencyDistribution {
    /// Draws one latency.
    ///
    /// ```
    /// use quorate_quorum::LatencyDistribution;
    /// use rand::{rngs::SmallRng, Rng, SeedableRng};
    /// let uniform = |rng: &mut SmallRng| rng.random::<f64>() * 4.0;
    /// let x = uniform.sample(&mut SmallRng::seed_from_u64(3));
    /// assert!((0.0..4.0).contains(&x));
    /// ```
    fn sample(&self, rng: &mut SmallRng) -> f64;
}

impl<F: Fn(&mut SmallRng) -> f64> LatencyDistribution for F {
    fn sample(&self, rng: &mut SmallRng) -> f64 {
        self(rng)
    }
}

/// Exponentially distributed latency with rate `lambda` (mean `1 / lambda`),
/// the family the PBS paper fits to production latencies.
///
/// The rate is always finite and positive: [`Exponential::new`] rejects anything
/// else, and so does deserialisation with the `serde` feature.
///
/// ```
/// use quorate_quorum::Exponential;
/// assert_eq!(Exponential::new(0.25)?.mean(), 4.0);
/// # Ok::<(), quorate_quorum::PbsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "RawExponential"))]
pub struct Exponential {
    rate: f64,
}

/// The unvalidated serde form of [`Exponential`].
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct RawExponential {
    rate: f64,
}

#[cfg(feature = "serde")]
impl TryFrom<RawExponential> for Exponential {
    type Error = PbsError;
    fn try_from(raw: RawExponential) -> Result<Self, PbsError> {
        Exponential::new(raw.rate)
    }
}

impl Exponential {
    /// An exponential distribution with rate `lambda`.
    ///
    /// # Errors
    ///
    /// [`PbsError::InvalidRate`] for a zero, negative, infinite or NaN rate.
    ///
    /// ```
    /// use quorate_quorum::{Exponential, PbsError};
    /// assert_eq!(Exponential::new(2.0)?.mean(), 0.5);
    /// assert_eq!(Exponential::new(f64::NAN), Err(PbsError::InvalidRate));
    /// assert_eq!(Exponential::new(0.0), Err(PbsError::InvalidRate));
    /// # Ok::<(), PbsError>(())
    /// ```
    pub fn new(rate: f64) -> Result<Self, PbsError> {
        if rate > 0.0 && rate.is_finite() {
            Ok(Exponential { rate })
        } else {
            Err(PbsError::InvalidRate)
        }
    }

    /// The rate `lambda`.
    ///
    /// ```
    /// assert_eq!(quorate_quorum::Exponential::new(4.0)?.rate(), 4.0);
    /// # Ok::<(), quorate_quorum::PbsError>(())
    /// ```
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The mean, `1 / rate`.
    ///
    /// ```
    /// assert_eq!(quorate_quorum::Exponential::new(4.0)?.mean(), 0.25);
    /// # Ok::<(), quorate_quorum::PbsError>(())
    /// ```
    #[must_use]
    pub fn mean(&self) -> f64 {
        1.0 / self.rate
    }
}

impl LatencyDistribution for Exponential {
    fn sample(&self, rng: &mut SmallRng) -> f64 {
        // Inverse CDF on (0, 1]: never ln(0).
        let u: f64 = 1.0 - rng.random::<f64>();
        -u.ln() / self.rate
    }
}

/// The WARS model: `N` replicas, quorums `R` and `W`, and the four latency distributions.
///
/// ```
/// use quorate_quorum::{Exponential, Wars};
/// # fn main() -> Result<(), quorate_quorum::PbsError> {
/// let e = Exponential::new(1.0)?;
/// let wars = Wars::new(3, 1, 1, e, e, e, e)?;
/// let p = wars.t_visibility(&[0.0, 10.0], 20_000, 42)?;
/// assert!(p[0] < p[1] && p[1] > 0.99);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Wars<W, A, R, S> {
    n: usize,
    r: usize,
    w: usize,
    write: W,
    ack: A,
    read: R,
    response: S,
}

impl<W, A, R, S> Wars<W, A, R, S>
where
    W: LatencyDistribution,
    A: LatencyDistribution,
    R: LatencyDistribution,
    S: LatencyDistribution,
{
    /// A model with the given sizes and distributions (write, ack, read, response).
    ///
    /// # Errors
    ///
    /// [`PbsError::InvalidQuorum`] for `N = 0` or `R`, `W` outside `1..=N`;
    /// [`PbsError::TooManyReplicas`] for `N` above 64 (the simulation keeps each
    /// replica's latencies in fixed arrays; the closed forms take any `N`).
    ///
    /// ```
    /// use quorate_quorum::{Exponential, PbsError, Wars};
    /// let e = Exponential::new(1.0)?;
    /// assert!(Wars::new(3, 4, 1, e, e, e, e).is_err());
    /// assert_eq!(
    ///     Wars::new(100, 30, 30, e, e, e, e).err(),
    ///     Some(PbsError::TooManyReplicas { n: 100, max: 64 })
    /// );
    /// # Ok::<(), PbsError>(())
    /// ```
    #[allow(clippy::too_many_arguments)] // the four WARS distributions plus N, R, W
    pub fn new(
        n: usize,
        r: usize,
        w: usize,
        write: W,
        ack: A,
        read: R,
        response: S,
    ) -> Result<Self, PbsError> {
        check_simulated(n, r, w)?;
        Ok(Wars {
            n,
            r,
            w,
            write,
            ack,
            read,
            response,
        })
    }

    /// Probability of a consistent read for each delay in `ts` (time after
    /// the write commits), from `trials` simulated writes and reads. All `ts`
    /// share the same trials; the result is deterministic for a given `seed`.
    ///
    /// # Errors
    ///
    /// [`PbsError::NoTrials`] for zero trials, [`PbsError::InvalidDelay`] for a
    /// NaN delay.
    ///
    /// ```
    /// use quorate_quorum::{Exponential, Wars};
    /// # fn main() -> Result<(), quorate_quorum::PbsError> {
    /// let e = Exponential::new(1.0)?;
    /// let strict = Wars::new(3, 2, 2, e, e, e, e)?;
    /// assert_eq!(strict.t_visibility(&[0.0], 1_000, 1)?, vec![1.0]);
    /// # Ok(()) }
    /// ```
    pub fn t_visibility(&self, ts: &[f64], trials: u64, seed: u64) -> Result<Vec<f64>, PbsError> {
        if trials == 0 {
            return Err(PbsError::NoTrials);
        }
        if let Some(index) = ts.iter().position(|t| t.is_nan()) {
            return Err(PbsError::InvalidDelay { index });
        }
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut consistent = vec![0u64; ts.len()];
        let n = self.n;
        let mut wt = [0f64; MAX_NODES];
        let mut acks = [0f64; MAX_NODES];
        let mut rd = [0f64; MAX_NODES];
        let mut order = [(0f64, 0u8); MAX_NODES];
        for _ in 0..trials {
            for i in 0..n {
                let w = self.write.sample(&mut rng);
                wt[i] = w;
                acks[i] = w + self.ack.sample(&mut rng);
                let r = self.read.sample(&mut rng);
                rd[i] = r;
                order[i] = (r + self.response.sample(&mut rng), i as u8);
            }
            // Commit time: the W-th fastest ack.
            let commit = *acks[..n]
                .select_nth_unstable_by(self.w - 1, f64::total_cmp)
                .1;
            // The R first responses to the read.
            let first = &mut order[..n];
            if self.r < n {
                first.select_nth_unstable_by(self.r - 1, |a, b| a.0.total_cmp(&b.0));
            }
            for (t, hit) in ts.iter().zip(consistent.iter_mut()) {
                let start = commit + t;
                let fresh = first[..self.r].iter().any(|&(_, i)| {
                    let i = i as usize;
                    wt[i] <= start + rd[i]
                });
                if fresh {
                    *hit += 1;
                }
            }
        }
        Ok(consistent
            .iter()
            .map(|&c| c as f64 / trials as f64)
            .collect())
    }
}
