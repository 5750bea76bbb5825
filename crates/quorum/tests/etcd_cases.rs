//! The data-driven cases of etcd-io/raft's `quorum/testdata` (majority_commit,
//! joint_commit, majority_vote, joint_vote) and tikv/raft-rs's
//! joint_group_commit, restated as tables. `_` means "no information" for that
//! voter; values are listed for the voters of `cfg` then the new voters of
//! `cfgj`, which is also the slot order of `JointConfig`.
//!
//! Like the etcd harness, every commit case is also checked against a slow
//! reference, against the configuration joined with an empty and with itself,
//! after lowering acks that sit below the result, and with the halves swapped.

use quorate_quorum::{JointConfig, MajorityConfig, VoteResult, Votes};

fn ids(s: &str) -> Vec<u64> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.trim().parse().expect("test id"))
        .collect()
}

fn idxs(s: &str) -> Vec<u64> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            if x.trim() == "_" {
                0
            } else {
                x.trim().parse().expect("test idx")
            }
        })
        .collect()
}

/// Counts, for each candidate, the voters at or above it.
fn slow_majority(acked: &[u64], voters: &[usize]) -> u64 {
    if voters.is_empty() {
        return u64::MAX;
    }
    let mut best = 0;
    for &c in voters.iter().map(|&s| &acked[s]) {
        let n = voters.iter().filter(|&&s| acked[s] >= c).count();
        if n > voters.len() / 2 {
            best = best.max(c);
        }
    }
    best
}

fn build(cfg: &str, cfgj: Option<&str>) -> JointConfig {
    let mut b = JointConfig::builder().incoming(ids(cfg));
    if let Some(j) = cfgj {
        b = b.outgoing(ids(j));
    }
    b.build().expect("valid test config")
}

// (cfg, cfgj, idx, committed). cfgj: None = majority case, Some("") = joint with an empty half.
const COMMIT: &[(&str, Option<&str>, &str, u64)] = &[
    // majority_commit.txt
    ("", None, "", u64::MAX),
    ("1", None, "_", 0),
    ("1", None, "12", 12),
    ("1,2", None, "_,_", 0),
    ("1,2", None, "12,_", 0),
    ("1,2", None, "12,5", 5),
    ("1,2,3", None, "_,_,_", 0),
    ("1,2,3", None, "12,_,_", 0),
    ("1,2,3", None, "12,5,_", 5),
    ("1,2,3", None, "12,5,6", 6),
    ("1,2,3", None, "12,5,4", 5),
    ("1,2,3", None, "5,5,_", 5),
    ("1,2,3", None, "5,5,12", 5),
    ("1,2,3", None, "100,101,103", 101),
    ("1,2,3,4,5", None, "101,104,103,103,_", 103),
    ("1,2,3,4,5", None, "101,102,103,103,_", 102),
    // joint_commit.txt
    ("1,2,3", Some(""), "100,101,99", 100),
    ("1", Some("2"), "_,_", 0),
    ("1", Some("2"), "100,_", 0),
    ("1", Some("2"), "13,100", 13),
    ("1", Some("1"), "_", 0),
    ("1", Some("1"), "100", 100),
    ("1,3", Some("2"), "_,_,_", 0),
    ("1,3", Some("2"), "100,_,_", 0),
    ("1,3", Some("2"), "100,_,50", 0),
    ("1,3", Some("2"), "100,45,50", 45),
    ("1,2", Some("2"), "_,_", 0),
    ("1,2", Some("2"), "100,_", 0),
    ("1,2", Some("2"), "_,100", 0),
    ("1,2", Some("2"), "50,100", 50),
    ("1,2", Some("2"), "100,50", 50),
    ("1,2", Some("3,4"), "50,_,_,_", 0),
    ("1,2", Some("3,4"), "50,_,49,_", 0),
    ("1,2", Some("3,4"), "50,48,49,_", 0),
    ("1,2", Some("3,4"), "50,48,49,47", 47),
    ("1,2", Some("2,3"), "_,_,_", 0),
    ("1,2", Some("2,3"), "100,_,_", 0),
    ("1,2", Some("2,3"), "_,100,_", 0),
    ("1,2", Some("2,3"), "_,100,99", 0),
    ("1,2", Some("2,3"), "101,100,99", 99),
    ("1,2", Some("1,2"), "_,_", 0),
    ("1,2", Some("1,2"), "_,40", 0),
    ("1,2", Some("1,2"), "41,40", 40),
    ("1,2,3", Some("4,5,6"), "_,_,_,_,_,_", 0),
    ("1,2,3", Some("4,5,6"), "100,_,_,_,_,_", 0),
    ("1,2,3", Some("4,5,6"), "100,_,_,90,_,_", 0),
    ("1,2,3", Some("4,5,6"), "100,99,_,_,_,_", 0),
    ("1,2,3", Some("4,5,6"), "_,99,90,97,95,_", 90),
    ("1,2,3", Some("4,5,6"), "92,99,90,97,95,_", 92),
    ("1,2,3", Some("4,5,6"), "92,99,90,97,95,77", 92),
    ("1,2,3", Some("1,4,5"), "_,_,_,_,_", 0),
    ("1,2,3", Some("1,4,5"), "100,_,_,_,_", 0),
    ("1,2,3", Some("1,4,5"), "100,101,_,_,_", 0),
    ("1,2,3", Some("1,4,5"), "100,101,100,_,_", 0),
    ("1,2,3", Some("1,4,5"), "_,100,_,99,98", 0),
    ("1,2,3", Some("1,4,5"), "_,100,99,99,98", 98),
    ("1,2,3", Some("1,4,5"), "1,100,99,99,98", 98),
    ("1,2,3", Some("1,4,5"), "100,100,99,99,98", 99),
    ("1,2,3", Some("2,3,4"), "_,_,_,_", 0),
    ("1,2,3", Some("2,3,4"), "_,100,99,_", 99),
    ("1,2,3", Some("2,3,4"), "98,100,99,_", 99),
    ("1,2,3", Some("2,3,4"), "100,100,99,_", 99),
    ("1,2,3", Some("2,3,4"), "100,100,99,98", 99),
    ("1,2,3", Some("2,3,4"), "100,_,_,101", 0),
    ("1,2,3", Some("2,3,4"), "100,99,_,101", 99),
    ("1,2,3", Some("1,2,3"), "50,45,_", 45),
];

