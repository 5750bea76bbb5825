//! Dotted version vector sets: sibling values per key without false conflicts.

use bytes::{Buf, BufMut};

use crate::codec::{
    Decode, DecodeError, Encode, get_len, get_varint, get_version, put_varint, varint_len,
};
use crate::dot::{Actor, CounterOverflow};
use crate::vv::VersionVector;

const DVVSET_VERSION: u8 = 1;

/// One server's entry: its event counter and the values of its latest events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Entry<A, V> {
    actor: A,
    counter: u64,
    values: Vec<V>,
}

/// A set of sibling values with their causal history (Riak's `dvvset` clock).
///
/// Typical server-side use, per key:
/// 1. a client reads: the server returns [`values`](Self::values) and the context
///    [`join`](Self::join);
/// 2. the client writes value `v` with that context: the server builds
///    `DvvSet::with_context(&ctx, v)` and calls [`update_with`](Self::update_with) on it with
///    its stored set and its own id;
/// 3. replicas exchange sets and [`sync`](Self::sync) them.
///
/// A replicated key-value store must keep concurrent writes as siblings and drop a value only
/// when a later write has *seen* it. With one version vector per key, two clients that write
/// through the same server look like one actor, so a concurrent write either overwrites a
/// sibling it never saw (lost update) or the server must use client ids as actors (vectors grow
/// without bound). A dotted version vector set (Preguiça, Baquero, Almeida, Fonte, Gonçalves)
/// keeps one entry per *server*, and in each entry the values written at that server's most
/// recent events (their dots are implicit: the newest value has the entry's counter, the next
/// one counter - 1, and so on). A write carries the version vector the client read; the server
/// discards exactly the values whose dots that context covers.
///
/// This is a port of the semantics of Riak's `dvvset` module (riak_core), including its
/// eunit expectations (see `tests/dvvset_riak.rs`).
///
/// ```
/// use quorate_clocks::DvvSet;
/// # fn main() -> Result<(), quorate_clocks::DvvUpdateError> {
/// // Mary writes v1 without a context at server a.
/// let a0 = DvvSet::new("v1").update(&"a")?;
/// // Peter reads it (context {a: 1}).
/// let ctx = a0.join();
/// // Mary writes v2, again without a context: v1 and v2 are siblings.
/// let a1 = DvvSet::new("v2").update_with(&a0, &"a")?;
/// assert_eq!(a1.values(), [&"v2", &"v1"]);
/// // Peter writes v3 having seen v1: v1 goes, v2 (which Peter never saw) stays.
/// let a2 = DvvSet::with_context(&ctx, "v3").update_with(&a1, &"a")?;
/// assert_eq!(a2.values(), [&"v3", &"v2"]);
/// # Ok(())
/// # }
/// ```
///
/// Equality (and `Hash`) compare the entries exactly and the anonymous values as a multiset:
/// their order carries no meaning (Riak keeps them in a list, but builds it from a set in
/// `sync`), so two sets that differ only in the order of anonymous values are equal.
#[derive(Debug, Clone)]
pub struct DvvSet<A, V> {
    entries: Vec<Entry<A, V>>,
    anonymous: Vec<V>,
}

/// Whether `a` and `b` hold the same values with the same multiplicities, in any order.
/// Quadratic, allocation-free: anonymous lists are short (one per concurrent anonymous write).
fn same_multiset<V: PartialEq>(a: &[V], b: &[V]) -> bool {
    a.len() == b.len()
        && a.iter().all(|x| {
            let in_a = a.iter().filter(|y| *y == x).count();
            let in_b = b.iter().filter(|y| *y == x).count();
            in_a == in_b
        })
}

impl<A: PartialEq, V: PartialEq> PartialEq for DvvSet<A, V> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries && same_multiset(&self.anonymous, &other.anonymous)
    }
}

impl<A: Eq, V: Eq> Eq for DvvSet<A, V> {}

