//! A DVVSet never loses a value that was not causally overwritten, and (being exact) keeps
//! no value that was: after replicas synchronise, the surviving siblings are exactly the
//! written values that no later writer had read.

use std::collections::BTreeSet;

use proptest::prelude::*;
use quorate_clocks::{DvvSet, VersionVector};

const REPLICAS: usize = 3;
const CLIENTS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Read { client: usize, replica: usize },
    Write { client: usize, replica: usize },
    Sync { from: usize, to: usize },
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (0..CLIENTS, 0..REPLICAS).prop_map(|(client, replica)| Op::Read { client, replica }),
            (0..CLIENTS, 0..REPLICAS).prop_map(|(client, replica)| Op::Write { client, replica }),
            (0..REPLICAS, 0..REPLICAS).prop_map(|(from, to)| Op::Sync { from, to }),
        ],
        1..60,
    )
}

type Set = DvvSet<u8, u32>;

proptest! {
    #[test]
    fn no_value_is_lost_unless_overwritten(ops in arb_ops()) {
        let mut replicas: Vec<Set> = vec![Set::default(); REPLICAS];
        // What each client last read: values seen and the context.
        let mut reads: Vec<(BTreeSet<u32>, VersionVector<u8>)> =
            vec![(BTreeSet::new(), VersionVector::new()); CLIENTS];
        let mut written = BTreeSet::new();
        let mut overwritten = BTreeSet::new();
        let mut next = 0u32;
        for op in &ops {
            match *op {
                Op::Read { client, replica } => {
                    let r = &replicas[replica];
                    reads[client] = (r.values().into_iter().copied().collect(), r.join());
                }
                Op::Write { client, replica } => {
                    next += 1;
                    let (seen, ctx) = &reads[client];
                    overwritten.extend(seen.iter().copied());
                    written.insert(next);
                    let new = DvvSet::with_context(ctx, next)
                        .update_with(&replicas[replica], &(replica as u8))
                        .unwrap();
                    replicas[replica] = new;
                }
                Op::Sync { from, to } => {
                    replicas[to] = replicas[to].sync(&replicas[from]);
                }
            }
            // At every step, every surviving value is one that was written.
            for r in &replicas {
                for v in r.values() {
                    prop_assert!(written.contains(v));
                }
            }
        }
        let all = DvvSet::sync_all(replicas.iter()).unwrap();
        let alive: BTreeSet<u32> = all.values().into_iter().copied().collect();
        let expected: BTreeSet<u32> = written.difference(&overwritten).copied().collect();
        prop_assert!(alive.is_superset(&expected), "lost {:?}", expected.difference(&alive).collect::<Vec<_>>());
        prop_assert_eq!(alive, expected, "kept an overwritten value");
        prop_assert_eq!(all.size(), all.values().len());
    }

    #[test]
    fn sync_is_commutative_associative_idempotent(ops in arb_ops()) {
        let mut replicas: Vec<Set> = vec![Set::default(); REPLICAS];
        let mut next = 0u32;
        for op in &ops {
            match *op {
                Op::Read { .. } => {}
                Op::Write { client, replica } => {
                    next += 1;
                    let ctx = replicas[client % REPLICAS].join();
                    replicas[replica] = DvvSet::with_context(&ctx, next)
                        .update_with(&replicas[replica], &(replica as u8))
                        .unwrap();
                }
                Op::Sync { from, to } => replicas[to] = replicas[to].sync(&replicas[from]),
            }
        }
        let [a, b, c] = [&replicas[0], &replicas[1], &replicas[2]];
        let sorted = |s: &Set| {
            let mut v: Vec<u32> = s.values().into_iter().copied().collect();
            v.sort_unstable();
            (s.join(), v)
        };
        prop_assert_eq!(sorted(&a.sync(b)), sorted(&b.sync(a)));
        prop_assert_eq!(sorted(&a.sync(b).sync(c)), sorted(&a.sync(&b.sync(c))));
        prop_assert_eq!(sorted(&a.sync(a)), sorted(a));
    }

    /// Equality and hashing ignore the order of anonymous values (and only their order):
    /// any permutation is equal with the same hash; changing a multiplicity is not equal.
    #[test]
    fn anonymous_value_order_does_not_matter(
        values in prop::collection::vec(0u32..5, 0..8),
        seed in any::<u64>(),
        entry_values in prop::collection::vec(0u32..5, 1..3),
    ) {
        let mut shuffled = values.clone();
        // A deterministic permutation from the seed (Fisher-Yates with an LCG).
        let mut x = seed;
        for i in (1..shuffled.len()).rev() {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            shuffled.swap(i, (x >> 33) as usize % (i + 1));
        }
        let n = entry_values.len() as u64;
        let a: Set = DvvSet::from_parts(vec![(1, n, entry_values.clone())], values.clone()).unwrap();
        let b: Set = DvvSet::from_parts(vec![(1, n, entry_values.clone())], shuffled.clone()).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(hash_of(&a), hash_of(&b));
        // One more copy of a value is a different multiset.
        let mut more = shuffled.clone();
        more.push(values.first().copied().unwrap_or(0));
        let c: Set = DvvSet::from_parts(vec![(1, n, entry_values)], more).unwrap();
        prop_assert_ne!(&a, &c);
    }

    /// With anonymous values on both sides, sync is commutative under plain `==`.
    #[test]
    fn sync_with_anonymous_values_commutes_exactly(
        left in prop::collection::vec(0u32..6, 1..5),
        right in prop::collection::vec(0u32..6, 1..5),
    ) {
        let a: Set = DvvSet::new_many(left);
        let b: Set = DvvSet::new_many(right);
        prop_assert_eq!(a.sync(&b), b.sync(&a));
        prop_assert_eq!(hash_of(&a.sync(&b)), hash_of(&b.sync(&a)));
    }
}

fn hash_of<T: std::hash::Hash>(t: &T) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(t)
}
