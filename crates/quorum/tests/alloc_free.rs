//! Zero-allocation check for the hot paths, with a counting global allocator.
//! One test function only, so the harness's own threads do not interfere.

use quorate_testkit::{CountingAllocator, allocation_count};

use quorate_quorum::{
    AckTracker, CommitTracker, JointConfig, MajorityConfig, NodeSet, QuorumSystem, Threshold,
    Votes, Weighted,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn hot_paths_do_not_allocate() -> Result<(), Box<dyn std::error::Error>> {
    let sizes = [1usize, 3, 5, 7, 9, 17, 33, 64];
    let configs: Vec<MajorityConfig> = sizes
        .iter()
        .map(|&n| MajorityConfig::new(0..n as u64))
        .collect::<Result<_, _>>()?;
    let joints: Vec<JointConfig> = sizes
        .iter()
        .map(|&n| JointConfig::new(0..n as u64, (n as u64 / 2)..(n as u64).max(1)))
        .collect::<Result<_, _>>()?;
    let acked: Vec<u64> = (0..64u64).map(|i| (i * 7919) % 101).collect();
    let groups: Vec<u64> = (0..64u64).map(|i| i % 3).collect();
    let mut votes = Votes::new();
    for s in (0..64).step_by(2) {
        votes.record(s, s % 4 == 0);
    }
    let mut trackers: Vec<CommitTracker> = joints.iter().cloned().map(CommitTracker::new).collect();
    let threshold = Threshold::new(64, 40)?;
    let weighted = Weighted::majority((1..=64).collect())?;
    let ack = AckTracker::new(Threshold::new(64, 33)?);

    let before = allocation_count();
    let mut sink = 0u64;
    for c in &configs {
        sink ^= c.committed_index(&acked);
        sink ^= c.committed_index_grouped(&acked, &groups).index;
        sink ^= c.vote_result(&votes) as u64;
    }
    for j in &joints {
        sink ^= j.committed_index(&acked);
        sink ^= j.committed_index_grouped(&acked, &groups).index;
        sink ^= j.vote_result(&votes) as u64;
        sink ^= QuorumSystem::is_quorum(j, NodeSet::full(40)) as u64;
    }
    for t in &mut trackers {
        for (slot, &a) in acked.iter().enumerate().take(t.config().len()) {
            sink ^= t.ack(slot, a).unwrap_or(0);
        }
    }
    sink ^= threshold.committed_index(&acked);
    sink ^= weighted.committed_index(&acked);
    sink ^= weighted.vote_result(&votes) as u64;
    for node in 0..64 {
        sink ^= ack
            .record(node, node % 5 != 0)
            .map(|s| s as u64)
            .unwrap_or(0);
    }
    let after = allocation_count();
    std::hint::black_box(sink);
    assert_eq!(
        after - before,
        0,
        "hot paths allocated {} times",
        after - before
    );

    // The counter itself works: this allocates.
    let v: Vec<u64> = std::hint::black_box(vec![1, 2, 3]);
    assert!(allocation_count() > after && v.len() == 3);
    Ok(())
}
