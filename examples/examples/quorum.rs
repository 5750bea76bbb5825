//! Quorum commit and availability: when is a write committed, and how often can it be?
//!
//! Five replicas acknowledge log indexes; the commit index is the highest index a majority
//! holds. During a membership change both the old and the new majority must agree. Then the
//! analysis side: how many failures each configuration survives and how available it is.
//!
//! Run: `cargo run -p quorate-examples --example quorum`

use quorate_quorum::{
    FailureProbabilities, JointConfig, MajorityConfig, Threshold, VoteResult, Votes, availability,
    fault_tolerance,
};

/// Runs the example.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = MajorityConfig::new([1, 2, 3, 4, 5])?;
    // Acknowledged log index per replica, by slot.
    let mut acked = vec![0u64; config.len()];
    for (id, index) in [(1, 12), (2, 12), (3, 9), (4, 7), (5, 0)] {
        if let Some(slot) = config.slot_of(id) {
            acked[slot] = index;
        }
    }
    // Index 9 is on replicas 1, 2 and 3: a majority. Index 12 is only on two.
    assert_eq!(config.committed_index(&acked), 9);

    // An election: three of five votes win it, two cannot.
    let mut votes = Votes::new();
    for id in [1, 4] {
        if let Some(slot) = config.slot_of(id) {
            votes.record(slot, true);
        }
    }
    assert_eq!(config.vote_result(&votes), VoteResult::Pending);

    // Replacing {1, 2, 3} by {3, 4, 5}: a decision needs a majority of both.
    let joint = JointConfig::new([3, 4, 5], [1, 2, 3])?;
    let mut acked = vec![0u64; joint.len()];
    for (id, index) in [(1, 20), (2, 20), (3, 15), (4, 10)] {
        if let Some(slot) = joint.slot_of(id) {
            acked[slot] = index;
        }
    }
    assert_eq!(joint.committed_index(&acked), 10); // {3, 4} limits the new majority
    println!("joint commit index: {}", joint.committed_index(&acked));

    // How many crashes does a majority of 3 or 5 survive, and how available is it when each
    // replica is down 1% of the time?
    for n in [3usize, 5] {
        let system = Threshold::majority(n)?;
        let survives = fault_tolerance(&system)?.tolerated.unwrap_or(0);
        assert_eq!(survives, (n - 1) / 2);
        let up = availability(&system, FailureProbabilities::uniform(n, 0.01)?.as_slice())?;
        println!("majority of {n}: survives {survives} failures, available {up:.8}");
    }
    Ok(())
}
