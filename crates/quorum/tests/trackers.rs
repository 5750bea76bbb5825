//! CommitTracker and AckTracker behaviour, plus Send/Sync and serde checks.

use std::sync::Arc;

use quorate_quorum::{
    AckStatus, AckTracker, CommitTracker, ConfigError, Grid, GridRule, JointConfig, MajorityConfig,
    Threshold,
};

type R = Result<(), Box<dyn std::error::Error>>;

#[test]
fn commit_tracker_follows_batch_computation() -> R {
    let c = JointConfig::new([1, 2, 3], [3, 4, 5])?;
    let mut t = CommitTracker::new(c.clone());
    let mut acked = vec![0u64; c.len()];
    let steps = [
        (0, 5),
        (2, 7),
        (1, 3),
        (3, 9),
        (4, 2),
        (4, 8),
        (0, 4),
        (1, 10),
        (2, 12),
        (4, 11),
    ];
    let mut last = 0;
    for (slot, idx) in steps {
        let got = t.ack(slot, idx)?;
        acked[slot] = acked[slot].max(idx);
        assert_eq!(got, c.committed_index(&acked), "after ack({slot}, {idx})");
        assert!(got >= last, "monotone");
        last = got;
    }
    assert_eq!(t.acked(), acked.as_slice());
    assert!(t.ack(5, 1).is_err());
    assert!(t.ack_id(99, 1).is_err());
    assert_eq!(t.ack_id(5, 20)?, t.committed());
    Ok(())
}

#[test]
fn commit_tracker_with_empty_config_commits_everything() -> Result<(), ConfigError> {
    let t = CommitTracker::new(MajorityConfig::new([])?.into());
    assert_eq!(t.committed(), u64::MAX);
    Ok(())
}

#[test]
fn ack_tracker_first_report_wins() -> R {
    let t = AckTracker::new(Threshold::majority(5)?);
    assert_eq!(t.record(0, false)?, AckStatus::Waiting);
    assert_eq!(t.record(0, true)?, AckStatus::Waiting);
    assert_eq!(t.acked().len(), 0);
    assert_eq!(t.record(1, false)?, AckStatus::Waiting);
    assert_eq!(t.record(2, false)?, AckStatus::Impossible);
    // Final: later acks do not revive it.
    assert_eq!(t.record(3, true)?, AckStatus::Impossible);
    assert_eq!(t.record(4, true)?, AckStatus::Impossible);
    assert!(t.record(5, true).is_err());
    Ok(())
}

#[test]
fn ack_tracker_works_with_any_system() -> R {
    let t = AckTracker::new(Grid::new(2, 2, GridRule::OnePerRow)?);
    assert_eq!(t.record(0, true)?, AckStatus::Waiting);
    assert_eq!(t.record(3, true)?, AckStatus::Satisfied);
    let t = AckTracker::new(Grid::new(2, 2, GridRule::OnePerRow)?);
    t.record(2, false)?;
    assert_eq!(t.record(3, false)?, AckStatus::Impossible);
    Ok(())
}

#[test]
fn ack_tracker_concurrent_acks_reach_satisfied() -> R {
    let t = Arc::new(AckTracker::new(Threshold::new(64, 40)?));
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for node in (k..64).step_by(4) {
                    let _ = t.record(node, node % 3 != 0);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "thread panicked")?;
    }
    // 64 - 22 multiples of 3 = 42 acks.
    assert_eq!(t.acked().len(), 42);
    assert_eq!(t.status(), AckStatus::Satisfied);
    Ok(())
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<MajorityConfig>();
    check::<JointConfig>();
    check::<CommitTracker>();
    check::<AckTracker<Threshold>>();
    check::<quorate_quorum::NodeSet>();
    check::<quorate_quorum::Votes>();
    check::<quorate_quorum::Weighted>();
    check::<quorate_quorum::Hierarchical>();
    check::<quorate_quorum::Replication>();
    check::<quorate_quorum::ConfigError>();
    check::<quorate_quorum::AnalysisError>();
    check::<quorate_quorum::MembershipError>();
    check::<
        quorate_quorum::Wars<
            quorate_quorum::Exponential,
            quorate_quorum::Exponential,
            quorate_quorum::Exponential,
            quorate_quorum::Exponential,
        >,
    >();
    // The trait stays object-safe.
    let _: Option<Box<dyn quorate_quorum::QuorumSystem + Send + Sync>> = None;
}
