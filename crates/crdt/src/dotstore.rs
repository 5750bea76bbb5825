//! Dot stores: the payload half of a causal CRDT (the other half is the causal context).
//!
//! Three stores compose every causal type in the crate, after Almeida, Shoker and Baquero's
//! delta-state paper:
//!
//! * [`DotSet`]: a set of dots (an enable-wins flag; the entry of one OR-set element);
//! * [`DotFun`]: dots mapped to values (a multi-value register);
//! * [`DotMap`]: keys mapped to nested stores (OR-set, remove-wins set, OR-map).
//!
//! Joins follow one rule at every level: a dot survives when both sides have it, or when one
//! side has it and the other side's context has not seen it. A dot the other side has seen but
//! no longer holds was removed there, so no tombstones are needed.

use std::collections::{BTreeSet, HashSet};

use std::convert::Infallible;
use std::fmt;

use bytes::Buf;
use quorate_clocks::{Actor, Decode, DecodeError, Dot, Encode, VersionVector, get_len};

use crate::chunkmap::{Builder, ChunkMap};
use crate::codec::{ActorTable, Sink, put_len, read_dot};
use crate::context::{CausalContext, DotView, Retirement};
use crate::error::{ValidationError, dot_name, name};

pub(crate) mod sealed {
    use super::*;

    /// How a join treats keys (see `CausalDelta`).
    #[derive(Debug, Clone, Copy)]
    #[allow(unreachable_pub)] // Sealed-trait plumbing: public in a private module on purpose.
    pub struct JoinOpts {
        /// Visit only the keys present on the other side (deltas that name what they touch).
        pub keys_only: bool,
        /// Drop entries that become empty (states) or keep them as key hints (deltas).
        pub prune: bool,
    }

    /// The operations of a dot store; sealed so the store algebra stays inside this crate.
    #[allow(unreachable_pub)] // Sealed-trait plumbing: public in a private module on purpose.
    pub trait Store<A: Actor>: Clone + PartialEq + fmt::Debug + Default + Send + Sync {
        /// What a remove with context names: a top-level key of a map, `()` for the keyless
        /// stores (the whole value).
        type Key: Clone + Ord + fmt::Debug + Send + Sync + 'static;
        /// Drops the dots under `key` that `vv` covers (pruning emptied entries).
        fn drop_key_covered(&mut self, key: &Self::Key, vv: &VersionVector<A>);
        /// True when some dot under `key` is covered by `vv`.
        fn key_has_covered(&self, key: &Self::Key, vv: &VersionVector<A>) -> bool {
            let _ = key;
            let mut found = false;
            self.for_each_dot(&mut |d| found |= vv.contains(d));
            found
        }
        /// No dots anywhere (keys with empty values count as empty).
        fn is_bottom(&self) -> bool;
        /// Number of top-level entries (dots, or keys for maps): sizes validation scratch space.
        fn width(&self) -> usize;
        /// Calls `f` on every dot.
        fn for_each_dot(&self, f: &mut dyn FnMut(&Dot<A>));
        /// Pushes to `out` the dots `ctx` has seen (a side with no counterpart entry, in the
        /// collision checks).
        fn push_seen<C: DotView<A>>(&self, ctx: &C, out: &mut Vec<Dot<A>>);
        /// Dot-store join against the two contexts.
        fn join_store<C1: DotView<A>, C2: DotView<A>>(
            &mut self,
            mine: &C1,
            other: &Self,
            theirs: &C2,
            opts: JoinOpts,
        );
        /// Full-state join taking the other store by value (moves its new entries).
        fn join_store_owned<C1: DotView<A>, C2: DotView<A>>(
            &mut self,
            mine: &C1,
            other: Self,
            theirs: &C2,
        ) {
            let opts = JoinOpts {
                keys_only: false,
                prune: true,
            };
            self.join_store(mine, &other, theirs, opts);
        }
        /// Renames the retired actor's dots (see `Retirement`).
        fn rename(&mut self, r: &Retirement<A>);
        /// Removes the dots `theirs` has seen (join with an empty store).
        fn drop_covered<C: DotView<A>>(&mut self, theirs: &C, prune: bool);
        /// Same keys, all dots removed: the store part of a remove delta.
        fn hollow(&self) -> Self;
        /// Only the parts whose dots are not in `seen` (empty parts pruned).
        fn since(&self, seen: &VersionVector<A>) -> Self;
        /// Collects, into `sus`, the dots that `self` (this replica, context `mine`) and `other`
        /// (a peer's value, context `theirs`) may store at different places: `other`'s dots that
        /// `mine` has seen but `self` does not hold at the same place, and (unless `keys_only`,
        /// which visits only `other`'s keys) the same the other way round. A dot both sides hold
        /// at the same place with different values is recorded as a clash.
        fn collide<C1: DotView<A>, C2: DotView<A>>(
            &self,
            mine: &C1,
            other: &Self,
            theirs: &C2,
            keys_only: bool,
            sus: &mut Suspects<A>,
        );
        /// The walk of a `try_join` with equal retirement records: validates `other` (a peer's
        /// value) against `theirs` as `check` does (the same errors, met in the same order),
        /// recording its dots in `seen`, and pushes to `sus.mine` the dots of `self` that
        /// `theirs` has seen but `other` does not hold at the same place (a dot both hold at the
        /// same place with different values is the clash). One walk over both values.
        fn audit<C: DotView<A>>(
            &self,
            other: &Self,
            theirs: &C,
            seen: &mut DotSeen<A>,
            allow_bottom: bool,
            sus: &mut Suspects<A>,
        ) -> Result<(), ValidationError>;
        /// Appends to `path` where `dot` is stored (keys, then the value for dot functions);
        /// false when it is not stored.
        fn locate(&self, dot: &Dot<A>, path: &mut String) -> bool;
        /// Checks dot uniqueness, context coverage and (when `!allow_bottom`) absence of empty
        /// entries.
        fn check<C: DotView<A>>(
            &self,
            ctx: &C,
            seen: &mut DotSeen<A>,
            allow_bottom: bool,
        ) -> Result<(), ValidationError>;
    }

    /// The canonical encoding of a store (only for stores whose keys and values encode).
    #[allow(unreachable_pub)] // Sealed-trait plumbing: public in a private module on purpose.
    pub trait StoreCodec<A: Actor>: Store<A> {
        /// Canonical encoding of the store body.
        fn write_store<S: Sink>(&self, s: &mut S, t: &ActorTable<A>);
        /// Decoding of the store body (structure only; `check` runs afterwards).
        fn read_store<B: Buf>(buf: &mut B, actors: &[A]) -> Result<Self, DecodeError>;
        /// Canonical encoding of a key.
        fn write_key<S: Sink>(key: &Self::Key, s: &mut S);
        /// Decoding of a key.
        fn read_key<B: Buf>(buf: &mut B) -> Result<Self::Key, DecodeError>;
    }
}

pub(crate) use sealed::{JoinOpts, Store, StoreCodec};

/// Dots that two values may have issued for different entries (see `Store::collide`).
#[derive(Debug)]
#[allow(unreachable_pub)] // Sealed-trait plumbing: public in a private module on purpose.
pub struct Suspects<A> {
    /// Dots this replica holds that the peer has seen but does not hold at the same place.
    mine: Vec<Dot<A>>,
    /// Dots the peer holds that this replica has seen but does not hold at the same place.
    theirs: Vec<Dot<A>>,
    /// A dot held at the same place on both sides with different values.
    clash: Option<Dot<A>>,
}

impl<A> Default for Suspects<A> {
    fn default() -> Self {
        Self {
            mine: Vec::new(),
            theirs: Vec::new(),
            clash: None,
        }
    }
}

/// Where `dot` is stored in `s`, for an error message.
fn describe<A: Actor, S: Store<A>>(s: &S, dot: &Dot<A>) -> String {
    let mut path = String::new();
    if !s.locate(dot, &mut path) {
        return "nothing".to_string();
    }
    if path.is_empty() {
        path.push_str("the value");
    }
    path
}

/// Fails with [`ValidationError::DotCollision`] when `other` (a peer's value or delta, context
/// `theirs`) stores a dot that `local` (context `mine`) stores at a different place (another
/// element or key, or another value): the signature of two replicas sharing an actor id.
///
/// This is the stand-alone check, for where it cannot share the peer's validation walk
/// ([`audit_peer`]): key-scoped deltas, and values whose retirement records differ from this
/// replica's (both sides are renamed before the check, after the peer was validated as sent).
///
/// Linear in the two stores for a full walk; a key-scoped walk (`keys_only`, mutation deltas)
/// visits the delta's keys and only scans `local` when the delta holds dots this replica has
/// seen but does not hold at the same place (a re-delivered add of an element removed since).
pub(crate) fn check_collisions<A: Actor, S: Store<A>, C1: DotView<A>, C2: DotView<A>>(
    local: &S,
    mine: &C1,
    other: &S,
    theirs: &C2,
    keys_only: bool,
) -> Result<(), ValidationError> {
    let mut sus = Suspects::default();
    local.collide(mine, other, theirs, keys_only, &mut sus);
    let hit = if let Some(d) = sus.clash.take() {
        Some(d)
    } else if sus.theirs.is_empty() {
        None
    } else if keys_only {
        let index = DotIndex::new(&sus.theirs);
        let mut hit = None;
        local.for_each_dot(&mut |d| {
            if hit.is_none() && index.contains(d) {
                hit = Some(d.clone());
            }
        });
        hit
    } else if sus.mine.is_empty() {
        None
    } else {
        let index = DotIndex::new(&sus.mine);
        sus.theirs.iter().find(|d| index.contains(d)).cloned()
    };
    match hit {
        None => Ok(()),
        Some(d) => Err(collision(local, other, &d)),
    }
}

