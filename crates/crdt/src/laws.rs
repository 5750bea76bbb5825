//! Law and convergence harness, usable on any [`Crdt`] / [`DeltaCrdt`], including your own.
//!
//! * [`check_join_laws`]: join is idempotent, commutative, associative and inflationary.
//! * [`check_delta_laws`]: deltas join in any order and any number of times to the same state,
//!   a delta group equals its deltas joined one by one, `delta_since` and `to_delta` give the
//!   same result as the full join.
//! * [`check_mutator`]: `m(X) = X ⊔ mδ(X)` for one mutation.
//! * [`simulate`]: a seeded network of 3 to 5 replicas doing random mutations and random
//!   pairwise syncs (full state, single deltas, delta groups, delta-since), with messages
//!   dropped, duplicated and reordered, that must end with every replica equal, and equal to a
//!   sequential model of the type evaluated over the recorded causal history.
//!
//! To run the simulation on your own type, implement [`Simulation`]: how to draw a random
//! operation, how to apply it, what a replica's observable value is, and the type's sequential
//! specification as a function of the history. Each [`Event`] in the history records the
//! operations its replica had observed when it ran; [`surviving`] gives the events no other event
//! observed, which is all most specifications need.
//!
//! ```
//! use quorate_crdt::{OrSet, laws::{simulate, SimConfig}};
//! let report = simulate::<OrSet<u8, u8>, u8>(&[1, 2, 3], &SimConfig::new(7))?;
//! assert!(report.events > 0);
//! # Ok::<(), quorate_crdt::laws::LawViolation>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use quorate_clocks::{Actor, Timestamp};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::traits::{Crdt, DeltaCrdt};
use crate::{EwFlag, GCounter, GSet, LwwReg, MvReg, OrMap, OrSet, PnCounter, RwSet, TwoPSet};

/// A law did not hold.
///
/// ```
/// use quorate_crdt::laws::LawViolation;
/// let v = LawViolation { law: "join is idempotent", detail: String::new() };
/// assert_eq!(v.to_string(), "law violated: join is idempotent ");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("law violated: {law} {detail}")]
pub struct LawViolation {
    /// Which law.
    pub law: &'static str,
    /// The values involved (Debug-printed).
    pub detail: String,
}

fn ensure<T: PartialEq + fmt::Debug>(law: &'static str, a: &T, b: &T) -> Result<(), LawViolation> {
    if a == b {
        Ok(())
    } else {
        Err(LawViolation {
            law,
            detail: format!("left: {a:?} right: {b:?}"),
        })
    }
}

fn joined<C: Crdt>(a: &C, b: &C) -> C {
    let mut x = a.clone();
    x.join(b);
    x
}

/// Checks that join is idempotent, commutative, associative and inflationary on `a`, `b`, `c`,
/// and that each is valid.
///
/// # Errors
///
/// The first [`LawViolation`].
///
/// ```
/// use quorate_crdt::{GSet, laws::check_join_laws};
/// let a: GSet<u8> = [1].into_iter().collect();
/// let b: GSet<u8> = [2].into_iter().collect();
/// check_join_laws(&a, &b, &GSet::new())?;
/// # Ok::<(), quorate_crdt::laws::LawViolation>(())
/// ```
pub fn check_join_laws<C: Crdt>(a: &C, b: &C, c: &C) -> Result<(), LawViolation> {
    for x in [a, b, c] {
        x.validate().map_err(|e| LawViolation {
            law: "inputs are valid",
            detail: format!("{e}: {x:?}"),
        })?;
    }
    ensure("join is idempotent", &joined(a, a), a)?;
    let ab = joined(a, b);
    ensure("join is commutative", &ab, &joined(b, a))?;
    ensure(
        "join is associative",
        &joined(&ab, c),
        &joined(a, &joined(b, c)),
    )?;
    ensure("join is inflationary (a <= a join b)", &joined(&ab, a), &ab)?;
    ensure("join is inflationary (b <= a join b)", &joined(&ab, b), &ab)?;
    ab.validate().map_err(|e| LawViolation {
        law: "join preserves validity",
        detail: format!("{e}: {ab:?}"),
    })
}

fn with_delta<C: DeltaCrdt<A>, A: Actor>(x: &C, d: &C::Delta) -> C {
    let mut y = x.clone();
    y.join_delta(d);
    y
}

