//! Causal contexts: what a replica has seen, as a version vector plus a dot cloud.

use std::collections::BTreeSet;
use std::fmt;

use bytes::Buf;
use quorate_clocks::{
    Actor, CounterOverflow, DecodeError, Dot, VersionVector, get_len, get_varint,
};

use crate::codec::{ActorTable, Sink, put_len, read_actor, read_dot};
use crate::error::ValidationError;

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
}

impl<A> Default for CausalContext<A> {
    fn default() -> Self {
        Self {
            vv: VersionVector::default(),
            cloud: Vec::new(),
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for CausalContext<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CausalContext")
            .field("vv", &self.vv)
            .field("cloud", &self.cloud)
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
        self.vv.is_empty() && self.cloud.is_empty()
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
        self.vv.contains(dot) || (!self.cloud.is_empty() && self.cloud.binary_search(dot).is_ok())
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
        base.max(cloud_max)
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
                return Err(ValidationError::ZeroCounter);
            }
            if d.counter <= self.vv.get(&d.actor).saturating_add(1) {
                return Err(ValidationError::ContextNotCompact);
            }
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
        let cc = Self { vv, cloud };
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
