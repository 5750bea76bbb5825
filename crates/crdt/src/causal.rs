//! `Causal<S>`: a dot store paired with its causal context, and its delta form.

use std::collections::BTreeSet;
use std::fmt;

use bytes::Buf;
use quorate_clocks::{Actor, Decode, DecodeError, Dot, VersionVector, get_len};

use crate::codec::{
    ActorTable, Canonical, Digest, Sink, digest_of, impl_encode_via_canonical,
    impl_serde_via_codec, put_len, read_actor, read_actors, read_dot, read_header, tag,
    write_header,
};
use crate::context::{CausalContext, DotView, Retirement};
use crate::dotstore::{
    DotSeen, DotStore, JoinOpts, Store, audit_peer, check_collisions, collision, store_actors,
};
use crate::error::RetireError;
use crate::error::{ValidationError, dot_name, name};
use crate::traits::{Crdt, DeltaCrdt};
use crate::wrap::EncodeStore;

/// A causal CRDT state: a dot store plus the causal context of everything the replica has seen.
///
/// This is the shared engine of [`OrSet`](crate::OrSet), [`RwSet`](crate::RwSet),
/// [`MvReg`](crate::MvReg), [`EwFlag`](crate::EwFlag) and [`OrMap`](crate::OrMap); the public
/// types wrap it with their own mutators and queries.
///
/// Invariants (checked by [`Crdt::validate`], the `try_join*` methods and the decoder): the
/// context is compacted, every stored dot is covered by the context, no dot is stored twice and
/// no key maps to an empty store. A state may also hold *deferred removes* (from
/// [`OrSet::remove_with_context`](crate::OrSet::remove_with_context) and
/// [`OrMap::remove_with_context`](crate::OrMap::remove_with_context) with a context this
/// replica had not fully seen): per key, the version vector whose dots under that key are
/// dropped when they arrive; each goes away once the context covers its vector, so replicas
/// that have seen the same events hold none and encode identically.
///
/// ```
/// use quorate_crdt::{Crdt, OrSet};
/// let mut s = OrSet::<u32, u8>::new();
/// s.add(1, 7)?;
/// assert!(s.as_causal().validate().is_ok());
/// assert_eq!(s.as_causal().context().version_vector().get(&1), 1);
/// # Ok::<(), quorate_clocks::CounterOverflow>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Causal<S: DotStore<A>, A: Actor> {
    pub(crate) store: S,
    pub(crate) ctx: CausalContext<A>,
    /// Removes with a context this replica has not fully seen (see `remove_with_context`):
    /// per key, the version vector whose dots under that key are dropped when they arrive.
    /// Sorted by key; an entry goes once the context covers its vector. Usually empty.
    pub(crate) deferred: Deferred<S, A>,
}

/// Deferred removes: (key, covered dots) pairs, sorted by key.
pub(crate) type Deferred<S, A> = Vec<(<S as Store<A>>::Key, VersionVector<A>)>;

impl<S: DotStore<A> + std::hash::Hash, A: Actor> std::hash::Hash for Causal<S, A> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Deferred removes are left out: equal values still hash equally.
        self.store.hash(state);
        self.ctx.hash(state);
    }
}

impl<S: DotStore<A>, A: Actor> Default for Causal<S, A> {
    fn default() -> Self {
        Self {
            store: S::default(),
            ctx: CausalContext::default(),
            deferred: Vec::new(),
        }
    }
}

impl<S: DotStore<A>, A: Actor> fmt::Debug for Causal<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Causal");
        d.field("store", &self.store).field("ctx", &self.ctx);
        if !self.deferred.is_empty() {
            d.field("deferred", &self.deferred);
        }
        d.finish()
    }
}

impl<S: DotStore<A>, A: Actor> Causal<S, A> {
    /// Builds a state from a store and a context, checking every invariant.
    ///
    /// # Errors
    ///
    /// The first [`ValidationError`] (dot outside the context, dot used twice, empty entry,
    /// uncompacted context).
    ///
    /// ```
    /// use quorate_clocks::Dot;
    /// use quorate_crdt::{Causal, CausalContext, DotSet, ValidationError};
    /// let store: DotSet<u8> = [Dot::new(1, 5)].into_iter().collect();
    /// let err = Causal::from_parts(store, CausalContext::new()).unwrap_err();
    /// assert_eq!(err, ValidationError::DotNotInContext { dot: "1:5".into() });
    /// ```
    pub fn from_parts(store: S, ctx: CausalContext<A>) -> Result<Self, ValidationError> {
        let c = Self {
            store,
            ctx,
            deferred: Vec::new(),
        };
        c.validate()?;
        Ok(c)
    }

    /// Builds a state without checking it, for values whose origin is trusted (or for tests
    /// that need invalid values). Invalid values are still caught by [`Crdt::validate`] and by
    /// the `try_join*` methods on the receiving side; joining one unchecked gives unspecified
    /// (but memory-safe, panic-free) results.
    ///
    /// ```
    /// use quorate_crdt::{Causal, CausalContext, Crdt, DotSet};
    /// let c = Causal::new_unchecked(DotSet::<u8>::default(), CausalContext::new());
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn new_unchecked(store: S, ctx: CausalContext<A>) -> Self {
        Self {
            store,
            ctx,
            deferred: Vec::new(),
        }
    }
}

