//! Analysis of quorum systems: intersection, fault tolerance, availability and
//! membership changes.
//!
//! Threshold systems get closed forms at any size. Other systems are analysed
//! exactly by enumerating all `2^n` node subsets as bitmasks, which is practical
//! up to [`MAX_EXACT_NODES`] nodes (a 20-node system is about a million
//! predicate calls). Beyond that, availability can be estimated by seeded
//! sampling with an explicit error bound.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::{EmptyConfig, majority, mask_is_quorum};
use crate::error::{AnalysisError, ConfigError};
use crate::nodeset::{MAX_NODES, NodeSet};
use crate::system::QuorumSystem;

/// The largest node count analysed by exhaustive enumeration.
///
/// ```
/// assert_eq!(quorate_quorum::MAX_EXACT_NODES, 24);
/// ```
pub const MAX_EXACT_NODES: usize = 24;

/// Two disjoint quorums: proof that two systems do not intersect.
///
/// Both sets are minimal: removing any node makes them stop being quorums.
///
/// ```
/// use quorate_quorum::{check_intersection, Threshold};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let w = check_intersection(&Threshold::new(5, 2)?, &Threshold::new(5, 3)?)?;
/// let w = w.expect("2 + 3 = 5 does not exceed 5");
/// assert!(w.first.intersection(w.second).is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Witness {
    /// A quorum of the first system.
    pub first: NodeSet,
    /// A quorum of the second system, disjoint from `first`.
    pub second: NodeSet,
}

fn minimize<Q: QuorumSystem + ?Sized>(q: &Q, mut set: NodeSet) -> NodeSet {
    for s in set.iter() {
        let mut smaller = set;
        smaller.remove(s);
        if q.is_quorum(smaller) {
            set = smaller;
        }
    }
    set
}

fn exact_limit(n: usize) -> Result<(), AnalysisError> {
    if n > MAX_EXACT_NODES {
        Err(AnalysisError::TooManyNodes {
            nodes: n,
            max: MAX_EXACT_NODES,
        })
    } else {
        Ok(())
    }
}

/// Checks whether every quorum of `a` meets every quorum of `b` (read vs
/// write, phase 1 vs phase 2, old vs new configuration).
///
/// Returns `Ok(None)` when they always intersect, `Ok(Some(witness))` with two
/// disjoint minimal quorums otherwise. Both systems share node slots; the
/// universe is the larger of the two node counts. Threshold systems of equal
/// size use the closed form `ka + kb > n` at any size; otherwise every subset
/// is enumerated.
///
/// # Errors
///
/// [`AnalysisError::TooManyNodes`] when enumeration is needed above
/// [`MAX_EXACT_NODES`] nodes.
///
/// ```
/// use quorate_quorum::{check_intersection, Grid, GridRule};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let read = Grid::new(4, 4, GridRule::OnePerRow)?;
/// let write = Grid::new(4, 4, GridRule::FullRow)?;
/// assert_eq!(check_intersection(&read, &write)?, None);
/// assert!(check_intersection(&write, &write)?.is_some());
/// # Ok(()) }
/// ```
pub fn check_intersection<A, B>(a: &A, b: &B) -> Result<Option<Witness>, AnalysisError>
where
    A: QuorumSystem + ?Sized,
    B: QuorumSystem + ?Sized,
{
    let n = a.node_count().max(b.node_count()).min(MAX_NODES);
    if let (Some(ka), Some(kb), true) = (
        a.threshold().filter(|&k| k <= n),
        b.threshold().filter(|&k| k <= n),
        a.node_count() == b.node_count(),
    ) {
        if ka + kb > n {
            return Ok(None);
        }
        let first = NodeSet::full(ka);
        let second =
            NodeSet::from_bits(NodeSet::full(kb).bits().checked_shl(ka as u32).unwrap_or(0));
        return Ok(Some(Witness { first, second }));
    }
    exact_limit(n)?;
    let all = NodeSet::full(n).bits();
    for bits in 0..=all {
        let s = NodeSet::from_bits(bits);
        if a.is_quorum(s) {
            let rest = NodeSet::from_bits(all & !bits);
            if b.is_quorum(rest) {
                return Ok(Some(Witness {
                    first: minimize(a, s),
                    second: minimize(b, rest),
                }));
            }
        }
    }
    Ok(None)
}

