//! Intersection, fault tolerance, availability and membership-change analysis.

use quorate_quorum::{
    AnalysisError, Grid, GridRule, Hierarchical, JointConfig, MembershipCheck, MembershipError,
    NodeSet, QuorumSystem, Threshold, Weighted, availability, availability_sampled,
    check_intersection, check_joint_change, check_single_server_change, fault_tolerance,
};

type R = Result<(), Box<dyn std::error::Error>>;

#[test]
fn threshold_intersection_closed_form_at_any_size() -> R {
    assert_eq!(
        check_intersection(&Threshold::new(64, 33)?, &Threshold::new(64, 32)?)?,
        None
    );
    let w = check_intersection(&Threshold::new(64, 32)?, &Threshold::new(64, 32)?)?
        .ok_or("must be disjoint")?;
    assert_eq!((w.first.len(), w.second.len()), (32, 32));
    assert!(w.first.intersection(w.second).is_empty());
    Ok(())
}

#[test]
fn witness_is_two_disjoint_minimal_quorums() -> R {
    let a = Weighted::new(vec![3, 1, 1, 1, 1, 1], 3)?;
    let b = Grid::new(2, 3, GridRule::FullRow)?;
    let w = check_intersection(&a, &b)?.ok_or("disjoint quorums exist")?;
    assert!(a.is_quorum(w.first) && b.is_quorum(w.second));
    assert!(w.first.intersection(w.second).is_empty());
    for s in w.first.iter() {
        let mut smaller = w.first;
        smaller.remove(s);
        assert!(!a.is_quorum(smaller), "first witness is minimal");
    }
    for s in w.second.iter() {
        let mut smaller = w.second;
        smaller.remove(s);
        assert!(!b.is_quorum(smaller), "second witness is minimal");
    }
    Ok(())
}

#[test]
fn joint_config_intersects_both_halves() -> R {
    let joint = JointConfig::new([1, 2, 3], [4, 5, 6])?;
    let old = JointConfig::new([1, 2, 3], [])?;
    assert_eq!(check_intersection(&joint, &old)?, None);
    // The halves on their own do not intersect.
    let new_only = JointConfig::builder().incoming([1, 2, 3]).build()?; // slots 0..3
    let w = check_intersection(&Threshold::new(6, 3)?, &Threshold::new(6, 3)?)?;
    assert!(w.is_some());
    assert_eq!(new_only.node_count(), 3);
    Ok(())
}

#[test]
fn exact_analysis_limit_is_a_typed_error() -> R {
    let big = Hierarchical::new(&[5, 5, 5, 5, 5])?;
    assert_eq!(
        check_intersection(&big, &big),
        Err(AnalysisError::TooManyNodes { nodes: 25, max: 24 })
    );
    assert!(matches!(
        fault_tolerance(&big),
        Err(AnalysisError::TooManyNodes { .. })
    ));
    assert!(matches!(
        availability(&big, &[0.1; 25]),
        Err(AnalysisError::TooManyNodes { .. })
    ));
    Ok(())
}

#[test]
fn fault_tolerance_of_common_systems() -> R {
    assert_eq!(
        fault_tolerance(&Threshold::majority(5)?)?.tolerated,
        Some(2)
    );
    assert_eq!(fault_tolerance(&Threshold::new(5, 5)?)?.tolerated, Some(0));
    let g = fault_tolerance(&Grid::new(3, 3, GridRule::OnePerRow)?)?;
    assert_eq!(g.tolerated, Some(2)); // losing a whole row (3 nodes) blocks
    assert_eq!(g.blocking.len(), 3);
    let w = fault_tolerance(&Weighted::new(vec![3, 1, 1], 3)?)?;
    assert_eq!((w.tolerated, w.blocking), (Some(0), NodeSet::from_bits(1)));
    // A non-threshold system that only the full set satisfies.
    let all = Weighted::new(vec![1, 1, 1], 3)?;
    assert_eq!(fault_tolerance(&all)?.tolerated, Some(0));
    Ok(())
}

fn brute_availability<Q: QuorumSystem>(q: &Q, fail: &[f64]) -> f64 {
    let n = q.node_count();
    (0u64..1 << n)
        .filter(|&b| q.is_quorum(NodeSet::from_bits(b)))
        .map(|b| {
            (0..n)
                .map(|i| {
                    if b >> i & 1 == 1 {
                        1.0 - fail[i]
                    } else {
                        fail[i]
                    }
                })
                .product::<f64>()
        })
        .sum()
}