/// Checks the delta laws on a state `x`, two deltas and another replica `other`:
/// order-insensitivity and idempotence of delta joins, delta groups, `delta_since` and
/// `to_delta` equivalence with the full join.
///
/// # Errors
///
/// The first [`LawViolation`].
///
/// ```
/// use quorate_crdt::{DeltaCrdt, OrSet, laws::check_delta_laws};
/// let mut x = OrSet::<u8, u8>::new();
/// let d1 = x.add_delta(1, 1)?;
/// let d2 = x.add_delta(2, 2)?;
/// check_delta_laws(&x, &d1, &d2, &OrSet::new())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_delta_laws<C: DeltaCrdt<A>, A: Actor>(
    x: &C,
    d1: &C::Delta,
    d2: &C::Delta,
    other: &C,
) -> Result<(), LawViolation> {
    let a = with_delta(&with_delta(x, d1), d2);
    let b = with_delta(&with_delta(x, d2), d1);
    ensure("deltas commute", &a, &b)?;
    ensure("delta join is idempotent", &with_delta(&a, d1), &a)?;
    let mut group = d1.clone();
    C::merge_delta(&mut group, d2);
    ensure(
        "a delta group equals its deltas",
        &with_delta(x, &group),
        &a,
    )?;
    let mut group2 = d2.clone();
    C::merge_delta(&mut group2, d1);
    ensure("delta groups commute", &with_delta(x, &group2), &a)?;
    let full = joined(other, x);
    let mut since = other.clone();
    since
        .try_join_delta(&x.delta_since(&other.summary()))
        .map_err(|e| LawViolation {
            law: "delta_since is valid at the peer",
            detail: e.to_string(),
        })?;
    ensure("delta_since equals the full join", &since, &full)?;
    ensure(
        "to_delta equals the full join",
        &with_delta(other, &x.to_delta()),
        &full,
    )
}

/// Checks `after == before ⊔ delta` for one mutation.
///
/// # Errors
///
/// [`LawViolation`] when the delta does not reproduce the mutation.
///
/// ```
/// use quorate_crdt::{GCounter, laws::check_mutator};
/// let before = GCounter::<u8>::new();
/// let mut after = before.clone();
/// let d = after.increment(1, 2)?;
/// check_mutator(&before, &after, &d)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_mutator<C: DeltaCrdt<A>, A: Actor>(
    before: &C,
    after: &C,
    delta: &C::Delta,
) -> Result<(), LawViolation> {
    ensure(
        "m(X) = X join m_delta(X)",
        &with_delta(before, delta),
        after,
    )
}

/// One operation in a simulation's history.
///
/// ```
/// use quorate_crdt::laws::{Event, SetOp};
/// let e = Event { id: 0, actor: 1u8, op: SetOp::Add(3u8), observed: Default::default() };
/// assert!(e.observed.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<A, Op> {
    /// Position in the history.
    pub id: usize,
    /// The replica's actor.
    pub actor: A,
    /// The operation.
    pub op: Op,
    /// Ids of the events the replica had observed (applied) when it ran this one.
    pub observed: BTreeSet<usize>,
}

/// The events of `events` that no other event of `events` observed (the concurrent frontier).
///
/// ```
/// use std::collections::BTreeSet;
/// use quorate_crdt::laws::{Event, surviving};
/// let e0 = Event { id: 0, actor: 1u8, op: (), observed: BTreeSet::new() };
/// let e1 = Event { id: 1, actor: 2u8, op: (), observed: [0].into() };
/// assert_eq!(surviving(&[&e0, &e1]).len(), 1);
/// ```
pub fn surviving<'a, A, Op>(events: &[&'a Event<A, Op>]) -> Vec<&'a Event<A, Op>> {
    events
        .iter()
        .filter(|e| !events.iter().any(|o| o.observed.contains(&e.id)))
        .copied()
        .collect()
}

