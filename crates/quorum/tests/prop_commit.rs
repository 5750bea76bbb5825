//! Laws of the commit and vote hot paths, checked against slow references.

use proptest::prelude::*;
use quorate_quorum::{CommitTracker, EmptyConfig, JointConfig, MajorityConfig, VoteResult, Votes};

/// For each candidate index, count the voters at or above it.
fn slow_commit(acked: &[u64], voters: &[usize]) -> u64 {
    if voters.is_empty() {
        return u64::MAX;
    }
    let q = voters.len() / 2 + 1;
    let mut best = 0;
    for &s in voters {
        let c = acked[s];
        if voters.iter().filter(|&&v| acked[v] >= c).count() >= q {
            best = best.max(c);
        }
    }
    best
}

fn slow_vote(yes: &[bool], no: &[bool], voters: &[usize]) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let q = voters.len() / 2 + 1;
    let y = voters.iter().filter(|&&v| yes[v]).count();
    let missing = voters.iter().filter(|&&v| !yes[v] && !no[v]).count();
    if y >= q {
        VoteResult::Won
    } else if y + missing >= q {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

/// tikv/raft-rs's group-commit loop, transcribed literally over (index, group) pairs.
fn slow_group(mut m: Vec<(u64, u64)>) -> (u64, bool) {
    if m.is_empty() {
        return (u64::MAX, true);
    }
    m.sort_by_key(|p| std::cmp::Reverse(p.0)); // stable, like raft-rs
    let q = m.len() / 2 + 1;
    let (qi, mut checked) = m[q - 1];
    let mut single = true;
    for &(i, g) in &m {
        if g == 0 {
            single = false;
            continue;
        }
        if checked == 0 {
            checked = g;
            continue;
        }
        if checked == g {
            continue;
        }
        return (i.min(qi), true);
    }
    if single {
        (qi, false)
    } else {
        (m[m.len() - 1].0, false)
    }
}

/// A joint configuration drawn as two random subsets of `0..n` ids.
fn joint_strategy() -> impl Strategy<Value = (Vec<u64>, Vec<u64>, Vec<u64>)> {
    (0usize..=12).prop_flat_map(|n| {
        (
            proptest::sample::subsequence((0..n as u64).collect::<Vec<_>>(), 0..=n),
            proptest::sample::subsequence((0..n as u64).collect::<Vec<_>>(), 0..=n),
            proptest::collection::vec(0u64..20, n),
        )
    })
}

fn acked_by_slot(c: &JointConfig, by_id: &[u64]) -> Vec<u64> {
    c.ids().iter().map(|&id| by_id[id as usize]).collect()
}

fn slots(c: &JointConfig, ids: &[u64]) -> Vec<usize> {
    ids.iter().filter_map(|&id| c.slot_of(id)).collect()
}

proptest! {
    #[test]
    fn majority_commit_equals_reference(acked in proptest::collection::vec(0u64..50, 0..=64)) {
        let c = MajorityConfig::new(0..acked.len() as u64).expect("valid");
        let voters: Vec<usize> = (0..acked.len()).collect();
        prop_assert_eq!(c.committed_index(&acked), slow_commit(&acked, &voters));
    }

    #[test]
    fn joint_commit_equals_min_of_references((inc, out, by_id) in joint_strategy()) {
        let c = JointConfig::new(inc.clone(), out.clone()).expect("valid");
        let acked = acked_by_slot(&c, &by_id);
        let want = slow_commit(&acked, &slots(&c, &inc)).min(slow_commit(&acked, &slots(&c, &out)));
        prop_assert_eq!(c.committed_index(&acked), want);
    }

    #[test]
    fn joint_with_empty_or_itself_is_the_majority((inc, _out, by_id) in joint_strategy()) {
        let m = JointConfig::builder().incoming(inc.clone()).build().expect("valid");
        let acked = acked_by_slot(&m, &by_id);
        let with_empty = JointConfig::new(inc.clone(), []).expect("valid");
        let with_self = JointConfig::new(inc.clone(), inc.clone()).expect("valid");
        prop_assert_eq!(with_empty.committed_index(&acked), m.committed_index(&acked));
        prop_assert_eq!(with_self.committed_index(&acked), m.committed_index(&acked));
        let mut v = Votes::new();
        for (s, &a) in acked.iter().enumerate() {
            if a % 3 != 0 { v.record(s, a % 3 == 1); }
        }
        prop_assert_eq!(with_empty.vote_result(&v), m.vote_result(&v));
        prop_assert_eq!(with_self.vote_result(&v), m.vote_result(&v));
    }

    #[test]
    fn swapping_halves_changes_nothing((inc, out, by_id) in joint_strategy()) {
        let c = JointConfig::new(inc, out).expect("valid");
        let s = c.swapped().expect("valid");
        prop_assert_eq!(c.committed_index(&acked_by_slot(&c, &by_id)), s.committed_index(&acked_by_slot(&s, &by_id)));
        let vote_of = |cfg: &JointConfig| {
            let mut v = Votes::new();
            for (slot, &id) in cfg.ids().iter().enumerate() {
                match by_id[id as usize] % 3 { 1 => { v.record(slot, true); } 2 => { v.record(slot, false); } _ => {} }
            }
            cfg.vote_result(&v)
        };
        prop_assert_eq!(vote_of(&c), vote_of(&s));
    }

    #[test]
    fn lowering_an_ack_below_the_result_changes_nothing(
        (inc, out, by_id) in joint_strategy(), pick in any::<proptest::sample::Index>(), to in any::<proptest::sample::Index>()
    ) {
        let c = JointConfig::new(inc, out).expect("valid");
        let acked = acked_by_slot(&c, &by_id);
        let want = c.committed_index(&acked);
        if !acked.is_empty() {
            let s = pick.index(acked.len());
            if acked[s] < want {
                let mut lo = acked.clone();
                lo[s] = to.index(acked[s] as usize + 1) as u64;
                prop_assert_eq!(c.committed_index(&lo), want);
            }
        }
    }

    #[test]
    fn votes_equal_reference_and_duplicates_change_nothing(
        (inc, out, by_id) in joint_strategy(), replay in proptest::collection::vec((0usize..12, any::<bool>()), 0..20)
    ) {
        let c = JointConfig::new(inc.clone(), out.clone()).expect("valid");
        let n = c.len();
        let mut v = Votes::new();
        let mut yes = vec![false; n];
        let mut no = vec![false; n];
        for (slot, &id) in c.ids().iter().enumerate() {
            match by_id[id as usize] % 3 {
                1 => { v.record(slot, true); yes[slot] = true; }
                2 => { v.record(slot, false); no[slot] = true; }
                _ => {}
            }
        }
        let want = match (slow_vote(&yes, &no, &slots(&c, &inc)), slow_vote(&yes, &no, &slots(&c, &out))) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        };
        prop_assert_eq!(c.vote_result(&v), want);
        // Replaying votes of slots that already voted (same or contradicting) changes nothing.
        let mut again = v;
        for (slot, granted) in replay {
            if slot < n && (yes[slot] || no[slot]) { again.record(slot, granted); }
        }
        prop_assert_eq!(again, v);
        prop_assert_eq!(c.vote_result(&again), want);
    }

    #[test]
    fn group_commit_equals_raft_rs_loop(pairs in proptest::collection::vec((0u64..30, 0u64..4), 0..=16)) {
        let c = MajorityConfig::new(0..pairs.len() as u64).expect("valid");
        let acked: Vec<u64> = pairs.iter().map(|p| p.0).collect();
        let groups: Vec<u64> = pairs.iter().map(|p| p.1).collect();
        let got = c.committed_index_grouped(&acked, &groups);
        prop_assert_eq!((got.index, got.by_group), slow_group(pairs));
    }

    #[test]
    fn tracker_equals_batch_and_ignores_duplicates(
        (inc, out, _by_id) in joint_strategy(), acks in proptest::collection::vec((0usize..12, 0u64..40), 0..40),
        strict in any::<bool>(), joint in any::<bool>(),
    ) {
        let empty = if strict { EmptyConfig::NeverQuorum } else { EmptyConfig::AlwaysQuorum };
        let mut b = JointConfig::builder().incoming(inc).empty_config(empty);
        if joint {
            b = b.outgoing(out);
        }
        let c = b.build().expect("valid");
        let mut t = CommitTracker::new(c.clone());
        let mut acked = vec![0u64; c.len()];
        let mut last = t.committed();
        for (slot, idx) in acks {
            if slot >= c.len() {
                prop_assert!(t.ack(slot, idx).is_err());
                continue;
            }
            acked[slot] = acked[slot].max(idx);
            let got = t.ack(slot, idx).expect("slot");
            prop_assert_eq!(got, c.committed_index(&acked));
            prop_assert!(got >= last);
            // The same ack again is a no-op.
            prop_assert_eq!(t.ack(slot, idx).expect("slot"), got);
            last = got;
        }
    }
}
