//! Pruning version vectors whose actor set keeps growing (Riak's vclock pruning).

use std::time::Duration;

use crate::dot::Actor;
use crate::dvvset::DvvSet;
use crate::vv::VersionVector;

/// When to drop the oldest entries of a version vector, by size and age (Riak's
/// `small_vclock`, `big_vclock`, `young_vclock`, `old_vclock` bucket properties).
///
/// Entries are considered oldest first (by the caller-supplied last-update time of each
/// actor, ties broken by actor, as Riak sorts by `{Timestamp, Node}`). The rules apply in
/// this order, exactly as Riak's `vclock:prune/3`, repeatedly to the oldest remaining entry:
///
/// 1. at most `small` entries left: stop;
/// 2. the oldest entry is younger than `young`: stop;
/// 3. more than `big` entries left, or the oldest entry older than `old`: drop it and go
///    back to 1; otherwise stop.
///
/// Any `small` and `big` are accepted, as in Riak. With `big < small` rule 1 comes first, so
/// the vector is never pruned below `small` entries, and above `small` every entry that is
/// not young goes (rule 3 always holds there): `big` then has no effect of its own. `old`
/// below `young` is still rejected ([`InvalidPruningPolicy::OldBelowYoung`]); Riak accepts
/// it, but it makes `young` meaningless (every entry not young is old) and is taken for a
/// typo.
///
/// Pruning trades safety for size: after dropping an actor's entry, a later version may look
/// concurrent with (never newer than) one it actually descends from, which shows up as a
/// sibling rather than as lost data. Keep `small` comfortably above the number of actors
/// (servers) you expect.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::{PruningPolicy, VersionVector};
/// let policy = PruningPolicy::new(2, 3, Duration::from_secs(20), Duration::from_secs(86_400))?;
/// let mut vv: VersionVector<u32> = (1..=5).map(|a| (a, 1)).collect();
/// // actor a was last updated at time a seconds; now is 1000 s.
/// let removed = policy.prune(&mut vv, |a| u64::from(*a) * 1_000_000_000, 1_000_000_000_000);
/// assert_eq!(removed, 2);
/// assert_eq!(vv.iter().map(|(a, _)| *a).collect::<Vec<_>>(), [3, 4, 5]);
/// # Ok::<(), quorate_clocks::InvalidPruningPolicy>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "RawPolicy"))]
pub struct PruningPolicy {
    small: usize,
    big: usize,
    young: Duration,
    old: Duration,
}

impl Default for PruningPolicy {
    /// Riak's defaults: small 50, big 50, young 20 s, old 1 day.
    fn default() -> Self {
        Self {
            small: 50,
            big: 50,
            young: Duration::from_secs(20),
            old: Duration::from_secs(86_400),
        }
    }
}

/// A [`PruningPolicy`] whose thresholds contradict each other.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::{InvalidPruningPolicy, PruningPolicy};
/// let (s, m) = (Duration::from_secs(1), Duration::from_secs(60));
/// assert_eq!(PruningPolicy::new(10, 20, m, s), Err(InvalidPruningPolicy::OldBelowYoung));
/// // `big` below `small` is accepted, as Riak accepts it.
/// assert!(PruningPolicy::new(10, 5, s, m).is_ok());
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPruningPolicy {
    /// `old` is below `young`.
    #[error("old threshold below young threshold")]
    OldBelowYoung,
}

impl PruningPolicy {
    /// A policy with the four thresholds (see the type docs).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = quorate_clocks::PruningPolicy::new(10, 20, Duration::from_secs(1), Duration::from_secs(60))?;
    /// assert_eq!(p.small(), 10);
    /// # Ok::<(), quorate_clocks::InvalidPruningPolicy>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidPruningPolicy::OldBelowYoung`] when `old < young`. Any `small` and `big`
    /// are accepted (see the type docs for `big < small`).
    pub fn new(
        small: usize,
        big: usize,
        young: Duration,
        old: Duration,
    ) -> Result<Self, InvalidPruningPolicy> {
        if old < young {
            return Err(InvalidPruningPolicy::OldBelowYoung);
        }
        Ok(Self {
            small,
            big,
            young,
            old,
        })
    }

    /// Entry count at or below which nothing is pruned.
    ///
    /// ```
    /// assert_eq!(quorate_clocks::PruningPolicy::default().small(), 50);
    /// ```
    pub fn small(&self) -> usize {
        self.small
    }