/// Validates a peer's value `other` (context `ctx`, seen through `theirs`: `ctx` itself when
/// `plain`, else `ctx` with holes) and looks for dots it stores at another place than `local`
/// does, in one walk over both stores; the validation errors are those of `Store::check`
/// followed by `DotSeen::finish`. Returns the colliding dot, if any, for the caller to report
/// once its remaining checks of the peer pass (see [`collision`]). Linear in the two stores
/// (expected: the duplicate check hashes the counters of sparse actors).
///
/// Why it suffices to collect one side's suspects: for valid values, a dot held at place `p` by
/// `local` and at place `q != p` by `other` has been seen by both contexts, so the walk pushes
/// it to `sus.mine` when it visits `p` (or records a clash when `p` and `q` differ only in a
/// register's value). Conversely a suspect that `other` holds anywhere is held there at another
/// place. Since the walk records every dot of `other` in `seen` anyway (for the duplicate
/// check), the verdict is a membership test per suspect; no index of either side is built.
pub(crate) fn audit_peer<A: Actor, S: Store<A>, C: DotView<A>>(
    local: &S,
    other: &S,
    theirs: &C,
    ctx: &CausalContext<A>,
    plain: bool,
    allow_bottom: bool,
) -> Result<Option<Dot<A>>, ValidationError> {
    let mut seen = DotSeen::for_context(ctx, other.width(), plain);
    let mut sus = Suspects::default();
    local.audit(other, theirs, &mut seen, allow_bottom, &mut sus)?;
    seen.finish()?;
    if let Some(d) = sus.clash {
        return Ok(Some(d));
    }
    Ok(sus.mine.into_iter().find(|d| seen.contains(d)))
}

/// The [`ValidationError::DotCollision`] for `dot`, held by `local` and by the peer's `other`.
pub(crate) fn collision<A: Actor, S: Store<A>>(
    local: &S,
    other: &S,
    dot: &Dot<A>,
) -> ValidationError {
    ValidationError::DotCollision {
        dot: dot_name(dot),
        local: describe(local, dot),
        peer: describe(other, dot),
    }
}

/// `sus.mine` and the clash for sorted entry slices keyed by dot (`Store::audit`).
fn audit_sorted<A: Actor, E: DotEntry<A>, C: DotView<A>>(
    s: &[E],
    t: &[E],
    theirs: &C,
    sus: &mut Suspects<A>,
) {
    let mut j = 0;
    for a in s {
        while t.get(j).is_some_and(|b| b.dot() < a.dot()) {
            j += 1;
        }
        match t.get(j) {
            Some(b) if b.dot() == a.dot() => {
                if sus.clash.is_none() && !a.same(b) {
                    sus.clash = Some(a.dot().clone());
                }
                j += 1;
            }
            _ => {
                if theirs.has(a.dot()) {
                    sus.mine.push(a.dot().clone());
                }
            }
        }
    }
}

/// A set of dots for membership tests in expected linear time: per actor, a bitmap over the
/// counters when they are dense (the usual case), a hash set otherwise.
struct DotIndex<A> {
    /// Sorted by actor.
    buckets: Vec<(A, Seen)>,
}

impl<A: Actor> DotIndex<A> {
    fn new(dots: &[Dot<A>]) -> Self {
        let mut lists: Vec<(A, Vec<u64>)> = Vec::new();
        for d in dots {
            match lists.last_mut() {
                Some((a, v)) if *a == d.actor => v.push(d.counter),
                _ => match lists.binary_search_by(|(a, _)| a.cmp(&d.actor)) {
                    Ok(i) => {
                        if let Some((_, v)) = lists.get_mut(i) {
                            v.push(d.counter);
                        }
                    }
                    Err(i) => lists.insert(i, (d.actor.clone(), vec![d.counter])),
                },
            }
        }
        let buckets = lists
            .into_iter()
            .map(|(a, counters)| {
                let max = counters.iter().copied().max().unwrap_or(0);
                let words = usize::try_from(max / 64 + 1)
                    .ok()
                    .filter(|w| *w <= counters.len().saturating_mul(4).saturating_add(64));
                let bucket = match words {
                    Some(words) => {
                        let mut bits = vec![0u64; words];
                        for c in counters {
                            if let Some(w) = bits.get_mut((c / 64) as usize) {
                                *w |= 1 << (c % 64);
                            }
                        }
                        Seen::Bits(bits)
                    }
                    None => Seen::Hash(counters.into_iter().collect()),
                };
                (a, bucket)
            })
            .collect();
        Self { buckets }
    }

    fn contains(&self, d: &Dot<A>) -> bool {
        let Ok(i) = self.buckets.binary_search_by(|(a, _)| a.cmp(&d.actor)) else {
            return false;
        };
        self.buckets
            .get(i)
            .and_then(|(_, b)| b.contains(d.counter))
            .unwrap_or(false)
    }
}

/// An entry of a sorted dot slice: a dot, or a dot with its value.
trait DotEntry<A> {
    fn dot(&self) -> &Dot<A>;
    /// For two entries with equal dots: whether they also agree on the value.
    fn same(&self, other: &Self) -> bool;
}

impl<A> DotEntry<A> for Dot<A> {
    fn dot(&self) -> &Dot<A> {
        self
    }
    fn same(&self, _other: &Self) -> bool {
        true
    }
}

impl<A, V: PartialEq> DotEntry<A> for (Dot<A>, V) {
    fn dot(&self) -> &Dot<A> {
        &self.0
    }
    fn same(&self, other: &Self) -> bool {
        self.1 == other.1
    }
}