#[test]
fn committed_index_matches_etcd_cases() {
    for &(cfg, cfgj, idx, want) in COMMIT {
        let acked = idxs(idx);
        let c = build(cfg, cfgj);
        assert_eq!(
            c.len(),
            acked.len(),
            "case {cfg} {cfgj:?}: one idx per voter"
        );
        let got = c.committed_index(&acked);
        assert_eq!(got, want, "cfg=({cfg}) cfgj={cfgj:?} idx=({idx})");
        // Same answer through the general trait.
        assert_eq!(
            quorate_quorum::QuorumSystem::committed_index(&c, &acked),
            want
        );
        // Interchanging the halves changes nothing.
        if cfgj.is_some() {
            let swapped = c.swapped().expect("swap");
            let remapped: Vec<u64> = swapped
                .ids()
                .iter()
                .map(|id| c.slot_of(*id).map_or(0, |s| acked[s]))
                .collect();
            assert_eq!(
                swapped.committed_index(&remapped),
                want,
                "symmetry of {cfg} {cfgj:?}"
            );
        }
        if cfgj.is_none() {
            let m = MajorityConfig::new(ids(cfg)).expect("valid");
            let voters: Vec<usize> = (0..m.len()).collect();
            assert_eq!(m.committed_index(&acked), want);
            assert_eq!(slow_majority(&acked, &voters), want, "reference");
            let zero_joint = JointConfig::builder()
                .incoming(ids(cfg))
                .outgoing([])
                .build()
                .expect("valid");
            assert_eq!(zero_joint.committed_index(&acked), want, "joint with empty");
            let self_joint = JointConfig::new(ids(cfg), ids(cfg)).expect("valid");
            assert_eq!(
                self_joint.committed_index(&acked),
                want,
                "joint with itself"
            );
            // Lowering an ack that is already below the result changes nothing.
            for s in 0..acked.len() {
                if acked[s] > 0 && acked[s] < want {
                    for lowered in [acked[s] - 1, 0] {
                        let mut lo = acked.clone();
                        lo[s] = lowered;
                        assert_eq!(m.committed_index(&lo), want, "overlay {s}->{lowered}");
                    }
                }
            }
        }
    }
}

fn votes(s: &str) -> Votes {
    let mut v = Votes::new();
    for (slot, x) in s.split(',').filter(|x| !x.is_empty()).enumerate() {
        match x.trim() {
            "y" => {
                v.record(slot, true);
            }
            "n" => {
                v.record(slot, false);
            }
            _ => {}
        }
    }
    v
}

