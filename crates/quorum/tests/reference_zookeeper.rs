//! ZooKeeper's `QuorumHierarchical.containsQuorum`, restated: per-server
//! weights (default 1), a group counts when the weight of its members in the
//! set is strictly more than half the group's weight (integer division),
//! zero-weight groups are left out of the group count, the set is a quorum
//! when strictly more than half of the counted groups count, and the empty
//! set is never a quorum.

use proptest::prelude::*;
use quorate_quorum::{ConfigError, Hierarchical, NodeSet, QuorumSystem};

/// A literal restatement of the ZooKeeper predicate over consecutive groups.
fn zookeeper(groups: &[Vec<u64>], set: NodeSet) -> bool {
    if set.is_empty() {
        return false;
    }
    let mut num_groups = groups.len() as u64;
    let mut counted = 0u64;
    let mut start = 0usize;
    for g in groups {
        let group_weight: u64 = g.iter().sum();
        if group_weight == 0 {
            num_groups -= 1;
        }
        let in_set: u64 = g
            .iter()
            .enumerate()
            .filter(|(i, _)| set.contains(start + i))
            .map(|(_, w)| *w)
            .sum();
        if in_set > group_weight / 2 {
            counted += 1;
        }
        start += g.len();
    }
    counted > num_groups / 2
}

fn set(slots: &[usize]) -> NodeSet {
    slots.iter().copied().collect()
}

#[test]
fn weights_decide_group_majorities() -> Result<(), ConfigError> {
    // Group 0: one heavy server (3) and two light ones (1 each); group 1 and 2: three of weight 1.
    let q = Hierarchical::weighted(&[vec![3, 1, 1], vec![1, 1, 1], vec![1, 1, 1]])?;
    assert_eq!(q.node_count(), 9);
    assert_eq!(q.sizes(), &[3, 3, 3]);
    // The heavy server alone (3 > 5 / 2) carries group 0.
    assert!(q.is_quorum(set(&[0, 3, 4])));
    // Both light servers of group 0 (2, not > 2) do not.
    assert!(!q.is_quorum(set(&[1, 2, 3, 4])));
    assert!(q.is_quorum(set(&[1, 2, 3, 4, 6, 7])));
    Ok(())
}

#[test]
fn zero_weight_servers_and_groups() -> Result<(), ConfigError> {
    // Group 1 has weight 0: it is left out of the group count, so one of the
    // two remaining groups is not a majority (1 > 2 / 2 fails) but both are.
    let q = Hierarchical::weighted(&[vec![1, 1, 1], vec![0, 0], vec![1, 1, 1]])?;
    assert!(!q.is_quorum(set(&[0, 1, 3, 4])));
    assert!(q.is_quorum(set(&[0, 1, 5, 6])));
    // A zero-weight server adds nothing to its group.
    let q = Hierarchical::weighted(&[vec![1, 0, 1]])?;
    assert!(!q.is_quorum(set(&[0, 1])));
    assert!(q.is_quorum(set(&[0, 2])));
    Ok(())
}

#[test]
fn unweighted_constructor_is_weight_one() -> Result<(), ConfigError> {
    let a = Hierarchical::new(&[2, 3, 1])?;
    let b = Hierarchical::weighted(&[vec![1, 1], vec![1, 1, 1], vec![1]])?;
    for bits in 0..(1u64 << 6) {
        let s = NodeSet::from_bits(bits);
        assert_eq!(a.is_quorum(s), b.is_quorum(s), "{s:?}");
    }
    assert_eq!(a.weights(), b.weights());
    Ok(())
}

#[test]
fn weighted_construction_errors() {
    assert_eq!(
        Hierarchical::weighted::<Vec<u64>>(&[]),
        Err(ConfigError::NoNodes)
    );
    assert_eq!(
        Hierarchical::weighted(&[vec![1], vec![]]),
        Err(ConfigError::EmptyGroup { index: 1 })
    );
    assert_eq!(
        Hierarchical::weighted(&[vec![u64::MAX, 1]]),
        Err(ConfigError::WeightOverflow)
    );
    // Weights of different groups are never added together, so this is fine.
    assert!(Hierarchical::weighted(&[vec![u64::MAX], vec![u64::MAX]]).is_ok());
    // Every group weighs nothing: no set could ever be a quorum.
    assert_eq!(
        Hierarchical::weighted(&[vec![0, 0], vec![0]]),
        Err(ConfigError::ZeroWeight)
    );
    assert_eq!(
        Hierarchical::weighted(&[vec![1; 40], vec![1; 25]]),
        Err(ConfigError::TooManyNodes { count: 65, max: 64 })
    );
}

#[test]
fn near_max_weights_do_not_overflow() -> Result<(), ConfigError> {
    let q = Hierarchical::weighted(&[vec![u64::MAX / 2, u64::MAX / 2, 1], vec![u64::MAX]])?;
    assert!(!q.is_quorum(set(&[0, 3])));
    assert!(q.is_quorum(set(&[0, 1, 3])));
    assert!(!q.is_quorum(set(&[0, 1, 2])));
    Ok(())
}

fn groups() -> impl Strategy<Value = Vec<Vec<u64>>> {
    prop::collection::vec(prop::collection::vec(0u64..4, 1..4), 1..5)
        .prop_filter("some weight", |g| g.iter().flatten().any(|&w| w > 0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn matches_zookeeper_on_every_subset(g in groups()) {
        let q = Hierarchical::weighted(&g).expect("valid");
        let n = q.node_count();
        for bits in 0..(1u64 << n) {
            let s = NodeSet::from_bits(bits);
            prop_assert_eq!(q.is_quorum(s), zookeeper(&g, s), "{:?} {:?}", g, s);
        }
    }
}