/// How many node failures a system survives.
///
/// ```
/// use quorate_quorum::{fault_tolerance, Threshold};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let f = fault_tolerance(&Threshold::majority(5)?)?;
/// assert_eq!(f.tolerated, Some(2));
/// assert_eq!(f.blocking.len(), 3);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FaultTolerance {
    /// The largest `f` such that any `f` failed nodes still leave a quorum;
    /// `None` when even with every node up there is no quorum.
    pub tolerated: Option<usize>,
    /// A smallest set of nodes whose failure leaves no quorum (empty when
    /// `tolerated` is `None`; all nodes when no failure set blocks, which only
    /// happens if the empty set is a quorum).
    pub blocking: NodeSet,
}

/// Computes [`FaultTolerance`]: closed form `n - k` for thresholds, exact
/// enumeration otherwise.
///
/// # Errors
///
/// [`AnalysisError::TooManyNodes`] for a non-threshold system above
/// [`MAX_EXACT_NODES`] nodes.
///
/// ```
/// use quorate_quorum::{fault_tolerance, Hierarchical};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 3 groups of 3: killing 2 nodes in each of 2 groups (4 nodes) blocks it.
/// let f = fault_tolerance(&Hierarchical::new(&[3, 3, 3])?)?;
/// assert_eq!(f.tolerated, Some(3));
/// # Ok(()) }
/// ```
pub fn fault_tolerance<Q: QuorumSystem + ?Sized>(q: &Q) -> Result<FaultTolerance, AnalysisError> {
    let n = q.node_count().min(MAX_NODES);
    let all = NodeSet::full(n);
    if !q.is_quorum(all) {
        return Ok(FaultTolerance {
            tolerated: None,
            blocking: NodeSet::EMPTY,
        });
    }
    if let Some(k) = q.threshold().filter(|&k| k <= n) {
        let blocking = NodeSet::full(n - k + 1);
        return Ok(FaultTolerance {
            tolerated: Some(n - k),
            blocking,
        });
    }
    exact_limit(n)?;
    let mut best: Option<NodeSet> = None;
    for bits in 0..=all.bits() {
        let failed = NodeSet::from_bits(bits);
        if best.is_some_and(|b| b.len() <= failed.len()) {
            continue;
        }
        if !q.is_quorum(all.difference(failed)) {
            best = Some(failed);
        }
    }
    Ok(match best {
        Some(b) => FaultTolerance {
            tolerated: Some(b.len() - 1),
            blocking: b,
        },
        None => FaultTolerance {
            tolerated: Some(n),
            blocking: all,
        },
    })
}

fn check_probabilities(p: &[f64], n: usize) -> Result<(), AnalysisError> {
    if p.len() != n {
        return Err(AnalysisError::WrongLength {
            expected: n,
            got: p.len(),
        });
    }
    for (index, &value) in p.iter().enumerate() {
        if !(0.0..=1.0).contains(&value) {
            return Err(AnalysisError::InvalidProbability { index, value });
        }
    }
    Ok(())
}

/// Validated per-node failure probabilities (each a finite number in `[0, 1]`).
///
/// [`availability`] and [`availability_sampled`] validate raw slices too; this
/// type lets a failure model be checked once, at construction.
///
/// ```
/// use quorate_quorum::{availability, FailureProbabilities, Threshold};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let fail = FailureProbabilities::uniform(5, 0.01)?;
/// let a = availability(&Threshold::majority(5)?, fail.as_slice())?;
/// assert!(a > 0.9999);
/// assert!(FailureProbabilities::new(vec![0.1, 2.0]).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, PartialOrd, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "Vec<f64>", into = "Vec<f64>"))]
pub struct FailureProbabilities(Vec<f64>);

impl FailureProbabilities {
    /// Validates `probabilities`.
    ///
    /// # Errors
    ///
    /// [`AnalysisError::InvalidProbability`] for a value outside `[0, 1]` or NaN.
    ///
    /// ```
    /// use quorate_quorum::FailureProbabilities;
    /// assert!(FailureProbabilities::new(vec![0.0, 0.5, 1.0]).is_ok());
    /// ```
    pub fn new(probabilities: Vec<f64>) -> Result<Self, AnalysisError> {
        check_probabilities(&probabilities, probabilities.len())?;
        Ok(FailureProbabilities(probabilities))
    }