/// True when the store holds a dot of `actor`.
fn store_mentions<S: DotStore<A>, A: Actor>(store: &S, actor: &A) -> bool {
    let mut found = false;
    store.for_each_dot(&mut |d| found |= d.actor == *actor);
    found
}

/// `Err(RetiredActor)` when the store holds a dot of an actor `ctx` records as retired.
fn check_store_retired<S: DotStore<A>, A: Actor>(
    store: &S,
    ctx: &CausalContext<A>,
) -> Result<(), ValidationError> {
    if ctx.retired_list().is_empty() {
        return Ok(());
    }
    let mut bad: Option<A> = None;
    store.for_each_dot(&mut |d| {
        if bad.is_none() && ctx.is_retired(&d.actor) {
            bad = Some(d.actor.clone());
        }
    });
    match bad {
        Some(actor) => Err(ValidationError::RetiredActor {
            actor: name(&actor),
        }),
        None => Ok(()),
    }
}

/// Checks a peer value's context, store and kept dots against this replica's retirement
/// records: a retirement we applied that the peer does not know must not be referenced by it,
/// and the two sides' records must agree.
fn check_peer_records<S: DotStore<A>, A: Actor>(
    mine: &CausalContext<A>,
    ctx: &CausalContext<A>,
    store: &S,
    keep: &[Dot<A>],
) -> Result<(), ValidationError> {
    for r in mine.retired_list() {
        match ctx.retirement(r.actor()) {
            Some(pr) if pr != r => {
                return Err(ValidationError::ConflictingRetirement {
                    actor: name(r.actor()),
                });
            }
            Some(_) => {}
            None => {
                if ctx.mentions(r.actor())
                    || keep.iter().any(|d| d.actor == *r.actor())
                    || store_mentions(store, r.actor())
                {
                    return Err(ValidationError::RetiredActor {
                        actor: name(r.actor()),
                    });
                }
            }
        }
    }
    for pr in ctx.retired_list() {
        if mine.retirement(pr.actor()).is_none() && mine.max_counter(pr.actor()) > pr.last() {
            return Err(ValidationError::ConflictingRetirement {
                actor: name(pr.actor()),
            });
        }
    }
    Ok(())
}

/// `Err(RetiredActor)` when a peer's deferred removes name an actor this replica retired and
/// the peer does not know it (a late message).
fn check_peer_deferred<K, A: Actor>(
    mine: &CausalContext<A>,
    theirs: &CausalContext<A>,
    deferred: &[(K, VersionVector<A>)],
) -> Result<(), ValidationError> {
    for r in mine.retired_list() {
        if !theirs.is_retired(r.actor()) && deferred.iter().any(|(_, vv)| vv.get(r.actor()) > 0) {
            return Err(ValidationError::RetiredActor {
                actor: name(r.actor()),
            });
        }
    }
    Ok(())
}

/// True when a value lacking some of `list` references one of the actors it retires.
fn needs_rename<S: DotStore<A>, A: Actor>(
    list: &[Retirement<A>],
    ctx: &CausalContext<A>,
    store: &S,
    keep: &[Dot<A>],
) -> bool {
    list.iter().any(|r| {
        !ctx.is_retired(r.actor())
            && (ctx.mentions(r.actor())
                || keep.iter().any(|d| d.actor == *r.actor())
                || store_mentions(store, r.actor()))
    })
}

/// Union of deferred removes: per key, the pointwise maximum of the vectors (the dots either
/// remove covers).
fn merge_deferred<K: Ord + Clone, A: Actor>(
    into: &mut Vec<(K, VersionVector<A>)>,
    other: &[(K, VersionVector<A>)],
) {
    for (k, vv) in other {
        match into.binary_search_by(|(x, _)| x.cmp(k)) {
            Ok(i) => {
                if let Some((_, v)) = into.get_mut(i) {
                    v.merge(vv);
                }
            }
            Err(i) => into.insert(i, (k.clone(), vv.clone())),
        }
    }
}

/// Drops the retired actors' entries from deferred removes (retirement requires every replica
/// to have seen all of their events, so those parts are applied already).
fn strip_retired<K, A: Actor>(deferred: &mut Vec<(K, VersionVector<A>)>, ctx: &CausalContext<A>) {
    if deferred.is_empty() || ctx.retired_list().is_empty() {
        return;
    }
    for (_, vv) in deferred.iter_mut() {
        for r in ctx.retired_list() {
            vv.remove(r.actor());
        }
    }
    deferred.retain(|(_, vv)| !vv.is_empty());
}

