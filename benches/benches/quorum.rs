//! quorate-quorum against tikv/raft-rs (`raft` 0.7, through its public
//! `ProgressTracker`) and quorum-set 0.6 (`VecProgress`), same inputs, one run.
//!
//! Groups (`<operation>/<implementation>/<voters>`):
//! - `committed_index`: committed index from the voters' acknowledged indexes.
//! - `incremental_commit`: one voter acknowledges a higher index, then read the
//!   committed index (raft-rs: `Progress::maybe_update` + `maximal_committed_index`).
//! - `vote_tally`: outcome of an election from the recorded votes.
//! - `intersection_20`, `availability_20`: exact analysis of a 20-node hierarchical system.
//! - `pbs_t_visibility_1m`: one million seeded WARS trials.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use quorate_quorum::{
    CommitTracker, Exponential, Hierarchical, MajorityConfig, Votes, Wars, availability,
    check_intersection,
};
use quorum_set::{QuorumSet, VecProgress};
use raft::prelude::{ConfChangeSingle, ConfChangeType};
use raft::{Changer, ProgressTracker};

const SIZES: [usize; 4] = [3, 5, 7, 9];

/// Acknowledged indexes with distinct values, so the quorum position matters.
fn acks(n: usize) -> Vec<u64> {
    (0..n as u64).map(|i| 1000 + (i * 37) % 101).collect()
}

/// A raft-rs tracker with voters `1..=n`, built through its public change API.
fn raft_tracker(n: usize) -> ProgressTracker {
    let mut t = ProgressTracker::new(256);
    for id in 1..=n as u64 {
        let mut cc = ConfChangeSingle::default();
        cc.set_change_type(ConfChangeType::AddNode);
        cc.set_node_id(id);
        let (conf, changes) = Changer::new(&t).simple(&[cc]).expect("single add");
        t.apply_conf(conf, changes, 1);
    }
    t
}

fn committed_index(c: &mut Criterion) {
    let mut g = c.benchmark_group("committed_index");
    for n in SIZES {
        let acked = acks(n);
        let ours = MajorityConfig::new(1..=n as u64).expect("valid");
        g.bench_with_input(BenchmarkId::new("quorate", n), &acked, |b, acked| {
            b.iter(|| ours.committed_index(black_box(acked)))
        });
        let mut raft = raft_tracker(n);
        for (i, &a) in acked.iter().enumerate() {
            raft.get_mut(i as u64 + 1).expect("voter").maybe_update(a);
        }
        assert_eq!(
            raft.maximal_committed_index().0,
            ours.committed_index(&acked)
        );
        g.bench_function(BenchmarkId::new("raft", n), |b| {
            b.iter(|| black_box(&mut raft).maximal_committed_index())
        });
    }
    g.finish();
}

fn incremental_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("incremental_commit");
    for n in SIZES {
        let start = acks(n);
        // Each iteration: the next voter (round robin) acknowledges one more entry.
        let mut ours = CommitTracker::new(MajorityConfig::new(1..=n as u64).expect("valid").into());
        let mut vals = start.clone();
        let mut slot = 0usize;
        g.bench_function(BenchmarkId::new("quorate", n), |b| {
            b.iter(|| {
                slot = if slot + 1 == n { 0 } else { slot + 1 };
                vals[slot] += 1;
                ours.ack(black_box(slot), black_box(vals[slot]))
            })
        });

        let voters: BTreeSet<u64> = (1..=n as u64).collect();
        let mut qs = VecProgress::<(u64, u64), _>::new(voters, [], |id| (id, 0));
        let mut vals = start.clone();
        let mut slot = 0usize;
        g.bench_function(BenchmarkId::new("quorum_set", n), |b| {
            b.iter(|| {
                slot = if slot + 1 == n { 0 } else { slot + 1 };
                vals[slot] += 1;
                qs.update_progress(&black_box(slot as u64 + 1), black_box(vals[slot]))
                    .copied()
            })
        });

        let mut raft = raft_tracker(n);
        let mut vals = start.clone();
        let mut slot = 0usize;
        g.bench_function(BenchmarkId::new("raft", n), |b| {
            b.iter(|| {
                slot = if slot + 1 == n { 0 } else { slot + 1 };
                vals[slot] += 1;
                if let Some(p) = raft.get_mut(black_box(slot as u64 + 1)) {
                    p.maybe_update(black_box(vals[slot]));
                }
                raft.maximal_committed_index()
            })
        });
    }
    g.finish();
}

fn vote_tally(c: &mut Criterion) {
    let mut g = c.benchmark_group("vote_tally");
    for n in SIZES {
        // A pending election: a minority granted, one rejected, the rest silent.
        let granted = n / 2;
        let ours = MajorityConfig::new(1..=n as u64).expect("valid");
        let mut votes = Votes::new();
        for slot in 0..granted {
            votes.record(slot, true);
        }
        votes.record(granted, false);
        g.bench_with_input(BenchmarkId::new("quorate", n), &votes, |b, v| {
            b.iter(|| ours.vote_result(black_box(v)))
        });

        let mut raft = raft_tracker(n);
        raft.reset_votes();
        for id in 1..=granted as u64 {
            raft.record_vote(id, true);
        }
        raft.record_vote(granted as u64 + 1, false);
        assert_eq!(format!("{:?}", raft.tally_votes().2), "Pending");
        g.bench_function(BenchmarkId::new("raft", n), |b| {
            b.iter(|| black_box(&raft).tally_votes())
        });

        // quorum-set has no tally; its closest operation is "is the yes set a quorum".
        let voters: BTreeSet<u64> = (1..=n as u64).collect();
        let yes: Vec<u64> = (1..=granted as u64).collect();
        g.bench_function(BenchmarkId::new("quorum_set_is_quorum", n), |b| {
            b.iter(|| black_box(&voters).is_quorum(black_box(&yes).iter()))
        });
    }
    g.finish();
}

fn analysis(c: &mut Criterion) {
    // Majority of 4 groups of 5: not a threshold system, so analysis enumerates
    // all 2^20 node subsets (hierarchical quorums always intersect: no early exit).
    let h = Hierarchical::new(&[5, 5, 5, 5]).expect("valid");
    let fail: Vec<f64> = (0..20).map(|i| 0.01 + 0.01 * (i % 5) as f64).collect();
    let mut g = c.benchmark_group("intersection_20");
    g.sample_size(10);
    g.bench_function("quorate", |b| {
        b.iter(|| check_intersection(black_box(&h), black_box(&h)))
    });
    g.finish();
    let mut g = c.benchmark_group("availability_20");
    g.sample_size(10);
    g.bench_function("quorate", |b| {
        b.iter(|| availability(black_box(&h), black_box(&fail)))
    });
    g.finish();
}

fn pbs(c: &mut Criterion) {
    let e = Exponential::new(0.1).expect("valid rate");
    let wars = Wars::new(3, 1, 1, e, e, e, e).expect("valid");
    let mut g = c.benchmark_group("pbs_t_visibility_1m");
    g.sample_size(10);
    g.bench_function("quorate", |b| {
        b.iter(|| wars.t_visibility(black_box(&[0.0, 1.0, 10.0]), 1_000_000, 7))
    });
    g.finish();
}

criterion_group!(
    benches,
    committed_index,
    incremental_commit,
    vote_tally,
    analysis,
    pbs
);
criterion_main!(benches);