/// A type the network simulation can drive.
///
/// Implement it for your own CRDT to run [`simulate`] on it. A max-register, for example:
///
/// ```
/// use quorate_clocks::VersionVector;
/// use quorate_crdt::laws::{simulate, Event, SimConfig, Simulation};
/// use quorate_crdt::{Crdt, DeltaCrdt, ValidationError};
/// use rand::{Rng, rngs::SmallRng};
///
/// #[derive(Debug, Clone, Default, PartialEq)]
/// struct MaxReg(u32);
///
/// impl Crdt for MaxReg {
///     fn join(&mut self, other: &Self) { self.0 = self.0.max(other.0); }
///     fn validate(&self) -> Result<(), ValidationError> { Ok(()) }
/// }
///
/// impl DeltaCrdt<u8> for MaxReg {
///     type Delta = MaxReg;
///     fn join_delta(&mut self, d: &MaxReg) { self.join(d) }
///     fn validate_delta(&self, _: &MaxReg) -> Result<(), ValidationError> { Ok(()) }
///     fn merge_delta(g: &mut MaxReg, d: &MaxReg) { g.join(d) }
///     fn summary(&self) -> VersionVector<u8> { VersionVector::new() }
///     fn delta_since(&self, _: &VersionVector<u8>) -> MaxReg { self.clone() }
///     fn to_delta(&self) -> MaxReg { self.clone() }
/// }
///
/// impl Simulation<u8> for MaxReg {
///     type Op = u32;
///     type Value = u32;
///     fn random_op(rng: &mut SmallRng, _: &Self) -> u32 { rng.random_range(0..100) }
///     fn apply(&mut self, _: &u8, op: &u32) -> Result<MaxReg, String> {
///         let d = MaxReg(*op);
///         self.join(&d);
///         Ok(d)
///     }
///     fn value(&self) -> u32 { self.0 }
///     fn model(history: &[Event<u8, u32>]) -> u32 {
///         history.iter().map(|e| e.op).max().unwrap_or(0)
///     }
/// }
///
/// simulate::<MaxReg, u8>(&[1, 2, 3], &SimConfig::new(42))?;
/// # Ok::<(), quorate_crdt::laws::LawViolation>(())
/// ```
pub trait Simulation<A: Actor>: DeltaCrdt<A> {
    /// An operation.
    type Op: Clone + fmt::Debug;
    /// What a replica exposes to readers.
    type Value: PartialEq + fmt::Debug;
    /// Draws a random operation for a replica in state `state`.
    fn random_op(rng: &mut SmallRng, state: &Self) -> Self::Op;
    /// Applies `op` as `actor` with a delta mutator; returns the delta.
    ///
    /// # Errors
    ///
    /// A description of the failure (for example a counter overflow).
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self::Delta, String>;
    /// The observable value.
    fn value(&self) -> Self::Value;
    /// The sequential specification: the value every replica must show after seeing `history`.
    fn model(history: &[Event<A, Self::Op>]) -> Self::Value;
}

/// Simulation parameters.
///
/// ```
/// let cfg = quorate_crdt::laws::SimConfig::new(1);
/// assert_eq!(cfg.replicas, 3);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Seed of the `SmallRng`: the same seed replays the same run.
    pub seed: u64,
    /// Number of steps (each a mutation, a send or a delivery).
    pub steps: usize,
    /// Probability that a delivered message is dropped instead.
    pub drop: f64,
    /// Probability that a delivered message stays in the network for a second delivery.
    pub duplicate: f64,
    /// Replicas to simulate (3 to 5 is typical); the actors passed to [`simulate`] must cover them.
    pub replicas: usize,
}

impl SimConfig {
    /// Defaults: 3 replicas, 200 steps, 20% drops, 20% duplicates.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::laws::SimConfig::new(5).steps, 200);
    /// ```
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            steps: 200,
            drop: 0.2,
            duplicate: 0.2,
            replicas: 3,
        }
    }
}

/// What a successful simulation did.
///
/// ```
/// use quorate_crdt::{GSet, laws::{simulate, SimConfig}};
/// let r = simulate::<GSet<u8>, u8>(&[1, 2, 3], &SimConfig::new(1))?;
/// assert!(r.delivered > 0);
/// # Ok::<(), quorate_crdt::laws::LawViolation>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimReport {
    /// Operations run.
    pub events: usize,
    /// Messages delivered (including duplicates).
    pub delivered: usize,
    /// Messages dropped.
    pub dropped: usize,
}

enum Payload<C: DeltaCrdt<A>, A: Actor> {
    Full(C),
    Delta(C::Delta),
}

struct Msg<C: DeltaCrdt<A>, A: Actor> {
    to: usize,
    payload: Payload<C, A>,
    knowledge: BTreeSet<usize>,
}

impl<C: DeltaCrdt<A>, A: Actor> Clone for Msg<C, A> {
    fn clone(&self) -> Self {
        Self {
            to: self.to,
            payload: match &self.payload {
                Payload::Full(c) => Payload::Full(c.clone()),
                Payload::Delta(d) => Payload::Delta(d.clone()),
            },
            knowledge: self.knowledge.clone(),
        }
    }
}