/// Checks the form of a deferred-remove list: keys strictly ascending, no empty vector, no
/// retired actor.
fn check_deferred_form<K: Ord + fmt::Debug, A: Actor>(
    deferred: &[(K, VersionVector<A>)],
    ctx: &CausalContext<A>,
) -> Result<(), ValidationError> {
    for (i, (k, vv)) in deferred.iter().enumerate() {
        let prev_ok = i == 0 || deferred.get(i - 1).is_some_and(|(p, _)| p < k);
        if !prev_ok || vv.is_empty() {
            return Err(ValidationError::InvalidDeferredRemove { key: name(k) });
        }
        if let Some((a, _)) = vv.iter().find(|(a, _)| ctx.is_retired(a)) {
            return Err(ValidationError::RetiredActor { actor: name(a) });
        }
    }
    Ok(())
}

/// Applies the records of `list` that `ctx` lacks: renames the retired actors' dots in the
/// store (repeatedly, for chains) and records them in the context.
fn apply_records<S: DotStore<A>, A: Actor>(
    list: &[Retirement<A>],
    store: &mut S,
    ctx: &mut CausalContext<A>,
    keep: &mut Vec<Dot<A>>,
) {
    let mut added = false;
    for r in list {
        if !ctx.is_retired(r.actor()) {
            ctx.add_retirement(r.clone());
            added = true;
        }
    }
    if !added {
        return;
    }
    for _ in 0..=list.len() {
        let mut again = false;
        for r in ctx.retired_list() {
            if store_mentions(store, r.actor()) {
                store.rename(r);
                again = true;
            }
            if keep.iter().any(|d| d.actor == *r.actor()) {
                for d in keep.iter_mut() {
                    if let Some(n) = r.rename(d) {
                        *d = n;
                    }
                }
                keep.sort();
                keep.dedup();
            }
        }
        if !again {
            break;
        }
    }
}

impl<S: DotStore<A>, A: Actor> Causal<S, A> {
    /// Retires `departed`: renames its dots into a reserved range of `into`'s counters and
    /// records the retirement in the context, so the version vector no longer carries the
    /// departed actor (see [`Retirement`] and, for the public types,
    /// [`OrSet::retire`](crate::OrSet::retire)).
    ///
    /// # Errors
    ///
    /// [`RetireError`]; the value is then unchanged.
    ///
    /// ```
    /// use quorate_crdt::EwFlag;
    /// let mut f = EwFlag::<u8>::new();
    /// f.enable(9)?;
    /// let mut c = f.as_causal().clone();
    /// c.retire(&9, 1)?;
    /// assert_eq!(c.context().version_vector().get(&9), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retire(&mut self, departed: &A, into: A) -> Result<(), RetireError> {
        if *departed == into {
            return Err(RetireError::SameActor);
        }
        if self.ctx.is_retired(departed) || self.ctx.is_retired(&into) {
            return Err(RetireError::AlreadyRetired);
        }
        if self.ctx.version_vector().get(departed) == 0
            || self
                .ctx
                .cloud()
                .any(|d| d.actor == *departed || d.actor == into)
        {
            return Err(RetireError::Incomplete);
        }
        let r = self
            .ctx
            .plan_retirement(departed, &into)
            .ok_or(RetireError::Overflow)?;
        self.store.rename(&r);
        self.ctx.add_retirement(r);
        strip_retired(&mut self.deferred, &self.ctx);
        Ok(())
    }

    /// Drops the retirement record of `actor` (once every replica holds it).
    ///
    /// # Errors
    ///
    /// [`RetireError::StillNeeded`] when this replica has not yet seen the surviving actor's
    /// events up to the end of the renamed range (the record still covers them).
    ///
    /// ```
    /// use quorate_crdt::EwFlag;
    /// let mut f = EwFlag::<u8>::new();
    /// f.enable(9)?;
    /// let mut c = f.as_causal().clone();
    /// c.retire(&9, 1)?;
    /// c.forget_retired(&9)?;
    /// assert_eq!(c.context().retirements().count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forget_retired(&mut self, actor: &A) -> Result<(), RetireError> {
        if self.ctx.remove_retirement(actor) {
            Ok(())
        } else {
            Err(RetireError::StillNeeded)
        }
    }

    /// The plain join, for two values with the same retirement records.
    fn join_plain(&mut self, other: &Self) {
        self.store
            .join_store(&self.ctx, &other.store, &other.ctx, STATE_OPTS);
        self.ctx.join(&other.ctx);
        self.settle(&other.deferred);
    }

    /// Adds `incoming` deferred removes, applies every deferred remove to the store, and drops
    /// those the context now covers in full (every dot they cover has arrived, and the context
    /// alone keeps the removed ones out from now on). Free when both lists are empty.
    fn settle(&mut self, incoming: &Deferred<S, A>) {
        if incoming.is_empty() && self.deferred.is_empty() {
            return;
        }
        merge_deferred(&mut self.deferred, incoming);
        strip_retired(&mut self.deferred, &self.ctx);
        for (k, vv) in &self.deferred {
            self.store.drop_key_covered(k, vv);
        }
        let seen = self.ctx.version_vector();
        self.deferred.retain(|(_, vv)| !seen.descends(vv));
    }

    /// The delta of removing what `seen` covers under `key`: the held dots it covers now, and
    /// (when this replica has not seen all of `seen`) a deferred remove for the rest, dropped on
    /// arrival wherever the delta goes. `hollow` is the key's store part (key hints).
    pub(crate) fn remove_with_context_delta(
        &self,
        key: S::Key,
        hollow: S,
        mut held: Vec<Dot<A>>,
        seen: &VersionVector<A>,
    ) -> CausalDelta<S, A> {
        held.retain(|d| seen.contains(d));
        let dots = held;
        let mut seen = seen.clone();
        for r in self.ctx.retired_list() {
            seen.remove(r.actor());
        }
        let deferred = if seen.is_empty() || self.ctx.version_vector().descends(&seen) {
            Vec::new()
        } else {
            vec![(key, seen)]
        };
        if dots.is_empty() && deferred.is_empty() {
            return CausalDelta::default();
        }
        CausalDelta {
            store: hollow,
            ctx: CausalContext::from_dots(dots),
            keep: Vec::new(),
            full: false,
            deferred,
        }
    }

    /// Brings `self` to the union of both record lists; `true` when `other` must be renamed.
    fn adopt_records(&mut self, ctx: &CausalContext<A>, store: &S, keep: &[Dot<A>]) -> bool {
        if self.ctx.retired_list() == ctx.retired_list() {
            return false;
        }
        let mut none = Vec::new();
        apply_records(
            ctx.retired_list(),
            &mut self.store,
            &mut self.ctx,
            &mut none,
        );
        needs_rename(self.ctx.retired_list(), ctx, store, keep)
    }
}