/// `collide` for sorted entry slices keyed by dot.
fn collide_sorted<A: Actor, E: DotEntry<A>, C1: DotView<A>, C2: DotView<A>>(
    s: &[E],
    mine: &C1,
    t: &[E],
    theirs: &C2,
    keys_only: bool,
    sus: &mut Suspects<A>,
) {
    let (mut i, mut j) = (0, 0);
    loop {
        match (s.get(i), t.get(j)) {
            (Some(a), Some(b)) if a.dot() == b.dot() => {
                if sus.clash.is_none() && !a.same(b) {
                    sus.clash = Some(a.dot().clone());
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.dot() < b.dot() => {
                if !keys_only && theirs.has(a.dot()) {
                    sus.mine.push(a.dot().clone());
                }
                i += 1;
            }
            (Some(a), None) => {
                if !keys_only && theirs.has(a.dot()) {
                    sus.mine.push(a.dot().clone());
                }
                i += 1;
            }
            (_, Some(b)) => {
                if mine.has(b.dot()) {
                    sus.theirs.push(b.dot().clone());
                }
                j += 1;
            }
            (None, None) => break,
        }
    }
}

/// A dot store usable inside [`Causal`](crate::Causal) values and as [`OrMap`](crate::OrMap)
/// values: [`DotSet`], [`DotFun`] or [`DotMap`] of those.
///
/// The trait is sealed: the join algebra of the stores is what makes the causal types correct,
/// so it is not open to outside implementations. Build new causal types by composing these.
///
/// ```
/// use quorate_crdt::{DotMap, DotSet, DotStore};
/// fn empty<S: DotStore<u8>>(s: &S) -> bool { s.is_empty() }
/// assert!(empty(&DotMap::<u32, DotSet<u8>>::default()));
/// ```
pub trait DotStore<A: Actor>: Store<A> {
    /// True when the store holds no dots.
    fn is_empty(&self) -> bool {
        self.is_bottom()
    }

    /// All dots of the store, in no particular order.
    ///
    /// ```
    /// use quorate_crdt::{DotStore, EwFlag};
    /// let mut f = EwFlag::<u8>::new();
    /// f.enable(1)?;
    /// assert_eq!(f.as_causal().store().dots().len(), 1);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    fn dots(&self) -> Vec<Dot<A>> {
        let mut out = Vec::new();
        self.for_each_dot(&mut |d| out.push(d.clone()));
        out
    }
}

impl<A: Actor, S: Store<A>> DotStore<A> for S {}

/// The dots of a value met so far in a validation walk, to find a dot stored twice in expected
/// linear time, and afterwards to ask whether the value holds a given dot anywhere.
///
/// The buckets are laid out before the walk from the value's causal context: every dot of a
/// valid value is covered by its context (the walk checks that before recording a dot), so the
/// context bounds each actor's counters. An actor whose counters are dense enough gets a bitmap
/// with a bit per counter (a test-and-set per dot); the others a hash set of counters. Dots the
/// layout did not foresee (only possible in values that fail validation anyway) go to a hash
/// set of whole dots, so recording never fails.
///
/// Each bucket also keeps the actor's entry in the context's version vector, so that for a
/// value checked against that very context (`plain`) the coverage test of a dot in the prefix
/// is one comparison on the bucket the dot is recorded in.
#[derive(Debug)]
#[allow(unreachable_pub)] // Sealed-trait plumbing: public in a private module on purpose.
pub struct DotSeen<A> {
    /// Sorted by actor.
    buckets: Vec<(A, Bucket)>,
    /// Index of the bucket used last (walks meet runs of one actor's dots).
    last: usize,
    /// The walk checks coverage against the context the layout came from.
    plain: bool,
    /// Dots of actors (or counters) the layout did not foresee.
    extra: HashSet<Dot<A>>,
    /// The first dot recorded twice, in walk order.
    dup: Option<Dot<A>>,
}

#[derive(Debug)]
struct Bucket {
    /// The actor's entry in the context's version vector: counters `1..=prefix` are covered.
    prefix: u64,
    /// The highest counter the context covers.
    top: u64,
    seen: Seen,
}

impl Bucket {
    /// Records `c` (see `Seen::insert`); a hash set that has become dense enough (a bitmap
    /// up to `top` would cost at most 32 bytes per counter held) turns into a bitmap. Each
    /// bucket turns at most once and the bitmap is no larger than four words per counter it
    /// then holds, so recording stays linear in time and memory.
    #[inline]
    fn insert(&mut self, c: u64) -> Option<bool> {
        let fresh = self.seen.insert(c);
        if let Seen::Hash(set) = &self.seen
            && let Ok(words) = usize::try_from(self.top / 64 + 1)
            && words <= set.len().saturating_mul(4)
        {
            let mut bits = vec![0u64; words];
            let mut fits = true;
            for c in set {
                match bits.get_mut((c / 64) as usize) {
                    Some(w) => *w |= 1 << (c % 64),
                    None => fits = false,
                }
            }
            if fits {
                self.seen = Seen::Bits(bits);
            } else {
                // A counter beyond the layout (not expected: the walk records only covered
                // dots): stay a hash set for good.
                self.top = u64::MAX;
            }
        }
        fresh
    }
}

#[derive(Debug)]
enum Seen {
    /// Bit `c` is set once counter `c` has been recorded.
    Bits(Vec<u64>),
    Hash(HashSet<u64>),
}

impl Seen {
    /// Records `c`; false when it was recorded before (or does not fit: `None`).
    #[inline]
    fn insert(&mut self, c: u64) -> Option<bool> {
        match self {
            Self::Bits(bits) => {
                let w = bits.get_mut(usize::try_from(c / 64).ok()?)?;
                let bit = 1u64 << (c % 64);
                let fresh = *w & bit == 0;
                *w |= bit;
                Some(fresh)
            }
            Self::Hash(set) => Some(set.insert(c)),
        }
    }

    #[inline]
    fn contains(&self, c: u64) -> Option<bool> {
        match self {
            Self::Bits(bits) => {
                let w = bits.get(usize::try_from(c / 64).ok()?)?;
                Some(w & (1u64 << (c % 64)) != 0)
            }
            Self::Hash(set) => Some(set.contains(&c)),
        }
    }
}

impl<A: Actor> DotSeen<A> {
    /// Buckets for the dots `ctx` covers, in a store of about `entries` entries (top-level
    /// entries are enough: the figure only decides between bitmaps and hash sets). `plain`: the
    /// walk will check coverage against `ctx` itself (not a view with holes).
    ///
    /// Bitmaps are handed out in ascending order of size while their total stays within 32
    /// bytes per entry plus 512 bytes per actor, so memory stays linear in the value whatever
    /// counters a peer claims to have seen.
    pub(crate) fn for_context(ctx: &CausalContext<A>, entries: usize, plain: bool) -> Self {
        // Per actor (sorted): the version vector's entry and the highest counter covered.
        let mut buckets: Vec<(A, Bucket)> = ctx
            .version_vector()
            .iter()
            .map(|(a, c)| {
                let b = Bucket {
                    prefix: c,
                    top: c,
                    seen: Seen::Hash(HashSet::new()),
                };
                (a.clone(), b)
            })
            .collect();
        let raise = |buckets: &mut Vec<(A, Bucket)>, a: &A, c: u64| match buckets
            .binary_search_by(|(x, _)| x.cmp(a))
        {
            Ok(i) => {
                if let Some((_, b)) = buckets.get_mut(i) {
                    b.top = b.top.max(c);
                }
            }
            Err(i) => {
                let b = Bucket {
                    prefix: 0,
                    top: c,
                    seen: Seen::Hash(HashSet::new()),
                };
                buckets.insert(i, (a.clone(), b));
            }
        };
        for d in ctx.cloud() {
            raise(&mut buckets, &d.actor, d.counter);
        }
        for r in ctx.retired_list() {
            raise(&mut buckets, r.actor(), r.last());
            raise(&mut buckets, r.into(), r.base().saturating_add(r.last()));
        }
        let words = |b: &Bucket| usize::try_from(b.top / 64 + 1).unwrap_or(usize::MAX);
        let budget = entries
            .saturating_mul(4)
            .saturating_add(buckets.len().saturating_mul(64));
        let total = buckets
            .iter()
            .fold(0usize, |sum, (_, b)| sum.saturating_add(words(b)));
        if total <= budget {
            // The usual case: every actor gets its bitmap.
            for (_, b) in &mut buckets {
                b.seen = Seen::Bits(vec![0; words(b)]);
            }
        } else {
            let mut order: Vec<usize> = (0..buckets.len()).collect();
            order.sort_by_key(|&i| buckets.get(i).map_or(usize::MAX, |(_, b)| words(b)));
            let mut left = budget;
            for i in order {
                let Some((_, b)) = buckets.get_mut(i) else {
                    continue;
                };
                let w = words(b);
                if w > left {
                    break;
                }
                left -= w;
                b.seen = Seen::Bits(vec![0; w]);
            }
        }
        Self {
            buckets,
            last: 0,
            plain,
            extra: HashSet::new(),
            dup: None,
        }
    }

    /// The bucket of `actor`, if the layout has one.
    #[inline]
    fn bucket(&mut self, actor: &A) -> Option<&mut Bucket> {
        if self.buckets.get(self.last).is_none_or(|(a, _)| a != actor) {
            self.last = self.buckets.binary_search_by(|(a, _)| a.cmp(actor)).ok()?;
        }
        self.buckets.get_mut(self.last).map(|(_, b)| b)
    }

    /// Checks that `d` is a valid stored dot (counter not zero, covered by `view`) and records
    /// it, remembering it when it was recorded before; false when it is not valid.
    #[inline(always)]
    fn admit<C: DotView<A>>(&mut self, d: &Dot<A>, view: &C) -> bool {
        // The common case, a few instructions: the actor of the previous dot, a counter in the
        // context's prefix, a bitmap bucket.
        let fast = match self.buckets.get_mut(self.last) {
            Some((a, b))
                if self.plain && *a == d.actor && d.counter != 0 && d.counter <= b.prefix =>
            {
                match &mut b.seen {
                    Seen::Bits(bits) => bits.get_mut((d.counter / 64) as usize).map(|w| {
                        let bit = 1u64 << (d.counter % 64);
                        let fresh = *w & bit == 0;
                        *w |= bit;
                        fresh
                    }),
                    Seen::Hash(_) => None,
                }
            }
            _ => None,
        };
        match fast {
            Some(true) => true,
            Some(false) => {
                self.record_dup(d);
                true
            }
            None => self.admit_slow(d, view),
        }
    }

    /// `admit` for the other cases.
    #[inline(never)]
    fn admit_slow<C: DotView<A>>(&mut self, d: &Dot<A>, view: &C) -> bool {
        let plain = self.plain;
        let fresh = match self.bucket(&d.actor) {
            Some(b) => {
                let covered = (plain && d.counter <= b.prefix) || view.has(d);
                if d.counter == 0 || !covered {
                    return false;
                }
                b.insert(d.counter)
            }
            None => {
                if d.counter == 0 || !view.has(d) {
                    return false;
                }
                None
            }
        };
        let fresh = match fresh {
            Some(f) => f,
            None => self.extra.insert(d.clone()),
        };
        if !fresh {
            self.record_dup(d);
        }
        true
    }

    #[cold]
    #[inline(never)]
    fn record_dup(&mut self, d: &Dot<A>) {
        if self.dup.is_none() {
            self.dup = Some(d.clone());
        }
    }

    /// True when `d` has been recorded.
    #[inline]
    fn contains(&mut self, d: &Dot<A>) -> bool {
        match self
            .bucket(&d.actor)
            .and_then(|b| b.seen.contains(d.counter))
        {
            Some(f) => f,
            None => self.extra.contains(d),
        }
    }

    /// `Err(DuplicateDot)` naming the first dot recorded twice.
    pub(crate) fn finish(&self) -> Result<(), ValidationError> {
        match &self.dup {
            Some(d) => Err(ValidationError::DuplicateDot { dot: dot_name(d) }),
            None => Ok(()),
        }
    }
}

/// The peer's context as seen through the layout of its [`DotSeen`]: for a `plain` walk the
/// version-vector part is answered from the buckets (a binary search over the actors, usually
/// one or two), anything else by the view itself. Used for this replica's dots in the
/// collision walk, which ask the peer's context about actors it may not know at all.
struct Covered<'a, A, C> {
    seen: &'a DotSeen<A>,
    view: &'a C,
}

