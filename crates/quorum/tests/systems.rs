//! Behaviour of each quorum system: predicate, derived commit index and votes,
//! and construction errors.

use quorate_quorum::{
    ConfigError, EmptyConfig, FlexiblePaxos, Grid, GridRule, Hierarchical, Joint, JointConfig,
    MajorityConfig, NodeSet, QuorumSystem, ReadWriteQuorums, Threshold, VoteResult, Votes,
    Weighted,
};

fn set(slots: &[usize]) -> NodeSet {
    slots.iter().copied().collect()
}

#[test]
fn threshold_predicate_commit_and_votes() -> Result<(), ConfigError> {
    let q = Threshold::new(5, 3)?;
    assert!(q.is_quorum(set(&[0, 1, 2])));
    assert!(!q.is_quorum(set(&[0, 1])));
    // Slots outside the system are ignored.
    assert!(!q.is_quorum(set(&[0, 1, 10, 11])));
    assert_eq!(q.committed_index(&[10, 20, 30, 40, 50]), 30);
    assert_eq!(q.committed_index(&[10, 20]), 0);
    let mut v = Votes::new();
    v.record(0, false);
    v.record(1, false);
    assert_eq!(q.vote_result(&v), VoteResult::Pending);
    v.record(2, false);
    assert_eq!(q.vote_result(&v), VoteResult::Lost);
    Ok(())
}

#[test]
fn constructors_reject_bad_input() {
    assert_eq!(Threshold::new(0, 1), Err(ConfigError::NoNodes));
    assert_eq!(
        Threshold::new(65, 1),
        Err(ConfigError::TooManyNodes { count: 65, max: 64 })
    );
    assert_eq!(
        Threshold::new(3, 0),
        Err(ConfigError::InvalidQuorumSize { size: 0, nodes: 3 })
    );
    assert_eq!(
        ReadWriteQuorums::new(3, 4, 2),
        Err(ConfigError::InvalidQuorumSize { size: 4, nodes: 3 })
    );
    assert_eq!(
        ReadWriteQuorums::new(3, 2, 4),
        Err(ConfigError::InvalidQuorumSize { size: 4, nodes: 3 })
    );
    assert_eq!(
        Weighted::new(vec![u64::MAX, 1], 5),
        Err(ConfigError::WeightOverflow)
    );
    assert_eq!(
        Weighted::majority(vec![u64::MAX, u64::MAX]),
        Err(ConfigError::WeightOverflow)
    );
    assert_eq!(
        Weighted::new(vec![1, 2], 4),
        Err(ConfigError::InvalidWeightThreshold {
            threshold: 4,
            total: 3
        })
    );
    assert_eq!(
        Weighted::majority(vec![0, 0]),
        Err(ConfigError::InvalidWeightThreshold {
            threshold: 0,
            total: 0
        })
    );
    assert_eq!(
        Grid::new(0, 3, GridRule::FullRow),
        Err(ConfigError::NoNodes)
    );
    assert!(matches!(
        Grid::new(8, 9, GridRule::FullRow),
        Err(ConfigError::TooManyNodes { .. })
    ));
    assert!(matches!(
        Grid::new(usize::MAX, 2, GridRule::FullRow),
        Err(ConfigError::TooManyNodes { .. })
    ));
    assert_eq!(
        Hierarchical::new(&[2, 0]),
        Err(ConfigError::EmptyGroup { index: 1 })
    );
    assert_eq!(Hierarchical::new(&[]), Err(ConfigError::NoNodes));
    assert_eq!(
        FlexiblePaxos::new(6, 3, 3),
        Err(ConfigError::PhasesDoNotIntersect {
            q1: 3,
            q2: 3,
            nodes: 6
        })
    );
    assert_eq!(Joint::<Threshold>::new(vec![]), Err(ConfigError::NoParts));
    assert_eq!(
        MajorityConfig::new([1, 2, 1]),
        Err(ConfigError::DuplicateVoter { id: 1 })
    );
    assert_eq!(
        JointConfig::new([1, 2], [3, 3]),
        Err(ConfigError::DuplicateVoter { id: 3 })
    );
    assert!(matches!(
        MajorityConfig::new(0..65),
        Err(ConfigError::TooManyNodes { .. })
    ));
    assert!(matches!(
        JointConfig::new(0..40, 40..80),
        Err(ConfigError::TooManyNodes { .. })
    ));
    assert!(MajorityConfig::new(0..64).is_ok());
}

#[test]
fn errors_display_lowercase_without_punctuation() {
    let msgs = [
        ConfigError::DuplicateVoter { id: 3 }.to_string(),
        ConfigError::WeightOverflow.to_string(),
        ConfigError::NoParts.to_string(),
    ];
    for m in msgs {
        assert!(m.chars().next().is_some_and(|c| c.is_lowercase()), "{m}");
        assert!(!m.ends_with('.'), "{m}");
    }
}

#[test]
fn nrw_reads_see_writes_only_when_r_plus_w_exceeds_n() -> Result<(), ConfigError> {
    for (n, r, w, overlap) in [
        (3, 2, 2, true),
        (3, 3, 1, true),
        (5, 3, 3, true),
        (5, 1, 5, true),
        (5, 2, 2, false),
    ] {
        let q = ReadWriteQuorums::new(n, r, w)?;
        assert_eq!(q.reads_see_writes(), overlap);
        assert_eq!(
            quorate_quorum::check_intersection(&q.read(), &q.write()).map(|w| w.is_none()),
            Ok(overlap)
        );
    }
    Ok(())
}