    /// The same probability `p` for `n` nodes.
    ///
    /// # Errors
    ///
    /// As [`FailureProbabilities::new`].
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::AnalysisError> {
    /// assert_eq!(quorate_quorum::FailureProbabilities::uniform(3, 0.1)?.as_slice(), &[0.1; 3]);
    /// # Ok(()) }
    /// ```
    pub fn uniform(n: usize, p: f64) -> Result<Self, AnalysisError> {
        Self::new(vec![p; n])
    }

    /// The probabilities, by node slot.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::AnalysisError> {
    /// assert_eq!(quorate_quorum::FailureProbabilities::new(vec![0.2])?.as_slice(), &[0.2]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }
}

impl TryFrom<Vec<f64>> for FailureProbabilities {
    type Error = AnalysisError;
    fn try_from(v: Vec<f64>) -> Result<Self, AnalysisError> {
        FailureProbabilities::new(v)
    }
}

impl From<FailureProbabilities> for Vec<f64> {
    fn from(p: FailureProbabilities) -> Vec<f64> {
        p.0
    }
}

impl AsRef<[f64]> for FailureProbabilities {
    fn as_ref(&self) -> &[f64] {
        &self.0
    }
}

/// Probability that the nodes that are up contain a quorum, given each node's
/// independent failure probability `fail[slot]`.
///
/// Thresholds use the exact Poisson-binomial recurrence (any size, `O(n^2)`);
/// other systems enumerate all `2^n` up-sets.
///
/// # Errors
///
/// [`AnalysisError::InvalidProbability`] / [`AnalysisError::WrongLength`] for
/// bad inputs; [`AnalysisError::TooManyNodes`] above [`MAX_EXACT_NODES`] for
/// non-threshold systems (use [`availability_sampled`] there).
///
/// ```
/// use quorate_quorum::{availability, Threshold};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let a = availability(&Threshold::majority(3)?, &[0.1, 0.1, 0.1])?;
/// assert!((a - 0.972).abs() < 1e-12); // 0.9^3 + 3 * 0.9^2 * 0.1
/// # Ok(()) }
/// ```
pub fn availability<Q: QuorumSystem + ?Sized>(q: &Q, fail: &[f64]) -> Result<f64, AnalysisError> {
    let n = q.node_count().min(MAX_NODES);
    check_probabilities(fail, n)?;
    if let Some(k) = q.threshold().filter(|&k| k <= n) {
        // dist[j] = P(exactly j nodes up) over the nodes seen so far.
        let mut dist = [0.0f64; MAX_NODES + 1];
        dist[0] = 1.0;
        for (i, &f) in fail.iter().enumerate() {
            let up = 1.0 - f;
            for j in (0..=i + 1).rev() {
                let stay = dist[j] * f;
                let rise = if j > 0 { dist[j - 1] * up } else { 0.0 };
                dist[j] = stay + rise;
            }
        }
        return Ok(dist[k.min(n)..=n].iter().sum());
    }
    exact_limit(n)?;
    // Split the nodes into halves and precompute each half's up-set
    // probabilities, so every subset costs one multiplication.
    let lo_n = n / 2;
    let hi_n = n - lo_n;
    let table = |off: usize, len: usize| -> Vec<f64> {
        let mut t = vec![1.0f64; 1 << len];
        for (m, v) in t.iter_mut().enumerate() {
            for i in 0..len {
                let f = fail[off + i];
                *v *= if m >> i & 1 == 1 { 1.0 - f } else { f };
            }
        }
        t
    };
    let lo = table(0, lo_n);
    let hi = table(lo_n, hi_n);
    let mut total = 0.0;
    for (h, &ph) in hi.iter().enumerate() {
        if ph == 0.0 {
            continue;
        }
        for (l, &pl) in lo.iter().enumerate() {
            let bits = ((h as u64) << lo_n) | l as u64;
            if q.is_quorum(NodeSet::from_bits(bits)) {
                total += ph * pl;
            }
        }
    }
    Ok(total.clamp(0.0, 1.0))
}

/// A sampled probability with its error bound.
///
/// ```
/// let e = quorate_quorum::Estimate { value: 0.5, std_error: 0.01, bound: 0.02, trials: 100 };
/// assert!(e.bound > e.std_error);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Estimate {
    /// The estimated probability.
    pub value: f64,
    /// Standard error of the estimate, `sqrt(p (1 - p) / trials)`.
    pub std_error: f64,
    /// Distribution-free 99% bound (Hoeffding): `|value - truth| <= bound` with
    /// probability at least 0.99, `sqrt(ln(2 / 0.01) / (2 trials))`.
    pub bound: f64,
    /// Trials run.
    pub trials: u64,
}

