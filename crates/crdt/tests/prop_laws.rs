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