struct Rep<C: DeltaCrdt<A>, A: Actor> {
    state: C,
    knowledge: BTreeSet<usize>,
    /// Per peer: unsent delta group and the events it carries.
    pending: Vec<(Option<C::Delta>, BTreeSet<usize>)>,
}

fn deliver<C: DeltaCrdt<A>, A: Actor>(
    reps: &mut [Rep<C, A>],
    msg: Msg<C, A>,
) -> Result<(), LawViolation> {
    let Some(r) = reps.get_mut(msg.to) else {
        return Ok(());
    };
    let res = match &msg.payload {
        Payload::Full(c) => r.state.try_join(c),
        Payload::Delta(d) => r.state.try_join_delta(d),
    };
    res.map_err(|e| LawViolation {
        law: "messages from correct replicas validate",
        detail: e.to_string(),
    })?;
    r.knowledge.extend(msg.knowledge);
    Ok(())
}

/// Runs the seeded network simulation and checks convergence to the model.
///
/// # Errors
///
/// [`LawViolation`] when a mutator law fails, a correct message is rejected, replicas end
/// unequal, or the common value differs from [`Simulation::model`].
///
/// ```
/// use quorate_crdt::{PnCounter, laws::{simulate, SimConfig}};
/// let mut cfg = SimConfig::new(3);
/// cfg.replicas = 5;
/// simulate::<PnCounter<u8>, u8>(&[1, 2, 3, 4, 5], &cfg)?;
/// # Ok::<(), quorate_crdt::laws::LawViolation>(())
/// ```
pub fn simulate<C: Simulation<A>, A: Actor>(
    actors: &[A],
    cfg: &SimConfig,
) -> Result<SimReport, LawViolation> {
    let n = cfg.replicas.min(actors.len());
    if n == 0 {
        return Ok(SimReport::default());
    }
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let mut reps: Vec<Rep<C, A>> = (0..n)
        .map(|_| Rep {
            state: C::default(),
            knowledge: BTreeSet::new(),
            pending: (0..n).map(|_| (None, BTreeSet::new())).collect(),
        })
        .collect();
    let mut history: Vec<Event<A, C::Op>> = Vec::new();
    let mut net: Vec<Msg<C, A>> = Vec::new();
    let mut report = SimReport::default();

    for _ in 0..cfg.steps {
        let i = rng.random_range(0..n);
        let j = (i + rng.random_range(1..n.max(2))) % n;
        let roll = rng.random_range(0..100u32);
        let (Some(actor), Some(rep)) = (actors.get(i), reps.get_mut(i)) else {
            continue;
        };
        if roll < 35 {
            let op = C::random_op(&mut rng, &rep.state);
            let before = rep.state.clone();
            let delta = rep.state.apply(actor, &op).map_err(|e| LawViolation {
                law: "operations succeed",
                detail: e,
            })?;
            check_mutator(&before, &rep.state, &delta)?;
            let id = history.len();
            history.push(Event {
                id,
                actor: actor.clone(),
                op,
                observed: rep.knowledge.clone(),
            });
            rep.knowledge.insert(id);
            for (k, (group, ids)) in rep.pending.iter_mut().enumerate() {
                if k == i {
                    continue;
                }
                match group {
                    None => *group = Some(delta.clone()),
                    Some(g) => C::merge_delta(g, &delta),
                }
                ids.insert(id);
            }
            if rng.random_bool(0.3) {
                net.push(Msg {
                    to: j,
                    payload: Payload::Delta(delta),
                    knowledge: [id].into(),
                });
            }
        } else if roll < 50 {
            net.push(Msg {
                to: j,
                payload: Payload::Full(rep.state.clone()),
                knowledge: rep.knowledge.clone(),
            });
        } else if roll < 62 {
            if let Some((group, ids)) = rep.pending.get_mut(j)
                && let Some(g) = group.take()
            {
                net.push(Msg {
                    to: j,
                    payload: Payload::Delta(g),
                    knowledge: std::mem::take(ids),
                });
            }
        } else if roll < 72 {
            // j asks i for what it misses; i answers with delta_since(j's summary).
            let (Some(src), Some(dst)) = (reps.get(i), reps.get(j)) else {
                continue;
            };
            let summary = dst.state.summary();
            net.push(Msg {
                to: j,
                payload: Payload::Delta(src.state.delta_since(&summary)),
                knowledge: src.knowledge.clone(),
            });
        } else if !net.is_empty() {
            let k = rng.random_range(0..net.len());
            let msg = net.swap_remove(k);
            if rng.random_bool(cfg.drop) {
                report.dropped += 1;
                continue;
            }
            if rng.random_bool(cfg.duplicate) {
                net.push(msg.clone());
            }
            report.delivered += 1;
            deliver(&mut reps, msg)?;
        }
    }
    // Heal: deliver what is still in flight, in random order.
    while !net.is_empty() {
        let k = rng.random_range(0..net.len());
        let msg = net.swap_remove(k);
        report.delivered += 1;
        deliver(&mut reps, msg)?;
    }
    // Two rounds of pairwise delta-since sync reach every replica.
    for _ in 0..2 {
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let (Some(src), Some(dst)) = (reps.get(j), reps.get(i)) else {
                    continue;
                };
                let msg = Msg {
                    to: i,
                    payload: Payload::Delta(src.state.delta_since(&dst.state.summary())),
                    knowledge: src.knowledge.clone(),
                };
                deliver(&mut reps, msg)?;
            }
        }
    }
    let Some(first) = reps.first() else {
        return Ok(report);
    };
    for r in &reps {
        ensure("replicas converge", &r.state, &first.state)?;
    }
    ensure(
        "converged value equals the sequential model",
        &first.state.value(),
        &C::model(&history),
    )?;
    report.events = history.len();
    Ok(report)
}

