//! [`OrMap`]: keys mapped to nested causal CRDTs, with reset-remove semantics.

use quorate_clocks::{Actor, CounterOverflow, VersionVector};

use crate::causal::{Causal, CausalDelta};
use crate::context::CausalContext;
use crate::counters::{CounterChange, GCounter, PnCounter};
use crate::dotstore::{DotFun, DotMap, Key, RegisterValue, Store};
use crate::wrap::{Embed, causal_type, observed};

/// Delta of an [`OrMap`].
pub type OrMapDelta<K, V, A> = CausalDelta<DotMap<K, <V as Embed<A>>::Store>, A>;

causal_type! {
    /// An observed-remove map of nested causal CRDTs ([`MvReg`](crate::MvReg),
    /// [`OrSet`](crate::OrSet), [`EwFlag`](crate::EwFlag), [`RwSet`](crate::RwSet) or another
    /// `OrMap`), with reset-remove semantics.
    ///
    /// All values share the map's causal context. Removing a key removes exactly the dots this
    /// replica observed under it (its value is "reset"); an update made concurrently elsewhere has
    /// dots the remove did not observe, so it survives and the key comes back holding only that
    /// update, as in Riak DT's map and Akka's `ORMap`. A key is present while its value holds
    /// at least one dot.
    ///
    /// Counters nest too, as in Riak DT's map and Akka's `PNCounterMap`: `OrMap<K, GCounter<A>,
    /// A>` and `OrMap<K, PnCounter<A>, A>`, changed with `increment` / `decrement` (see the
    /// counter-map section below).
    ///
    /// Metadata: the nested values' dots plus one context for the whole map.
    ///
    /// ```
    /// use quorate_crdt::{Crdt, MvReg, OrMap};
    /// let mut a = OrMap::<String, MvReg<u32, u8>, u8>::new();
    /// a.update("age".to_string(), |r| r.write_delta(1, 41))?;
    /// let mut b = a.clone();
    /// b.remove(&"age".to_string());                          // b removes what it saw
    /// a.update("age".to_string(), |r| r.write_delta(1, 42))?; // concurrent update
    /// a.join(&b);
    /// let age = a.get(&"age".to_string()).expect("update survives");
    /// assert_eq!(age.values().collect::<Vec<_>>(), [&42]);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    OrMap[K, V, A] [K: Key, V: Embed<A>, A: Actor] store = DotMap<K, <V as Embed<A>>::Store>; example = "OrMap::<u32, quorate_crdt::MvReg<u32, u8>, u8>";
}