impl<A: Actor, C: DotView<A>> DotView<A> for Covered<'_, A, C> {
    #[inline]
    fn has(&self, d: &Dot<A>) -> bool {
        if !self.seen.plain {
            return self.view.has(d);
        }
        match self.seen.buckets.binary_search_by(|(a, _)| a.cmp(&d.actor)) {
            Ok(i) => {
                let prefix = self.seen.buckets.get(i).map_or(0, |(_, b)| b.prefix);
                (d.counter != 0 && d.counter <= prefix) || self.view.has(d)
            }
            // The layout has a bucket for every actor the context names.
            Err(_) => false,
        }
    }
}

#[inline]
fn check_dot<A: Actor, C: DotView<A>>(
    d: &Dot<A>,
    ctx: &C,
    seen: &mut DotSeen<A>,
) -> Result<(), ValidationError> {
    if seen.admit(d, ctx) {
        Ok(())
    } else {
        Err(bad_dot(d))
    }
}

/// The error of a dot `check_dot` rejects (kept out of the hot path).
#[cold]
#[inline(never)]
fn bad_dot<A: Actor>(d: &Dot<A>) -> ValidationError {
    if d.counter == 0 {
        ValidationError::ZeroCounter {
            actor: name(&d.actor),
        }
    } else {
        ValidationError::DotNotInContext { dot: dot_name(d) }
    }
}

/// `DotSet::check` of the spilled form (rare: concurrent adds of one element).
#[inline(never)]
fn check_many<A: Actor, C: DotView<A>>(
    v: &[Dot<A>],
    ctx: &C,
    seen: &mut DotSeen<A>,
) -> Result<(), ValidationError> {
    // The spilled form never holds one dot, and holds its dots strictly ascending.
    let bad = if v.len() == 1 {
        v.first()
    } else {
        v.windows(2).find(|w| w[0] >= w[1]).map(|w| &w[1])
    };
    if let Some(d) = bad {
        return Err(ValidationError::DuplicateDot { dot: dot_name(d) });
    }
    for d in v {
        check_dot(d, ctx, seen)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// DotSet

#[derive(Clone, PartialEq, Eq, Hash)]
enum Dots<A> {
    One(Dot<A>),
    /// Sorted, strictly ascending, length never 1.
    Many(Vec<Dot<A>>),
}

/// A set of dots: the store of an enable-wins flag and of each OR-set element.
///
/// Holds one dot inline (the common case: an element added once) and spills to a sorted vector
/// only when concurrent adds leave several.
///
/// ```
/// use quorate_crdt::{DotSet, DotStore};
/// use quorate_clocks::Dot;
/// let s: DotSet<u8> = [Dot::new(1, 1)].into_iter().collect();
/// assert_eq!(s.len(), 1);
/// assert!(!s.is_empty());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DotSet<A> {
    dots: Dots<A>,
}

impl<A> Default for DotSet<A> {
    fn default() -> Self {
        Self {
            dots: Dots::Many(Vec::new()),
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for DotSet<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.as_slice()).finish()
    }
}

impl<A> DotSet<A> {
    /// The dots, ascending.
    ///
    /// ```
    /// use quorate_crdt::DotSet;
    /// assert!(DotSet::<u8>::default().as_slice().is_empty());
    /// ```
    pub fn as_slice(&self) -> &[Dot<A>] {
        match &self.dots {
            Dots::One(d) => std::slice::from_ref(d),
            Dots::Many(v) => v,
        }
    }

    /// Number of dots.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::DotSet::<u8>::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when the set holds no dot.
    ///
    /// ```
    /// assert!(quorate_crdt::DotSet::<u8>::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// A set holding exactly `dot`.
    ///
    /// ```
    /// use quorate_clocks::Dot;
    /// assert_eq!(quorate_crdt::DotSet::single(Dot::new(1u8, 1)).len(), 1);
    /// ```
    pub fn single(dot: Dot<A>) -> Self {
        Self {
            dots: Dots::One(dot),
        }
    }

    fn from_sorted(mut v: Vec<Dot<A>>) -> Self {
        if v.len() == 1
            && let Some(d) = v.pop()
        {
            return Self::single(d);
        }
        Self {
            dots: Dots::Many(v),
        }
    }
}

impl<A: Actor> FromIterator<Dot<A>> for DotSet<A> {
    fn from_iter<I: IntoIterator<Item = Dot<A>>>(iter: I) -> Self {
        let mut v: Vec<Dot<A>> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        Self::from_sorted(v)
    }
}

/// Dot-set join on sorted slices; `None` when the result equals `s`.
fn join_dot_slices<A: Actor, C1: DotView<A>, C2: DotView<A>>(
    s: &[Dot<A>],
    mine: &C1,
    t: &[Dot<A>],
    theirs: &C2,
) -> Option<Vec<Dot<A>>> {
    if s == t {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() + t.len());
    let (mut i, mut j) = (0, 0);
    let mut changed = false;
    loop {
        match (s.get(i), t.get(j)) {
            (Some(a), Some(b)) if a == b => {
                out.push(a.clone());
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                if theirs.has(a) {
                    changed = true;
                } else {
                    out.push(a.clone());
                }
                i += 1;
            }
            (Some(a), None) => {
                if theirs.has(a) {
                    changed = true;
                } else {
                    out.push(a.clone());
                }
                i += 1;
            }
            (_, Some(b)) => {
                if !mine.has(b) {
                    out.push(b.clone());
                    changed = true;
                }
                j += 1;
            }
            (None, None) => break,
        }
    }
    changed.then_some(out)
}

/// The rare multi-dot case of `DotSet::drop_covered`, kept out of line.
#[inline(never)]
fn drop_covered_many<A: Actor, C: DotView<A>>(v: &mut Vec<Dot<A>>, theirs: &C) {
    v.retain(|d| !theirs.has(d));
}

impl<A: Actor> Store<A> for DotSet<A> {
    type Key = ();

    fn drop_key_covered(&mut self, _key: &(), vv: &VersionVector<A>) {
        self.drop_covered(&VvView(vv), true);
    }

    #[inline]
    fn is_bottom(&self) -> bool {
        self.as_slice().is_empty()
    }

    fn width(&self) -> usize {
        self.len()
    }

    fn for_each_dot(&self, f: &mut dyn FnMut(&Dot<A>)) {
        for d in self.as_slice() {
            f(d);
        }
    }

    #[inline]
    fn push_seen<C: DotView<A>>(&self, ctx: &C, out: &mut Vec<Dot<A>>) {
        match &self.dots {
            Dots::One(d) => {
                if ctx.has(d) {
                    out.push(d.clone());
                }
            }
            Dots::Many(v) => out.extend(v.iter().filter(|d| ctx.has(d)).cloned()),
        }
    }

    #[inline]
    fn join_store<C1: DotView<A>, C2: DotView<A>>(
        &mut self,
        mine: &C1,
        other: &Self,
        theirs: &C2,
        _opts: JoinOpts,
    ) {
        if let Some(v) = join_dot_slices(self.as_slice(), mine, other.as_slice(), theirs) {
            *self = Self::from_sorted(v);
        }
    }

    fn rename(&mut self, r: &Retirement<A>) {
        if !self.as_slice().iter().any(|d| d.actor == *r.actor()) {
            return;
        }
        let mut v: Vec<Dot<A>> = self
            .as_slice()
            .iter()
            .map(|d| r.rename(d).unwrap_or_else(|| d.clone()))
            .collect();
        v.sort();
        v.dedup();
        *self = Self::from_sorted(v);
    }

    #[inline]
    fn drop_covered<C: DotView<A>>(&mut self, theirs: &C, _prune: bool) {
        match &mut self.dots {
            Dots::One(d) => {
                if theirs.has(d) {
                    *self = Self::default();
                }
            }
            Dots::Many(v) => {
                drop_covered_many(v, theirs);
                if v.len() == 1 {
                    let v = std::mem::take(v);
                    *self = Self::from_sorted(v);
                }
            }
        }
    }

    fn hollow(&self) -> Self {
        Self::default()
    }

    fn since(&self, seen: &VersionVector<A>) -> Self {
        Self::from_sorted(
            self.as_slice()
                .iter()
                .filter(|d| !seen.contains(d))
                .cloned()
                .collect(),
        )
    }

    fn collide<C1: DotView<A>, C2: DotView<A>>(
        &self,
        mine: &C1,
        other: &Self,
        theirs: &C2,
        keys_only: bool,
        sus: &mut Suspects<A>,
    ) {
        let (s, t) = (self.as_slice(), other.as_slice());
        if s != t {
            collide_sorted(s, mine, t, theirs, keys_only, sus);
        }
    }

    #[inline]
    fn audit<C: DotView<A>>(
        &self,
        other: &Self,
        theirs: &C,
        seen: &mut DotSeen<A>,
        allow_bottom: bool,
        sus: &mut Suspects<A>,
    ) -> Result<(), ValidationError> {
        if let (Dots::One(a), Dots::One(b)) = (&self.dots, &other.dots) {
            // The common case: an element added once, on both sides.
            check_dot(b, theirs, seen)?;
            if a != b && (Covered { seen, view: theirs }).has(a) {
                sus.mine.push(a.clone());
            }
            return Ok(());
        }
        other.check(theirs, seen, allow_bottom)?;
        let (s, t) = (self.as_slice(), other.as_slice());
        if s != t {
            audit_sorted(s, t, &Covered { seen, view: theirs }, sus);
        }
        Ok(())
    }

    fn locate(&self, dot: &Dot<A>, _path: &mut String) -> bool {
        self.as_slice().binary_search(dot).is_ok()
    }

    #[inline]
    fn check<C: DotView<A>>(
        &self,
        ctx: &C,
        seen: &mut DotSeen<A>,
        _allow_bottom: bool,
    ) -> Result<(), ValidationError> {
        match &self.dots {
            Dots::One(d) => check_dot(d, ctx, seen),
            Dots::Many(v) => check_many(v, ctx, seen),
        }
    }
}

impl<A: Actor> StoreCodec<A> for DotSet<A> {
    fn write_key<S: Sink>(_key: &(), _s: &mut S) {}

    fn read_key<B: Buf>(_buf: &mut B) -> Result<(), DecodeError> {
        Ok(())
    }

    fn write_store<S: Sink>(&self, s: &mut S, t: &ActorTable<A>) {
        let dots = self.as_slice();
        put_len(s, dots.len());
        for d in dots {
            t.put_dot(s, d);
        }
    }

    fn read_store<B: Buf>(buf: &mut B, actors: &[A]) -> Result<Self, DecodeError> {
        let n = get_len(buf, 2)?;
        let mut v: Vec<Dot<A>> = Vec::with_capacity(n);
        for _ in 0..n {
            let d = read_dot(buf, actors)?;
            if v.last().is_some_and(|p| *p >= d) {
                return Err(DecodeError::Invalid("dot set not strictly ascending"));
            }
            v.push(d);
        }
        Ok(Self::from_sorted(v))
    }
}

// ---------------------------------------------------------------------------------------------
// DotFun

/// Dots mapped to values: the store of a multi-value register.
///
/// Each write gets a fresh dot; concurrent writes keep their dots, so every concurrent value
/// survives until a write that has seen them replaces them all.
///
/// ```
/// use quorate_crdt::{DotFun, DotStore};
/// let f = DotFun::<&str, u8>::default();
/// assert!(f.is_empty());
/// assert_eq!(f.values().count(), 0);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DotFun<V, A> {
    /// Sorted by dot, strictly ascending.
    entries: Vec<(Dot<A>, V)>,
}