impl<A: core::hash::Hash, V: core::hash::Hash> core::hash::Hash for DvvSet<A, V> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        use core::hash::{BuildHasher, BuildHasherDefault};
        self.entries.hash(state);
        // Order-independent: the sum of each value's own hash (with a fixed, unkeyed hasher),
        // so equal multisets hash equally whatever their order.
        let per_value = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        let sum = self
            .anonymous
            .iter()
            .fold(0u64, |acc, v| acc.wrapping_add(per_value.hash_one(v)));
        state.write_usize(self.anonymous.len());
        state.write_u64(sum);
    }
}

impl<A, V> Default for DvvSet<A, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            anonymous: Vec::new(),
        }
    }
}

/// Why a [`DvvSet`] update failed.
///
/// ```
/// use quorate_clocks::{DvvSet, DvvUpdateError};
/// let two = DvvSet::<&str, _>::new_many(vec![1, 2]);
/// assert_eq!(two.update(&"a"), Err(DvvUpdateError::NotOneValue(2)));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DvvUpdateError {
    /// The client set must hold exactly one (anonymous) value: the one being written.
    #[error("client set must hold exactly one new value, found {0}")]
    NotOneValue(usize),
    /// The server's counter is at `u64::MAX`.
    #[error("counter overflow")]
    CounterOverflow,
}

impl From<CounterOverflow> for DvvUpdateError {
    fn from(_: CounterOverflow) -> Self {
        Self::CounterOverflow
    }
}

/// Why [`DvvSet::from_parts`] rejected its input.
///
/// ```
/// use quorate_clocks::DvvSet;
/// let bad = DvvSet::from_parts(vec![("a", 1, vec![1, 2])], vec![]);
/// assert!(bad.is_err()); // two values but only one event
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDvvSet {
    /// Entries are not in strictly ascending actor order.
    #[error("entries not in strictly ascending actor order")]
    Unsorted,
    /// An entry holds more values than its counter has events.
    #[error("entry holds more values than its counter")]
    TooManyValues,
}

impl<A: Actor, V> DvvSet<A, V> {
    /// A set with one value and no causal history (Riak `new/1`): a client's first write.
    ///
    /// ```
    /// let s = quorate_clocks::DvvSet::<u8, _>::new("v");
    /// assert_eq!(s.size(), 1);
    /// ```
    pub fn new(value: V) -> Self {
        Self::new_many(vec![value])
    }

    /// A set with several anonymous values and no causal history.
    ///
    /// ```
    /// let s = quorate_clocks::DvvSet::<u8, _>::new_many(vec![1, 2]);
    /// assert_eq!(s.values(), [&1, &2]);
    /// ```
    pub fn new_many(values: Vec<V>) -> Self {
        Self {
            entries: Vec::new(),
            anonymous: values,
        }
    }

    /// A set with the causal history `context` (what the client read) and one new value
    /// (Riak `new/2`).
    ///
    /// ```
    /// use quorate_clocks::{DvvSet, VersionVector};
    /// let ctx: VersionVector<char> = [('a', 2)].into_iter().collect();
    /// let s = DvvSet::with_context(&ctx, "v");
    /// assert_eq!(s.join(), ctx);
    /// ```
    pub fn with_context(context: &VersionVector<A>, value: V) -> Self {
        Self::with_context_many(context, vec![value])
    }

    /// [`with_context`](Self::with_context) with several anonymous values.
    ///
    /// ```
    /// use quorate_clocks::{DvvSet, VersionVector};
    /// let s = DvvSet::with_context_many(&VersionVector::<u8>::new(), vec![1, 2]);
    /// assert_eq!(s.size(), 2);
    /// ```
    pub fn with_context_many(context: &VersionVector<A>, values: Vec<V>) -> Self {
        Self {
            entries: context
                .iter()
                .map(|(a, n)| Entry {
                    actor: a.clone(),
                    counter: n,
                    values: Vec::new(),
                })
                .collect(),
            anonymous: values,
        }
    }

