//! Observed-remove sets: add-wins ([`OrSet`]) and remove-wins ([`RwSet`]).

use quorate_clocks::{Actor, CounterOverflow, VersionVector};

use crate::causal::CausalDelta;
use crate::context::CausalContext;
use crate::dotstore::{DotFun, DotMap, DotSet, Key, Store};
use crate::wrap::{causal_type, observed};

/// Delta of an [`OrSet`].
pub type OrSetDelta<T, A> = CausalDelta<DotMap<T, DotSet<A>>, A>;
/// Delta of an [`RwSet`].
pub type RwSetDelta<T, A> = CausalDelta<DotMap<T, DotFun<bool, A>>, A>;

causal_type! {
    /// An add-wins observed-remove set without tombstones.
    ///
    /// Each add tags the element with a fresh dot; a remove deletes the dots it observed. An add
    /// concurrent with a remove survives (its dot was not observed), which is the add-wins rule of
    /// Riak's `riak_dt_orswot` and Akka's `ORSet`. Removed elements leave nothing behind in the
    /// store: the causal context alone remembers that their dots were seen.
    ///
    /// Metadata: one dot per element (more only while concurrent adds are unresolved) plus the
    /// context, which is one counter per actor once deltas have arrived contiguously.
    ///
    /// ```
    /// use quorate_crdt::{Crdt, OrSet};
    /// let mut a = OrSet::<&str, u8>::new();
    /// a.add(1, "milk")?;
    /// let mut b = a.clone();
    /// b.remove(&"milk");      // b removes what it saw...
    /// a.add(1, "milk")?;      // ...while a re-adds concurrently
    /// a.join(&b);
    /// assert!(a.contains(&"milk")); // add wins
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    OrSet[T, A] [T: Key, A: Actor] store = DotMap<T, DotSet<A>>; example = "OrSet::<u32, u8>";
}