impl<V, A> Default for DotFun<V, A> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<V: fmt::Debug, A: fmt::Debug> fmt::Debug for DotFun<V, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(d, v)| (d, v)))
            .finish()
    }
}

impl<V, A> DotFun<V, A> {
    /// The values, ordered by their dots.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::DotFun::<u8, u8>::default().values().count(), 0);
    /// ```
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The (dot, value) entries, ordered by dot.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::DotFun::<u8, u8>::default().entries().len(), 0);
    /// ```
    pub fn entries(&self) -> &[(Dot<A>, V)] {
        &self.entries
    }

    pub(crate) fn single(dot: Dot<A>, v: V) -> Self {
        Self {
            entries: vec![(dot, v)],
        }
    }
}

impl<V, A: Ord> FromIterator<(Dot<A>, V)> for DotFun<V, A> {
    /// Builds a dot function (sorted by dot; the first value of a repeated dot wins).
    fn from_iter<I: IntoIterator<Item = (Dot<A>, V)>>(iter: I) -> Self {
        let mut entries: Vec<(Dot<A>, V)> = iter.into_iter().collect();
        entries.sort_by(|x, y| x.0.cmp(&y.0));
        entries.dedup_by(|x, y| x.0 == y.0);
        Self { entries }
    }
}

/// Values a [`DotFun`] (register) may hold.
///
/// ```
/// fn takes<V: quorate_crdt::RegisterValue>(_: V) {}
/// takes(String::from("any ordered, cloneable value"));
/// ```
///
/// Blanket-implemented for every type with the listed bounds. Encoding additionally needs
/// `quorate_clocks::{Encode, Decode}`.
pub trait RegisterValue: Clone + Ord + fmt::Debug + Send + Sync + 'static {}
impl<T: Clone + Ord + fmt::Debug + Send + Sync + 'static> RegisterValue for T {}

impl<V: RegisterValue, A: Actor> Store<A> for DotFun<V, A> {
    type Key = ();

    fn drop_key_covered(&mut self, _key: &(), vv: &VersionVector<A>) {
        self.drop_covered(&VvView(vv), true);
    }

    fn is_bottom(&self) -> bool {
        self.entries.is_empty()
    }

    fn width(&self) -> usize {
        self.entries.len()
    }

    fn for_each_dot(&self, f: &mut dyn FnMut(&Dot<A>)) {
        for (d, _) in &self.entries {
            f(d);
        }
    }

    fn push_seen<C: DotView<A>>(&self, ctx: &C, out: &mut Vec<Dot<A>>) {
        for (d, _) in &self.entries {
            if ctx.has(d) {
                out.push(d.clone());
            }
        }
    }

    fn join_store<C1: DotView<A>, C2: DotView<A>>(
        &mut self,
        mine: &C1,
        other: &Self,
        theirs: &C2,
        _opts: JoinOpts,
    ) {
        if self.entries == other.entries {
            return;
        }
        let s = std::mem::take(&mut self.entries);
        let t = &other.entries;
        let mut out = Vec::with_capacity(s.len() + t.len());
        let mut j = 0;
        for (d, v) in s {
            while let Some((od, ov)) = t.get(j) {
                if *od >= d {
                    break;
                }
                if !mine.has(od) {
                    out.push((od.clone(), ov.clone()));
                }
                j += 1;
            }
            if t.get(j).is_some_and(|(od, _)| *od == d) {
                j += 1;
                out.push((d, v));
            } else if !theirs.has(&d) {
                out.push((d, v));
            }
        }
        for (od, ov) in t.iter().skip(j) {
            if !mine.has(od) {
                out.push((od.clone(), ov.clone()));
            }
        }
        self.entries = out;
    }

    fn rename(&mut self, r: &Retirement<A>) {
        if !self.entries.iter().any(|(d, _)| d.actor == *r.actor()) {
            return;
        }
        for (d, _) in &mut self.entries {
            if let Some(n) = r.rename(d) {
                *d = n;
            }
        }
        self.entries.sort_by(|x, y| x.0.cmp(&y.0));
        self.entries.dedup_by(|x, y| x.0 == y.0);
    }

    fn drop_covered<C: DotView<A>>(&mut self, theirs: &C, _prune: bool) {
        self.entries.retain(|(d, _)| !theirs.has(d));
    }

    fn hollow(&self) -> Self {
        Self::default()
    }

    fn since(&self, seen: &VersionVector<A>) -> Self {
        Self {
            entries: self
                .entries
                .iter()
                .filter(|(d, _)| !seen.contains(d))
                .cloned()
                .collect(),
        }
    }

    fn collide<C1: DotView<A>, C2: DotView<A>>(
        &self,
        mine: &C1,
        other: &Self,
        theirs: &C2,
        keys_only: bool,
        sus: &mut Suspects<A>,
    ) {
        if self.entries != other.entries {
            collide_sorted(&self.entries, mine, &other.entries, theirs, keys_only, sus);
        }
    }