/// Estimates [`availability`] by sampling node failures, for systems too large
/// to enumerate. Deterministic for a given `seed`.
///
/// # Errors
///
/// [`AnalysisError::NoTrials`] for zero trials; probability errors as
/// [`availability`].
///
/// ```
/// use quorate_quorum::{availability_sampled, Threshold};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let q = Threshold::majority(40)?;
/// let e = availability_sampled(&q, &[0.2; 40], 20_000, 7)?;
/// assert!(e.value > 0.99 && e.bound < 0.02);
/// # Ok(()) }
/// ```
pub fn availability_sampled<Q: QuorumSystem + ?Sized>(
    q: &Q,
    fail: &[f64],
    trials: u64,
    seed: u64,
) -> Result<Estimate, AnalysisError> {
    let n = q.node_count().min(MAX_NODES);
    check_probabilities(fail, n)?;
    if trials == 0 {
        return Err(AnalysisError::NoTrials);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut hits = 0u64;
    for _ in 0..trials {
        let mut up = NodeSet::EMPTY;
        for (i, &f) in fail.iter().enumerate() {
            if rng.random::<f64>() >= f {
                up.insert(i);
            }
        }
        if q.is_quorum(up) {
            hits += 1;
        }
    }
    let t = trials as f64;
    let value = hits as f64 / t;
    Ok(Estimate {
        value,
        std_error: (value * (1.0 - value) / t).sqrt(),
        bound: ((2.0f64 / 0.01).ln() / (2.0 * t)).sqrt(),
        trials,
    })
}

/// The verdict on a membership change step.
///
/// ```
/// use quorate_quorum::{check_single_server_change, MembershipCheck};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(check_single_server_change(&[1, 2, 3], &[1, 2, 3, 4])?, MembershipCheck::Safe);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MembershipCheck {
    /// Every quorum before the step meets every quorum after it.
    Safe,
    /// Two disjoint quorums exist: one of the configuration before the step,
    /// one after (voter ids), so two leaders or two commits could coexist.
    Unsafe {
        /// A quorum of the configuration before the step.
        before: Vec<u64>,
        /// A disjoint quorum of the configuration after it.
        after: Vec<u64>,
    },
}

/// Rejected membership-change input.
///
/// ```
/// use quorate_quorum::{check_single_server_change, MembershipError};
/// let err = check_single_server_change(&[1, 1], &[1]).unwrap_err();
/// assert!(matches!(err, MembershipError::Config(_)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// A configuration is invalid (duplicates, too many voters).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A configuration has no voters: it has no quorum that could meet another.
    #[error("a configuration in the change has no voters")]
    EmptyConfiguration,
}

/// Ids and masks of two majority configurations over a shared slot space.
struct Pair {
    ids: Vec<u64>,
    a: NodeSet,
    b: NodeSet,
}

fn pair(a: &[u64], b: &[u64]) -> Result<Pair, MembershipError> {
    if a.is_empty() || b.is_empty() {
        return Err(MembershipError::EmptyConfiguration);
    }
    let joint = crate::config::JointConfig::new(a.iter().copied(), b.iter().copied())?;
    let Some(b_mask) = joint.outgoing() else {
        return Err(MembershipError::EmptyConfiguration);
    };
    Ok(Pair {
        ids: joint.ids().to_vec(),
        a: joint.incoming(),
        b: b_mask,
    })
}

fn ids_of(ids: &[u64], set: NodeSet) -> Vec<u64> {
    set.iter().filter_map(|s| ids.get(s).copied()).collect()
}

/// Closed form: do a majority of `a` and a majority of `b` (slot masks) always meet?
fn majorities_disjoint(a: NodeSet, b: NodeSet) -> Option<(NodeSet, NodeSet)> {
    let common = a.intersection(b);
    let only_a = a.difference(b);
    let only_b = b.difference(a);
    let (qa, qb) = (majority(a.len()), majority(b.len()));
    let need_a = qa.saturating_sub(only_a.len());
    let need_b = qb.saturating_sub(only_b.len());
    if need_a + need_b > common.len() {
        return None;
    }
    let mut qa_set = NodeSet::EMPTY;
    let mut qb_set = NodeSet::EMPTY;
    let mut common_iter = common.iter();
    for s in only_a.iter().take(qa) {
        qa_set.insert(s);
    }
    for s in common_iter.by_ref().take(need_a) {
        qa_set.insert(s);
    }
    for s in only_b.iter().take(qb) {
        qb_set.insert(s);
    }
    for s in common_iter.take(need_b) {
        qb_set.insert(s);
    }
    Some((qa_set, qb_set))
}

