//! Apache Cassandra `ConsistencyLevel`, restated: `blockFor` (ONE, LOCAL_ONE,
//! ANY: 1; TWO: 2; THREE: 3; QUORUM: total RF / 2 + 1; ALL: total RF;
//! LOCAL_QUORUM: local RF / 2 + 1; EACH_QUORUM: RF / 2 + 1 in every
//! datacenter) and `blockForWrite` (ANY adds nothing, local levels add the
//! local datacenter's pending replicas, every other level adds all pending
//! replicas, EACH_QUORUM per datacenter), with hints counting for ANY only.

use proptest::prelude::*;
use quorate_quorum::{ConsistencyLevel as CL, Datacenter, Operation, Replication, Requirement};

const LEVELS: [CL; 9] = [
    CL::Any,
    CL::One,
    CL::Two,
    CL::Three,
    CL::Quorum,
    CL::LocalOne,
    CL::LocalQuorum,
    CL::EachQuorum,
    CL::All,
];

/// Acks needed: (from all datacenters, from the local one, per datacenter).
fn cassandra(dcs: &[Datacenter], local: usize, cl: CL, write: bool) -> (u32, u32, Vec<u32>) {
    let rf: u32 = dcs.iter().map(|d| d.replicas).sum();
    let pending: u32 = dcs.iter().map(|d| d.pending).sum();
    let local_rf = dcs[local].replicas;
    let local_pending = dcs[local].pending;
    let add = |n: u32, p: u32| if write { n + p } else { n };
    match cl {
        CL::Any => (1, 0, vec![]),
        CL::One => (add(1, pending), 0, vec![]),
        CL::Two => (add(2, pending), 0, vec![]),
        CL::Three => (add(3, pending), 0, vec![]),
        CL::Quorum => (add(rf / 2 + 1, pending), 0, vec![]),
        CL::All => (add(rf, pending), 0, vec![]),
        CL::LocalOne => (0, add(1, local_pending), vec![]),
        CL::LocalQuorum => (0, add(local_rf / 2 + 1, local_pending), vec![]),
        CL::EachQuorum => (
            0,
            0,
            dcs.iter()
                .map(|d| add(d.replicas / 2 + 1, d.pending))
                .collect(),
        ),
    }
}

fn dcs() -> impl Strategy<Value = (Vec<Datacenter>, usize)> {
    prop::collection::vec((0u32..7, 0u32..3), 1..4).prop_flat_map(|v| {
        let n = v.len();
        (
            Just(
                v.into_iter()
                    .map(|(replicas, pending)| Datacenter { replicas, pending })
                    .collect::<Vec<_>>(),
            ),
            0..n,
        )
    })
}

proptest! {
    #[test]
    fn requirements_match_block_for((d, local) in dcs()) {
        let r = Replication::with_pending(d.clone(), local).expect("valid");
        for cl in LEVELS {
            for op in [Operation::Read, Operation::Write] {
                let write = op == Operation::Write;
                if cl == CL::Any && !write {
                    prop_assert!(r.required(cl, op).is_err());
                    continue;
                }
                let (total, loc, each) = cassandra(&d, local, cl, write);
                let got = r.required(cl, op).expect("valid level");
                match got {
                    Requirement::Total(n) => prop_assert_eq!(n, total, "{:?} {:?}", cl, op),
                    Requirement::Local(n) => prop_assert_eq!(n, loc, "{:?} {:?}", cl, op),
                    Requirement::EachDatacenter => {
                        for (i, want) in each.iter().enumerate() {
                            prop_assert_eq!(r.required_in(cl, op, i), *want);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn satisfaction_matches_block_for(
        (d, local) in dcs(),
        acks in prop::collection::vec(0u32..10, 3),
        hints in 0u32..2,
    ) {
        let r = Replication::with_pending(d.clone(), local).expect("valid");
        let acks = &acks[..d.len()];
        let sum: u32 = acks.iter().sum();
        for cl in LEVELS {
            for op in [Operation::Read, Operation::Write] {
                if cl == CL::Any && op == Operation::Read {
                    continue;
                }
                let (total, loc, each) = cassandra(&d, local, cl, op == Operation::Write);
                let want = match cl {
                    CL::Any => sum + hints >= 1,
                    CL::LocalOne | CL::LocalQuorum => acks[local] >= loc,
                    CL::EachQuorum => acks.iter().zip(&each).all(|(a, w)| a >= w),
                    _ => sum >= total,
                };
                prop_assert_eq!(r.is_satisfied(cl, op, acks, hints).expect("valid"), want, "{:?} {:?}", cl, op);
            }
        }
    }
}

#[test]
fn local_levels_are_datacenter_local() {
    for cl in LEVELS {
        assert_eq!(
            cl.is_datacenter_local(),
            matches!(cl, CL::LocalOne | CL::LocalQuorum),
            "{cl:?}"
        );
    }
}