    fn audit<C: DotView<A>>(
        &self,
        other: &Self,
        theirs: &C,
        seen: &mut DotSeen<A>,
        allow_bottom: bool,
        sus: &mut Suspects<A>,
    ) -> Result<(), ValidationError> {
        other.check(theirs, seen, allow_bottom)?;
        if self.entries != other.entries {
            let theirs = Covered { seen, view: theirs };
            audit_sorted(&self.entries, &other.entries, &theirs, sus);
        }
        Ok(())
    }

    fn locate(&self, dot: &Dot<A>, path: &mut String) -> bool {
        let Ok(i) = self.entries.binary_search_by(|(d, _)| d.cmp(dot)) else {
            return false;
        };
        if let Some((_, v)) = self.entries.get(i) {
            if !path.is_empty() {
                path.push_str(" = ");
            }
            path.push_str(&name(v));
        }
        true
    }

    fn check<C: DotView<A>>(
        &self,
        ctx: &C,
        seen: &mut DotSeen<A>,
        _allow_bottom: bool,
    ) -> Result<(), ValidationError> {
        if let Some(w) = self.entries.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(ValidationError::DuplicateDot {
                dot: dot_name(&w[1].0),
            });
        }
        for (d, _) in &self.entries {
            check_dot(d, ctx, seen)?;
        }
        Ok(())
    }
}

impl<V: RegisterValue + Encode + Decode, A: Actor> StoreCodec<A> for DotFun<V, A> {
    fn write_key<S: Sink>(_key: &(), _s: &mut S) {}

    fn read_key<B: Buf>(_buf: &mut B) -> Result<(), DecodeError> {
        Ok(())
    }

    fn write_store<S: Sink>(&self, s: &mut S, t: &ActorTable<A>) {
        put_len(s, self.entries.len());
        for (d, v) in &self.entries {
            t.put_dot(s, d);
            s.item(v);
        }
    }

    fn read_store<B: Buf>(buf: &mut B, actors: &[A]) -> Result<Self, DecodeError> {
        let n = get_len(buf, 3)?;
        let mut entries: Vec<(Dot<A>, V)> = Vec::with_capacity(n);
        for _ in 0..n {
            let d = read_dot(buf, actors)?;
            if entries.last().is_some_and(|(p, _)| *p >= d) {
                return Err(DecodeError::Invalid("dot function not strictly ascending"));
            }
            let v = V::decode(buf)?;
            entries.push((d, v));
        }
        Ok(Self { entries })
    }
}

// ---------------------------------------------------------------------------------------------
// DotMap

/// Keys mapped to nested dot stores: OR-set (`DotMap<T, DotSet>`), remove-wins set and OR-map.
///
/// All keys share the enclosing value's causal context, so a dot is unique across the whole map
/// and removing a key only needs to name the dots it observed under that key.
///
/// Keys are kept in sorted chunks of at most 256 entries: a full-state join walks both maps in
/// order, moves untouched chunks by pointer and appends new keys to fresh chunks, while a
/// one-key delta touches one chunk, so its cost does not depend on the size of the map.
///
/// ```
/// use quorate_crdt::{DotMap, DotSet, DotStore};
/// let m = DotMap::<String, DotSet<u8>>::default();
/// assert!(m.is_empty());
/// assert_eq!(m.len(), 0);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DotMap<K, S> {
    map: ChunkMap<K, S>,
}

impl<K, S> Default for DotMap<K, S> {
    fn default() -> Self {
        Self {
            map: ChunkMap::default(),
        }
    }
}

impl<K: fmt::Debug, S: fmt::Debug> fmt::Debug for DotMap<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.map.iter()).finish()
    }
}

impl<K, S> DotMap<K, S> {
    /// Number of keys.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::DotMap::<u8, quorate_crdt::DotSet<u8>>::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the map has no keys.
    ///
    /// ```
    /// assert!(quorate_crdt::DotMap::<u8, quorate_crdt::DotSet<u8>>::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The entries, ascending by key.
    ///
    /// ```
    /// let m = quorate_crdt::DotMap::<u8, quorate_crdt::DotSet<u8>>::default();
    /// assert_eq!(m.iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&K, &S)> + '_ {
        self.map.iter()
    }

    /// The nested store of `key`.
    ///
    /// ```
    /// let m = quorate_crdt::DotMap::<u8, quorate_crdt::DotSet<u8>>::default();
    /// assert!(m.get(&1).is_none());
    /// ```
    pub fn get(&self, key: &K) -> Option<&S>
    where
        K: Ord,
    {
        self.map.get(key)
    }

    pub(crate) fn map(&self) -> &ChunkMap<K, S> {
        &self.map
    }

    pub(crate) fn map_mut(&mut self) -> &mut ChunkMap<K, S> {
        &mut self.map
    }
}

impl<K: Ord, S> FromIterator<(K, S)> for DotMap<K, S> {
    /// Builds a map (later duplicates win). No validation: a map built this way is checked when
    /// it is joined with `try_join` or validated.
    fn from_iter<I: IntoIterator<Item = (K, S)>>(iter: I) -> Self {
        let sorted: std::collections::BTreeMap<K, S> = iter.into_iter().collect();
        Self {
            map: ChunkMap::from_sorted(sorted),
        }
    }
}

/// Keys a [`DotMap`] (OR-set element, OR-map key) may use.
///
/// ```
/// fn takes<K: quorate_crdt::Key>(_: K) {}
/// takes((1u32, "tuple keys work too"));
/// ```
///
/// Blanket-implemented for every type with the listed bounds. Encoding additionally needs
/// `quorate_clocks::{Encode, Decode}`.
pub trait Key: Clone + Ord + fmt::Debug + Send + Sync + 'static {}
impl<T: Clone + Ord + fmt::Debug + Send + Sync + 'static> Key for T {}

impl<K: Key, S> DotMap<K, S> {
    /// Key-scoped join (mutation deltas): visits only the keys `other` names.
    fn join_keys<A: Actor, C1: DotView<A>, C2: DotView<A>>(
        &mut self,
        mine: &C1,
        other: &Self,
        theirs: &C2,
        opts: JoinOpts,
    ) where
        S: Store<A>,
    {
        for (k, ov) in other.map.iter() {
            match self.map.get_mut(k) {
                Some(v) => {
                    v.join_store(mine, ov, theirs, opts);
                    if opts.prune && v.is_bottom() {
                        self.map.remove(k);
                    }
                }
                None => {
                    let mut v = ov.clone();
                    v.drop_covered(mine, opts.prune);
                    if !(opts.prune && v.is_bottom()) {
                        self.map.insert(k.clone(), v);
                    }
                }
            }
        }
    }

    /// Full join: one ordered walk over both maps, joining shared keys in place and gathering
    /// the other side's new keys into chunks (whole runs at a time where the other side's keys
    /// run ahead), which are then spliced in.
    fn join_full<A: Actor, C1: DotView<A>, C2: DotView<A>, Src: Source<K, S>>(
        &mut self,
        mine: &C1,
        mut src: Src,
        theirs: &C2,
        opts: JoinOpts,
    ) where
        S: Store<A>,
    {
        let prune = opts.prune;
        let mut admit = |v: &mut S| {
            v.drop_covered(mine, prune);
            !(prune && v.is_bottom())
        };
        let mut pending: Builder<K, S> = Builder::default();
        let mut emptied = false;
        let (mut ci, mut oi) = (0usize, 0usize);
        for sc in self.map.chunks_mut() {
            for (k, v) in sc.iter_mut() {
                // The other side's entries below `k` are new here.
                while let Some(oc) = src.chunks().get(ci) {
                    let Some((ok, _)) = oc.get(oi) else {
                        ci += 1;
                        oi = 0;
                        continue;
                    };
                    if ok >= k {
                        break;
                    }
                    let end = if oc.last().is_some_and(|(lk, _)| lk < k) {
                        oc.len()
                    } else {
                        oi + oc
                            .get(oi..)
                            .map_or(0, |r| r.partition_point(|(x, _)| x < k))
                    };
                    src.take_run(ci, oi, end, &mut pending, &mut admit);
                    oi = end;
                }
                match src.chunks().get(ci).and_then(|c| c.get(oi)) {
                    Some((ok, ov)) if ok == k => {
                        v.join_store(mine, ov, theirs, opts);
                        oi += 1;
                    }
                    _ => v.drop_covered(theirs, prune),
                }
                if prune && v.is_bottom() {
                    emptied = true;
                }
            }
        }
        while let Some(len) = src.chunks().get(ci).map(Vec::len) {
            if oi < len {
                src.take_run(ci, oi, len, &mut pending, &mut admit);
            }
            ci += 1;
            oi = 0;
        }
        if emptied {
            self.map.retain(|_, v| !v.is_bottom());
        }
        if !pending.is_empty() {
            self.map.merge_new(pending.into_chunks());
        }
    }