impl<K: Key, V: Embed<A>, A: Actor> OrMap<K, V, A> {
    /// Number of keys.
    ///
    /// ```
    /// use quorate_crdt::{EwFlag, OrMap};
    /// assert_eq!(OrMap::<u8, EwFlag<u8>, u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.store.len()
    }

    /// True when the map has no keys.
    ///
    /// ```
    /// use quorate_crdt::{EwFlag, OrMap};
    /// assert!(OrMap::<u8, EwFlag<u8>, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.store.is_empty()
    }

    /// True when `key` is present.
    ///
    /// ```
    /// use quorate_crdt::{EwFlag, OrMap};
    /// let mut m = OrMap::<u8, EwFlag<u8>, u8>::new();
    /// m.update(7, |f| f.enable_delta(1))?;
    /// assert!(m.contains_key(&7));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn contains_key(&self, key: &K) -> bool {
        self.inner.store.map().contains_key(key)
    }

    /// The keys, ascending.
    ///
    /// ```
    /// use quorate_crdt::{EwFlag, OrMap};
    /// let mut m = OrMap::<u8, EwFlag<u8>, u8>::new();
    /// m.update(7, |f| f.enable_delta(1))?;
    /// assert_eq!(m.keys().copied().collect::<Vec<_>>(), [7]);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.inner.store.map().keys()
    }

    /// The nested store of `key` (cheap; for typed reads use [`OrMap::get`]).
    ///
    /// ```
    /// use quorate_crdt::{EwFlag, OrMap};
    /// let m = OrMap::<u8, EwFlag<u8>, u8>::new();
    /// assert!(m.get_store(&7).is_none());
    /// ```
    pub fn get_store(&self, key: &K) -> Option<&V::Store> {
        self.inner.store.map().get(key)
    }

    /// The value of `key` as its own CRDT type (clones the value and the map's context).
    ///
    /// ```
    /// use quorate_crdt::{EwFlag, OrMap};
    /// let mut m = OrMap::<u8, EwFlag<u8>, u8>::new();
    /// m.update(7, |f| f.enable_delta(1))?;
    /// assert!(m.get(&7).is_some_and(|f| f.is_enabled()));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn get(&self, key: &K) -> Option<V> {
        self.inner.store.map().get(key).map(|s| {
            V::from_causal(Causal {
                store: s.clone(),
                ctx: self.inner.ctx.clone(),
                deferred: Vec::new(),
            })
        })
    }

    /// The delta of updating `key` with a nested delta mutator, without applying it.
    ///
    /// `f` receives the current value (empty if the key is absent) and returns a delta from one of
    /// the value type's `*_delta` mutators; the value shares the map's context, so its dots are
    /// unique across the map.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, OrMap, OrSet};
    /// let mut m = OrMap::<u8, OrSet<u32, u8>, u8>::new();
    /// let d = m.update_delta(5, |s| s.add_delta(1, 99))?;
    /// m.join_delta(&d);
    /// assert!(m.get(&5).is_some_and(|s| s.contains(&99)));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn update_delta<E, F>(&self, key: K, f: F) -> Result<OrMapDelta<K, V, A>, E>
    where
        F: FnOnce(&V) -> Result<CausalDelta<V::Store, A>, E>,
    {
        let value = V::from_causal(Causal {
            store: self
                .inner
                .store
                .map()
                .get(&key)
                .cloned()
                .unwrap_or_default(),
            ctx: self.inner.ctx.clone(),
            deferred: Vec::new(),
        });
        let inner = f(&value)?;
        let mut store = DotMap::default();
        store.map_mut().insert(key, inner.store);
        // A nested value's deferred removes (a `remove_with_context` inside `f`) are not
        // carried: deferred removes act on the map's own keys only (see
        // `OrMap::remove_with_context`); the nested remove still removes what it covers here.
        Ok(CausalDelta {
            store,
            ctx: inner.ctx,
            keep: inner.keep,
            full: false,
            deferred: Vec::new(),
        })
    }

    /// Updates `key` with a nested delta mutator; returns the map delta.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns (the map is then unchanged).
    ///
    /// ```
    /// use quorate_crdt::{MvReg, OrMap};
    /// let mut m = OrMap::<&str, MvReg<u32, u8>, u8>::new();
    /// m.update("score", |r| r.write_delta(1, 10))?;
    /// assert!(m.contains_key(&"score"));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn update<E, F>(&mut self, key: K, f: F) -> Result<OrMapDelta<K, V, A>, E>
    where
        F: FnOnce(&V) -> Result<CausalDelta<V::Store, A>, E>,
    {
        let d = self.update_delta(key, f)?;
        self.inner.apply_delta(&d);
        Ok(d)
    }

    /// The delta of removing `key` (exactly what this replica observed under it).
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, EwFlag, OrMap};
    /// let mut m = OrMap::<u8, EwFlag<u8>, u8>::new();
    /// m.update(7, |f| f.enable_delta(1))?;
    /// let d = m.remove_delta(&7);
    /// m.join_delta(&d);
    /// assert!(!m.contains_key(&7));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn remove_delta(&self, key: &K) -> OrMapDelta<K, V, A> {
        match self.inner.store.map().get(key) {
            Some(v) => {
                let mut store = DotMap::default();
                store.map_mut().insert(key.clone(), v.hollow());
                CausalDelta::mutation(store, observed(v))
            }
            None => CausalDelta::default(),
        }
    }

    /// The delta of removing the dots under `key` that `seen` covers, without applying it (see
    /// [`OrMap::remove_with_context`]).
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, EwFlag, OrMap};
    /// let mut m = OrMap::<u8, EwFlag<u8>, u8>::new();
    /// m.update(7, |f| f.enable_delta(1))?;
    /// let d = m.remove_with_context_delta(&7, &m.summary());
    /// m.join_delta(&d);
    /// assert!(!m.contains_key(&7));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn remove_with_context_delta(
        &self,
        key: &K,
        seen: &VersionVector<A>,
    ) -> OrMapDelta<K, V, A> {
        let v = self.inner.store.map().get(key);
        let held = v.map_or_else(Vec::new, |v| {
            let mut out = Vec::new();
            v.for_each_dot(&mut |d| out.push(d.clone()));
            out
        });
        let mut hollow = DotMap::default();
        hollow
            .map_mut()
            .insert(key.clone(), v.map_or_else(V::Store::default, Store::hollow));
        self.inner
            .remove_with_context_delta(key.clone(), hollow, held, seen)
    }

    /// Removes, under `key`, exactly the dots `seen` covers (reset-remove with the context a
    /// client observed, as Riak DT's map removes with a context): dots `seen` covers that have
    /// not reached this replica yet are dropped when they arrive, here and wherever the delta
    /// goes; updates `seen` does not cover survive, and no other key is touched. See
    /// [`OrSet::remove_with_context`](crate::OrSet::remove_with_context).
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, GCounter, OrMap};
    /// let mut a = OrMap::<&str, GCounter<u8>, u8>::new();
    /// let inc = a.increment("views", 1, 5)?; // the client saw these 5
    /// let seen = a.summary();
    /// let mut b = OrMap::<&str, GCounter<u8>, u8>::new();
    /// b.increment("other", 2, 1)?;
    /// b.remove_with_context(&"views", &seen);
    /// b.try_join_delta(&inc)?;                 // arrives late: dropped
    /// assert!(!b.contains_key(&"views") && b.contains_key(&"other"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_with_context(&mut self, key: &K, seen: &VersionVector<A>) -> OrMapDelta<K, V, A> {
        let d = self.remove_with_context_delta(key, seen);
        self.inner.apply_delta(&d);
        d
    }

    /// Removes `key` (reset-remove: concurrent updates elsewhere survive).
    ///
    /// ```
    /// use quorate_crdt::{EwFlag, OrMap};
    /// let mut m = OrMap::<u8, EwFlag<u8>, u8>::new();
    /// m.update(7, |f| f.enable_delta(1))?;
    /// m.remove(&7);
    /// assert!(m.is_empty());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn remove(&mut self, key: &K) -> OrMapDelta<K, V, A> {
        let d = self.remove_delta(key);
        self.inner.apply_delta(&d);
        d
    }
}

