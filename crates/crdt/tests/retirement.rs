//! Actor retirement for the causal types: a departed actor's dots are renamed into a reserved
//! range of the surviving actor's counters, replicas still converge to the sequential model,
//! the version vector forgets the departed actor, and late messages that still reference it
//! are rejected with a typed error instead of resurrecting data.

use std::collections::BTreeSet;

use quorate_clocks::encode_to_vec;
use quorate_crdt::laws::{Event, Simulation};
use quorate_crdt::{
    Crdt, DeltaCrdt, EwFlag, MvReg, OrMap, OrSet, RetireError, RwSet, ValidationError,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The departing actor (replica 3); the surviving coordinator is actor 1 (replica 0).
const DEPARTED: u8 = 4;
const ACTORS: [u8; 4] = [1, 2, 3, DEPARTED];

type Retire<C> = fn(&mut C, &u8, u8) -> Result<(), RetireError>;

enum Payload<C: DeltaCrdt<u8>> {
    Full(C),
    Delta(C::Delta),
}

struct Msg<C: DeltaCrdt<u8>> {
    to: usize,
    payload: Payload<C>,
    knowledge: BTreeSet<usize>,
}

struct Rep<C> {
    state: C,
    knowledge: BTreeSet<usize>,
}

/// Delivers a message; a rejection is allowed only as `RetiredActor` (a late message) and
/// only once a retirement happened. Returns whether it was accepted.
fn deliver<C: Simulation<u8>>(reps: &mut [Rep<C>], msg: Msg<C>, retired: bool) -> bool {
    let r = &mut reps[msg.to];
    let before = r.state.clone();
    let res = match &msg.payload {
        Payload::Full(c) => r.state.try_join(c),
        Payload::Delta(d) => r.state.try_join_delta(d),
    };
    match res {
        Ok(()) => {
            r.knowledge.extend(msg.knowledge);
            true
        }
        Err(e) => {
            assert!(retired, "rejected before any retirement: {e}");
            assert!(
                matches!(e, ValidationError::RetiredActor { .. }),
                "only late messages are rejected: {e}"
            );
            assert_eq!(r.state, before, "a rejected message changes nothing");
            false
        }
    }
}

struct Outcome {
    rejected: usize,
    vv_before: usize,
}

/// One seeded run: random mutations and lossy, duplicating, reordering sync among all four
/// replicas; then full propagation, retirement of actor 4 into actor 1 at replica 0 (replica
/// 3 leaves); then more random traffic among the three survivors (replica 3's old messages
/// still in flight), healing, and the checks.
fn run<C: Simulation<u8>>(seed: u64, retire: Retire<C>) -> Outcome {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut reps: Vec<Rep<C>> = (0..4)
        .map(|_| Rep {
            state: C::default(),
            knowledge: BTreeSet::new(),
        })
        .collect();
    let mut history: Vec<Event<u8, C::Op>> = Vec::new();
    let mut net: Vec<Msg<C>> = Vec::new();
    let mut late: Vec<Msg<C>> = Vec::new();
    let mut rejected = 0;
    let mut retired = false;
    let mut vv_before = 0;

    for phase in 0..2 {
        let live = if phase == 0 { 4 } else { 3 };
        for _ in 0..150 {
            let i = rng.random_range(0..live);
            let j = (i + rng.random_range(1..live)) % live;
            let roll = rng.random_range(0..100u32);
            if roll < 40 {
                let rep = &mut reps[i];
                let op = C::random_op(&mut rng, &rep.state);
                let delta = rep.state.apply(&ACTORS[i], &op).expect("op");
                let id = history.len();
                history.push(Event {
                    id,
                    actor: ACTORS[i],
                    op,
                    observed: rep.knowledge.clone(),
                });
                rep.knowledge.insert(id);
                let msg = Msg {
                    to: j,
                    payload: Payload::Delta(delta),
                    knowledge: [id].into(),
                };
                if phase == 0 && i == 3 && rng.random_bool(0.5) {
                    // Held back: delivered only after the retirement.
                    late.push(msg);
                } else {
                    net.push(msg);
                }
            } else if roll < 55 {
                net.push(Msg {
                    to: j,
                    payload: Payload::Full(reps[i].state.clone()),
                    knowledge: reps[i].knowledge.clone(),
                });
            } else if roll < 65 {
                let summary = reps[j].state.summary();
                net.push(Msg {
                    to: j,
                    payload: Payload::Delta(reps[i].state.delta_since(&summary)),
                    knowledge: reps[i].knowledge.clone(),
                });
            } else if !net.is_empty() {
                let k = rng.random_range(0..net.len());
                let msg = net.swap_remove(k);
                if rng.random_bool(0.2) || msg.to >= live {
                    continue; // dropped (or addressed to the replica that left)
                }
                if rng.random_bool(0.2) {
                    net.push(Msg {
                        to: msg.to,
                        payload: match &msg.payload {
                            Payload::Full(c) => Payload::Full(c.clone()),
                            Payload::Delta(d) => Payload::Delta(d.clone()),
                        },
                        knowledge: msg.knowledge.clone(),
                    });
                }
                if !deliver(&mut reps, msg, retired) {
                    rejected += 1;
                }
            }
        }
        if phase == 0 {
            // Full propagation (the retirement's precondition): every replica has every event.
            for _ in 0..2 {
                for i in 0..4 {
                    for j in 0..4 {
                        if i != j {
                            let m = Msg {
                                to: i,
                                payload: Payload::Full(reps[j].state.clone()),
                                knowledge: reps[j].knowledge.clone(),
                            };
                            assert!(deliver(&mut reps, m, false));
                        }
                    }
                }
            }
            let vv = reps[0].state.summary();
            vv_before = vv.len();
            if vv.get(&DEPARTED) == 0 {
                return Outcome {
                    rejected,
                    vv_before,
                }; // actor 4 never wrote in this run: nothing to retire
            }
            retire(&mut reps[0].state, &DEPARTED, 1).expect("retire");
            retired = true;
            assert_eq!(reps[0].state.summary().get(&DEPARTED), 0);
            assert!(reps[0].state.validate().is_ok());
            // Replica 3's late messages arrive mixed into the survivors' traffic.
            net.retain(|m| m.to < 3);
            for mut m in late.drain(..) {
                m.to %= 3;
                net.push(m);
            }
        }
    }
    // Heal: deliver what is in flight, then pairwise full-state rounds among the survivors
    // until they agree (a replica that has not yet seen the retirement is rejected by one that
    // has, until it learns the retirement from that replica).
    while !net.is_empty() {
        let k = rng.random_range(0..net.len());
        let msg = net.swap_remove(k);
        if !deliver(&mut reps, msg, retired) {
            rejected += 1;
        }
    }
    for _ in 0..4 {
        for i in 0..3 {
            for j in 0..3 {
                if i != j {
                    let m = Msg {
                        to: i,
                        payload: Payload::Full(reps[j].state.clone()),
                        knowledge: reps[j].knowledge.clone(),
                    };
                    if !deliver(&mut reps, m, retired) {
                        rejected += 1;
                    }
                }
            }
        }
    }
    for r in &reps[..3] {
        assert_eq!(r.state, reps[0].state, "seed {seed}: survivors converge");
        assert!(r.state.validate().is_ok());
        assert_eq!(
            r.state.summary().get(&DEPARTED),
            0,
            "departed actor forgotten"
        );
        assert_eq!(
            r.state.value(),
            C::model(&history),
            "seed {seed}: value equals the sequential model"
        );
    }
    Outcome {
        rejected,
        vv_before,
    }
}

fn run_many<C: Simulation<u8>>(retire: Retire<C>) {
    let mut retirements = 0;
    let mut rejected = 0;
    for seed in 0..30 {
        let o = run::<C>(seed, retire);
        if o.vv_before == 4 {
            retirements += 1;
        }
        rejected += o.rejected;
    }
    assert!(
        retirements > 20,
        "most runs retire an actor ({retirements})"
    );
    assert!(rejected > 0, "late messages were exercised");
}

#[test]
fn or_set_converges_across_a_retirement() {
    run_many::<OrSet<u8, u8>>(OrSet::retire);
}

#[test]
fn rw_set_converges_across_a_retirement() {
    run_many::<RwSet<u8, u8>>(RwSet::retire);
}

#[test]
fn mv_register_converges_across_a_retirement() {
    run_many::<MvReg<u8, u8>>(MvReg::retire);
}

#[test]
fn ew_flag_converges_across_a_retirement() {
    run_many::<EwFlag<u8>>(EwFlag::retire);
}

#[test]
fn or_map_converges_across_a_retirement() {
    run_many::<OrMap<u8, MvReg<u8, u8>, u8>>(OrMap::retire);
}

#[test]
fn late_delta_from_the_retired_actor_is_rejected_and_changes_nothing() {
    let mut a = OrSet::<&str, u8>::new();
    let mut gone = OrSet::<&str, u8>::new();
    let d1 = gone.add(9, "x").unwrap();
    a.try_join_delta(&d1).unwrap();
    // Delta 2 is written but delivered only after the retirement (a precondition violation
    // the coordinator could not see).
    let d2 = gone.add(9, "y").unwrap();
    a.retire(&9, 1).unwrap();
    let before = a.clone();
    assert_eq!(
        a.try_join_delta(&d2),
        Err(ValidationError::RetiredActor { actor: "9".into() })
    );
    assert_eq!(
        a.try_join(&gone),
        Err(ValidationError::RetiredActor { actor: "9".into() })
    );
    assert_eq!(a, before);
    assert!(a.contains(&"x") && !a.contains(&"y"));
}

#[test]
fn a_remove_that_observed_the_old_dot_removes_the_renamed_one() {
    let mut a = OrSet::<u32, u8>::new();
    let mut b = OrSet::<u32, u8>::new();
    b.add(9, 7).unwrap();
    a.join(&b);
    // b removes 7 (observing dot (9, 1)) while a retires 9, renaming that dot.
    b.remove(&7);
    a.retire(&9, 1).unwrap();
    // b still references actor 9 and has not seen the retirement: a rejects b's state...
    let mut ab = a.clone();
    assert_eq!(
        ab.try_join(&b),
        Err(ValidationError::RetiredActor { actor: "9".into() })
    );
    // ...until b learns the retirement from a (and then a accepts b's renamed state).
    let mut ba = b.clone();
    ba.try_join(&a).unwrap();
    ab.try_join(&ba).unwrap();
    assert_eq!(ab, ba);
    // The trusted join renames b on the fly and gives the same result.
    let mut trusted = a.clone();
    trusted.join(&b);
    assert_eq!(trusted, ba);
    assert!(
        !ab.contains(&7),
        "the concurrent remove is not undone by the rename"
    );
    assert!(ab.context().is_retired(&9));
}

#[test]
fn retiring_many_transient_actors_shrinks_the_metadata() {
    let mut s = OrSet::<u32, u16>::new();
    s.add(1, 0).unwrap();
    for actor in 100..160u16 {
        s.add(actor, u32::from(actor)).unwrap();
    }
    let before = encode_to_vec(&s).len();
    assert_eq!(s.context().version_vector().len(), 61);
    for actor in 100..160u16 {
        s.retire(&actor, 1).unwrap();
    }
    assert_eq!(s.context().version_vector().len(), 1);
    for actor in 100..160u16 {
        s.forget_retired(&actor).unwrap();
    }
    let after = encode_to_vec(&s).len();
    assert!(after < before, "{after} < {before}");
    assert_eq!(s.context().retirements().count(), 0);
    assert_eq!(s.len(), 61);
    assert!(s.validate().is_ok());
    // The surviving actor's next dot is past the reserved range.
    s.add(1, 999).unwrap();
    assert_eq!(s.context().version_vector().get(&1), 62);
}

#[test]
fn retirement_errors_are_typed_and_change_nothing() {
    let mut s = OrSet::<u32, u8>::new();
    s.add(1, 1).unwrap();
    s.add(9, 2).unwrap();
    let before = s.clone();
    assert_eq!(s.retire(&9, 9), Err(RetireError::SameActor));
    assert_eq!(s.retire(&7, 1), Err(RetireError::Incomplete));
    s.retire(&9, 1).unwrap();
    let after = s.clone();
    assert_eq!(s.retire(&9, 1), Err(RetireError::AlreadyRetired));
    assert_eq!(s.retire(&1, 9), Err(RetireError::AlreadyRetired));
    assert_eq!(s, after);
    assert_ne!(before, after);
    // Every replica that receives the record also receives the surviving actor's history up
    // to the renamed range (the record is born with it), so forgetting then succeeds.
    let mut peer = before.clone();
    peer.try_join(&after).unwrap();
    assert!(peer.context().is_retired(&9));
    assert_eq!(peer.forget_retired(&9), Ok(()));
    assert!(!peer.context().is_retired(&9));
}

#[test]
fn conflicting_retirements_are_rejected() {
    let mut base = OrSet::<u32, u8>::new();
    base.add(9, 1).unwrap();
    let mut a = base.clone();
    let mut b = base.clone();
    a.add(1, 2).unwrap();
    a.retire(&9, 1).unwrap();
    b.add(2, 3).unwrap();
    b.retire(&9, 2).unwrap(); // a second coordinator: a precondition violation
    assert_eq!(
        a.try_join(&b),
        Err(ValidationError::ConflictingRetirement { actor: "9".into() })
    );
}

#[test]
fn retired_state_round_trips_through_the_encoding() {
    let mut s = OrSet::<u32, u8>::new();
    s.add(9, 1).unwrap();
    s.add(2, 2).unwrap();
    s.retire(&9, 1).unwrap();
    let bytes = encode_to_vec(&s);
    let back: OrSet<u32, u8> = quorate_clocks::decode_exact(&bytes).unwrap();
    assert_eq!(back, s);
    assert!(back.context().is_retired(&9));
}

#[test]
fn a_stored_dot_of_a_retired_actor_is_invalid_and_does_not_decode() {
    use quorate_clocks::Dot;
    use quorate_crdt::{Causal, DotSet};
    let mut s = EwFlag::<u8>::new();
    s.enable(9).unwrap();
    s.enable(1).unwrap();
    s.retire(&9, 1).unwrap();
    let ctx = s.context().clone();
    assert!(ctx.validate().is_ok());
    // A store still holding the retired actor's dot under a context that retired it.
    let bad = Causal::new_unchecked(DotSet::single(Dot::new(9u8, 1)), ctx);
    assert_eq!(
        bad.validate(),
        Err(ValidationError::RetiredActor { actor: "9".into() })
    );
    let bytes = encode_to_vec(&bad);
    assert!(quorate_clocks::decode_exact::<Causal<DotSet<u8>, u8>>(&bytes).is_err());
    // The valid retired flag round-trips and still reads as enabled.
    let back: EwFlag<u8> = quorate_clocks::decode_exact(&encode_to_vec(&s)).unwrap();
    assert!(back.is_enabled() && back == s);
}