    /// Builds a set from raw parts: `(actor, counter, values newest first)` entries in
    /// strictly ascending actor order, plus anonymous values. Counters may be 0 (Riak allows
    /// it) but no entry may hold more values than its counter.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let s = DvvSet::from_parts(vec![('a', 2, vec!["v2", "v1"])], vec![])?;
    /// assert_eq!(s.size(), 2);
    /// # Ok::<(), quorate_clocks::InvalidDvvSet>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidDvvSet`] when the entries are unsorted or an entry has too many values.
    pub fn from_parts(
        entries: Vec<(A, u64, Vec<V>)>,
        anonymous: Vec<V>,
    ) -> Result<Self, InvalidDvvSet> {
        if entries
            .windows(2)
            .any(|w| matches!(w, [x, y] if x.0 >= y.0))
        {
            return Err(InvalidDvvSet::Unsorted);
        }
        if entries.iter().any(|e| e.2.len() as u64 > e.1) {
            return Err(InvalidDvvSet::TooManyValues);
        }
        Ok(Self {
            entries: entries
                .into_iter()
                .map(|(actor, counter, values)| Entry {
                    actor,
                    counter,
                    values,
                })
                .collect(),
            anonymous,
        })
    }

    /// The causal history as a version vector (Riak `join/1`): what a client should send back
    /// as the context of its next write.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let s = DvvSet::new("v").update(&'a')?;
    /// assert_eq!(s.join().get(&'a'), 1);
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    pub fn join(&self) -> VersionVector<A> {
        self.entries
            .iter()
            .map(|e| (e.actor.clone(), e.counter))
            .collect()
    }