#[test]
fn availability_closed_form_matches_enumeration() -> R {
    let fail = [0.1, 0.2, 0.05, 0.3, 0.15];
    let t = Threshold::new(5, 3)?;
    let exact = brute_availability(&t, &fail);
    assert!((availability(&t, &fail)? - exact).abs() < 1e-12);
    let h = Hierarchical::new(&[2, 3])?;
    assert!((availability(&h, &fail)? - brute_availability(&h, &fail)).abs() < 1e-12);
    // Certain outcomes.
    assert_eq!(availability(&t, &[0.0; 5])?, 1.0);
    assert_eq!(availability(&t, &[1.0; 5])?, 0.0);
    Ok(())
}

#[test]
fn availability_rejects_bad_probabilities() -> R {
    let t = Threshold::new(3, 2)?;
    assert_eq!(
        availability(&t, &[0.1, 0.1]),
        Err(AnalysisError::WrongLength {
            expected: 3,
            got: 2
        })
    );
    assert!(matches!(
        availability(&t, &[0.1, -0.1, 0.1]),
        Err(AnalysisError::InvalidProbability { index: 1, .. })
    ));
    assert!(matches!(
        availability(&t, &[0.1, 0.1, f64::NAN]),
        Err(AnalysisError::InvalidProbability { index: 2, .. })
    ));
    assert!(matches!(
        availability_sampled(&t, &[0.1; 3], 0, 1),
        Err(AnalysisError::NoTrials)
    ));
    Ok(())
}

#[test]
fn sampling_is_seeded_and_within_its_bound() -> R {
    let g = Grid::new(4, 4, GridRule::FullRowAndOnePerRow)?;
    let fail = [0.1; 16];
    let exact = availability(&g, &fail)?;
    let e1 = availability_sampled(&g, &fail, 50_000, 9)?;
    let e2 = availability_sampled(&g, &fail, 50_000, 9)?;
    assert_eq!(e1, e2, "deterministic per seed");
    assert!(
        (e1.value - exact).abs() <= e1.bound,
        "{} vs {exact} (bound {})",
        e1.value,
        e1.bound
    );
    assert!(e1.std_error < e1.bound);
    Ok(())
}

#[test]
fn single_server_changes() -> R {
    assert_eq!(
        check_single_server_change(&[1, 2, 3], &[1, 2, 3, 4])?,
        MembershipCheck::Safe
    );
    assert_eq!(
        check_single_server_change(&[1, 2, 3, 4], &[1, 2, 3])?,
        MembershipCheck::Safe
    );
    // Replacing a server is two changes at once: {1, 3} and {2, 4} are disjoint majorities.
    assert_eq!(
        check_single_server_change(&[1, 2, 3], &[1, 2, 4])?,
        MembershipCheck::Unsafe {
            before: vec![1, 3],
            after: vec![2, 4]
        }
    );
    // Going from 2 to 4 at once happens to be safe (any 3 of 4 meet {1, 2}) ...
    assert_eq!(
        check_single_server_change(&[1, 2], &[1, 2, 3, 4])?,
        MembershipCheck::Safe
    );
    // ... but adding two servers to three is not.
    match check_single_server_change(&[1, 2, 3], &[1, 2, 3, 4, 5])? {
        MembershipCheck::Unsafe { before, after } => {
            assert!(before.iter().all(|id| !after.contains(id)));
            assert_eq!(before.len(), 2);
            assert_eq!(after.len(), 3);
        }
        MembershipCheck::Safe => return Err("two-server change from 3 to 5 must be unsafe".into()),
    }
    assert_eq!(
        check_single_server_change(&[], &[1]),
        Err(MembershipError::EmptyConfiguration)
    );
    assert!(matches!(
        check_single_server_change(&[1, 1], &[1]),
        Err(MembershipError::Config(_))
    ));
    Ok(())
}

#[test]
fn joint_changes_are_safe_where_direct_ones_are_not() -> R {
    let r = check_joint_change(&[1, 2, 3], &[4, 5, 6])?;
    assert!(r.is_safe());
    assert!(matches!(r.direct, MembershipCheck::Unsafe { .. }));
    let r = check_joint_change(&[1, 2, 3, 4, 5], &[5, 6, 7])?;
    assert!(r.is_safe());
    assert_eq!(
        check_joint_change(&[1], &[]),
        Err(MembershipError::EmptyConfiguration)
    );
    Ok(())
}

/// A user system whose `threshold()` hint is inconsistent with its size.
#[derive(Debug)]
struct Liar;

impl QuorumSystem for Liar {
    fn node_count(&self) -> usize {
        3
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        set.len() >= 2
    }
    fn threshold(&self) -> Option<usize> {
        Some(100)
    }
}

#[test]
fn inconsistent_user_hints_do_not_panic() -> R {
    let _ = check_intersection(&Liar, &Liar)?;
    let _ = fault_tolerance(&Liar)?;
    let a = availability(&Liar, &[0.5; 3])?;
    assert!((0.0..=1.0).contains(&a));
    let _ = Liar.committed_index(&[1, 2, 3]);
    Ok(())
}
