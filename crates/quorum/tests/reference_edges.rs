//! Edge cases against slow references: 0, 1, 63, 64 and 65 voters, `u64::MAX`
//! indexes, empty halves, all nacks, extreme probabilities.

use quorate_quorum::{
    AckStatus, AckTracker, CommitTracker, ConfigError, JointConfig, MajorityConfig, NodeSet,
    QuorumSystem, Threshold, VoteResult, Votes, availability, availability_sampled,
    check_intersection, fault_tolerance,
};

/// The largest candidate acknowledged by a majority (counting voters at or above it).
fn slow(acked: &[u64]) -> u64 {
    if acked.is_empty() {
        return u64::MAX;
    }
    let q = acked.len() / 2 + 1;
    acked
        .iter()
        .copied()
        .filter(|&c| acked.iter().filter(|&&a| a >= c).count() >= q)
        .max()
        .unwrap_or(0)
}

fn pseudo(n: usize, salt: u64) -> Vec<u64> {
    (0..n as u64)
        .map(|i| match (i * 7 + salt) % 5 {
            0 => 0,
            1 => u64::MAX,
            k => (i * 31 + salt * 17 + k) % 97,
        })
        .collect()
}

#[test]
fn sizes_around_the_limit() -> Result<(), ConfigError> {
    for n in [0usize, 1, 2, 15, 16, 17, 31, 32, 33, 62, 63, 64] {
        let c = MajorityConfig::new(0..n as u64)?;
        for salt in 0..6 {
            let acked = pseudo(n, salt);
            assert_eq!(c.committed_index(&acked), slow(&acked), "n={n} salt={salt}");
            // A short slice means the missing voters acknowledged nothing.
            let short = &acked[..n / 2];
            let mut padded = short.to_vec();
            padded.resize(n, 0);
            assert_eq!(c.committed_index(short), slow(&padded), "short n={n}");
            // Extra entries past the voters are ignored.
            let mut long = acked.clone();
            long.extend([u64::MAX; 3]);
            assert_eq!(c.committed_index(&long), slow(&acked), "long n={n}");
            // Through the joint path, with an empty and with an identical half.
            let j = JointConfig::new(0..n as u64, [])?;
            assert_eq!(j.committed_index(&acked), slow(&acked));
            let j = JointConfig::new(0..n as u64, 0..n as u64)?;
            assert_eq!(j.committed_index(&acked), slow(&acked));
            // And incrementally.
            let mut t = CommitTracker::new(c.clone().into());
            for (slot, &a) in acked.iter().enumerate() {
                t.ack(slot, a).map_err(|_| ConfigError::NoNodes)?;
            }
            assert_eq!(t.committed(), slow(&acked), "tracker n={n}");
        }
    }
    assert_eq!(
        MajorityConfig::new(0..65),
        Err(ConfigError::TooManyNodes { count: 65, max: 64 })
    );
    assert_eq!(
        JointConfig::new(0..40, 30..65),
        Err(ConfigError::TooManyNodes { count: 65, max: 64 })
    );
    Ok(())
}

#[test]
fn all_max_and_all_zero() -> Result<(), ConfigError> {
    for n in [1usize, 3, 8, 9, 64] {
        let c = MajorityConfig::new(0..n as u64)?;
        assert_eq!(c.committed_index(&vec![u64::MAX; n]), u64::MAX);
        assert_eq!(c.committed_index(&vec![0; n]), 0);
        assert_eq!(c.committed_index(&[]), 0);
        let mut t = CommitTracker::new(c.clone().into());
        for s in 0..n {
            t.ack(s, u64::MAX).map_err(|_| ConfigError::NoNodes)?;
        }
        assert_eq!(t.committed(), u64::MAX);
    }
    Ok(())
}

