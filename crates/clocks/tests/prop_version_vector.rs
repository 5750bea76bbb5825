//! Laws: `compare` is the pointwise partial order, consistent with `merge` (a join
//! semilattice: commutative, associative, idempotent, least upper bound) and `glb`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use quorate_clocks::{Causality, VersionVector};

fn arb_vv() -> impl Strategy<Value = VersionVector<u8>> {
    // Up to 14 actors out of 14, so both inline and spilled vectors are exercised.
    prop::collection::vec((0u8..14, 0u64..4), 0..14).prop_map(|v| v.into_iter().collect())
}

fn oracle(a: &VersionVector<u8>, b: &VersionVector<u8>) -> Causality {
    let ma: BTreeMap<u8, u64> = a.iter().map(|(k, v)| (*k, v)).collect();
    let mb: BTreeMap<u8, u64> = b.iter().map(|(k, v)| (*k, v)).collect();
    let keys: Vec<u8> = ma.keys().chain(mb.keys()).copied().collect();
    let le = keys
        .iter()
        .all(|k| ma.get(k).copied().unwrap_or(0) <= mb.get(k).copied().unwrap_or(0));
    let ge = keys
        .iter()
        .all(|k| ma.get(k).copied().unwrap_or(0) >= mb.get(k).copied().unwrap_or(0));
    match (le, ge) {
        (true, true) => Causality::Equal,
        (true, false) => Causality::Before,
        (false, true) => Causality::After,
        (false, false) => Causality::Concurrent,
    }
}

fn merged(a: &VersionVector<u8>, b: &VersionVector<u8>) -> VersionVector<u8> {
    let mut m = a.clone();
    m.merge(b);
    m
}

proptest! {
    #[test]
    fn compare_matches_the_pointwise_order(a in arb_vv(), b in arb_vv()) {
        let c = a.compare(&b);
        prop_assert_eq!(c, oracle(&a, &b));
        prop_assert_eq!(b.compare(&a), c.reverse());
        prop_assert_eq!(a.partial_cmp(&b), c.partial_ordering());
        prop_assert_eq!(a.descends(&b), matches!(c, Causality::After | Causality::Equal));
        // Riak's vclock:dominates/2: descends(A, B) andalso not descends(B, A).
        prop_assert_eq!(a.dominates(&b), a.descends(&b) && !b.descends(&a));
        prop_assert_eq!(a.dominates(&b), c == Causality::After);
        prop_assert_eq!(a.dominates(&b), a > b);
        prop_assert!(!a.dominates(&a) && a.descends(&a));
        prop_assert_eq!(c == Causality::Equal, a == b);
    }

    #[test]
    fn the_order_is_transitive(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
        if a.descends(&b) && b.descends(&c) {
            prop_assert!(a.descends(&c));
        }
        // Merging builds chains, so exercise the transitive case for real too.
        let ab = merged(&a, &b);
        let abc = merged(&ab, &c);
        prop_assert!(abc.descends(&ab) && ab.descends(&a) && abc.descends(&a));
        // The strict order is transitive too.
        if a.dominates(&b) && b.dominates(&c) {
            prop_assert!(a.dominates(&c));
        }
    }

    #[test]
    fn merge_is_a_least_upper_bound(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
        let ab = merged(&a, &b);
        prop_assert_eq!(&ab, &merged(&b, &a));
        prop_assert_eq!(merged(&ab, &c), merged(&a, &merged(&b, &c)));
        prop_assert_eq!(merged(&a, &a), a.clone());
        prop_assert!(ab.descends(&a) && ab.descends(&b));
        if c.descends(&a) && c.descends(&b) {
            prop_assert!(c.descends(&ab));
        }
        // Sorted, no zero entries.
        let entries: Vec<(u8, u64)> = ab.iter().map(|(k, v)| (*k, v)).collect();
        prop_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        prop_assert!(entries.iter().all(|e| e.1 > 0));
    }

    #[test]
    fn glb_is_a_greatest_lower_bound(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
        let g = a.glb(&b);
        prop_assert_eq!(&g, &b.glb(&a));
        prop_assert!(a.descends(&g) && b.descends(&g));
        if a.descends(&c) && b.descends(&c) {
            prop_assert!(g.descends(&c));
        }
    }

    #[test]
    fn increments_move_strictly_forward(a in arb_vv(), actor in 0u8..14) {
        let mut b = a.clone();
        let dot = b.increment(actor).unwrap();
        prop_assert_eq!(a.compare(&b), Causality::Before);
        prop_assert!(b.contains(&dot) && !a.contains(&dot));
    }
}
