//! Causal contexts: what a replica has seen, as a version vector plus a dot cloud.

use std::collections::BTreeSet;
use std::fmt;

use bytes::Buf;
use quorate_clocks::{
    Actor, CounterOverflow, DecodeError, Dot, VersionVector, get_len, get_varint,
};

use crate::codec::{ActorTable, Sink, put_len, read_actor, read_dot};
use crate::error::{ValidationError, name};

/// Anything that can answer "has this dot been seen?".
///
/// Implemented by [`CausalContext`]; joins of dot stores are written against this trait so a
/// delta can present a context with holes (see [`CausalDelta`](crate::CausalDelta)).
///
/// ```
/// use quorate_clocks::Dot;
/// use quorate_crdt::{CausalContext, DotView};
/// let cc: CausalContext<u8> = [Dot::new(1, 1)].into_iter().collect();
/// assert!(cc.has(&Dot::new(1, 1)));
/// ```
pub trait DotView<A> {
    /// True when `dot` is covered.
    fn has(&self, dot: &Dot<A>) -> bool;
}

/// The set of events a replica has seen: a version vector for the contiguous prefix of each
/// actor's events plus a *dot cloud* for events seen out of order.
///
/// Delta-state CRDTs need the cloud because deltas can arrive in any order: after joining a delta
/// holding dot `(a, 5)` but not `(a, 3)`, the replica has seen exactly `{a1, a2, a5}`, which no
/// version vector can express. The context is compacted after every join: a cloud dot that
/// extends its actor's prefix is folded into the vector, so when deltas eventually arrive
/// contiguously the cloud is empty and the context is just a version vector.
///
/// Invariant (checked by [`CausalContext::validate`] and by the decoder): every cloud dot has
/// counter greater than `vv[actor] + 1`.
///
/// ```
/// use quorate_clocks::Dot;
/// use quorate_crdt::CausalContext;
/// let mut cc = CausalContext::new();
/// cc.insert(Dot::new('a', 1));
/// cc.insert(Dot::new('a', 3));
/// assert!(cc.contains(&Dot::new('a', 3)) && !cc.contains(&Dot::new('a', 2)));
/// assert_eq!(cc.cloud_len(), 1);
/// cc.insert(Dot::new('a', 2));
/// assert_eq!(cc.cloud_len(), 0); // compacted into the version vector
/// assert_eq!(cc.version_vector().get(&'a'), 3);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CausalContext<A> {
    vv: VersionVector<A>,
    /// Sorted, strictly ascending (usually empty or tiny, so a vector beats a tree).
    cloud: Vec<Dot<A>>,
    /// Retired actors, sorted by actor (usually empty).
    retired: Vec<Retirement<A>>,
}

/// The record of a retired actor: its events `1..=last` now live under `into`'s counters
/// `base + 1..=base + last`.
///
/// Made by the `retire` method of the causal types ([`OrSet::retire`](crate::OrSet::retire) and
/// the others) on the replica of the surviving actor, carried in the causal context, and
/// applied by every replica that joins a value holding it: each stored dot `(actor, c)` is
/// renamed `(into, base + c)`, which is the same rename everywhere, so replicas still converge
/// and a remove that observed the old dot still removes the renamed one. The record itself is
/// small (two actors, two counters) and can be dropped with `forget_retired` once every replica
/// holds it.
///
/// ```
/// use quorate_crdt::OrSet;
/// let mut s = OrSet::<u32, u8>::new();
/// s.add(9, 1)?;
/// s.retire(&9, 1)?;
/// let r = s.context().retirements().next().expect("recorded");
/// assert_eq!((*r.actor(), r.last(), *r.into(), r.base()), (9, 1, 1, 0));
/// assert!(s.context().version_vector().get(&9) == 0 && s.contains(&1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Retirement<A> {
    actor: A,
    last: u64,
    into: A,
    base: u64,
}

