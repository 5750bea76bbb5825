//! The anti-entropy driver over a lossy, duplicating, reordering network.

use quorate_crdt::{AntiEntropy, OrSet, SyncMessage};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

type Set = OrSet<u32, u8>;

fn drive(seed: u64, capacity: usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let ids = [1u8, 2, 3];
    let nodes: Vec<AntiEntropy<Set, u8>> = ids
        .iter()
        .map(|_| AntiEntropy::new(Set::new(), capacity).unwrap())
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                n.add_peer(*id);
            }
        }
    }
    let mut net: Vec<(usize, usize, SyncMessage<Set, u8>)> = Vec::new();
    for _ in 0..400 {
        let i = rng.random_range(0..3);
        let j = (i + rng.random_range(1..3)) % 3;
        match rng.random_range(0..10) {
            0..=3 => {
                let x = rng.random_range(0..20);
                if rng.random_bool(0.7) {
                    nodes[i].mutate(|s| s.add(ids[i], x)).unwrap();
                } else {
                    nodes[i].mutate(|s| Ok::<_, ()>(s.remove(&x))).unwrap();
                }
            }
            4..=5 => {
                if let Some(m) = nodes[i].outgoing(&ids[j]) {
                    net.push((i, j, m));
                }
            }
            _ => {
                if net.is_empty() {
                    continue;
                }
                let k = rng.random_range(0..net.len());
                let (from, to, m) = net.swap_remove(k);
                if rng.random_bool(0.2) {
                    continue; // dropped
                }
                if rng.random_bool(0.2) {
                    net.push((from, to, m.clone())); // duplicated
                }
                if let Some(reply) = nodes[to].receive(&ids[from], m).unwrap() {
                    net.push((to, from, reply));
                }
            }
        }
    }
    // Heal: a reliable network until quiet.
    for _ in 0..50 {
        let mut quiet = true;
        for i in 0..3 {
            for j in 0..3 {
                if i == j {
                    continue;
                }
                if let Some(m) = nodes[i].outgoing(&ids[j]) {
                    quiet = false;
                    let reply = nodes[j].receive(&ids[i], m).unwrap();
                    if let Some(r) = reply
                        && let Some(back) = nodes[i].receive(&ids[j], r).unwrap()
                    {
                        nodes[j].receive(&ids[i], back).unwrap();
                    }
                }
            }
        }
        if quiet {
            break;
        }
    }
    let first = nodes[0].read(Clone::clone);
    for n in &nodes {
        assert_eq!(n.read(Clone::clone), first, "seed {seed}");
        assert_eq!(n.buffered(), 0, "everything acknowledged, buffers trimmed");
    }
}

#[test]
fn replicas_converge_over_a_faulty_network() {
    for seed in 0..30 {
        drive(seed, 1024);
    }
}

#[test]
fn tiny_buffers_fall_back_to_full_state() {
    for seed in 0..30 {
        drive(seed, 2);
    }
}

#[test]
fn gap_after_state_loss_triggers_full_state() {
    let a = AntiEntropy::new(Set::new(), 8).unwrap();
    let b = AntiEntropy::new(Set::new(), 8).unwrap();
    a.add_peer(2);
    b.add_peer(1);
    a.mutate(|s| s.add(1, 1)).unwrap();
    let m = a.outgoing(&2).unwrap();
    let ack = b.receive(&1, m).unwrap().unwrap();
    a.receive(&2, ack).unwrap();
    a.mutate(|s| s.add(1, 2)).unwrap();
    // b loses its state and restarts.
    let b = AntiEntropy::new(Set::new(), 8).unwrap();
    b.add_peer(1);
    let m = a.outgoing(&2).unwrap();
    assert!(matches!(m, SyncMessage::Delta { from: 2, .. }));
    let gap = b.receive(&1, m).unwrap().unwrap();
    assert!(matches!(gap, SyncMessage::Gap { applied: 0 }));
    a.receive(&2, gap).unwrap();
    let full = a.outgoing(&2).unwrap();
    assert!(matches!(full, SyncMessage::Full { .. }));
    let ack = b.receive(&1, full).unwrap().unwrap();
    a.receive(&2, ack).unwrap();
    assert_eq!(a.read(Clone::clone), b.read(Clone::clone));
    assert!(a.outgoing(&2).is_none());
}

#[test]
fn request_since_round_trip() {
    let a = AntiEntropy::new(Set::new(), 8).unwrap();
    let b = AntiEntropy::new(Set::new(), 8).unwrap();
    a.mutate(|s| s.add(1, 1)).unwrap();
    let req = b.request();
    let answer = a.receive(&2, req).unwrap().unwrap();
    assert!(b.receive(&1, answer).unwrap().is_none());
    assert!(b.read(|s| s.contains(&1)));
}

#[test]
fn invalid_payload_is_rejected_and_state_unchanged() {
    use quorate_clocks::Dot;
    use quorate_crdt::{Causal, CausalContext, DotMap, DotSet, Embed};
    let a = AntiEntropy::new(Set::new(), 8).unwrap();
    a.add_peer(2);
    let bad: DotMap<u32, DotSet<u8>> = [(1, DotSet::single(Dot::new(2, 9)))].into_iter().collect();
    let bad = Set::from_causal(Causal::new_unchecked(bad, CausalContext::new()));
    let err = a
        .receive(&2, SyncMessage::Full { to: 1, state: bad })
        .unwrap_err();
    assert!(matches!(err, quorate_crdt::SyncError::Invalid(_)));
    assert!(a.read(|s| s.is_empty()));
}