impl<S: DotStore<A>, A: Actor> Causal<S, A> {
    /// The dot store.
    ///
    /// ```
    /// use quorate_crdt::{DotStore, EwFlag};
    /// assert!(EwFlag::<u8>::new().as_causal().store().is_empty());
    /// ```
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The causal context.
    ///
    /// ```
    /// use quorate_crdt::EwFlag;
    /// assert!(EwFlag::<u8>::new().as_causal().context().is_empty());
    /// ```
    pub fn context(&self) -> &CausalContext<A> {
        &self.ctx
    }
}

const STATE_OPTS: JoinOpts = JoinOpts {
    keys_only: false,
    prune: true,
};

impl<S: DotStore<A>, A: Actor> Crdt for Causal<S, A> {
    fn join(&mut self, other: &Self) {
        if (!self.ctx.retired_list().is_empty() || !other.ctx.retired_list().is_empty())
            && self.adopt_records(&other.ctx, &other.store, &[])
        {
            let mut o = other.clone();
            apply_records(
                self.ctx.retired_list(),
                &mut o.store,
                &mut o.ctx,
                &mut Vec::new(),
            );
            self.join_plain(&o);
            return;
        }
        self.join_plain(other);
    }

    fn join_owned(&mut self, other: Self) {
        let Self {
            mut store,
            mut ctx,
            deferred,
        } = other;
        if (!self.ctx.retired_list().is_empty() || !ctx.retired_list().is_empty())
            && self.adopt_records(&ctx, &store, &[])
        {
            apply_records(
                self.ctx.retired_list(),
                &mut store,
                &mut ctx,
                &mut Vec::new(),
            );
        }
        self.store.join_store_owned(&self.ctx, store, &ctx);
        self.ctx.join(&ctx);
        self.settle(&deferred);
    }