impl<A: Actor> Retirement<A> {
    /// The retired actor.
    ///
    /// ```
    /// # use quorate_crdt::OrSet;
    /// # let mut s = OrSet::<u32, u8>::new();
    /// # s.add(9, 1)?;
    /// s.retire(&9, 1)?;
    /// assert_eq!(s.context().retirements().map(|r| *r.actor()).collect::<Vec<_>>(), [9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn actor(&self) -> &A {
        &self.actor
    }

    /// The retired actor's last event counter.
    ///
    /// ```
    /// # use quorate_crdt::OrSet;
    /// # let mut s = OrSet::<u32, u8>::new();
    /// s.add(9, 1)?;
    /// s.add(9, 2)?;
    /// s.retire(&9, 1)?;
    /// assert_eq!(s.context().retirements().map(|r| r.last()).collect::<Vec<_>>(), [2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The surviving actor that took the events over.
    ///
    /// ```
    /// # use quorate_crdt::OrSet;
    /// # let mut s = OrSet::<u32, u8>::new();
    /// # s.add(9, 1)?;
    /// s.retire(&9, 1)?;
    /// assert_eq!(s.context().retirements().map(|r| *r.into()).collect::<Vec<_>>(), [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into(&self) -> &A {
        &self.into
    }

    /// Offset of the renamed events in the surviving actor's counters.
    ///
    /// ```
    /// # use quorate_crdt::OrSet;
    /// let mut s = OrSet::<u32, u8>::new();
    /// s.add(1, 0)?;
    /// s.add(9, 1)?;
    /// s.retire(&9, 1)?;
    /// assert_eq!(s.context().retirements().map(|r| r.base()).collect::<Vec<_>>(), [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn base(&self) -> u64 {
        self.base
    }

    /// True when `dot` is an event this record accounts for (an old dot of the retired actor or
    /// a renamed one).
    #[inline]
    fn covers(&self, dot: &Dot<A>) -> bool {
        (dot.actor == self.actor && dot.counter <= self.last)
            || (dot.actor == self.into
                && dot.counter > self.base
                && dot.counter - self.base <= self.last)
    }

    /// The renamed form of a dot of the retired actor.
    pub(crate) fn rename(&self, dot: &Dot<A>) -> Option<Dot<A>> {
        (dot.actor == self.actor)
            .then(|| Dot::new(self.into.clone(), self.base.saturating_add(dot.counter)))
    }
}

impl<A> Default for CausalContext<A> {
    fn default() -> Self {
        Self {
            vv: VersionVector::default(),
            cloud: Vec::new(),
            retired: Vec::new(),
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for CausalContext<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CausalContext")
            .field("vv", &self.vv)
            .field("cloud", &self.cloud)
            .field("retired", &self.retired)
            .finish()
    }
}

impl<A: Actor> DotView<A> for CausalContext<A> {
    #[inline]
    fn has(&self, dot: &Dot<A>) -> bool {
        self.contains(dot)
    }
}

impl<A: Actor> CausalContext<A> {
    /// An empty context. Does not allocate.
    ///
    /// ```
    /// assert!(quorate_crdt::CausalContext::<u8>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// True when nothing has been seen.
    ///
    /// ```
    /// assert!(quorate_crdt::CausalContext::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.vv.is_empty() && self.cloud.is_empty() && self.retired.is_empty()
    }