use VoteResult::{Lost as L, Pending as P, Won as W};

const VOTE: &[(&str, Option<&str>, &str, VoteResult)] = &[
    // majority_vote.txt
    ("", None, "", W),
    ("1", None, "_", P),
    ("1", None, "n", L),
    ("123", None, "y", W),
    ("4,8", None, "_,_", P),
    ("4,8", None, "n,_", L),
    ("4,8", None, "y,_", P),
    ("4,8", None, "n,y", L),
    ("4,8", None, "y,y", W),
    ("2,4,7", None, "_,_,_", P),
    ("2,4,7", None, "n,_,_", P),
    ("2,4,7", None, "y,_,_", P),
    ("2,4,7", None, "n,n,_", L),
    ("2,4,7", None, "y,n,_", P),
    ("2,4,7", None, "y,y,_", W),
    ("2,4,7", None, "y,y,n", W),
    ("2,4,7", None, "n,y,n", L),
    ("1,2,3,4,5,6,7", None, "y,y,n,y,_,_,_", P),
    ("1,2,3,4,5,6,7", None, "_,y,y,_,n,y,n", P),
    ("1,2,3,4,5,6,7", None, "y,y,n,y,_,n,y", W),
    ("1,2,3,4,5,6,7", None, "y,y,_,n,y,n,n", P),
    ("1,2,3,4,5,6,7", None, "y,y,n,y,n,n,n", L),
    // joint_vote.txt
    ("", Some(""), "", W),
    ("1", Some(""), "_", P),
    ("1", Some(""), "y", W),
    ("1", Some(""), "n", L),
    ("1", Some("1"), "_", P),
    ("1", Some("1"), "y", W),
    ("1", Some("1"), "n", L),
    ("1", Some("2"), "_,_", P),
    ("1", Some("2"), "y,_", P),
    ("1", Some("2"), "y,y", W),
    ("1", Some("2"), "y,n", L),
    ("1", Some("2"), "n,_", L),
    ("1", Some("2"), "n,n", L),
    ("1", Some("2"), "n,y", L),
    ("1,2", Some("3,4"), "_,_,_,_", P),
    ("1,2", Some("3,4"), "y,_,_,_", P),
    ("1,2", Some("3,4"), "y,y,_,_", P),
    ("1,2", Some("3,4"), "y,y,n,_", L),
    ("1,2", Some("3,4"), "y,y,n,n", L),
    ("1,2", Some("3,4"), "y,y,y,n", L),
    ("1,2", Some("3,4"), "y,y,y,y", W),
    ("1,2", Some("2,3"), "_,_,_", P),
    ("1,2", Some("2,3"), "_,n,_", L),
    ("1,2", Some("2,3"), "y,y,_", P),
    ("1,2", Some("2,3"), "y,y,n", L),
    ("1,2", Some("2,3"), "y,y,y", W),
    ("1,2", Some("1,2"), "_,_", P),
    ("1,2", Some("1,2"), "y,_", P),
    ("1,2", Some("1,2"), "y,n", L),
    ("1,2", Some("1,2"), "n,_", L),
    ("1,2", Some("1,2"), "n,n", L),
    ("1,2,3", Some("2,3,4"), "_,_,_,_", P),
    ("1,2,3", Some("2,3,4"), "_,n,_,_", P),
    ("1,2,3", Some("2,3,4"), "_,n,n,_", L),
    ("1,2,3", Some("2,3,4"), "_,y,y,_", W),
    ("1,2,3", Some("2,3,4"), "y,y,_,_", P),
    ("1,2,3", Some("2,3,4"), "y,y,n,_", P),
    ("1,2,3", Some("2,3,4"), "y,y,n,n", L),
    ("1,2,3", Some("2,3,4"), "y,y,n,y", W),
];