impl<T: Key, A: Actor> OrSet<T, A> {
    /// True when `x` is in the set.
    ///
    /// ```
    /// let mut s = quorate_crdt::OrSet::<u32, u8>::new();
    /// s.add(1, 3)?;
    /// assert!(s.contains(&3));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn contains(&self, x: &T) -> bool {
        self.inner.store.map().contains_key(x)
    }

    /// Number of elements.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::OrSet::<u32, u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.store.len()
    }

    /// True when the set has no elements.
    ///
    /// ```
    /// assert!(quorate_crdt::OrSet::<u32, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.store.is_empty()
    }

    /// The elements, ascending.
    ///
    /// ```
    /// let mut s = quorate_crdt::OrSet::<u32, u8>::new();
    /// s.add(1, 2)?;
    /// s.add(1, 1)?;
    /// assert_eq!(s.iter().copied().collect::<Vec<_>>(), [1, 2]);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.inner.store.map().keys()
    }

    /// The delta of adding `x` as `actor`, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, OrSet};
    /// let mut s = OrSet::<u32, u8>::new();
    /// let d = s.add_delta(1, 9)?;
    /// s.join_delta(&d);
    /// assert!(s.contains(&9));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn add_delta(&self, actor: A, x: T) -> Result<OrSetDelta<T, A>, CounterOverflow> {
        let dot = self.inner.ctx.next_dot(actor)?;
        let old = self
            .inner
            .store
            .map()
            .get(&x)
            .map_or(&[][..], |s| s.as_slice());
        let mut dots = Vec::with_capacity(old.len() + 1);
        dots.extend_from_slice(old);
        dots.push(dot.clone());
        let ctx = CausalContext::from_dots(dots);
        let mut store = DotMap::default();
        store.map_mut().insert(x, DotSet::single(dot));
        Ok(CausalDelta::mutation(store, ctx))
    }

    /// Adds `x` as `actor`; returns the delta to ship to peers.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted (the set is unchanged).
    ///
    /// ```
    /// let mut s = quorate_crdt::OrSet::<u32, u8>::new();
    /// s.add(1, 9)?;
    /// assert!(s.contains(&9));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn add(&mut self, actor: A, x: T) -> Result<OrSetDelta<T, A>, CounterOverflow> {
        let dot = self.inner.ctx.next_dot(actor)?;
        let entry = self
            .inner
            .store
            .map_mut()
            .get_or_insert_with(x.clone(), DotSet::default);
        let old = entry.as_slice();
        let mut dots = Vec::with_capacity(old.len() + 1);
        dots.extend_from_slice(old);
        dots.push(dot.clone());
        let ctx = CausalContext::from_dots(dots);
        *entry = DotSet::single(dot.clone());
        self.inner.ctx.insert(dot.clone());
        let mut store = DotMap::default();
        store.map_mut().insert(x, DotSet::single(dot));
        Ok(CausalDelta::mutation(store, ctx))
    }

    /// The delta of removing `x` (everything this replica observed of it), without applying it.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, OrSet};
    /// let mut s = OrSet::<u32, u8>::new();
    /// s.add(1, 9)?;
    /// let d = s.remove_delta(&9);
    /// s.join_delta(&d);
    /// assert!(!s.contains(&9));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn remove_delta(&self, x: &T) -> OrSetDelta<T, A> {
        match self.inner.store.map().get(x) {
            Some(old) => {
                let ctx = observed(old);
                let mut store = DotMap::default();
                store.map_mut().insert(x.clone(), DotSet::default());
                CausalDelta::mutation(store, ctx)
            }
            None => CausalDelta::default(),
        }
    }

    /// Removes `x`; returns the delta (empty when `x` was absent).
    ///
    /// ```
    /// let mut s = quorate_crdt::OrSet::<u32, u8>::new();
    /// s.add(1, 9)?;
    /// s.remove(&9);
    /// assert!(s.is_empty());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn remove(&mut self, x: &T) -> OrSetDelta<T, A> {
        match self.inner.store.map_mut().remove(x) {
            Some(old) => {
                let ctx = observed(&old);
                let mut store = DotMap::default();
                store.map_mut().insert(x.clone(), DotSet::default());
                CausalDelta::mutation(store, ctx)
            }
            None => CausalDelta::default(),
        }
    }

    /// The delta of removing the dots of `x` that `seen` covers, without applying it (see
    /// [`OrSet::remove_with_context`]).
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, OrSet};
    /// let mut s = OrSet::<u32, u8>::new();
    /// s.add(1, 9)?;
    /// let d = s.remove_with_context_delta(&9, &s.summary());
    /// s.join_delta(&d);
    /// assert!(!s.contains(&9));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn remove_with_context_delta(&self, x: &T, seen: &VersionVector<A>) -> OrSetDelta<T, A> {
        let held = self
            .inner
            .store
            .map()
            .get(x)
            .map_or_else(Vec::new, |s| s.as_slice().to_vec());
        let mut hollow = DotMap::default();
        hollow.map_mut().insert(x.clone(), DotSet::default());
        self.inner
            .remove_with_context_delta(x.clone(), hollow, held, seen)
    }

    /// Removes the adds of `x` that `seen` covers: `seen` is the context a client observed
    /// (for example the [`summary`](crate::DeltaCrdt::summary) of the replica it read from),
    /// so the remove cancels exactly the adds that client saw, as `crdts`' `Orswot::rm` with a
    /// read context and Riak's context-carrying removes do. Adds of `x` that `seen` covers but
    /// that have not reached this replica yet are dropped when they arrive, here and on every
    /// replica the delta reaches (a *deferred* remove, kept in the state until this replica
    /// has seen all of `seen`); adds `seen` does not cover survive (add wins), and no other
    /// element is touched.
    ///
    /// ```
    /// use quorate_crdt::{Crdt, DeltaCrdt, OrSet};
    /// let mut a = OrSet::<&str, u8>::new();
    /// let add = a.add(1, "milk")?;          // a client reads a: it saw this add
    /// let seen = a.summary();
    /// let mut b = OrSet::<&str, u8>::new(); // b has not received the add yet
    /// let rm = b.remove_with_context(&"milk", &seen);
    /// b.try_join_delta(&add)?;              // dropped on arrival
    /// assert!(!b.contains(&"milk"));
    /// a.try_join_delta(&rm)?;
    /// assert!(!a.contains(&"milk") && a == b);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_with_context(&mut self, x: &T, seen: &VersionVector<A>) -> OrSetDelta<T, A> {
        let d = self.remove_with_context_delta(x, seen);
        self.inner.apply_delta(&d);
        d
    }

    /// The delta of removing every element this replica observed, without applying it.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, OrSet};
    /// let mut s = OrSet::<u32, u8>::new();
    /// s.add(1, 1)?;
    /// let d = s.clear_delta();
    /// s.join_delta(&d);
    /// assert!(s.is_empty());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn clear_delta(&self) -> OrSetDelta<T, A> {
        CausalDelta::mutation(self.inner.store.hollow(), observed(&self.inner.store))
    }

    /// Removes every element this replica observed; concurrent adds elsewhere survive.
    ///
    /// ```
    /// let mut s = quorate_crdt::OrSet::<u32, u8>::new();
    /// s.add(1, 1)?;
    /// s.add(1, 2)?;
    /// s.clear();
    /// assert!(s.is_empty());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn clear(&mut self) -> OrSetDelta<T, A> {
        let ctx = observed(&self.inner.store);
        let hollow = self.inner.store.hollow();
        self.inner.store = DotMap::default();
        CausalDelta::mutation(hollow, ctx)
    }
}