/// Is moving directly from majority configuration `old` to `new` safe, i.e.
/// does every majority of `old` meet every majority of `new`?
///
/// This holds whenever the configurations differ by one server (Ongaro's
/// single-server change), and for some larger changes too; the answer is
/// computed in closed form for any size. An unsafe change comes with two
/// disjoint quorums as evidence.
///
/// # Errors
///
/// [`MembershipError::Config`] for duplicate ids or more than 64 voters,
/// [`MembershipError::EmptyConfiguration`] when either side is empty.
///
/// ```
/// use quorate_quorum::{check_single_server_change, MembershipCheck};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let r = check_single_server_change(&[1, 2, 3], &[1, 4, 5])?;
/// assert!(matches!(r, MembershipCheck::Unsafe { .. }));
/// # Ok(()) }
/// ```
pub fn check_single_server_change(
    old: &[u64],
    new: &[u64],
) -> Result<MembershipCheck, MembershipError> {
    let p = pair(old, new)?;
    Ok(match majorities_disjoint(p.a, p.b) {
        None => MembershipCheck::Safe,
        Some((x, y)) => MembershipCheck::Unsafe {
            before: ids_of(&p.ids, x),
            after: ids_of(&p.ids, y),
        },
    })
}

/// The verdict on both steps of a joint-consensus change `old -> joint -> new`.
///
/// ```
/// use quorate_quorum::{check_joint_change, MembershipCheck};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let r = check_joint_change(&[1, 2, 3], &[4, 5, 6])?;
/// assert!(r.is_safe());
/// assert_eq!(r.direct, MembershipCheck::Unsafe { before: vec![1, 2], after: vec![4, 5] });
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct JointChangeCheck {
    /// `old -> joint(new, old)`.
    pub enter_joint: MembershipCheck,
    /// `joint(new, old) -> new`.
    pub leave_joint: MembershipCheck,
    /// `old -> new` directly, for comparison: what the joint step protects against.
    pub direct: MembershipCheck,
}

impl JointChangeCheck {
    /// Whether both joint steps are safe.
    ///
    /// ```
    /// use quorate_quorum::check_joint_change;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// assert!(check_joint_change(&[1], &[2])?.is_safe());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn is_safe(&self) -> bool {
        self.enter_joint == MembershipCheck::Safe && self.leave_joint == MembershipCheck::Safe
    }
}

/// Joint quorum (majority of `a` and of `b`) vs a majority of `c`: find disjoint quorums.
fn joint_vs_majority(p: &Pair, other: NodeSet) -> Option<(NodeSet, NodeSet)> {
    let n = p.ids.len();
    let joint = |s: NodeSet| {
        mask_is_quorum(p.a, s, EmptyConfig::NeverQuorum)
            && mask_is_quorum(p.b, s, EmptyConfig::NeverQuorum)
    };
    if n <= MAX_EXACT_NODES {
        let all = NodeSet::full(n).bits();
        for bits in 0..=all {
            let s = NodeSet::from_bits(bits);
            let rest = NodeSet::from_bits(all & !bits);
            if joint(s) && mask_is_quorum(other, rest, EmptyConfig::NeverQuorum) {
                return Some((s, rest));
            }
        }
        return None;
    }
    // A joint quorum contains a majority of `other` (other is one of the
    // halves), and two majorities of the same set always meet.
    None
}

/// Validates a joint-consensus change: is `old -> joint(new, old)` safe, and
/// is `joint(new, old) -> new` safe? Both steps are checked against the
/// quorum definitions (by enumeration up to [`MAX_EXACT_NODES`] voters, by the
/// containment argument beyond), and the direct `old -> new` step is reported
/// for comparison.
///
/// # Errors
///
/// As [`check_single_server_change`].
///
/// ```
/// use quorate_quorum::check_joint_change;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let r = check_joint_change(&[1, 2, 3], &[3, 4, 5])?;
/// assert!(r.is_safe());
/// # Ok(()) }
/// ```
pub fn check_joint_change(old: &[u64], new: &[u64]) -> Result<JointChangeCheck, MembershipError> {
    let p = pair(old, new)?;
    let verdict = |r: Option<(NodeSet, NodeSet)>, joint_first: bool| match r {
        None => MembershipCheck::Safe,
        Some((j, o)) => {
            let (before, after) = if joint_first { (o, j) } else { (j, o) };
            MembershipCheck::Unsafe {
                before: ids_of(&p.ids, before),
                after: ids_of(&p.ids, after),
            }
        }
    };
    let enter = verdict(joint_vs_majority(&p, p.a), true);
    let leave = verdict(joint_vs_majority(&p, p.b), false);
    let direct = match majorities_disjoint(p.a, p.b) {
        None => MembershipCheck::Safe,
        Some((x, y)) => MembershipCheck::Unsafe {
            before: ids_of(&p.ids, x),
            after: ids_of(&p.ids, y),
        },
    };
    Ok(JointChangeCheck {
        enter_joint: enter,
        leave_joint: leave,
        direct,
    })
}