#[test]
fn vote_result_matches_etcd_cases() {
    for &(cfg, cfgj, vs, want) in VOTE {
        let c = build(cfg, cfgj);
        let v = votes(vs);
        assert_eq!(
            c.vote_result(&v),
            want,
            "cfg=({cfg}) cfgj={cfgj:?} votes=({vs})"
        );
        assert_eq!(
            quorate_quorum::QuorumSystem::vote_result(&c, &v),
            want,
            "generic {cfg} {cfgj:?} {vs}"
        );
        if cfgj.is_some() {
            let swapped = c.swapped().expect("swap");
            let mut sv = Votes::new();
            for (slot, id) in swapped.ids().iter().enumerate() {
                if let Some(old) = c.slot_of(*id) {
                    if v.yes().contains(old) {
                        sv.record(slot, true);
                    } else if v.no().contains(old) {
                        sv.record(slot, false);
                    }
                }
            }
            assert_eq!(
                swapped.vote_result(&sv),
                want,
                "symmetry {cfg} {cfgj:?} {vs}"
            );
        } else {
            let m = MajorityConfig::new(ids(cfg)).expect("valid");
            assert_eq!(m.vote_result(&v), want);
        }
    }
}

// tikv/raft-rs joint_group_commit.txt: (cfg, cfgj, idx, gid, committed).
const GROUP: &[(&str, Option<&str>, &str, &str, u64)] = &[
    ("1,2,3", Some(""), "100,101,99", "1,1,1", 100),
    ("1,2,3", Some(""), "100,101,99", "1,1,2", 99),
    ("1,2,3", Some(""), "100,101,99", "2,1,1", 100),
    ("1,2,3", Some(""), "100,101,99", "_,1,1", 99),
    ("1,2,3", Some(""), "100,101,99", "_,1,2", 99),
    ("1,2,3,4,5", Some(""), "100,101,99,102,98", "_,_,_,_,1", 98),
    (
        "1,2,3,4",
        Some("3,4,5,6"),
        "101,99,100,102,103,1",
        "1,_,1,1,_,2",
        1,
    ),
    (
        "1,2,3",
        Some("4,5,6"),
        "99,100,101,99,100,101",
        "1,1,2,1,2,1",
        100,
    ),
    (
        "1,2,3",
        Some("4,5,6"),
        "99,100,101,99,100,101",
        "1,1,2,1,1,_",
        99,
    ),
    (
        "1,2,3,4,5",
        Some(""),
        "99,100,101,102,103",
        "1,1,1,1,2",
        101,
    ),
    (
        "1,2,3,4,5",
        Some("2,3,4,5,6"),
        "1,100,101,102,103,2",
        "1,_,1,1,1,1",
        1,
    ),
    (
        "1,2,3,4,5",
        Some("2,3,4,5,6"),
        "3,100,101,102,103,2",
        "_,1,1,1,1,1",
        3,
    ),
    (
        "1,2,3,4,5",
        Some("2,3,4,5,6"),
        "3,100,101,102,103,2",
        "_,1,1,1,3,1",
        101,
    ),
    (
        "1,2,3,4,5",
        Some("2,3,4,5,6"),
        "3,100,101,102,103,2",
        "_,1,1,1,1,3",
        2,
    ),
];

#[test]
fn group_commit_matches_raft_rs_cases() {
    for &(cfg, cfgj, idx, gid, want) in GROUP {
        let c = build(cfg, cfgj);
        let acked = idxs(idx);
        let groups = idxs(gid);
        let got = c.committed_index_grouped(&acked, &groups);
        assert_eq!(
            got.index, want,
            "cfg=({cfg}) cfgj={cfgj:?} idx=({idx}) gid=({gid})"
        );
    }
}

#[test]
fn group_commit_flags_follow_raft_rs() {
    let c = build("1,2,3", None);
    // All in one group: plain majority, not by group.
    let r = c.committed_index_grouped(&[100, 101, 99], &[1, 1, 1]);
    assert_eq!((r.index, r.by_group), (100, false));
    // Two groups: decided by group.
    let r = c.committed_index_grouped(&[100, 101, 99], &[1, 1, 2]);
    assert_eq!((r.index, r.by_group), (99, true));
    // Unknown group present and a single known group: minimum, not by group.
    let r = c.committed_index_grouped(&[100, 101, 99], &[0, 1, 1]);
    assert_eq!((r.index, r.by_group), (99, false));
    // Joint: by_group only when both halves are.
    let j = build("1,2,3", Some("4,5,6"));
    let r = j.committed_index_grouped(&[99, 100, 101, 99, 100, 101], &[1, 1, 2, 1, 1, 0]);
    assert_eq!((r.index, r.by_group), (99, false));
    // Empty config: everything, by group (the raft-rs convention).
    let e = build("", None);
    let r = e.committed_index_grouped(&[], &[]);
    assert_eq!((r.index, r.by_group), (u64::MAX, true));
}