/// Runs `ops` random operations spread over replicas with occasional syncs and returns the
/// diverged replica states: handy inputs for [`check_join_laws`] and [`check_delta_laws`].
///
/// ```
/// use quorate_crdt::{OrSet, laws::{random_states, check_join_laws}};
/// let s = random_states::<OrSet<u8, u8>, u8>(&[1, 2, 3], 30, 9);
/// check_join_laws(&s[0], &s[1], &s[2])?;
/// # Ok::<(), quorate_crdt::laws::LawViolation>(())
/// ```
pub fn random_states<C: Simulation<A>, A: Actor>(actors: &[A], ops: usize, seed: u64) -> Vec<C> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut states: Vec<C> = actors.iter().map(|_| C::default()).collect();
    let n = states.len();
    if n == 0 {
        return states;
    }
    for _ in 0..ops {
        let i = rng.random_range(0..n);
        if rng.random_bool(0.2) {
            let j = rng.random_range(0..n);
            if let Some(src) = states.get(j).cloned()
                && let Some(dst) = states.get_mut(i)
            {
                dst.join(&src);
            }
            continue;
        }
        if let (Some(s), Some(a)) = (states.get_mut(i), actors.get(i)) {
            let op = C::random_op(&mut rng, s);
            // Operations that fail (never, for the built-in types) are skipped.
            let _ = s.apply(a, &op);
        }
    }
    states
}

// ---------------------------------------------------------------------------------------------
// Built-in simulations (small element domains, so operations collide often).

/// A set operation.
///
/// ```
/// let op = quorate_crdt::laws::SetOp::Add(1u8);
/// assert_ne!(op, quorate_crdt::laws::SetOp::Remove(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp<T> {
    /// Add an element.
    Add(T),
    /// Remove an element.
    Remove(T),
}

/// A counter operation.
///
/// ```
/// let op = quorate_crdt::laws::CounterOp::Inc(2);
/// assert_ne!(op, quorate_crdt::laws::CounterOp::Dec(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterOp {
    /// Add.
    Inc(u64),
    /// Subtract.
    Dec(u64),
}

/// A register or flag operation.
///
/// ```
/// let op = quorate_crdt::laws::RegOp::Write(5u8);
/// assert_ne!(op, quorate_crdt::laws::RegOp::Clear);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegOp<V> {
    /// Write (or enable, for flags).
    Write(V),
    /// Clear (or disable, for flags).
    Clear,
}

/// An OR-map operation.
///
/// ```
/// let op = quorate_crdt::laws::MapOp::Write(1u8, 2u8);
/// assert_ne!(op, quorate_crdt::laws::MapOp::Remove(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOp<K, V> {
    /// Write `V` into the register at `K`.
    Write(K, V),
    /// Remove `K`.
    Remove(K),
}

/// An operation on an OR-map of counters.
///
/// ```
/// let op = quorate_crdt::laws::CounterMapOp::Inc(1u8, 2);
/// assert_ne!(op, quorate_crdt::laws::CounterMapOp::Remove(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterMapOp<K> {
    /// Add to the counter at `K`.
    Inc(K, u64),
    /// Subtract from the counter at `K` (PN-counters only).
    Dec(K, u64),
    /// Remove `K` (reset-remove).
    Remove(K),
}