    fn validate_peer(&self, other: &Self) -> Result<(), ValidationError> {
        if self.ctx.retired_list() != other.ctx.retired_list() {
            other.validate()?;
            check_peer_records(&self.ctx, &other.ctx, &other.store, &[])?;
            check_peer_deferred(&self.ctx, &other.ctx, &other.deferred)?;
            return self.check_collisions(&other.store, &other.ctx, &[], false);
        }
        // Equal records (the usual case): the peer's validation walk also finds collisions.
        let hit = other.validate_against(Some(&self.store))?;
        check_peer_records(&self.ctx, &other.ctx, &other.store, &[])?;
        check_peer_deferred(&self.ctx, &other.ctx, &other.deferred)?;
        match hit {
            Some(d) => Err(collision(&self.store, &other.store, &d)),
            None => Ok(()),
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        self.validate_against(None).map(|_| ())
    }
}

impl<S: DotStore<A>, A: Actor> Causal<S, A> {
    /// [`Crdt::validate`]; given `local` (the store of a replica with the same retirement
    /// records), the store walk also looks for dots that `local` and this value hold at
    /// different places and returns the first it finds (see `audit_peer`), leaving the error to
    /// the caller, which reports it only after its own checks of this value pass.
    fn validate_against(&self, local: Option<&S>) -> Result<Option<Dot<A>>, ValidationError> {
        check_store_retired(&self.store, &self.ctx)?;
        self.ctx.validate()?;
        let hit = match local {
            Some(local) => audit_peer(local, &self.store, &self.ctx, &self.ctx, true, false)?,
            None => {
                let mut seen = DotSeen::for_context(&self.ctx, self.store.width(), true);
                self.store.check(&self.ctx, &mut seen, false)?;
                seen.finish()?;
                None
            }
        };
        if self.deferred.is_empty() {
            return Ok(hit);
        }
        check_deferred_form(&self.deferred, &self.ctx)?;
        for (k, vv) in &self.deferred {
            if self.ctx.version_vector().descends(vv) || self.store.key_has_covered(k, vv) {
                return Err(ValidationError::InvalidDeferredRemove { key: name(k) });
            }
        }
        Ok(hit)
    }
}

/// The delta form of every causal type.
///
/// A delta is a dot store plus the context of the dots it speaks about. Mutator deltas also act
/// as *key hints*: a remove delta keeps the removed keys (with empty stores), so joining a delta
/// only visits the keys it names and costs `O(size of the delta)`, whatever the size of the
/// state. Deltas from [`DeltaCrdt::delta_since`] and [`DeltaCrdt::to_delta`] are *full*: they
/// speak for the whole state and are joined with a full walk.
///
/// A `delta_since` answer also carries `keep`: the dots the sender still holds that the peer
/// already has. They are excluded from the delta's effective context, so the peer keeps those
/// elements without the sender re-sending them; every other dot the sender has seen but does
/// not hold is a removal the peer applies. Without tombstones this is the price of exact
/// catch-up: the answer holds the missing entries with their keys plus one bare dot (two small
/// varints) per entry the peer already has, and joining it walks the whole state.
///
/// ```
/// use quorate_crdt::{DeltaCrdt, OrSet};
/// let mut a = OrSet::<u32, u8>::new();
/// let mut group = a.add(1, 1)?;
/// let d2 = a.add(1, 2)?;
/// OrSet::merge_delta(&mut group, &d2);
/// let mut b = OrSet::new();
/// b.try_join_delta(&group)?;
/// assert_eq!(a, b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CausalDelta<S: DotStore<A>, A: Actor> {
    pub(crate) store: S,
    pub(crate) ctx: CausalContext<A>,
    /// Sorted, strictly ascending; a subset of `ctx`.
    pub(crate) keep: Vec<Dot<A>>,
    pub(crate) full: bool,
    /// Deferred removes carried to the receiver (see `Causal::deferred`).
    pub(crate) deferred: Deferred<S, A>,
}

impl<S: DotStore<A> + std::hash::Hash, A: Actor> std::hash::Hash for CausalDelta<S, A> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.store.hash(state);
        self.ctx.hash(state);
        self.keep.hash(state);
        self.full.hash(state);
    }
}

impl<S: DotStore<A>, A: Actor> Default for CausalDelta<S, A> {
    fn default() -> Self {
        Self {
            store: S::default(),
            ctx: CausalContext::default(),
            keep: Vec::new(),
            full: false,
            deferred: Vec::new(),
        }
    }
}

impl<S: DotStore<A>, A: Actor> fmt::Debug for CausalDelta<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("CausalDelta");
        d.field("store", &self.store)
            .field("ctx", &self.ctx)
            .field("keep", &self.keep)
            .field("full", &self.full);
        if !self.deferred.is_empty() {
            d.field("deferred", &self.deferred);
        }
        d.finish()
    }
}

impl<S: DotStore<A>, A: Actor> CausalDelta<S, A> {
    /// The delta's dot store (removed keys appear with empty stores).
    ///
    /// ```
    /// use quorate_crdt::{DotStore, OrSet};
    /// let mut s = OrSet::<u32, u8>::new();
    /// let d = s.add(1, 5)?;
    /// assert_eq!(d.store().len(), 1);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The dots this delta speaks about.
    ///
    /// ```
    /// use quorate_crdt::OrSet;
    /// let mut s = OrSet::<u32, u8>::new();
    /// let d = s.add(1, 5)?;
    /// assert_eq!(d.context().version_vector().get(&1), 1);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn context(&self) -> &CausalContext<A> {
        &self.ctx
    }

    /// True for deltas that speak for a whole state (`to_delta`, `delta_since`).
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, OrSet};
    /// let s = OrSet::<u32, u8>::new();
    /// assert!(s.to_delta().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.full
    }
}

/// A context with holes: `ctx` minus the `keep` dots.
struct Eff<'a, A> {
    ctx: &'a CausalContext<A>,
    keep: &'a [Dot<A>],
}

impl<A: Actor> DotView<A> for Eff<'_, A> {
    #[inline]
    fn has(&self, dot: &Dot<A>) -> bool {
        self.ctx.contains(dot) && (self.keep.is_empty() || self.keep.binary_search(dot).is_err())
    }
}

impl<S: DotStore<A>, A: Actor> CausalDelta<S, A> {
    /// Builds a mutation delta (key-scoped, no kept dots) from a store and the context of the
    /// dots it speaks about. Not validated here: receivers validate with `try_join_delta`.
    ///
    /// ```
    /// use quorate_clocks::Dot;
    /// use quorate_crdt::{CausalContext, CausalDelta, DeltaCrdt, DotSet, EwFlag};
    /// let dot = Dot::new(1u8, 1);
    /// let d = CausalDelta::new_unchecked(DotSet::single(dot), [dot].into_iter().collect());
    /// let mut f = EwFlag::new();
    /// f.try_join_delta(&d)?;
    /// assert!(f.is_enabled());
    /// # Ok::<(), quorate_crdt::ValidationError>(())
    /// ```
    pub fn new_unchecked(store: S, ctx: CausalContext<A>) -> Self {
        Self::mutation(store, ctx)
    }