    /// Full-state join taking the other map by value: new keys are moved, not cloned.
    fn join_owned<A: Actor, C1: DotView<A>, C2: DotView<A>>(
        &mut self,
        mine: &C1,
        other: Self,
        theirs: &C2,
    ) where
        S: Store<A>,
    {
        self.join_full(mine, Owned(other.map.into_chunks()), theirs, STATE);
    }
}

const STATE: JoinOpts = JoinOpts {
    keys_only: false,
    prune: true,
};

/// The other side of a full join, as sorted chunks: borrowed (new entries are cloned) or owned
/// (new entries are moved, whole chunks at a time when they can be).
trait Source<K, S> {
    fn chunks(&self) -> &[Vec<(K, S)>];
    /// Hands entries `from..to` of chunk `ci` to `out`, keeping those `admit` accepts (it may
    /// also trim them). The walk never reads a run again after taking it.
    fn take_run<F: FnMut(&mut S) -> bool>(
        &mut self,
        ci: usize,
        from: usize,
        to: usize,
        out: &mut Builder<K, S>,
        admit: &mut F,
    );
}

struct Borrowed<'a, K, S>(&'a [Vec<(K, S)>]);

impl<K: Clone, S: Clone> Source<K, S> for Borrowed<'_, K, S> {
    #[inline]
    fn chunks(&self) -> &[Vec<(K, S)>] {
        self.0
    }

    #[inline]
    fn take_run<F: FnMut(&mut S) -> bool>(
        &mut self,
        ci: usize,
        from: usize,
        to: usize,
        out: &mut Builder<K, S>,
        admit: &mut F,
    ) {
        let Some(run) = self.0.get(ci).and_then(|c| c.get(from..to)) else {
            return;
        };
        let mut c: Vec<(K, S)> = Vec::with_capacity(run.len());
        for (k, v) in run {
            let mut v = v.clone();
            if admit(&mut v) {
                c.push((k.clone(), v));
            }
        }
        out.push_run(c);
    }
}

struct Owned<K, S>(Vec<Vec<(K, S)>>);

impl<K: Clone, S: Default> Source<K, S> for Owned<K, S> {
    #[inline]
    fn chunks(&self) -> &[Vec<(K, S)>] {
        &self.0
    }

    #[inline]
    fn take_run<F: FnMut(&mut S) -> bool>(
        &mut self,
        ci: usize,
        from: usize,
        to: usize,
        out: &mut Builder<K, S>,
        admit: &mut F,
    ) {
        let Some(chunk) = self.0.get_mut(ci) else {
            return;
        };
        if from == 0 && to == chunk.len() {
            // The whole chunk is new: move it, leaving an empty chunk the walk skips.
            let mut c = std::mem::take(chunk);
            c.retain_mut(|(_, v)| admit(v));
            out.push_run(c);
            return;
        }
        let Some(run) = chunk.get_mut(from..to) else {
            return;
        };
        let mut c: Vec<(K, S)> = Vec::with_capacity(run.len());
        for (k, v) in run {
            let mut v = std::mem::take(v);
            if admit(&mut v) {
                c.push((k.clone(), v));
            }
        }
        out.push_run(c);
    }
}

/// What [`walk_pair`] does at each key: one method per side the key is on. Implementations
/// mark their methods `#[inline(always)]` so that each caller's code is compiled into the loop
/// (a closure per entry cost `try_join` a fifth more instructions).
trait PairWalk<K, S> {
    type Error;
    /// A key only this map holds, with its value.
    fn mine(&mut self, v: &S) -> Result<(), Self::Error>;
    /// A key only the other map holds, with its value.
    fn theirs(&mut self, k: &K, ov: &S) -> Result<(), Self::Error>;
    /// A key both maps hold: this map's value, then the other's.
    fn both(&mut self, k: &K, v: &S, ov: &S) -> Result<(), Self::Error>;
}

/// The ordered walk over two chunked, key-sorted maps shared by `DotMap::collide` and
/// `DotMap::audit`: visits every key of either map once, in key order, and stops at the first
/// error. Always inlined (these walks are on `try_join`'s hot path).
#[inline(always)]
fn walk_pair<K: Ord, S, W: PairWalk<K, S>>(
    mine: &[Vec<(K, S)>],
    other: &[Vec<(K, S)>],
    w: &mut W,
) -> Result<(), W::Error> {
    let (mut ci, mut oi) = (0usize, 0usize);
    for sc in mine {
        for (k, v) in sc {
            let mut matched = false;
            while let Some(chunk) = other.get(ci) {
                let Some((ok, ov)) = chunk.get(oi) else {
                    ci += 1;
                    oi = 0;
                    continue;
                };
                match ok.cmp(k) {
                    std::cmp::Ordering::Less => w.theirs(ok, ov)?,
                    std::cmp::Ordering::Equal => {
                        w.both(k, v, ov)?;
                        matched = true;
                    }
                    std::cmp::Ordering::Greater => break,
                }
                oi += 1;
                if matched {
                    break;
                }
            }
            if !matched {
                w.mine(v)?;
            }
        }
    }
    while let Some(chunk) = other.get(ci) {
        for (ok, ov) in chunk.get(oi..).unwrap_or_default() {
            w.theirs(ok, ov)?;
        }
        ci += 1;
        oi = 0;
    }
    Ok(())
}

/// `DotMap::collide`'s steps.
struct CollideWalk<'a, A, C1, C2> {
    mine: &'a C1,
    theirs: &'a C2,
    sus: &'a mut Suspects<A>,
}

impl<K, S: Store<A>, A: Actor, C1: DotView<A>, C2: DotView<A>> PairWalk<K, S>
    for CollideWalk<'_, A, C1, C2>
{
    type Error = Infallible;

    #[inline(always)]
    fn mine(&mut self, v: &S) -> Result<(), Infallible> {
        v.push_seen(self.theirs, &mut self.sus.mine);
        Ok(())
    }

    #[inline(always)]
    fn theirs(&mut self, _: &K, ov: &S) -> Result<(), Infallible> {
        ov.push_seen(self.mine, &mut self.sus.theirs);
        Ok(())
    }

    #[inline(always)]
    fn both(&mut self, _: &K, v: &S, ov: &S) -> Result<(), Infallible> {
        if v != ov {
            v.collide(self.mine, ov, self.theirs, false, self.sus);
        }
        Ok(())
    }
}

/// `DotMap::audit`'s steps: the peer's entries are checked in key order, as `check` visits them.
struct AuditWalk<'a, A, C> {
    theirs: &'a C,
    seen: &'a mut DotSeen<A>,
    allow_bottom: bool,
    sus: &'a mut Suspects<A>,
}

impl<A: Actor, C> AuditWalk<'_, A, C> {
    /// The peer's entry `k` holds something, unless empty entries are allowed.
    #[inline(always)]
    fn non_empty<K: Key, S: Store<A>>(&self, k: &K, ov: &S) -> Result<(), ValidationError> {
        if !self.allow_bottom && ov.is_bottom() {
            return Err(ValidationError::EmptyEntry { key: name(k) });
        }
        Ok(())
    }
}

impl<K: Key, S: Store<A>, A: Actor, C: DotView<A>> PairWalk<K, S> for AuditWalk<'_, A, C> {
    type Error = ValidationError;

    #[inline(always)]
    fn mine(&mut self, v: &S) -> Result<(), ValidationError> {
        let covered = Covered {
            seen: &*self.seen,
            view: self.theirs,
        };
        v.push_seen(&covered, &mut self.sus.mine);
        Ok(())
    }

    #[inline(always)]
    fn theirs(&mut self, k: &K, ov: &S) -> Result<(), ValidationError> {
        self.non_empty(k, ov)?;
        ov.check(self.theirs, self.seen, self.allow_bottom)
    }

    #[inline(always)]
    fn both(&mut self, k: &K, v: &S, ov: &S) -> Result<(), ValidationError> {
        self.non_empty(k, ov)?;
        v.audit(ov, self.theirs, self.seen, self.allow_bottom, self.sus)
    }
}

impl<K: Key, S: Store<A>, A: Actor> Store<A> for DotMap<K, S> {
    type Key = K;

    fn key_has_covered(&self, key: &K, vv: &VersionVector<A>) -> bool {
        self.map.get(key).is_some_and(|v| {
            let mut found = false;
            v.for_each_dot(&mut |d| found |= vv.contains(d));
            found
        })
    }

    fn drop_key_covered(&mut self, key: &K, vv: &VersionVector<A>) {
        if let Some(v) = self.map.get_mut(key) {
            v.drop_covered(&VvView(vv), true);
            if v.is_bottom() {
                self.map.remove(key);
            }
        }
    }

    fn is_bottom(&self) -> bool {
        self.map.values().all(Store::is_bottom)
    }

    fn width(&self) -> usize {
        self.map.len()
    }

    fn for_each_dot(&self, f: &mut dyn FnMut(&Dot<A>)) {
        for v in self.map.values() {
            v.for_each_dot(f);
        }
    }