    /// Registers the set's single anonymous value as a new event of server `actor`
    /// (Riak `update/2`): the first write of a key, with no stored set.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let s = DvvSet::new("v1").update(&'a')?;
    /// assert_eq!(s.entries().collect::<Vec<_>>(), [(&'a', 1, &["v1"][..])]);
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`DvvUpdateError::NotOneValue`] unless the set has exactly one anonymous value;
    /// [`DvvUpdateError::CounterOverflow`] when `actor`'s counter is `u64::MAX`.
    pub fn update(mut self, actor: &A) -> Result<Self, DvvUpdateError> {
        let value = self.take_single()?;
        self.event(actor, value)?;
        Ok(self)
    }

    /// Registers the client's new value (this set: a context plus one anonymous value, as from
    /// [`with_context`](Self::with_context)) at server `actor`, synchronising with the
    /// server's stored set first (Riak `update/3`). The result is causally newer than both;
    /// stored values the client context covers are dropped, all others stay as siblings.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let stored = DvvSet::new("v1").update(&'a')?;
    /// let next = DvvSet::with_context(&stored.join(), "v2").update_with(&stored, &'a')?;
    /// assert_eq!(next.values(), [&"v2"]);
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub fn update_with(mut self, server: &Self, actor: &A) -> Result<Self, DvvUpdateError>
    where
        V: Clone + PartialEq,
    {
        let value = self.take_single()?;
        let mut synced = self.sync(server);
        synced.event(actor, value)?;
        Ok(synced)
    }

    fn take_single(&mut self) -> Result<V, DvvUpdateError> {
        if self.anonymous.len() != 1 {
            return Err(DvvUpdateError::NotOneValue(self.anonymous.len()));
        }
        self.anonymous.pop().ok_or(DvvUpdateError::NotOneValue(0))
    }

    fn event(&mut self, actor: &A, value: V) -> Result<(), CounterOverflow> {
        match self.entries.binary_search_by(|e| e.actor.cmp(actor)) {
            Ok(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.counter = e.counter.checked_add(1).ok_or(CounterOverflow)?;
                    e.values.insert(0, value);
                }
            }
            Err(i) => self.entries.insert(
                i,
                Entry {
                    actor: actor.clone(),
                    counter: 1,
                    values: vec![value],
                },
            ),
        }
        Ok(())
    }

    /// Merges two sets (Riak `sync/2`): the union of the histories, keeping exactly the values
    /// that neither side has causally overwritten. Commutative, associative and idempotent
    /// (under `==`, which ignores the order of anonymous values): when neither history is
    /// less than the other, the anonymous values are the union of both sides with each
    /// distinct value kept once (Riak's `sets:from_list(V1 ++ V2)`), this set's first.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let a = DvvSet::new("v1").update(&'a')?;
    /// let b = DvvSet::new("v2").update(&'b')?;
    /// let both = a.sync(&b);
    /// assert_eq!(both.values(), [&"v1", &"v2"]);
    /// assert_eq!(both, b.sync(&a));
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    pub fn sync(&self, other: &Self) -> Self
    where
        V: Clone + PartialEq,
    {
        let anonymous = if self.less(other) {
            other.anonymous.clone()
        } else if other.less(self) {
            self.anonymous.clone()
        } else {
            // Riak keeps `sets:from_list(V1 ++ V2)`: each distinct value once, duplicates
            // within either side included.
            let mut all: Vec<V> = Vec::with_capacity(self.anonymous.len() + other.anonymous.len());
            for v in self.anonymous.iter().chain(&other.anonymous) {
                if !all.contains(v) {
                    all.push(v.clone());
                }
            }
            all
        };
        let mut entries = Vec::with_capacity(self.entries.len().max(other.entries.len()));
        let (mut i, mut j) = (0, 0);
        loop {
            match (self.entries.get(i), other.entries.get(j)) {
                (Some(x), Some(y)) => match x.actor.cmp(&y.actor) {
                    core::cmp::Ordering::Less => {
                        entries.push(x.clone());
                        i += 1;
                    }
                    core::cmp::Ordering::Greater => {
                        entries.push(y.clone());
                        j += 1;
                    }
                    core::cmp::Ordering::Equal => {
                        entries.push(merge_entry(x, y));
                        i += 1;
                        j += 1;
                    }
                },
                (Some(x), None) => {
                    entries.push(x.clone());
                    i += 1;
                }
                (None, Some(y)) => {
                    entries.push(y.clone());
                    j += 1;
                }
                (None, None) => break,
            }
        }
        Self { entries, anonymous }
    }

    /// [`sync`](Self::sync) over any number of sets (Riak `sync/1`); `None` for none.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let a = DvvSet::new(1).update(&'a')?;
    /// assert_eq!(DvvSet::sync_all([&a, &a]), Some(a.clone()));
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    pub fn sync_all<'a>(sets: impl IntoIterator<Item = &'a Self>) -> Option<Self>
    where
        V: Clone + PartialEq + 'a,
    {
        let mut iter = sets.into_iter();
        let first = iter.next()?.clone();
        Some(iter.fold(first, |acc, s| acc.sync(s)))
    }

    /// Whether this set's history is strictly older than `other`'s, so all its values are
    /// outdated (Riak `less/2`). Values are ignored.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let a = DvvSet::new(1).update(&'a')?;
    /// let b = DvvSet::with_context(&a.join(), 2).update(&'a')?;
    /// assert!(a.less(&b) && !b.less(&a) && !a.less(&a));
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    pub fn less(&self, other: &Self) -> bool {
        greater(&other.entries, &self.entries)
    }

    /// Whether both histories are equal, ignoring values except for how many each entry holds
    /// (Riak `equal/2`).
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let a = DvvSet::from_parts(vec![('a', 1, vec!["x"])], vec!["y"])?;
    /// let b = DvvSet::from_parts(vec![('a', 1, vec!["z"])], vec![])?;
    /// assert!(a.equal(&b));
    /// # Ok::<(), quorate_clocks::InvalidDvvSet>(())
    /// ```
    pub fn equal(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self.entries.iter().zip(&other.entries).all(|(x, y)| {
                x.actor == y.actor && x.counter == y.counter && x.values.len() == y.values.len()
            })
    }

    /// Total number of values, anonymous included (Riak `size/1`).
    ///
    /// ```
    /// assert_eq!(quorate_clocks::DvvSet::<u8, _>::new(1).size(), 1);
    /// ```
    pub fn size(&self) -> usize {
        self.anonymous.len() + self.entries.iter().map(|e| e.values.len()).sum::<usize>()
    }

    /// The servers (actors) in the history, ascending (Riak `ids/1`).
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let s = DvvSet::new(1).update(&'b')?;
    /// assert_eq!(s.ids().collect::<Vec<_>>(), [&'b']);
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    pub fn ids(&self) -> impl Iterator<Item = &A> + '_ {
        self.entries.iter().map(|e| &e.actor)
    }

    /// All values: anonymous ones first, then each entry's values newest first (Riak
    /// `values/1`).
    ///
    /// ```
    /// let s = quorate_clocks::DvvSet::<u8, _>::new("v");
    /// assert_eq!(s.values(), [&"v"]);
    /// ```
    pub fn values(&self) -> Vec<&V> {
        self.anonymous
            .iter()
            .chain(self.entries.iter().flat_map(|e| e.values.iter()))
            .collect()
    }

    /// The entries as `(actor, counter, values newest first)`.
    ///
    /// ```
    /// let s = quorate_clocks::DvvSet::new(5).update(&'a')?;
    /// assert_eq!(s.entries().next(), Some((&'a', 1, &[5][..])));
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = (&A, u64, &[V])> + '_ {
        self.entries
            .iter()
            .map(|e| (&e.actor, e.counter, e.values.as_slice()))
    }

    /// The anonymous values (no dot of their own).
    ///
    /// ```
    /// let s = quorate_clocks::DvvSet::<u8, _>::new(3);
    /// assert_eq!(s.anonymous(), [3]);
    /// ```
    pub fn anonymous(&self) -> &[V] {
        &self.anonymous
    }

    /// Applies `f` to every value, keeping the history (Riak `map/2`).
    ///
    /// ```
    /// let s = quorate_clocks::DvvSet::<u8, _>::new(3).map(|v| v * 2);
    /// assert_eq!(s.values(), [&6]);
    /// ```
    pub fn map<U>(self, mut f: impl FnMut(V) -> U) -> DvvSet<A, U> {
        DvvSet {
            entries: self
                .entries
                .into_iter()
                .map(|e| Entry {
                    actor: e.actor,
                    counter: e.counter,
                    values: e.values.into_iter().map(&mut f).collect(),
                })
                .collect(),
            anonymous: self.anonymous.into_iter().map(&mut f).collect(),
        }
    }

    /// Replaces all siblings by `f(values)` with the same history, as one anonymous value
    /// (Riak `reconcile/2`). Write the result back with [`update_with`](Self::update_with).
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let s = DvvSet::from_parts(vec![('a', 4, vec![5, 2]), ('c', 1, vec![3])], vec![])?;
    /// let r = s.reconcile(|vs| vs.into_iter().sum());
    /// assert_eq!(r.values(), [&10]);
    /// # Ok::<(), quorate_clocks::InvalidDvvSet>(())
    /// ```
    pub fn reconcile(&self, f: impl FnOnce(Vec<&V>) -> V) -> Self {
        let v = f(self.values());
        self.history_with(v)
    }

    /// This set's history, entry for entry (counter-0 entries included, as Riak's `join/1`
    /// keeps them), with `value` as the only (anonymous) value.
    fn history_with(&self, value: V) -> Self {
        Self {
            entries: self
                .entries
                .iter()
                .map(|e| Entry {
                    actor: e.actor.clone(),
                    counter: e.counter,
                    values: Vec::new(),
                })
                .collect(),
            anonymous: vec![value],
        }
    }

    /// The newest value by `le` (a "less than or equal" on values), among the anonymous values
    /// and the newest value of each entry (Riak `last/2`); `None` when there are no values.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let s = DvvSet::from_parts(vec![('a', 4, vec![5, 2]), ('c', 1, vec![3])], vec![])?;
    /// assert_eq!(s.last(|a, b| a <= b), Some(&5));
    /// # Ok::<(), quorate_clocks::InvalidDvvSet>(())
    /// ```
    pub fn last(&self, le: impl Fn(&V, &V) -> bool) -> Option<&V> {
        self.find_last(le).map(|(_, v)| v)
    }

    /// Keeps only the newest value by `le`, in its original place, with the same history
    /// (Riak `lww/2`); unchanged when there are no values.
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let s = DvvSet::from_parts(vec![('a', 4, vec![5, 2]), ('c', 1, vec![3])], vec![])?;
    /// let w = s.lww(|a, b| a <= b);
    /// assert_eq!(w, DvvSet::from_parts(vec![('a', 4, vec![5]), ('c', 1, vec![])], vec![])?);
    /// # Ok::<(), quorate_clocks::InvalidDvvSet>(())
    /// ```
    pub fn lww(&self, le: impl Fn(&V, &V) -> bool) -> Self
    where
        V: Clone,
    {
        let Some((winner, v)) = self.find_last(le) else {
            return self.clone();
        };
        match winner {
            Some(actor) => Self {
                entries: self
                    .entries
                    .iter()
                    .map(|e| Entry {
                        actor: e.actor.clone(),
                        counter: e.counter,
                        values: if e.actor == *actor {
                            vec![v.clone()]
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
                anonymous: Vec::new(),
            },
            None => self.history_with(v.clone()),
        }
    }

    /// The winner and where it lives (`Some(actor)` for an entry, `None` for anonymous).
    /// Entries are scanned before anonymous values; on ties the later candidate wins.
    fn find_last(&self, le: impl Fn(&V, &V) -> bool) -> Option<(Option<&A>, &V)> {
        let candidates = self
            .entries
            .iter()
            .filter_map(|e| e.values.first().map(|v| (Some(&e.actor), v)))
            .chain(self.anonymous.iter().map(|v| (None, v)));
        candidates.reduce(|best, next| if le(best.1, next.1) { next } else { best })
    }

    /// Removes `actor`'s entry, moving its values to the anonymous list so none is lost
    /// (used by pruning; may later show them as siblings of a write that did overwrite them).
    ///
    /// ```
    /// use quorate_clocks::DvvSet;
    /// let mut s = DvvSet::new(1).update(&'a')?;
    /// assert!(s.remove_actor(&'a'));
    /// assert_eq!(s.anonymous(), [1]);
    /// # Ok::<(), quorate_clocks::DvvUpdateError>(())
    /// ```
    pub fn remove_actor(&mut self, actor: &A) -> bool {
        match self.entries.binary_search_by(|e| e.actor.cmp(actor)) {
            Ok(i) => {
                let e = self.entries.remove(i);
                self.anonymous.extend(e.values);
                true
            }
            Err(_) => false,
        }
    }
}

/// Riak's `merge/5`: the entry with the higher counter, keeping only those of its values
/// whose dots the other side has not seen without them.
fn merge_entry<A: Clone, V: Clone>(x: &Entry<A, V>, y: &Entry<A, V>) -> Entry<A, V> {
    let (hi, lo) = if x.counter >= y.counter {
        (x, y)
    } else {
        (y, x)
    };
    let hi_len = hi.values.len() as u64;
    let lo_len = lo.values.len() as u64;
    let values = if hi.counter.saturating_sub(hi_len) >= lo.counter.saturating_sub(lo_len) {
        hi.values.clone()
    } else {
        let keep = (hi.counter - lo.counter).saturating_add(lo_len);
        hi.values
            .iter()
            .take(usize::try_from(keep).unwrap_or(usize::MAX))
            .cloned()
            .collect()
    };
    Entry {
        actor: hi.actor.clone(),
        counter: hi.counter,
        values,
    }
}

/// Riak's `greater/3` with `strict = false`: whether history `a` strictly dominates `b`.
fn greater<A: Ord, V>(a: &[Entry<A, V>], b: &[Entry<A, V>]) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut strict = false;
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => return strict,
            (Some(_), None) => return true,
            (None, Some(_)) => return false,
            (Some(x), Some(y)) => match x.actor.cmp(&y.actor) {
                core::cmp::Ordering::Equal => {
                    if x.counter < y.counter {
                        return false;
                    }
                    strict |= x.counter > y.counter;
                    i += 1;
                    j += 1;
                }
                core::cmp::Ordering::Less => {
                    strict = true;
                    i += 1;
                }
                core::cmp::Ordering::Greater => return false,
            },
        }
    }
}

