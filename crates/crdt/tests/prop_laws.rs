//! Join and delta laws for every type, on states built by random operations (proptest picks the
//! seeds; the harness in `quorate_crdt::laws` does the checking).

use proptest::prelude::*;
use quorate_crdt::laws::{Simulation, check_delta_laws, check_join_laws, random_states};
use quorate_crdt::{
    EwFlag, GCounter, GSet, LwwReg, MvReg, OrMap, OrSet, PnCounter, RwSet, TwoPSet,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

const ACTORS: [u8; 3] = [1, 2, 3];

fn laws<C: Simulation<u8>>(seed: u64, ops: usize) -> Result<(), TestCaseError> {
    let s = random_states::<C, u8>(&ACTORS, ops, seed);
    let (a, b, c) = (&s[0], &s[1], &s[2]);
    check_join_laws(a, b, c).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Two deltas drawn from mutations of `a` (by two different actors), applied to `a` and `b`.
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xdead_beef);
    let mut a1 = a.clone();
    let op1 = C::random_op(&mut rng, &a1);
    let d1 = a1.apply(&1, &op1).map_err(TestCaseError::fail)?;
    let mut a2 = b.clone();
    let op2 = C::random_op(&mut rng, &a2);
    let d2 = a2.apply(&2, &op2).map_err(TestCaseError::fail)?;
    check_delta_laws(a, &d1, &d2, b).map_err(|e| TestCaseError::fail(e.to_string()))?;
    check_delta_laws(c, &d1, &d2, a).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // delta_since in both directions, after joining.
    let mut ab = a.clone();
    ab.try_join_delta(&b.delta_since(&a.summary()))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut full = a.clone();
    quorate_crdt::Crdt::join(&mut full, b);
    prop_assert_eq!(ab, full);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn or_set_laws(seed in any::<u64>(), ops in 0usize..40) { laws::<OrSet<u8, u8>>(seed, ops)?; }

    #[test]
    fn rw_set_laws(seed in any::<u64>(), ops in 0usize..40) { laws::<RwSet<u8, u8>>(seed, ops)?; }

    #[test]
    fn mv_reg_laws(seed in any::<u64>(), ops in 0usize..40) { laws::<MvReg<u8, u8>>(seed, ops)?; }

    #[test]
    fn ew_flag_laws(seed in any::<u64>(), ops in 0usize..40) { laws::<EwFlag<u8>>(seed, ops)?; }

    #[test]
    fn or_map_laws(seed in any::<u64>(), ops in 0usize..40) {
        laws::<OrMap<u8, MvReg<u8, u8>, u8>>(seed, ops)?;
    }

    #[test]
    fn or_map_counter_laws(seed in any::<u64>(), ops in 0usize..40) {
        laws::<OrMap<u8, GCounter<u8>, u8>>(seed, ops)?;
        laws::<OrMap<u8, PnCounter<u8>, u8>>(seed, ops)?;
    }

    #[test]
    fn counter_laws(seed in any::<u64>(), ops in 0usize..40) {
        laws::<GCounter<u8>>(seed, ops)?;
        laws::<PnCounter<u8>>(seed, ops)?;
    }

    #[test]
    fn set_laws(seed in any::<u64>(), ops in 0usize..40) {
        laws::<GSet<u8>>(seed, ops)?;
        laws::<TwoPSet<u8>>(seed, ops)?;
    }

    #[test]
    fn lww_laws(seed in any::<u64>(), ops in 0usize..40) { laws::<LwwReg<u8, u8>>(seed, ops)?; }
}

/// Records the deltas of random operations spread over three replicas that sync by deltas now
/// and then, then replays every delta in a shuffled order with duplicates into a fresh replica:
/// it must end equal to the join of the three replicas.
fn any_order<C: Simulation<u8>>(seed: u64, ops: usize) -> Result<(), TestCaseError> {
    use rand::Rng;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut reps: Vec<C> = ACTORS.iter().map(|_| C::default()).collect();
    let mut deltas: Vec<C::Delta> = Vec::new();
    for _ in 0..ops {
        let i = rng.random_range(0..3);
        if rng.random_bool(0.25) && !deltas.is_empty() {
            let k = rng.random_range(0..deltas.len());
            reps[i].join_delta(&deltas[k]);
            continue;
        }
        let op = C::random_op(&mut rng, &reps[i]);
        let d = reps[i]
            .apply(&ACTORS[i], &op)
            .map_err(TestCaseError::fail)?;
        deltas.push(d);
    }
    let mut expected = C::default();
    for r in &reps {
        quorate_crdt::Crdt::join(&mut expected, r);
    }
    let mut order: Vec<usize> = (0..deltas.len()).collect();
    order.extend((0..deltas.len()).filter(|_| rng.random_bool(0.3)));
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    let mut replay = C::default();
    for k in order {
        replay
            .try_join_delta(&deltas[k])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    // Every replica's state is the join of the deltas it produced and received, so the replay
    // of all deltas is the join of all replicas.
    prop_assert_eq!(replay, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn deltas_join_in_any_order_and_multiplicity(seed in any::<u64>(), ops in 1usize..40) {
        any_order::<OrSet<u8, u8>>(seed, ops)?;
        any_order::<RwSet<u8, u8>>(seed, ops)?;
        any_order::<MvReg<u8, u8>>(seed, ops)?;
        any_order::<EwFlag<u8>>(seed, ops)?;
        any_order::<OrMap<u8, MvReg<u8, u8>, u8>>(seed, ops)?;
        any_order::<PnCounter<u8>>(seed, ops)?;
        any_order::<OrMap<u8, GCounter<u8>, u8>>(seed, ops)?;
        any_order::<OrMap<u8, PnCounter<u8>, u8>>(seed, ops)?;
        any_order::<TwoPSet<u8>>(seed, ops)?;
    }
}
