//! tikv/raft-rs group commit (`Configuration::committed_index(true, ..)`):
//! the cases of `src/quorum/testdata/majority_group_commit.txt` (entries past
//! the voters are ignored, as there), and a literal restatement of its
//! algorithm checked against ours on random inputs, flag included.

use proptest::prelude::*;
use quorate_quorum::{GroupCommitted, JointConfig, MajorityConfig};

/// raft-rs: sort (index, group) descending by index; the quorum-th entry gives
/// the quorum index and the first group to compare; walk from the top, skipping
/// unknown groups, and return `min(index, quorum index)` at the first entry of
/// a second known group. Otherwise the quorum index if no group was unknown,
/// else the smallest index; the empty configuration commits everything.
fn raft_rs(acked: &[(u64, u64)]) -> (u64, bool) {
    if acked.is_empty() {
        return (u64::MAX, true);
    }
    let mut m = acked.to_vec();
    m.sort_by_key(|p| std::cmp::Reverse(p.0));
    let q = m.len() / 2 + 1;
    let (quorum_index, mut checked) = m[q - 1];
    let mut single = true;
    for &(index, group) in &m {
        if group == 0 {
            single = false;
            continue;
        }
        if checked == 0 {
            checked = group;
            continue;
        }
        if checked == group {
            continue;
        }
        return (index.min(quorum_index), true);
    }
    if single {
        (quorum_index, false)
    } else {
        (m[m.len() - 1].0, false)
    }
}

fn parse(s: &str) -> Vec<u64> {
    s.split(',')
        .map(|x| {
            if x == "_" {
                0
            } else {
                x.parse().expect("number")
            }
        })
        .collect()
}

// (voters, idx, group, committed)
const MAJORITY_GROUP: &[(usize, &str, &str, u64)] = &[
    (3, "100,101,99", "1,1,1", 100),
    (3, "100,101,99", "1,1,_", 99),
    (3, "100,101,99", "1,1,2", 99),
    (3, "100,101,99", "1,2,3", 100),
    (3, "100,101,99", "1,_,3", 99),
    (1, "100,101", "1,1", 100),
    (1, "100,101", "1,2", 100),
    (1, "100,101", "_,1", 100),
    (1, "_", "1", 0),
    (1, "100", "1", 100),
    (2, "_,_,_", "1,1,1", 0),
    (2, "10,20,30", "1,1,1", 10),
    (2, "10,20,30", "1,2,1", 10),
    (2, "10,20", "1,1", 10),
    (2, "10,20", "1,2", 10),
    (2, "10,20,30,40", "1,1,1,1", 10),
    (2, "10,20,30,40", "1,2,1,2", 10),
    (2, "10,20,30,40", "1,2,2,2", 10),
    (3, "10,20,30,40,50,60", "1,1,1,1,1,1", 20),
    (3, "10,20,30,40,50,60", "1,1,2,1,1,2", 20),
    (3, "100,200,300,40,50,60", "1,1,2,1,1,2", 200),
    (3, "100,200,300,40,50,60", "1,1,_,1,1,_", 100),
    (3, "10,200,300,40,50,60", "1,1,_,1,1,_", 10),
    (3, "100,200,3,400,500,6", "1,2,3,1,2,3", 100),
    (3, "10,20,30", "1,1,1", 20),
    (3, "10,20,30", "1,1,2", 20),
    (3, "10,20,30", "1,2,1", 20),
    (3, "10,20,30", "1,1,_", 10),
    (3, "10,20,30,40", "1,1,1,1", 20),
    (3, "10,20,30,40", "1,2,1,1", 20),
    (3, "10,20,30,40", "1,1,2,1", 20),
    (3, "10,200,30,40", "1,1,1,2", 30),
    (3, "10,200,30,40", "1,_,1,1", 10),
    (3, "10,200,30,40", "1,1,1,_", 30),
    (3, "10,200,30,40", "1,2,3,1", 30),
    (3, "10,200,30,40", "1,2,3,4", 30),
    (5, "1,2,3,4,5,6,7,8,9,10", "1,1,1,1,1,1,1,1,1,1", 3),
    (5, "1,2,3,4,5,6,7,8,9,10", "1,2,1,1,1,1,1,1,1,1", 2),
    (5, "1,2,3,4,5,6,7,8,9,10", "_,1,1,1,1,1,1,1,1,1", 1),
    (5, "1,2,3,4,5,6,7,8,9,10", "_,1,1,1,2,1,1,1,1,1", 3),
    (5, "1,2,3,4,5,6,7,8,9,10", "_,1,1,3,2,1,1,1,1,1", 3),
    (5, "10,20,30,4,5,6,7,8,9,10", "_,1,1,3,2,1,1,1,1,1", 5),
    (5, "10,20,30,40,50,6,7,8,9,10", "1,1,1,1,2,1,1,1,1,2", 30),
];

#[test]
fn majority_group_commit_cases() {
    for &(n, idx, group, want) in MAJORITY_GROUP {
        let c = MajorityConfig::new(1..=n as u64).expect("valid");
        let acked = parse(idx);
        let groups = parse(group);
        let got = c.committed_index_grouped(&acked, &groups);
        assert_eq!(got.index, want, "n={n} idx=({idx}) group=({group})");
        let pairs: Vec<(u64, u64)> = (0..n).map(|i| (acked[i], groups[i])).collect();
        let (index, by_group) = raft_rs(&pairs);
        assert_eq!(got, GroupCommitted { index, by_group });
    }
}

fn case() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec(
        (
            prop_oneof![0u64..6, Just(u64::MAX)],
            prop_oneof![Just(0u64), 1u64..4],
        ),
        0..12,
    )
}

proptest! {
    #[test]
    fn majority_matches_raft_rs(v in case()) {
        let c = MajorityConfig::new(0..v.len() as u64).expect("valid");
        let acked: Vec<u64> = v.iter().map(|p| p.0).collect();
        let groups: Vec<u64> = v.iter().map(|p| p.1).collect();
        let (index, by_group) = raft_rs(&v);
        prop_assert_eq!(c.committed_index_grouped(&acked, &groups), GroupCommitted { index, by_group });
    }

    #[test]
    fn joint_matches_raft_rs(v in case(), split in 0usize..12, overlap in 0usize..4) {
        // Incoming = slots 0..split, outgoing = slots split-overlap..len.
        let n = v.len();
        let split = split.min(n);
        let from = split.saturating_sub(overlap);
        let c = JointConfig::new(0..split as u64, from as u64..n as u64).expect("valid");
        let acked: Vec<u64> = v.iter().map(|p| p.0).collect();
        let groups: Vec<u64> = v.iter().map(|p| p.1).collect();
        let (i, ig) = raft_rs(&v[..split]);
        let (o, og) = raft_rs(&v[from..]);
        prop_assert_eq!(
            c.committed_index_grouped(&acked, &groups),
            GroupCommitted { index: i.min(o), by_group: ig && og }
        );
    }
}