    /// Entry count above which the oldest entries go even if young-ish.
    ///
    /// ```
    /// assert_eq!(quorate_clocks::PruningPolicy::default().big(), 50);
    /// ```
    pub fn big(&self) -> usize {
        self.big
    }

    /// Age below which the oldest entry protects the whole vector.
    ///
    /// ```
    /// assert_eq!(quorate_clocks::PruningPolicy::default().young().as_secs(), 20);
    /// ```
    pub fn young(&self) -> Duration {
        self.young
    }

    /// Age above which the oldest entries go even if the vector is not big.
    ///
    /// ```
    /// assert_eq!(quorate_clocks::PruningPolicy::default().old().as_secs(), 86_400);
    /// ```
    pub fn old(&self) -> Duration {
        self.old
    }

    /// The actors to drop, oldest first, given `(actor, last update ns)` pairs.
    fn victims<'a, A: Ord>(&self, mut by_age: Vec<(&'a A, u64)>, now: u64) -> Vec<&'a A> {
        by_age.sort_by(|x, y| x.1.cmp(&y.1).then_with(|| x.0.cmp(y.0)));
        let young = u64::try_from(self.young.as_nanos()).unwrap_or(u64::MAX);
        let old = u64::try_from(self.old.as_nanos()).unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let mut rest = by_age.as_slice();
        while let [(actor, t), tail @ ..] = rest {
            if rest.len() <= self.small {
                break;
            }
            // Signed, as in Riak: an entry stamped after `now` (a clock stepped back) has a
            // negative age, younger than any `young`, and stops the pruning.
            let age = i128::from(now) - i128::from(*t);
            if age < i128::from(young) {
                break;
            }
            if rest.len() > self.big || age > i128::from(old) {
                out.push(*actor);
                rest = tail;
            } else {
                break;
            }
        }
        out
    }

    /// Prunes `vv` in place; `last_update(actor)` gives each actor's last update time and
    /// `now` the current time (both ns, any common origin). Returns how many entries went.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{PruningPolicy, VersionVector};
    /// let policy = PruningPolicy::new(1, 10, Duration::ZERO, Duration::from_secs(60))?;
    /// let mut vv: VersionVector<u8> = [(1, 1), (2, 1)].into_iter().collect();
    /// // actor 1 is two minutes old, actor 2 fresh: only 1 goes.
    /// assert_eq!(policy.prune(&mut vv, |a| if *a == 1 { 0 } else { 120_000_000_000 }, 120_000_000_000), 1);
    /// # Ok::<(), quorate_clocks::InvalidPruningPolicy>(())
    /// ```
    pub fn prune<A: Actor>(
        &self,
        vv: &mut VersionVector<A>,
        last_update: impl Fn(&A) -> u64,
        now: u64,
    ) -> usize {
        if vv.len() <= self.small {
            return 0;
        }
        let victims: Vec<A> = self
            .victims(vv.iter().map(|(a, _)| (a, last_update(a))).collect(), now)
            .into_iter()
            .cloned()
            .collect();
        for a in &victims {
            vv.remove(a);
        }
        victims.len()
    }

    /// Prunes the entries of a [`DvvSet`] the same way; values of pruned entries move to the
    /// anonymous list, so no value is lost. Returns how many entries went.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{DvvSet, PruningPolicy};
    /// let policy = PruningPolicy::new(0, 0, Duration::ZERO, Duration::ZERO)?;
    /// let mut s = DvvSet::new("v").update(&'a')?;
    /// assert_eq!(policy.prune_dvvset(&mut s, |_| 0, 1), 1);
    /// assert_eq!(s.values(), [&"v"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prune_dvvset<A: Actor, V>(
        &self,
        set: &mut DvvSet<A, V>,
        last_update: impl Fn(&A) -> u64,
        now: u64,
    ) -> usize {
        let victims: Vec<A> = self
            .victims(set.ids().map(|a| (a, last_update(a))).collect(), now)
            .into_iter()
            .cloned()
            .collect();
        for a in &victims {
            set.remove_actor(a);
        }
        victims.len()
    }
}

/// The unvalidated serde form of [`PruningPolicy`]; deserializing goes through
/// [`PruningPolicy::new`].
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct RawPolicy {
    small: usize,
    big: usize,
    young: Duration,
    old: Duration,
}

#[cfg(feature = "serde")]
impl TryFrom<RawPolicy> for PruningPolicy {
    type Error = InvalidPruningPolicy;
    fn try_from(r: RawPolicy) -> Result<Self, Self::Error> {
        Self::new(r.small, r.big, r.young, r.old)
    }
}