impl<K: Copy> CounterMapOp<K> {
    fn key(&self) -> K {
        match self {
            Self::Inc(k, _) | Self::Dec(k, _) | Self::Remove(k) => *k,
        }
    }
}

/// Reset-remove model of a counter map: per key, the sum of the changes that no remove of the
/// key observed; a key is present while some change survives.
fn counter_map_model<A>(history: &[Event<A, CounterMapOp<u8>>]) -> BTreeMap<u8, i128> {
    let mut out = BTreeMap::new();
    for k in 0..=u8::MAX {
        let evs = key_events(history, CounterMapOp::key, &k);
        let removes: Vec<&&Event<A, CounterMapOp<u8>>> = evs
            .iter()
            .filter(|e| matches!(e.op, CounterMapOp::Remove(_)))
            .collect();
        let mut total: Option<i128> = None;
        for e in &evs {
            let amount = match e.op {
                CounterMapOp::Inc(_, by) => i128::from(by),
                CounterMapOp::Dec(_, by) => -i128::from(by),
                CounterMapOp::Remove(_) => continue,
            };
            if !removes.iter().any(|r| r.observed.contains(&e.id)) {
                *total.get_or_insert(0) += amount;
            }
        }
        if let Some(t) = total {
            out.insert(k, t);
        }
    }
    out
}

impl<A: Actor> Simulation<A> for OrMap<u8, GCounter<A>, A> {
    type Op = CounterMapOp<u8>;
    type Value = BTreeMap<u8, i128>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        let k = rng.random_range(0..3);
        if rng.random_bool(0.7) {
            CounterMapOp::Inc(k, rng.random_range(1..5))
        } else {
            CounterMapOp::Remove(k)
        }
    }
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self::Delta, String> {
        match op {
            CounterMapOp::Inc(k, by) => self
                .increment(*k, actor.clone(), *by)
                .map_err(|e| e.to_string()),
            CounterMapOp::Remove(k) => Ok(self.remove(k)),
            CounterMapOp::Dec(..) => Err("a grow-only counter cannot decrement".to_string()),
        }
    }
    fn value(&self) -> Self::Value {
        self.keys()
            .filter_map(|k| {
                let v = i128::try_from(self.get(k)?.value()).ok()?;
                Some((*k, v))
            })
            .collect()
    }
    fn model(history: &[Event<A, Self::Op>]) -> Self::Value {
        counter_map_model(history)
    }
}

impl<A: Actor> Simulation<A> for OrMap<u8, PnCounter<A>, A> {
    type Op = CounterMapOp<u8>;
    type Value = BTreeMap<u8, i128>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        let k = rng.random_range(0..3);
        let by = rng.random_range(1..5);
        match rng.random_range(0..10) {
            0..4 => CounterMapOp::Inc(k, by),
            4..7 => CounterMapOp::Dec(k, by),
            _ => CounterMapOp::Remove(k),
        }
    }
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self::Delta, String> {
        match op {
            CounterMapOp::Inc(k, by) => self.increment(*k, actor.clone(), *by),
            CounterMapOp::Dec(k, by) => self.decrement(*k, actor.clone(), *by),
            CounterMapOp::Remove(k) => Ok(self.remove(k)),
        }
        .map_err(|e| e.to_string())
    }
    fn value(&self) -> Self::Value {
        self.keys()
            .filter_map(|k| Some((*k, self.get(k)?.value())))
            .collect()
    }
    fn model(history: &[Event<A, Self::Op>]) -> Self::Value {
        counter_map_model(history)
    }
}

fn small(rng: &mut SmallRng) -> u8 {
    rng.random_range(0..6)
}

fn set_op(rng: &mut SmallRng) -> SetOp<u8> {
    if rng.random_bool(0.6) {
        SetOp::Add(small(rng))
    } else {
        SetOp::Remove(small(rng))
    }
}

fn key_events<'a, A, T: PartialEq, Op>(
    history: &'a [Event<A, Op>],
    key_of: impl Fn(&Op) -> T,
    key: &T,
) -> Vec<&'a Event<A, Op>> {
    history.iter().filter(|e| key_of(&e.op) == *key).collect()
}

fn set_key(op: &SetOp<u8>) -> u8 {
    match op {
        SetOp::Add(x) | SetOp::Remove(x) => *x,
    }
}