    fn eff(&self) -> Eff<'_, A> {
        Eff {
            ctx: &self.ctx,
            keep: &self.keep,
        }
    }

    pub(crate) fn mutation(store: S, ctx: CausalContext<A>) -> Self {
        Self {
            store,
            ctx,
            keep: Vec::new(),
            full: false,
            deferred: Vec::new(),
        }
    }

    /// Checks the delta on its own: compact context, `keep` sorted and inside the context, every
    /// stored dot in the effective context and stored once.
    fn validate_alone(&self) -> Result<(), ValidationError> {
        self.validate_against(None).map(|_| ())
    }

    /// `validate_alone`; given `local` (the store of a replica with the same retirement records,
    /// for a full delta), the store walk also looks for dots that `local` and this delta hold at
    /// different places, as `Causal::validate_against` does.
    fn validate_against(&self, local: Option<&S>) -> Result<Option<Dot<A>>, ValidationError> {
        check_store_retired(&self.store, &self.ctx)?;
        if let Some(d) = self.keep.iter().find(|d| self.ctx.is_retired(&d.actor)) {
            return Err(ValidationError::RetiredActor {
                actor: name(&d.actor),
            });
        }
        self.ctx.validate()?;
        if let Some(w) = self.keep.windows(2).find(|w| w[0] >= w[1]) {
            return Err(ValidationError::DuplicateDot {
                dot: dot_name(&w[1]),
            });
        }
        if let Some(d) = self.keep.iter().find(|d| !self.ctx.contains(d)) {
            return Err(ValidationError::DotNotInContext { dot: dot_name(d) });
        }
        // Without kept dots the effective context is the context itself.
        let plain = self.keep.is_empty();
        let hit = match local {
            Some(local) => audit_peer(local, &self.store, &self.eff(), &self.ctx, plain, true)?,
            None => {
                let mut seen = DotSeen::for_context(&self.ctx, self.store.width(), plain);
                self.store.check(&self.eff(), &mut seen, true)?;
                seen.finish()?;
                None
            }
        };
        check_deferred_form(&self.deferred, &self.ctx)?;
        Ok(hit)
    }
}

impl<S: DotStore<A>, A: Actor> Causal<S, A> {
    /// Joins a delta (see [`DeltaCrdt::join_delta`]).
    pub(crate) fn apply_delta(&mut self, d: &CausalDelta<S, A>) {
        if (!self.ctx.retired_list().is_empty() || !d.ctx.retired_list().is_empty())
            && self.adopt_records(&d.ctx, &d.store, &d.keep)
        {
            let mut d2 = d.clone();
            apply_records(
                self.ctx.retired_list(),
                &mut d2.store,
                &mut d2.ctx,
                &mut d2.keep,
            );
            self.apply_delta_plain(&d2);
            return;
        }
        self.apply_delta_plain(d);
    }

    fn apply_delta_plain(&mut self, d: &CausalDelta<S, A>) {
        let opts = JoinOpts {
            keys_only: !d.full,
            prune: true,
        };
        self.store.join_store(&self.ctx, &d.store, &d.eff(), opts);
        self.ctx.join(&d.ctx);
        self.settle(&d.deferred);
    }

    pub(crate) fn check_delta(&self, d: &CausalDelta<S, A>) -> Result<(), ValidationError> {
        // A full delta with the same retirement records (the usual anti-entropy answer): its
        // validation walk also finds collisions, as in `validate_peer`. Mutation deltas keep
        // their walk proportional to the keys they name.
        let fused = d.full && self.ctx.retired_list() == d.ctx.retired_list();
        let hit = d.validate_against(fused.then_some(&self.store))?;
        check_peer_records(&self.ctx, &d.ctx, &d.store, &d.keep)?;
        check_peer_deferred(&self.ctx, &d.ctx, &d.deferred)?;
        if let Some(k) = d.keep.iter().find(|k| !self.ctx.contains(k)) {
            return Err(ValidationError::UnknownKeptDot { dot: dot_name(k) });
        }
        if !fused {
            return self.check_collisions(&d.store, &d.ctx, &d.keep, !d.full);
        }
        match hit {
            Some(dot) => Err(collision(&self.store, &d.store, &dot)),
            None => Ok(()),
        }
    }