/// Format: version byte `1`, varint entry count, per entry `actor, varint counter, varint
/// value count, values`, then varint anonymous count and values. Entries must be strictly
/// ascending with no more values than their counter.
impl<A: Actor + Encode, V: Encode> Encode for DvvSet<A, V> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(DVVSET_VERSION);
        put_varint(buf, self.entries.len() as u64);
        for e in &self.entries {
            e.actor.encode(buf);
            put_varint(buf, e.counter);
            put_varint(buf, e.values.len() as u64);
            for v in &e.values {
                v.encode(buf);
            }
        }
        put_varint(buf, self.anonymous.len() as u64);
        for v in &self.anonymous {
            v.encode(buf);
        }
    }
    fn encoded_len(&self) -> usize {
        let vals = |vs: &[V]| {
            varint_len(vs.len() as u64) + vs.iter().map(Encode::encoded_len).sum::<usize>()
        };
        1 + varint_len(self.entries.len() as u64)
            + self
                .entries
                .iter()
                .map(|e| e.actor.encoded_len() + varint_len(e.counter) + vals(&e.values))
                .sum::<usize>()
            + vals(&self.anonymous)
    }
}

fn decode_values<V: Decode, B: Buf>(buf: &mut B) -> Result<Vec<V>, DecodeError> {
    let n = get_len(buf, 1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(V::decode(buf)?);
    }
    Ok(out)
}