#[test]
fn weighted_counts_weight_not_heads() -> Result<(), ConfigError> {
    let q = Weighted::new(vec![5, 1, 1, 1, 1], 5)?;
    assert!(q.is_quorum(set(&[0])));
    assert!(!q.is_quorum(set(&[1, 2, 3, 4])));
    // Committed index: node 0 alone decides.
    assert_eq!(q.committed_index(&[7, 100, 100, 100, 100]), 7);
    // Equal weights behave as a threshold.
    let eq = Weighted::majority(vec![2, 2, 2])?;
    assert_eq!(eq.threshold(), 4);
    assert_eq!(QuorumSystem::threshold(&eq), Some(2));
    Ok(())
}

#[test]
fn grid_rules() -> Result<(), ConfigError> {
    let full = Grid::new(2, 3, GridRule::FullRow)?;
    let per = Grid::new(2, 3, GridRule::OnePerRow)?;
    let both = Grid::new(2, 3, GridRule::FullRowAndOnePerRow)?;
    assert!(full.is_quorum(set(&[3, 4, 5])));
    assert!(!full.is_quorum(set(&[0, 1, 3, 4])));
    assert!(per.is_quorum(set(&[2, 3])));
    assert!(!per.is_quorum(set(&[0, 1, 2])));
    assert!(both.is_quorum(set(&[0, 1, 2, 5])));
    assert!(!both.is_quorum(set(&[0, 1, 2])));
    assert_eq!(per.committed_index(&[9, 1, 1, 1, 1, 8]), 8);
    Ok(())
}

#[test]
fn hierarchical_needs_majority_of_group_majorities() -> Result<(), ConfigError> {
    let q = Hierarchical::new(&[3, 3, 3])?;
    assert!(q.is_quorum(set(&[0, 1, 3, 4])));
    assert!(!q.is_quorum(set(&[0, 1, 2, 3, 6])));
    assert_eq!(q.node_count(), 9);
    Ok(())
}

#[test]
fn flexible_paxos_phases() -> Result<(), ConfigError> {
    let fp = FlexiblePaxos::new(6, 5, 2)?;
    assert_eq!((fp.phase1().k(), fp.phase2().k()), (5, 2));
    assert_eq!(
        quorate_quorum::check_intersection(&fp.phase1(), &fp.phase2()).ok(),
        Some(None)
    );
    Ok(())
}

#[test]
fn joint_of_three_parts() -> Result<(), ConfigError> {
    let parts: Vec<Box<dyn QuorumSystem>> = vec![
        Box::new(Threshold::new(5, 2)?),
        Box::new(Grid::new(1, 5, GridRule::OnePerRow)?),
        Box::new(Weighted::new(vec![1, 1, 1, 1, 10], 10)?),
    ];
    let j = Joint::new(parts)?;
    assert!(j.is_quorum(set(&[0, 4])));
    assert!(!j.is_quorum(set(&[0, 1, 2, 3])));
    assert_eq!(j.committed_index(&[3, 9, 9, 9, 5]), 5);
    let mut v = Votes::new();
    v.record(4, false);
    assert_eq!(j.vote_result(&v), VoteResult::Lost);
    Ok(())
}

#[test]
fn empty_config_conventions() -> Result<(), ConfigError> {
    let etcd = MajorityConfig::new([])?;
    assert_eq!(etcd.committed_index(&[]), u64::MAX);
    assert_eq!(etcd.vote_result(&Votes::new()), VoteResult::Won);
    assert!(etcd.is_quorum(NodeSet::EMPTY));
    let strict = MajorityConfig::new([])?.with_empty_config(EmptyConfig::NeverQuorum);
    assert_eq!(strict.committed_index(&[]), 0);
    assert_eq!(strict.vote_result(&Votes::new()), VoteResult::Lost);
    assert!(!strict.is_quorum(NodeSet::full(64)));
    // Joint with an empty half: etcd behaves like the populated half,
    // the strict convention never decides.
    let acked = [5, 6, 7];
    let j = JointConfig::new([1, 2, 3], [])?;
    assert_eq!(j.committed_index(&acked), 6);
    let js = JointConfig::builder()
        .incoming([1, 2, 3])
        .outgoing([])
        .empty_config(EmptyConfig::NeverQuorum)
        .build()?;
    assert_eq!(js.committed_index(&acked), 0);
    // Not joint at all: the strict convention does not matter.
    let ns = JointConfig::builder()
        .incoming([1, 2, 3])
        .empty_config(EmptyConfig::NeverQuorum)
        .build()?;
    assert_eq!(ns.committed_index(&acked), 6);
    Ok(())
}

#[test]
fn short_ack_slices_count_as_nothing() -> Result<(), ConfigError> {
    let c = MajorityConfig::new([1, 2, 3])?;
    assert_eq!(c.committed_index(&[9]), 0);
    assert_eq!(c.committed_index(&[9, 8]), 8);
    assert_eq!(c.committed_index(&[9, 8, 7, 100, 100]), 8);
    Ok(())
}

#[test]
fn large_configurations_use_selection() -> Result<(), ConfigError> {
    let c = MajorityConfig::new(0..64)?;
    let acked: Vec<u64> = (1..=64).collect();
    // 33 voters have >= 32.
    assert_eq!(c.committed_index(&acked), 32);
    let j = JointConfig::new(0..40, 20..60)?;
    let acked: Vec<u64> = (1..=60).collect();
    // incoming 1..=40 -> 21 voters >= 20: 20; outgoing 21..=60 -> 21 voters >= 40: 40.
    assert_eq!(j.committed_index(&acked), 20);
    Ok(())
}