#[test]
fn votes_at_sixty_four() -> Result<(), ConfigError> {
    let c = MajorityConfig::new(0..64)?;
    let mut v = Votes::new();
    for s in 0..32 {
        v.record(s, true);
    }
    assert_eq!(c.vote_result(&v), VoteResult::Pending);
    v.record(63, true);
    assert_eq!(c.vote_result(&v), VoteResult::Won);
    // 31 nacks leave 33 possible yes votes, exactly a majority; 32 do not.
    let mut v = Votes::new();
    for s in 0..31 {
        v.record(s, false);
    }
    assert_eq!(c.vote_result(&v), VoteResult::Pending);
    v.record(63, false);
    assert_eq!(c.vote_result(&v), VoteResult::Lost);
    assert!(!v.record(64, true), "slot 64 does not exist");
    assert_eq!(QuorumSystem::vote_result(&c, &v), VoteResult::Lost);
    Ok(())
}

#[test]
fn all_nacks() -> Result<(), ConfigError> {
    for n in [1usize, 2, 5, 64] {
        let t = AckTracker::new(Threshold::majority(n)?);
        let mut last = AckStatus::Waiting;
        for s in 0..n {
            last = t.record(s, false).map_err(|_| ConfigError::NoNodes)?;
        }
        assert_eq!(last, AckStatus::Impossible);
        // Later acks from the same nodes are ignored: the first report counts.
        assert_eq!(
            t.record(0, true).map_err(|_| ConfigError::NoNodes)?,
            AckStatus::Impossible
        );
        let c = MajorityConfig::new(0..n as u64)?;
        let v = Votes::from_sets(NodeSet::EMPTY, NodeSet::full(n));
        assert_eq!(c.vote_result(&v), VoteResult::Lost);
    }
    Ok(())
}

#[test]
fn extreme_probabilities() -> Result<(), Box<dyn std::error::Error>> {
    let q = Threshold::new(5, 3)?;
    assert_eq!(availability(&q, &[0.0; 5])?, 1.0);
    assert_eq!(availability(&q, &[1.0; 5])?, 0.0);
    // Two certain failures and three certain survivors: exactly available.
    assert_eq!(availability(&q, &[1.0, 1.0, 0.0, 0.0, 0.0])?, 1.0);
    assert_eq!(availability(&q, &[1.0, 1.0, 1.0, 0.0, 0.0])?, 0.0);
    let e = availability_sampled(&q, &[1.0, 1.0, 0.0, 0.0, 0.0], 1000, 1)?;
    assert_eq!(e.value, 1.0);
    assert_eq!(e.std_error, 0.0);
    for bad in [
        f64::NAN,
        -0.0 - f64::EPSILON,
        1.0 + f64::EPSILON,
        f64::INFINITY,
    ] {
        assert!(
            availability(&q, &[bad, 0.0, 0.0, 0.0, 0.0]).is_err(),
            "{bad}"
        );
        assert!(
            availability_sampled(&q, &[0.0, bad, 0.0, 0.0, 0.0], 10, 1).is_err(),
            "{bad}"
        );
    }
    Ok(())
}

#[test]
fn thresholds_at_sixty_four() -> Result<(), Box<dyn std::error::Error>> {
    let a = Threshold::new(64, 32)?;
    let b = Threshold::new(64, 33)?;
    assert_eq!(check_intersection(&a, &b)?, None);
    let w = check_intersection(&a, &a)?.ok_or("expected a witness")?;
    assert_eq!((w.first.len(), w.second.len()), (32, 32));
    assert!(w.first.intersection(w.second).is_empty());
    let f = fault_tolerance(&b)?;
    assert_eq!(f.tolerated, Some(31));
    assert!(!b.is_quorum(NodeSet::full(64).difference(f.blocking)));
    let p = availability(&Threshold::new(64, 64)?, &[0.5; 64])?;
    assert!((p - 0.5f64.powi(64)).abs() < 1e-30, "{p}");
    Ok(())
}

/// The same predicate as `Threshold`, without the closed-form hint.
struct Opaque(Threshold);

impl QuorumSystem for Opaque {
    fn node_count(&self) -> usize {
        self.0.node_count()
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        self.0.is_quorum(set)
    }
}