/// The map delta that adds one dot-tagged change `v` under `key`, checking that `actor`'s
/// visible sum under the key stays within `u64` (`part` picks the summed part of a change).
fn change_delta<K: Key, V: RegisterValue, A: Actor, M: Embed<A, Store = DotFun<V, A>>>(
    map: &OrMap<K, M, A>,
    key: K,
    actor: A,
    v: V,
    part: impl Fn(&V) -> u64,
) -> Result<OrMapDelta<K, M, A>, CounterOverflow> {
    let by = part(&v);
    let dot = map.inner.ctx.next_dot(actor)?;
    if let Some(f) = map.inner.store.map().get(&key) {
        let sum = f
            .entries()
            .iter()
            .filter(|(d, _)| d.actor == dot.actor)
            .try_fold(0u64, |s, (_, x)| s.checked_add(part(x)));
        sum.and_then(|s| s.checked_add(by)).ok_or(CounterOverflow)?;
    }
    let ctx: CausalContext<A> = [dot.clone()].into_iter().collect::<CausalContext<A>>();
    let mut store = DotMap::default();
    store.map_mut().insert(key, DotFun::single(dot, v));
    Ok(CausalDelta::mutation(store, ctx))
}

/// # Counter maps
///
/// A counter nested in an OR-map keeps **one dot per increment** (not one entry per actor, as
/// a standalone [`GCounter`] does): a remove of the key forgets exactly the increments whose
/// dots it observed, and an increment concurrent with the remove survives, so the key comes
/// back holding only the concurrent increments (reset-remove, the semantics Riak DT's map and
/// Akka's `PNCounterMap` aim at). Riak DT's embedded counter (`riak_dt_emcntr`) keeps one
/// (latest dot, running total) entry per actor instead, which is smaller but brings an actor's
/// observed increments back whenever that same actor increments concurrently with the remove;
/// we differ from it on purpose, and the per-increment dot is the price of the exact rule. The
/// metadata of a key therefore grows with the increments made since it was last removed;
/// prefer a standalone counter for long-lived, high-rate counts that are never reset.
impl<K: Key, A: Actor> OrMap<K, GCounter<A>, A> {
    /// The delta of adding `by` to the counter at `key` as `actor`, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted, or its increments under `key`
    /// would sum past `u64::MAX`.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, GCounter, OrMap};
    /// let mut m = OrMap::<&str, GCounter<u8>, u8>::new();
    /// let d = m.increment_delta("views", 1, 3)?;
    /// m.join_delta(&d);
    /// assert_eq!(m.get(&"views").map(|c| c.value()), Some(3));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn increment_delta(
        &self,
        key: K,
        actor: A,
        by: u64,
    ) -> Result<OrMapDelta<K, GCounter<A>, A>, CounterOverflow> {
        change_delta(self, key, actor, by, |v| *v)
    }

    /// Adds `by` to the counter at `key` as `actor` (creating the key); returns the delta.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] (the map is then unchanged).
    ///
    /// ```
    /// use quorate_crdt::{Crdt, GCounter, OrMap};
    /// let mut a = OrMap::<&str, GCounter<u8>, u8>::new();
    /// a.increment("views", 1, 5)?;
    /// let mut b = a.clone();
    /// b.remove(&"views");          // b forgets the 5 it observed...
    /// a.increment("views", 1, 2)?; // ...while a adds 2 concurrently
    /// a.join(&b);
    /// assert_eq!(a.get(&"views").map(|c| c.value()), Some(2));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn increment(
        &mut self,
        key: K,
        actor: A,
        by: u64,
    ) -> Result<OrMapDelta<K, GCounter<A>, A>, CounterOverflow> {
        let d = self.increment_delta(key, actor, by)?;
        self.inner.apply_delta(&d);
        Ok(d)
    }
}