impl<A: Actor> Simulation<A> for OrSet<u8, A> {
    type Op = SetOp<u8>;
    type Value = BTreeSet<u8>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        set_op(rng)
    }
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self::Delta, String> {
        match op {
            SetOp::Add(x) => self.add(actor.clone(), *x).map_err(|e| e.to_string()),
            SetOp::Remove(x) => Ok(self.remove(x)),
        }
    }
    fn value(&self) -> Self::Value {
        self.iter().copied().collect()
    }
    fn model(history: &[Event<A, Self::Op>]) -> Self::Value {
        (0..=u8::MAX)
            .filter(|x| {
                let evs = key_events(history, set_key, x);
                surviving(&evs)
                    .iter()
                    .any(|e| matches!(e.op, SetOp::Add(_)))
            })
            .collect()
    }
}

impl<A: Actor> Simulation<A> for RwSet<u8, A> {
    type Op = SetOp<u8>;
    type Value = BTreeSet<u8>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        set_op(rng)
    }
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self::Delta, String> {
        match op {
            SetOp::Add(x) => self.add(actor.clone(), *x),
            SetOp::Remove(x) => self.remove(actor.clone(), *x),
        }
        .map_err(|e| e.to_string())
    }
    fn value(&self) -> Self::Value {
        self.iter().copied().collect()
    }
    fn model(history: &[Event<A, Self::Op>]) -> Self::Value {
        (0..=u8::MAX)
            .filter(|x| {
                let evs = key_events(history, set_key, x);
                let s = surviving(&evs);
                !s.is_empty() && s.iter().all(|e| matches!(e.op, SetOp::Add(_)))
            })
            .collect()
    }
}

impl<A: Actor> Simulation<A> for GSet<u8> {
    type Op = u8;
    type Value = BTreeSet<u8>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        small(rng)
    }
    fn apply(&mut self, _actor: &A, op: &u8) -> Result<Self, String> {
        Ok(self.insert(*op))
    }
    fn value(&self) -> Self::Value {
        self.iter().copied().collect()
    }
    fn model(history: &[Event<A, u8>]) -> Self::Value {
        history.iter().map(|e| e.op).collect()
    }
}

impl<A: Actor> Simulation<A> for TwoPSet<u8> {
    type Op = SetOp<u8>;
    type Value = BTreeSet<u8>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        if rng.random_bool(0.8) {
            SetOp::Add(rng.random_range(0..12))
        } else {
            SetOp::Remove(rng.random_range(0..12))
        }
    }
    fn apply(&mut self, _actor: &A, op: &Self::Op) -> Result<Self, String> {
        Ok(match op {
            SetOp::Add(x) => self.insert(*x),
            SetOp::Remove(x) => self.remove(*x),
        })
    }
    fn value(&self) -> Self::Value {
        self.iter().copied().collect()
    }
    fn model(history: &[Event<A, Self::Op>]) -> Self::Value {
        let removed: BTreeSet<u8> = history
            .iter()
            .filter_map(|e| match e.op {
                SetOp::Remove(x) => Some(x),
                SetOp::Add(_) => None,
            })
            .collect();
        history
            .iter()
            .filter_map(|e| match e.op {
                SetOp::Add(x) if !removed.contains(&x) => Some(x),
                _ => None,
            })
            .collect()
    }
}

impl<A: Actor> Simulation<A> for GCounter<A> {
    type Op = u64;
    type Value = u128;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> u64 {
        rng.random_range(0..5)
    }
    fn apply(&mut self, actor: &A, op: &u64) -> Result<Self, String> {
        self.increment(actor.clone(), *op)
            .map_err(|e| e.to_string())
    }
    fn value(&self) -> u128 {
        GCounter::value(self)
    }
    fn model(history: &[Event<A, u64>]) -> u128 {
        history.iter().map(|e| u128::from(e.op)).sum()
    }
}

impl<A: Actor> Simulation<A> for PnCounter<A> {
    type Op = CounterOp;
    type Value = i128;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> CounterOp {
        let by = rng.random_range(1..5);
        if rng.random_bool(0.5) {
            CounterOp::Inc(by)
        } else {
            CounterOp::Dec(by)
        }
    }
    fn apply(&mut self, actor: &A, op: &CounterOp) -> Result<Self, String> {
        match op {
            CounterOp::Inc(by) => self.increment(actor.clone(), *by),
            CounterOp::Dec(by) => self.decrement(actor.clone(), *by),
        }
        .map_err(|e| e.to_string())
    }
    fn value(&self) -> i128 {
        PnCounter::value(self)
    }
    fn model(history: &[Event<A, CounterOp>]) -> i128 {
        history
            .iter()
            .map(|e| match e.op {
                CounterOp::Inc(b) => i128::from(b),
                CounterOp::Dec(b) => -i128::from(b),
            })
            .sum()
    }
}