    /// The retired actors' records, ascending by actor (see [`Retirement`]).
    ///
    /// ```
    /// assert_eq!(quorate_crdt::CausalContext::<u8>::new().retirements().count(), 0);
    /// ```
    pub fn retirements(&self) -> impl Iterator<Item = &Retirement<A>> + '_ {
        self.retired.iter()
    }

    /// True when `actor` is retired here.
    ///
    /// ```
    /// assert!(!quorate_crdt::CausalContext::<u8>::new().is_retired(&1));
    /// ```
    pub fn is_retired(&self, actor: &A) -> bool {
        self.retirement(actor).is_some()
    }

    pub(crate) fn retirement(&self, actor: &A) -> Option<&Retirement<A>> {
        if self.retired.is_empty() {
            return None;
        }
        self.retired
            .binary_search_by(|r| r.actor.cmp(actor))
            .ok()
            .and_then(|i| self.retired.get(i))
    }

    pub(crate) fn retired_list(&self) -> &[Retirement<A>] {
        &self.retired
    }

    /// True when some dot of `actor` is in the vector or the cloud.
    pub(crate) fn mentions(&self, actor: &A) -> bool {
        self.vv.get(actor) > 0 || self.cloud.iter().any(|d| d.actor == *actor)
    }

    /// Records `r` (the caller renames the stored dots): drops the retired actor's entries,
    /// whose events the record now covers, and compacts.
    pub(crate) fn add_retirement(&mut self, r: Retirement<A>) {
        match self.retired.binary_search_by(|x| x.actor.cmp(&r.actor)) {
            Ok(_) => return,
            Err(i) => self.retired.insert(i, r.clone()),
        }
        self.vv.remove(&r.actor);
        self.cloud.retain(|d| d.actor != r.actor);
        self.normalize();
    }

    /// Forgets the record of `actor`; its renamed range must already be in the vector.
    pub(crate) fn remove_retirement(&mut self, actor: &A) -> bool {
        let Ok(i) = self.retired.binary_search_by(|x| x.actor.cmp(actor)) else {
            return true;
        };
        let Some(r) = self.retired.get(i) else {
            return true;
        };
        if self.vv.get(&r.into) < r.base.saturating_add(r.last) {
            return false;
        }
        self.retired.remove(i);
        true
    }

    /// Builds a record for retiring `actor` into `into` (no checks beyond arithmetic).
    pub(crate) fn plan_retirement(&self, actor: &A, into: &A) -> Option<Retirement<A>> {
        let last = self.vv.get(actor);
        let base = self.vv.get(into);
        base.checked_add(last)?;
        Some(Retirement {
            actor: actor.clone(),
            last,
            into: into.clone(),
            base,
        })
    }

    /// With records present: folds renamed ranges that extend the vector into it and drops
    /// cloud dots the records cover, so the context stays canonical.
    fn normalize(&mut self) {
        if self.retired.is_empty() {
            return;
        }
        loop {
            let mut changed = false;
            for r in &self.retired {
                if self.retired.iter().any(|x| x.actor == r.into) {
                    continue; // chained: the later record covers this range
                }
                let v = self.vv.get(&r.into);
                let top = r.base.saturating_add(r.last);
                if v >= r.base && v < top {
                    self.vv.set(r.into.clone(), top);
                    changed = true;
                }
            }
            if !self.cloud.is_empty() {
                let retired = &self.retired;
                let before = self.cloud.len();
                self.cloud.retain(|d| !retired.iter().any(|r| r.covers(d)));
                let cloud = std::mem::take(&mut self.cloud);
                self.absorb_sorted(cloud);
                changed |= self.cloud.len() != before;
            }
            if !changed {
                break;
            }
        }
    }

    /// The compacted prefix part.
    ///
    /// ```
    /// let cc = quorate_crdt::CausalContext::<u8>::new();
    /// assert!(cc.version_vector().is_empty());
    /// ```
    pub fn version_vector(&self) -> &VersionVector<A> {
        &self.vv
    }

    /// Number of dots held outside the version vector.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::CausalContext::<u8>::new().cloud_len(), 0);
    /// ```
    pub fn cloud_len(&self) -> usize {
        self.cloud.len()
    }

    /// The dots held outside the version vector, ascending.
    ///
    /// ```
    /// use quorate_clocks::Dot;
    /// let mut cc = quorate_crdt::CausalContext::new();
    /// cc.insert(Dot::new(1u8, 4));
    /// assert_eq!(cc.cloud().collect::<Vec<_>>(), [&Dot::new(1, 4)]);
    /// ```
    pub fn cloud(&self) -> impl Iterator<Item = &Dot<A>> + '_ {
        self.cloud.iter()
    }

    /// True when `dot` has been seen.
    ///
    /// ```
    /// use quorate_clocks::Dot;
    /// let mut cc = quorate_crdt::CausalContext::new();
    /// cc.insert(Dot::new(1u8, 1));
    /// assert!(cc.contains(&Dot::new(1, 1)));
    /// ```
    #[inline]
    pub fn contains(&self, dot: &Dot<A>) -> bool {
        self.vv.contains(dot)
            || (!self.cloud.is_empty() && self.cloud.binary_search(dot).is_ok())
            || (!self.retired.is_empty() && self.retired.iter().any(|r| r.covers(dot)))
    }

    /// The highest counter of `actor` seen, including the cloud.
    ///
    /// ```
    /// use quorate_clocks::Dot;
    /// let mut cc = quorate_crdt::CausalContext::new();
    /// cc.insert(Dot::new(1u8, 7));
    /// assert_eq!(cc.max_counter(&1), 7);
    /// ```
    pub fn max_counter(&self, actor: &A) -> u64 {
        let base = self.vv.get(actor);
        if self.cloud.is_empty() {
            return base;
        }
        let end = self.cloud.partition_point(|d| d.actor <= *actor);
        let cloud_max = end
            .checked_sub(1)
            .and_then(|i| self.cloud.get(i))
            .filter(|d| d.actor == *actor)
            .map_or(0, |d| d.counter);
        let retired_max = self
            .retired
            .iter()
            .map(|r| {
                if r.actor == *actor {
                    r.last
                } else if r.into == *actor {
                    r.base.saturating_add(r.last)
                } else {
                    0
                }
            })
            .max()
            .unwrap_or(0);
        base.max(cloud_max).max(retired_max)
    }

    /// The next dot `actor` should use: one past everything seen from it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when the actor's counter is at `u64::MAX`.
    ///
    /// ```
    /// let cc = quorate_crdt::CausalContext::<u8>::new();
    /// assert_eq!(cc.next_dot(3)?.counter, 1);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn next_dot(&self, actor: A) -> Result<Dot<A>, CounterOverflow> {
        let c = self
            .max_counter(&actor)
            .checked_add(1)
            .ok_or(CounterOverflow)?;
        Ok(Dot::new(actor, c))
    }

    /// Adds one dot and compacts. Counters of 0 are ignored (not real events).
    ///
    /// ```
    /// use quorate_clocks::Dot;
    /// let mut cc = quorate_crdt::CausalContext::new();
    /// cc.insert(Dot::new(1u8, 2));
    /// cc.insert(Dot::new(1u8, 1));
    /// assert_eq!(cc.version_vector().get(&1), 2);
    /// ```
    pub fn insert(&mut self, dot: Dot<A>) {
        let base = self.vv.get(&dot.actor);
        if dot.counter <= base {
            return;
        }
        if dot.counter == base + 1 {
            let actor = dot.actor;
            let mut top = dot.counter;
            while let Some(next) = top.checked_add(1) {
                if self.cloud.is_empty() {
                    break;
                }
                match self.cloud.binary_search(&Dot::new(actor.clone(), next)) {
                    Ok(i) => {
                        self.cloud.remove(i);
                        top = next;
                    }
                    Err(_) => break,
                }
            }
            self.vv.set(actor, top);
        } else if let Err(i) = self.cloud.binary_search(&dot) {
            self.cloud.insert(i, dot);
        }
        self.normalize();
    }

    /// Joins `other` into `self` (set union) and compacts.
    ///
    /// Costs `O(|vv| + |cloud| + |other|)`; with empty clouds it is a version-vector merge.
    ///
    /// ```
    /// use quorate_clocks::Dot;
    /// let mut a = quorate_crdt::CausalContext::new();
    /// a.insert(Dot::new(1u8, 1));
    /// let mut b = quorate_crdt::CausalContext::new();
    /// b.insert(Dot::new(1u8, 2));
    /// a.join(&b);
    /// assert_eq!(a.version_vector().get(&1), 2);
    /// ```
    pub fn join(&mut self, other: &Self) {
        self.vv.merge(&other.vv);
        if !self.retired.is_empty() || !other.retired.is_empty() {
            self.join_retired(other);
            return;
        }
        if self.cloud.is_empty() && other.cloud.is_empty() {
            return;
        }
        if other.cloud.len() <= 8 {
            // Small clouds (every mutation delta): insert dot by dot, no allocation when the
            // dots extend the vector.
            if !other.vv.is_empty() && !self.cloud.is_empty() {
                let mine = std::mem::take(&mut self.cloud);
                self.absorb_sorted(mine);
            }
            for d in &other.cloud {
                self.insert(d.clone());
            }
            return;
        }
        let mut mine = std::mem::take(&mut self.cloud);
        if mine.is_empty() {
            mine.extend(other.cloud.iter().cloned());
        } else if !other.cloud.is_empty() {
            mine.extend(other.cloud.iter().cloned());
            mine.sort();
            mine.dedup();
        }
        self.absorb_sorted(mine);
    }

    /// The join when either side has retirement records: union of the records (the smaller
    /// one wins a conflict, which validation rejects anyway), union of the clouds, then the
    /// retired actors' entries are dropped and the context is compacted.
    fn join_retired(&mut self, other: &Self) {
        let mut retired = std::mem::take(&mut self.retired);
        retired.extend(other.retired.iter().cloned());
        retired.sort();
        retired.dedup_by(|b, a| a.actor == b.actor);
        let mut cloud = std::mem::take(&mut self.cloud);
        cloud.extend(other.cloud.iter().cloned());
        cloud.sort();
        cloud.dedup();
        for r in &retired {
            self.vv.remove(&r.actor);
        }
        cloud.retain(|d| retired.binary_search_by(|r| r.actor.cmp(&d.actor)).is_err());
        self.retired = retired;
        self.absorb_sorted(cloud);
        self.normalize();
    }

    /// Rebuilds the cloud from sorted, de-duplicated candidate dots, folding prefixes into the
    /// vector. Reuses the candidates' allocation.
    fn absorb_sorted(&mut self, mut dots: Vec<Dot<A>>) {
        let vv = &mut self.vv;
        dots.retain(|d| {
            let base = vv.get(&d.actor);
            if d.counter <= base {
                return false;
            }
            if d.counter == base + 1 {
                vv.set(d.actor.clone(), d.counter);
                return false;
            }
            true
        });
        self.cloud = dots;
    }

    /// A context of exactly `dots` (any order, duplicates allowed), reusing the vector.
    pub(crate) fn from_dots(mut dots: Vec<Dot<A>>) -> Self {
        dots.sort();
        dots.dedup();
        let mut cc = Self::new();
        cc.absorb_sorted(dots);
        cc
    }

    /// Inserts many dots at once (sorted pass, then compaction).
    pub(crate) fn insert_all<I: IntoIterator<Item = Dot<A>>>(&mut self, dots: I) {
        let mut all = std::mem::take(&mut self.cloud);
        all.extend(dots);
        all.sort();
        all.dedup();
        self.absorb_sorted(all);
        self.normalize();
    }

    /// Checks the compaction invariant: no zero counters, no cloud dot covered by or adjacent to
    /// the vector. Linear.
    ///
    /// # Errors
    ///
    /// [`ValidationError::ContextNotCompact`] or [`ValidationError::ZeroCounter`].
    ///
    /// ```
    /// assert!(quorate_crdt::CausalContext::<u8>::new().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ValidationError> {
        for d in &self.cloud {
            if d.counter == 0 {
                return Err(ValidationError::ZeroCounter {
                    actor: name(&d.actor),
                });
            }
            if d.counter <= self.vv.get(&d.actor).saturating_add(1) {
                return Err(ValidationError::ContextNotCompact {
                    actor: name(&d.actor),
                });
            }
        }
        if self.retired.is_empty() {
            return Ok(());
        }
        if let Some(w) = self.retired.windows(2).find(|w| w[0].actor >= w[1].actor) {
            return Err(ValidationError::ContextNotCompact {
                actor: name(&w[1].actor),
            });
        }
        for r in &self.retired {
            if r.actor == r.into || r.last == 0 || r.base.checked_add(r.last).is_none() {
                return Err(ValidationError::InvalidRetirement {
                    actor: name(&r.actor),
                });
            }
            if self.mentions(&r.actor) {
                return Err(ValidationError::RetiredActor {
                    actor: name(&r.actor),
                });
            }
            let v = self.vv.get(&r.into);
            if v >= r.base && v < r.base + r.last && !self.is_retired(&r.into) {
                return Err(ValidationError::ContextNotCompact {
                    actor: name(&r.into),
                });
            }
        }
        if let Some(d) = self
            .cloud
            .iter()
            .find(|d| self.retired.iter().any(|r| r.covers(d)))
        {
            return Err(ValidationError::ContextNotCompact {
                actor: name(&d.actor),
            });
        }
        Ok(())
    }

    pub(crate) fn collect_actors(&self, out: &mut BTreeSet<A>) {
        for (a, _) in self.vv.iter() {
            if !out.contains(a) {
                out.insert(a.clone());
            }
        }
        for d in &self.cloud {
            if !out.contains(&d.actor) {
                out.insert(d.actor.clone());
            }
        }
        for r in &self.retired {
            out.insert(r.actor.clone());
            out.insert(r.into.clone());
        }
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S, t: &ActorTable<A>) {
        put_len(s, self.vv.len());
        for (a, c) in self.vv.iter() {
            s.varint(t.index(a));
            s.varint(c);
        }
        put_len(s, self.cloud.len());
        for d in &self.cloud {
            t.put_dot(s, d);
        }
        put_len(s, self.retired.len());
        for r in &self.retired {
            s.varint(t.index(&r.actor));
            s.varint(r.last);
            s.varint(t.index(&r.into));
            s.varint(r.base);
        }
    }

    pub(crate) fn read<B: Buf>(buf: &mut B, actors: &[A]) -> Result<Self, DecodeError> {
        let n = get_len(buf, 2)?;
        let mut vv = VersionVector::new();
        let mut prev: Option<A> = None;
        for _ in 0..n {
            let a = read_actor(buf, actors)?;
            let c = get_varint(buf)?;
            if c == 0 {
                return Err(DecodeError::Invalid("zero version vector entry"));
            }
            if prev.as_ref().is_some_and(|p| *p >= a) {
                return Err(DecodeError::Invalid(
                    "version vector not strictly ascending",
                ));
            }
            prev = Some(a.clone());
            vv.set(a, c);
        }
        let m = get_len(buf, 2)?;
        let mut cloud: Vec<Dot<A>> = Vec::with_capacity(m);
        let mut prev: Option<Dot<A>> = None;
        for _ in 0..m {
            let d = read_dot(buf, actors)?;
            if prev.as_ref().is_some_and(|p| *p >= d) {
                return Err(DecodeError::Invalid("dot cloud not strictly ascending"));
            }
            prev = Some(d.clone());
            cloud.push(d);
        }
        let k = get_len(buf, 4)?;
        let mut retired: Vec<Retirement<A>> = Vec::with_capacity(k);
        for _ in 0..k {
            let actor = read_actor(buf, actors)?;
            let last = get_varint(buf)?;
            let into = read_actor(buf, actors)?;
            let base = get_varint(buf)?;
            if retired.last().is_some_and(|p| p.actor >= actor) {
                return Err(DecodeError::Invalid("retirements not strictly ascending"));
            }
            retired.push(Retirement {
                actor,
                last,
                into,
                base,
            });
        }
        let cc = Self { vv, cloud, retired };
        cc.validate()
            .map_err(|_| DecodeError::Invalid("causal context not compacted"))?;
        Ok(cc)
    }
}

impl<A: Actor> FromIterator<Dot<A>> for CausalContext<A> {
    fn from_iter<I: IntoIterator<Item = Dot<A>>>(iter: I) -> Self {
        let mut cc = Self::new();
        cc.insert_all(iter);
        cc
    }
}

impl<A: Actor> Extend<Dot<A>> for CausalContext<A> {
    fn extend<I: IntoIterator<Item = Dot<A>>>(&mut self, iter: I) {
        self.insert_all(iter);
    }
}