/// # Counter maps
///
/// Up-and-down counters nested in an OR-map, with the reset-remove semantics and the
/// one-dot-per-change metadata described for `OrMap<K, GCounter<A>, A>`.
impl<K: Key, A: Actor> OrMap<K, PnCounter<A>, A> {
    /// The delta of adding `by` to the counter at `key`, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted, or its increments under `key`
    /// would sum past `u64::MAX`.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, OrMap, PnCounter};
    /// let mut m = OrMap::<&str, PnCounter<u8>, u8>::new();
    /// let d = m.increment_delta("stock", 1, 3)?;
    /// m.join_delta(&d);
    /// assert_eq!(m.get(&"stock").map(|c| c.value()), Some(3));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn increment_delta(
        &self,
        key: K,
        actor: A,
        by: u64,
    ) -> Result<OrMapDelta<K, PnCounter<A>, A>, CounterOverflow> {
        change_delta(self, key, actor, CounterChange::Inc(by), |c| match c {
            CounterChange::Inc(n) => *n,
            CounterChange::Dec(_) => 0,
        })
    }

    /// The delta of subtracting `by` from the counter at `key`, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted, or its decrements under `key`
    /// would sum past `u64::MAX`.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, OrMap, PnCounter};
    /// let mut m = OrMap::<&str, PnCounter<u8>, u8>::new();
    /// let d = m.decrement_delta("stock", 1, 3)?;
    /// m.join_delta(&d);
    /// assert_eq!(m.get(&"stock").map(|c| c.value()), Some(-3));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn decrement_delta(
        &self,
        key: K,
        actor: A,
        by: u64,
    ) -> Result<OrMapDelta<K, PnCounter<A>, A>, CounterOverflow> {
        change_delta(self, key, actor, CounterChange::Dec(by), |c| match c {
            CounterChange::Dec(n) => *n,
            CounterChange::Inc(_) => 0,
        })
    }

    /// Adds `by` to the counter at `key` (creating the key); returns the delta.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] (the map is then unchanged).
    ///
    /// ```
    /// use quorate_crdt::{Crdt, OrMap, PnCounter};
    /// let mut a = OrMap::<&str, PnCounter<u8>, u8>::new();
    /// a.increment("stock", 1, 10)?;
    /// let mut b = a.clone();
    /// b.remove(&"stock");          // forgets the +10 it observed
    /// a.decrement("stock", 1, 3)?; // concurrent -3 survives
    /// a.join(&b);
    /// assert_eq!(a.get(&"stock").map(|c| c.value()), Some(-3));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn increment(
        &mut self,
        key: K,
        actor: A,
        by: u64,
    ) -> Result<OrMapDelta<K, PnCounter<A>, A>, CounterOverflow> {
        let d = self.increment_delta(key, actor, by)?;
        self.inner.apply_delta(&d);
        Ok(d)
    }

    /// Subtracts `by` from the counter at `key` (creating the key); returns the delta.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] (the map is then unchanged).
    ///
    /// ```
    /// use quorate_crdt::{OrMap, PnCounter};
    /// let mut m = OrMap::<&str, PnCounter<u8>, u8>::new();
    /// m.decrement("stock", 1, 2)?;
    /// assert_eq!(m.get(&"stock").map(|c| c.value()), Some(-2));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn decrement(
        &mut self,
        key: K,
        actor: A,
        by: u64,
    ) -> Result<OrMapDelta<K, PnCounter<A>, A>, CounterOverflow> {
        let d = self.decrement_delta(key, actor, by)?;
        self.inner.apply_delta(&d);
        Ok(d)
    }
}