#[test]
fn poisson_binomial_matches_enumeration() -> Result<(), Box<dyn std::error::Error>> {
    let fail = [
        0.0, 1.0, 0.3, 0.05, 0.9, 0.5, 0.123, 0.999, 0.001, 0.77, 0.4, 0.6,
    ];
    for n in 1..=fail.len() {
        for k in 1..=n {
            let t = Threshold::new(n, k)?;
            let closed = availability(&t, &fail[..n])?;
            let exact = availability(&Opaque(t), &fail[..n])?;
            assert!(
                (closed - exact).abs() < 1e-12,
                "n={n} k={k}: {closed} vs {exact}"
            );
            assert!((0.0..=1.0).contains(&closed));
            // Enumeration may pick another smallest blocking set: same size, and it blocks.
            let (a, b) = (fault_tolerance(&t)?, fault_tolerance(&Opaque(t))?);
            assert_eq!(a.tolerated, b.tolerated, "n={n} k={k}");
            assert_eq!(a.blocking.len(), b.blocking.len());
            assert!(!t.is_quorum(NodeSet::full(n).difference(b.blocking)));
        }
    }
    Ok(())
}

#[test]
fn sampling_stays_within_its_bound() -> Result<(), Box<dyn std::error::Error>> {
    let fail = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
    let t = Threshold::new(7, 4)?;
    let exact = availability(&t, &fail)?;
    for seed in 0..5 {
        let e = availability_sampled(&t, &fail, 20_000, seed)?;
        assert!((e.value - exact).abs() <= e.bound, "{e:?} vs {exact}");
        let want_bound = ((2.0f64 / 0.01).ln() / (2.0 * 20_000.0)).sqrt();
        assert!((e.bound - want_bound).abs() < 1e-15);
        assert!((e.std_error - (e.value * (1.0 - e.value) / 20_000.0).sqrt()).abs() < 1e-15);
    }
    Ok(())
}

#[test]
fn swapping_a_non_joint_config_changes_nothing_under_either_convention() -> Result<(), ConfigError>
{
    use quorate_quorum::EmptyConfig;
    for empty in [EmptyConfig::AlwaysQuorum, EmptyConfig::NeverQuorum] {
        let c = JointConfig::builder()
            .incoming([1, 2, 3])
            .empty_config(empty)
            .build()?;
        let s = c.swapped()?;
        let acked = [5, 7, 9];
        assert_eq!(
            s.committed_index(&acked),
            c.committed_index(&acked),
            "{empty:?}"
        );
        assert_eq!(c.committed_index(&acked), 7);
        let mut v = Votes::new();
        v.record(0, true);
        v.record(1, true);
        assert_eq!(s.vote_result(&v), VoteResult::Won, "{empty:?}");
        // A joint configuration with an empty half stays symmetric too.
        let j = JointConfig::builder()
            .incoming([1, 2, 3])
            .outgoing([])
            .empty_config(empty)
            .build()?;
        assert_eq!(
            j.swapped()?.committed_index(&acked),
            j.committed_index(&acked),
            "{empty:?}"
        );
    }
    Ok(())
}

#[test]
fn weights_near_u64_max() -> Result<(), Box<dyn std::error::Error>> {
    use quorate_quorum::Weighted;
    let half = u64::MAX / 2;
    // Sums to exactly u64::MAX: accepted, and subset sums never overflow.
    let w = Weighted::majority(vec![half, half, 1])?;
    assert_eq!(w.total(), u64::MAX);
    assert_eq!(w.threshold(), half + 1);
    assert!(!w.is_quorum(NodeSet::from_bits(0b001)));
    assert!(w.is_quorum(NodeSet::from_bits(0b011)));
    assert!(w.is_quorum(NodeSet::from_bits(0b101)));
    assert!(!w.is_quorum(NodeSet::from_bits(0b100)));
    assert_eq!(fault_tolerance(&w)?.tolerated, Some(1));
    assert_eq!(check_intersection(&w, &w)?, None);
    // One more and the total overflows.
    assert_eq!(
        Weighted::majority(vec![half, half, 2]),
        Err(ConfigError::WeightOverflow)
    );
    assert_eq!(
        Weighted::new(vec![u64::MAX, 1], 1),
        Err(ConfigError::WeightOverflow)
    );
    Ok(())
}