impl<T: Key, A: Actor> OrSet<T, A> {
    /// Builds a set from `(actor, element)` adds, in order.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when an actor's counter is exhausted.
    ///
    /// ```
    /// let s = quorate_crdt::OrSet::from_adds([(1u8, "a"), (2, "b")])?;
    /// assert_eq!(s.len(), 2);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn from_adds<I: IntoIterator<Item = (A, T)>>(adds: I) -> Result<Self, CounterOverflow> {
        let mut s = Self::new();
        for (a, x) in adds {
            s.add(a, x)?;
        }
        Ok(s)
    }
}

causal_type! {
    /// A remove-wins set: a remove concurrent with an add wins.
    ///
    /// Every add or remove of an element writes a fresh dot tagged `true` (add) or `false`
    /// (remove) and replaces the dots it observed for that element. The element is present when
    /// its surviving dots are all adds. Use it where resurrecting a removed item is worse than
    /// losing a concurrent add (revoked permissions, blocked users).
    ///
    /// Metadata: one dot per element ever touched (removed elements keep their remove dot until
    /// the key is re-added), plus the context.
    ///
    /// ```
    /// use quorate_crdt::{Crdt, RwSet};
    /// let mut a = RwSet::<&str, u8>::new();
    /// a.add(1, "ann")?;
    /// let mut b = a.clone();
    /// b.remove(2, "ann")?;
    /// a.add(1, "ann")?;        // concurrent re-add
    /// a.join(&b);
    /// assert!(!a.contains(&"ann")); // remove wins
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    RwSet[T, A] [T: Key, A: Actor] store = DotMap<T, DotFun<bool, A>>; example = "RwSet::<u32, u8>";
}

impl<T: Key, A: Actor> RwSet<T, A> {
    /// True when `x` is present (touched, and every surviving operation is an add).
    ///
    /// ```
    /// let mut s = quorate_crdt::RwSet::<u32, u8>::new();
    /// s.add(1, 3)?;
    /// assert!(s.contains(&3));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn contains(&self, x: &T) -> bool {
        self.inner
            .store
            .map()
            .get(x)
            .is_some_and(|f| f.values().all(|v| *v))
    }

    /// The present elements, ascending.
    ///
    /// ```
    /// let mut s = quorate_crdt::RwSet::<u32, u8>::new();
    /// s.add(1, 3)?;
    /// s.remove(1, 4)?;
    /// assert_eq!(s.iter().copied().collect::<Vec<_>>(), [3]);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.inner
            .store
            .map()
            .iter()
            .filter(|(_, f)| f.values().all(|v| *v))
            .map(|(k, _)| k)
    }

    /// The delta of writing `flag` (add = `true`) for `x`, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, RwSet};
    /// let mut s = RwSet::<u32, u8>::new();
    /// let d = s.op_delta(1, 3, true)?;
    /// s.join_delta(&d);
    /// assert!(s.contains(&3));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn op_delta(
        &self,
        actor: A,
        x: T,
        flag: bool,
    ) -> Result<RwSetDelta<T, A>, CounterOverflow> {
        let dot = self.inner.ctx.next_dot(actor)?;
        let mut ctx = match self.inner.store.map().get(&x) {
            Some(old) => observed(old),
            None => CausalContext::new(),
        };
        ctx.insert(dot.clone());
        let mut store = DotMap::default();
        store.map_mut().insert(x, DotFun::single(dot, flag));
        Ok(CausalDelta::mutation(store, ctx))
    }

    /// Adds `x`.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted (the set is unchanged).
    ///
    /// ```
    /// let mut s = quorate_crdt::RwSet::<u32, u8>::new();
    /// s.add(1, 3)?;
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn add(&mut self, actor: A, x: T) -> Result<RwSetDelta<T, A>, CounterOverflow> {
        let d = self.op_delta(actor, x, true)?;
        self.inner.apply_delta(&d);
        Ok(d)
    }

    /// Removes `x` (wins over concurrent adds).
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted (the set is unchanged).
    ///
    /// ```
    /// let mut s = quorate_crdt::RwSet::<u32, u8>::new();
    /// s.add(1, 3)?;
    /// s.remove(1, 3)?;
    /// assert!(!s.contains(&3));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn remove(&mut self, actor: A, x: T) -> Result<RwSetDelta<T, A>, CounterOverflow> {
        let d = self.op_delta(actor, x, false)?;
        self.inner.apply_delta(&d);
        Ok(d)
    }
}