    /// Fails with [`ValidationError::DotCollision`] when a peer's value (store, context minus
    /// `keep`) holds a dot that this replica holds for a different entry. With differing
    /// retirement records both sides are first renamed as the join would rename them.
    fn check_collisions(
        &self,
        store: &S,
        ctx: &CausalContext<A>,
        keep: &[Dot<A>],
        keys_only: bool,
    ) -> Result<(), ValidationError> {
        if self.ctx.retired_list() == ctx.retired_list() {
            let theirs = Eff { ctx, keep };
            return check_collisions(&self.store, &self.ctx, store, &theirs, keys_only);
        }
        let mut me = self.clone();
        let (mut store2, mut ctx2, mut keep2) = (store.clone(), ctx.clone(), keep.to_vec());
        if me.adopt_records(ctx, store, keep) {
            apply_records(me.ctx.retired_list(), &mut store2, &mut ctx2, &mut keep2);
        }
        let theirs = Eff {
            ctx: &ctx2,
            keep: &keep2,
        };
        check_collisions(&me.store, &me.ctx, &store2, &theirs, keys_only)
    }

    pub(crate) fn merge_deltas(group: &mut CausalDelta<S, A>, d: &CausalDelta<S, A>) {
        if (!group.ctx.retired_list().is_empty() || !d.ctx.retired_list().is_empty())
            && group.ctx.retired_list() != d.ctx.retired_list()
        {
            let list = d.ctx.retired_list().to_vec();
            apply_records(&list, &mut group.store, &mut group.ctx, &mut group.keep);
            let mut d2 = d.clone();
            apply_records(
                group.ctx.retired_list(),
                &mut d2.store,
                &mut d2.ctx,
                &mut d2.keep,
            );
            Self::merge_deltas_plain(group, &d2);
            return;
        }
        Self::merge_deltas_plain(group, d);
    }

    fn merge_deltas_plain(group: &mut CausalDelta<S, A>, d: &CausalDelta<S, A>) {
        let opts = JoinOpts {
            keys_only: !d.full,
            prune: false,
        };
        let keep = if group.keep.is_empty() && d.keep.is_empty() {
            Vec::new()
        } else {
            // keep = (K1 ∩ K2) ∪ (K1 \ C2) ∪ (K2 \ C1)
            let mut k: Vec<Dot<A>> = group
                .keep
                .iter()
                .filter(|x| d.keep.binary_search(x).is_ok() || !d.ctx.contains(x))
                .chain(d.keep.iter().filter(|x| !group.ctx.contains(x)))
                .cloned()
                .collect();
            k.sort();
            k.dedup();
            k
        };
        {
            let g_eff = Eff {
                ctx: &group.ctx,
                keep: &group.keep,
            };
            group.store.join_store(&g_eff, &d.store, &d.eff(), opts);
        }
        group.ctx.join(&d.ctx);
        group.keep = keep;
        group.full |= d.full;
        if !d.deferred.is_empty() {
            merge_deferred(&mut group.deferred, &d.deferred);
        }
        strip_retired(&mut group.deferred, &group.ctx);
    }

    pub(crate) fn full_delta(&self) -> CausalDelta<S, A> {
        CausalDelta {
            store: self.store.clone(),
            ctx: self.ctx.clone(),
            keep: Vec::new(),
            full: true,
            deferred: self.deferred.clone(),
        }
    }

    pub(crate) fn since(&self, seen: &VersionVector<A>) -> CausalDelta<S, A> {
        let mut keep = Vec::new();
        self.store.for_each_dot(&mut |d| {
            if seen.contains(d) {
                keep.push(d.clone());
            }
        });
        keep.sort();
        CausalDelta {
            store: self.store.since(seen),
            ctx: self.ctx.clone(),
            keep,
            full: true,
            deferred: self.deferred.clone(),
        }
    }

    /// All dots of the store under the context, as a context (for remove deltas).
    pub(crate) fn dots_context(store: &S) -> CausalContext<A> {
        let mut dots = Vec::new();
        store.for_each_dot(&mut |d| dots.push(d.clone()));
        CausalContext::from_dots(dots)
    }

    /// Canonical digest of the state.
    pub(crate) fn digest(&self) -> Digest
    where
        Self: Canonical,
    {
        digest_of(self)
    }
}

impl<S: DotStore<A>, A: Actor> DeltaCrdt<A> for Causal<S, A> {
    type Delta = CausalDelta<S, A>;

    fn join_delta(&mut self, delta: &Self::Delta) {
        self.apply_delta(delta);
    }

    fn validate_delta(&self, delta: &Self::Delta) -> Result<(), ValidationError> {
        self.check_delta(delta)
    }

    fn merge_delta(group: &mut Self::Delta, delta: &Self::Delta) {
        Self::merge_deltas(group, delta);
    }

    fn summary(&self) -> VersionVector<A> {
        self.ctx.version_vector().clone()
    }

    fn delta_since(&self, seen: &VersionVector<A>) -> Self::Delta {
        self.since(seen)
    }

