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
}