impl<A: Actor> Simulation<A> for MvReg<u8, A> {
    type Op = RegOp<u8>;
    type Value = Vec<u8>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        if rng.random_bool(0.8) {
            RegOp::Write(small(rng))
        } else {
            RegOp::Clear
        }
    }
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self::Delta, String> {
        match op {
            RegOp::Write(v) => self.write(actor.clone(), *v).map_err(|e| e.to_string()),
            RegOp::Clear => Ok(self.clear()),
        }
    }
    fn value(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.values().copied().collect();
        v.sort_unstable();
        v
    }
    fn model(history: &[Event<A, Self::Op>]) -> Vec<u8> {
        let all: Vec<&Event<A, Self::Op>> = history.iter().collect();
        let mut v: Vec<u8> = surviving(&all)
            .iter()
            .filter_map(|e| match e.op {
                RegOp::Write(x) => Some(x),
                RegOp::Clear => None,
            })
            .collect();
        v.sort_unstable();
        v
    }
}

impl<A: Actor> Simulation<A> for EwFlag<A> {
    type Op = RegOp<()>;
    type Value = bool;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        if rng.random_bool(0.5) {
            RegOp::Write(())
        } else {
            RegOp::Clear
        }
    }
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self::Delta, String> {
        match op {
            RegOp::Write(()) => self.enable(actor.clone()).map_err(|e| e.to_string()),
            RegOp::Clear => Ok(self.disable()),
        }
    }
    fn value(&self) -> bool {
        self.is_enabled()
    }
    fn model(history: &[Event<A, Self::Op>]) -> bool {
        let all: Vec<&Event<A, Self::Op>> = history.iter().collect();
        surviving(&all)
            .iter()
            .any(|e| matches!(e.op, RegOp::Write(())))
    }
}

impl<A: Actor> Simulation<A> for LwwReg<u8, A> {
    type Op = (u64, u8);
    type Value = Option<u8>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        (rng.random_range(1..8), small(rng))
    }
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self, String> {
        Ok(self.set(Timestamp::from_u64(op.0), actor.clone(), op.1))
    }
    fn value(&self) -> Option<u8> {
        self.get().copied()
    }
    fn model(history: &[Event<A, Self::Op>]) -> Option<u8> {
        history
            .iter()
            .map(|e| (e.op.0, e.actor.clone(), e.op.1))
            .max()
            .map(|(_, _, v)| v)
    }
}

impl<A: Actor> Simulation<A> for OrMap<u8, MvReg<u8, A>, A> {
    type Op = MapOp<u8, u8>;
    type Value = BTreeMap<u8, Vec<u8>>;
    fn random_op(rng: &mut SmallRng, _state: &Self) -> Self::Op {
        let k = rng.random_range(0..4);
        if rng.random_bool(0.7) {
            MapOp::Write(k, small(rng))
        } else {
            MapOp::Remove(k)
        }
    }
    fn apply(&mut self, actor: &A, op: &Self::Op) -> Result<Self::Delta, String> {
        match op {
            MapOp::Write(k, v) => self
                .update(*k, |r| r.write_delta(actor.clone(), *v))
                .map_err(|e| e.to_string()),
            MapOp::Remove(k) => Ok(self.remove(k)),
        }
    }
    fn value(&self) -> Self::Value {
        self.keys()
            .filter_map(|k| {
                self.get_store(k).map(|s| {
                    let mut v: Vec<u8> = s.values().copied().collect();
                    v.sort_unstable();
                    (*k, v)
                })
            })
            .collect()
    }
    fn model(history: &[Event<A, Self::Op>]) -> Self::Value {
        let key = |op: &MapOp<u8, u8>| match op {
            MapOp::Write(k, _) | MapOp::Remove(k) => *k,
        };
        (0..=u8::MAX)
            .filter_map(|k| {
                let evs = key_events(history, key, &k);
                let mut vals: Vec<u8> = surviving(&evs)
                    .iter()
                    .filter_map(|e| match e.op {
                        MapOp::Write(_, v) => Some(v),
                        MapOp::Remove(_) => None,
                    })
                    .collect();
                vals.sort_unstable();
                (!vals.is_empty()).then_some((k, vals))
            })
            .collect()
    }
}