    fn push_seen<C: DotView<A>>(&self, ctx: &C, out: &mut Vec<Dot<A>>) {
        for v in self.map.values() {
            v.push_seen(ctx, out);
        }
    }

    fn join_store<C1: DotView<A>, C2: DotView<A>>(
        &mut self,
        mine: &C1,
        other: &Self,
        theirs: &C2,
        opts: JoinOpts,
    ) {
        if opts.keys_only {
            self.join_keys(mine, other, theirs, opts);
        } else {
            self.join_full(mine, Borrowed(other.map.chunks()), theirs, opts);
        }
    }

    fn join_store_owned<C1: DotView<A>, C2: DotView<A>>(
        &mut self,
        mine: &C1,
        other: Self,
        theirs: &C2,
    ) {
        self.join_owned(mine, other, theirs);
    }

    fn rename(&mut self, r: &Retirement<A>) {
        for v in self.map.values_mut() {
            v.rename(r);
        }
    }

    fn drop_covered<C: DotView<A>>(&mut self, theirs: &C, prune: bool) {
        for v in self.map.values_mut() {
            v.drop_covered(theirs, prune);
        }
        if prune {
            self.map.retain(|_, v| !v.is_bottom());
        }
    }

    fn hollow(&self) -> Self {
        Self {
            map: ChunkMap::from_sorted(self.map.iter().map(|(k, v)| (k.clone(), v.hollow()))),
        }
    }

    fn since(&self, seen: &VersionVector<A>) -> Self {
        Self {
            map: ChunkMap::from_sorted(self.map.iter().filter_map(|(k, v)| {
                let s = v.since(seen);
                (!s.is_bottom()).then(|| (k.clone(), s))
            })),
        }
    }

    fn collide<C1: DotView<A>, C2: DotView<A>>(
        &self,
        mine: &C1,
        other: &Self,
        theirs: &C2,
        keys_only: bool,
        sus: &mut Suspects<A>,
    ) {
        if keys_only {
            for (k, ov) in other.map.iter() {
                match self.map.get(k) {
                    Some(v) if v == ov => {}
                    Some(v) => v.collide(mine, ov, theirs, true, sus),
                    None => ov.push_seen(mine, &mut sus.theirs),
                }
            }
            return;
        }
        let mut w = CollideWalk { mine, theirs, sus };
        let Ok(()) = walk_pair(self.map.chunks(), other.map.chunks(), &mut w);
    }

    fn audit<C: DotView<A>>(
        &self,
        other: &Self,
        theirs: &C,
        seen: &mut DotSeen<A>,
        allow_bottom: bool,
        sus: &mut Suspects<A>,
    ) -> Result<(), ValidationError> {
        let mut w = AuditWalk {
            theirs,
            seen,
            allow_bottom,
            sus,
        };
        walk_pair(self.map.chunks(), other.map.chunks(), &mut w)
    }

    fn locate(&self, dot: &Dot<A>, path: &mut String) -> bool {
        let len = path.len();
        for (k, v) in self.map.iter() {
            if !path.is_empty() {
                path.push_str(" / ");
            }
            path.push_str(&name(k));
            if v.locate(dot, path) {
                return true;
            }
            path.truncate(len);
        }
        false
    }

    fn check<C: DotView<A>>(
        &self,
        ctx: &C,
        seen: &mut DotSeen<A>,
        allow_bottom: bool,
    ) -> Result<(), ValidationError> {
        for (k, v) in self.map.iter() {
            if !allow_bottom && v.is_bottom() {
                return Err(ValidationError::EmptyEntry { key: name(k) });
            }
            v.check(ctx, seen, allow_bottom)?;
        }
        Ok(())
    }
}

impl<K: Key + Encode + Decode, S: StoreCodec<A>, A: Actor> StoreCodec<A> for DotMap<K, S> {
    fn write_key<S2: Sink>(key: &K, s: &mut S2) {
        s.item(key);
    }

    fn read_key<B: Buf>(buf: &mut B) -> Result<K, DecodeError> {
        K::decode(buf)
    }

    fn write_store<S2: Sink>(&self, s: &mut S2, t: &ActorTable<A>) {
        put_len(s, self.map.len());
        for (k, v) in self.map.iter() {
            s.item(k);
            v.write_store(s, t);
        }
    }

    fn read_store<B: Buf>(buf: &mut B, actors: &[A]) -> Result<Self, DecodeError> {
        let n = get_len(buf, 2)?;
        let mut b = Builder::default();
        let mut last: Option<K> = None;
        for _ in 0..n {
            let k = K::decode(buf)?;
            if last.as_ref().is_some_and(|p| *p >= k) {
                return Err(DecodeError::Invalid("map keys not strictly ascending"));
            }
            let v = S::read_store(buf, actors)?;
            last = Some(k.clone());
            b.push(k, v);
        }
        Ok(Self { map: b.finish() })
    }
}

/// A version vector as a dot view (the dots a remove-with-context covers).
pub(crate) struct VvView<'a, A>(pub(crate) &'a VersionVector<A>);

impl<A: Actor> DotView<A> for VvView<'_, A> {
    #[inline]
    fn has(&self, dot: &Dot<A>) -> bool {
        self.0.contains(dot)
    }
}

/// Collects the actors of every dot of a store.
pub(crate) fn store_actors<A: Actor, S: Store<A>>(s: &S, out: &mut BTreeSet<A>) {
    s.for_each_dot(&mut |d| {
        if !out.contains(&d.actor) {
            out.insert(d.actor.clone());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(vv: &[(u8, u64)], cloud: &[(u8, u64)]) -> CausalContext<u8> {
        let mut cc = CausalContext::new();
        for &(a, n) in vv {
            for c in 1..=n {
                cc.insert(Dot::new(a, c));
            }
        }
        for &(a, c) in cloud {
            cc.insert(Dot::new(a, c));
        }
        cc
    }

    fn is_bits(s: &DotSeen<u8>, actor: u8) -> bool {
        s.buckets
            .iter()
            .any(|(a, b)| *a == actor && matches!(b.seen, Seen::Bits(_)))
    }

    #[test]
    fn a_sparse_bucket_turns_into_a_bitmap_once_dense() {
        // One entry declared, 5000 counters: no bitmap at first (the budget is per entry).
        let cc = ctx(&[(1, 5000)], &[]);
        let mut s = DotSeen::for_context(&cc, 1, true);
        assert!(!is_bits(&s, 1));
        for c in 1..=5000 {
            assert!(s.admit(&Dot::new(1, c), &cc));
            assert!(s.dup.is_none(), "{c} reported twice");
        }
        assert!(is_bits(&s, 1), "dense counters end in a bitmap");
        assert!((1..=5000).all(|c| s.contains(&Dot::new(1, c))));
        assert!(!s.contains(&Dot::new(1, 5001)) && !s.contains(&Dot::new(2, 1)));
        assert!(s.admit(&Dot::new(1, 17), &cc));
        assert_eq!(
            s.finish(),
            Err(ValidationError::DuplicateDot { dot: "1:17".into() })
        );
    }

    #[test]
    fn sparse_counters_stay_in_a_hash_set() {
        let big = 1 << 40;
        let cc = ctx(&[(1, 3)], &[(1, big)]);
        let mut s = DotSeen::for_context(&cc, 4, true);
        for c in [1, 2, big] {
            assert!(s.admit(&Dot::new(1, c), &cc));
        }
        assert!(!is_bits(&s, 1));
        assert!(s.contains(&Dot::new(1, big)) && !s.contains(&Dot::new(1, 3)));
        assert!(s.finish().is_ok());
        assert!(s.admit(&Dot::new(1, big), &cc));
        assert!(s.finish().is_err());
    }

    #[test]
    fn admit_rejects_uncovered_and_zero_dots() {
        let cc = ctx(&[(1, 3)], &[(2, 9)]);
        let mut s = DotSeen::for_context(&cc, 4, true);
        assert!(!s.admit(&Dot::new(1, 0), &cc));
        assert!(!s.admit(&Dot::new(1, 4), &cc));
        assert!(!s.admit(&Dot::new(2, 8), &cc));
        assert!(!s.admit(&Dot::new(3, 1), &cc));
        assert!(s.admit(&Dot::new(2, 9), &cc) && s.admit(&Dot::new(1, 3), &cc));
        // A view with holes: the bucket's prefix is not trusted when the walk is not plain.
        let holes = Holes(&cc, Dot::new(1, 2));
        let mut s = DotSeen::for_context(&cc, 4, false);
        assert!(s.admit(&Dot::new(1, 1), &holes));
        assert!(!s.admit(&Dot::new(1, 2), &holes));
        assert!(s.finish().is_ok());
    }

    /// A context minus one dot.
    struct Holes<'a>(&'a CausalContext<u8>, Dot<u8>);

    impl DotView<u8> for Holes<'_> {
        fn has(&self, dot: &Dot<u8>) -> bool {
            *dot != self.1 && self.0.contains(dot)
        }
    }
}