impl<A: Actor + Decode, V: Decode> Decode for DvvSet<A, V> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        get_version(buf, DVVSET_VERSION)?;
        let n = get_len(buf, 3)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let actor = A::decode(buf)?;
            let counter = get_varint(buf)?;
            let values = decode_values(buf)?;
            entries.push((actor, counter, values));
        }
        let anonymous = decode_values(buf)?;
        Self::from_parts(entries, anonymous).map_err(|e| {
            DecodeError::Invalid(match e {
                InvalidDvvSet::Unsorted => "dvvset entries not strictly ascending",
                InvalidDvvSet::TooManyValues => "dvvset entry holds more values than its counter",
            })
        })
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::{Actor, DvvSet, Entry};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    struct Repr<A, V> {
        entries: Vec<Entry<A, V>>,
        anonymous: Vec<V>,
    }

    #[derive(Serialize)]
    struct ReprRef<'a, A, V> {
        entries: &'a [Entry<A, V>],
        anonymous: &'a [V],
    }

    /// Serialized as `{ entries: [{actor, counter, values}], anonymous: [..] }`.
    impl<A: Actor + Serialize, V: Serialize> Serialize for DvvSet<A, V> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ReprRef {
                entries: &self.entries,
                anonymous: &self.anonymous,
            }
            .serialize(s)
        }
    }

    /// Validated like [`DvvSet::from_parts`].
    impl<'de, A: Actor + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for DvvSet<A, V> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let r: Repr<A, V> = Repr::deserialize(d)?;
            DvvSet::from_parts(
                r.entries
                    .into_iter()
                    .map(|e| (e.actor, e.counter, e.values))
                    .collect(),
                r.anonymous,
            )
            .map_err(serde::de::Error::custom)
        }
    }
}