    fn to_delta(&self) -> Self::Delta {
        self.full_delta()
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn table_of<S: DotStore<A>, A: Actor + Ord>(
    store: &S,
    ctx: &CausalContext<A>,
    keep: &[Dot<A>],
    deferred: &Deferred<S, A>,
) -> ActorTable<A> {
    let mut set = BTreeSet::new();
    ctx.collect_actors(&mut set);
    store_actors(store, &mut set);
    for d in keep {
        set.insert(d.actor.clone());
    }
    for (_, vv) in deferred {
        for (a, _) in vv.iter() {
            set.insert(a.clone());
        }
    }
    ActorTable::from_set(set)
}

/// Writes deferred removes: count, then per entry the key and its vector (actor index,
/// counter pairs, ascending).
fn write_deferred<S: EncodeStore<A>, A: Actor, SI: Sink>(
    deferred: &Deferred<S, A>,
    s: &mut SI,
    t: &ActorTable<A>,
) {
    put_len(s, deferred.len());
    for (k, vv) in deferred {
        S::write_key(k, s);
        put_len(s, vv.len());
        for (a, c) in vv.iter() {
            s.varint(t.index(a));
            s.varint(c);
        }
    }
}

/// Reads deferred removes (structure only; validation runs afterwards).
fn read_deferred<S: EncodeStore<A>, A: Actor, B: Buf>(
    buf: &mut B,
    actors: &[A],
) -> Result<Deferred<S, A>, DecodeError> {
    let n = get_len(buf, 2)?;
    let mut out: Deferred<S, A> = Vec::with_capacity(n);
    for _ in 0..n {
        let k = S::read_key(buf)?;
        let m = get_len(buf, 2)?;
        let mut vv = VersionVector::new();
        let mut prev: Option<A> = None;
        for _ in 0..m {
            let a = read_actor(buf, actors)?;
            let c = quorate_clocks::get_varint(buf)?;
            if c == 0 || prev.as_ref().is_some_and(|p| *p >= a) {
                return Err(DecodeError::Invalid("deferred remove vector not canonical"));
            }
            prev = Some(a.clone());
            vv.set(a, c);
        }
        out.push((k, vv));
    }
    Ok(out)
}

impl<S: EncodeStore<A>, A: Actor + quorate_clocks::Encode> Canonical for Causal<S, A> {
    fn write<SI: Sink>(&self, s: &mut SI) {
        write_header(s, tag::CAUSAL);
        let t = table_of(&self.store, &self.ctx, &[], &self.deferred);
        t.write(s);
        self.ctx.write(s, &t);
        self.store.write_store(s, &t);
        write_deferred::<S, A, SI>(&self.deferred, s, &t);
    }
}

impl_encode_via_canonical!([S: EncodeStore<A>, A: Actor + quorate_clocks::Encode] Causal<S, A>);

impl<S: EncodeStore<A>, A: Actor + Decode> Decode for Causal<S, A> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        read_header(buf, tag::CAUSAL)?;
        let actors: Vec<A> = read_actors(buf)?;
        let ctx = CausalContext::read(buf, &actors)?;
        let store = S::read_store(buf, &actors)?;
        let deferred = read_deferred::<S, A, B>(buf, &actors)?;
        let c = Self {
            store,
            ctx,
            deferred,
        };
        c.validate()
            .map_err(|_| DecodeError::Invalid("causal state violates an invariant"))?;
        Ok(c)
    }
}

impl<S: EncodeStore<A>, A: Actor + quorate_clocks::Encode> Canonical for CausalDelta<S, A> {
    fn write<SI: Sink>(&self, s: &mut SI) {
        write_header(s, tag::CAUSAL_DELTA);
        s.byte(u8::from(self.full));
        let t = table_of(&self.store, &self.ctx, &self.keep, &self.deferred);
        t.write(s);
        self.ctx.write(s, &t);
        put_len(s, self.keep.len());
        for d in &self.keep {
            t.put_dot(s, d);
        }
        self.store.write_store(s, &t);
        write_deferred::<S, A, SI>(&self.deferred, s, &t);
    }
}

impl_encode_via_canonical!([S: EncodeStore<A>, A: Actor + quorate_clocks::Encode] CausalDelta<S, A>);

impl<S: EncodeStore<A>, A: Actor + Decode> Decode for CausalDelta<S, A> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        read_header(buf, tag::CAUSAL_DELTA)?;
        let full = match u8::decode(buf)? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::Invalid("delta flag")),
        };
        let actors: Vec<A> = read_actors(buf)?;
        let ctx = CausalContext::read(buf, &actors)?;
        let n = get_len(buf, 2)?;
        let mut keep: Vec<Dot<A>> = Vec::with_capacity(n);
        for _ in 0..n {
            let d = read_dot(buf, &actors)?;
            if keep.last().is_some_and(|p| *p >= d) {
                return Err(DecodeError::Invalid("kept dots not strictly ascending"));
            }
            keep.push(d);
        }
        let store = S::read_store(buf, &actors)?;
        let deferred = read_deferred::<S, A, B>(buf, &actors)?;
        let d = Self {
            store,
            ctx,
            keep,
            full,
            deferred,
        };
        d.validate_alone()
            .map_err(|_| DecodeError::Invalid("causal delta violates an invariant"))?;
        Ok(d)
    }
}

impl_serde_via_codec!([S: DotStore<A>, A: Actor] Causal<S, A>);
impl_serde_via_codec!([S: DotStore<A>, A: Actor] CausalDelta<S, A>);
