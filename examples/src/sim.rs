//! The seeded fault model: a simulated network and process model in virtual time.
//!
//! Every scenario runs on virtual nanoseconds. Messages get a random delay (and now and then a
//! delay spike), and may be lost, duplicated or reordered; links can be cut both ways (a clean
//! partition) or one way (an asymmetric one) and healed; nodes can be paused (messages to them
//! wait) or crashed (messages to them are lost). All randomness comes from one seeded generator,
//! so a run is a pure function of its seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::report::{Fault, FaultCounts};

/// A node's index in a scenario.
pub(crate) type Node = usize;

pub(crate) const MS: u64 = 1_000_000;

/// A deterministic generator for one purpose of one scenario, derived from the run's seed.
pub(crate) fn rng_for(seed: u64, stream: u64) -> SmallRng {
    // splitmix64 of (seed, stream): independent streams from one seed.
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(z ^ (z >> 31))
}

/// How unreliable the network is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NetConfig {
    /// Probability a message is lost.
    pub(crate) loss: f64,
    /// Probability a message is delivered twice.
    pub(crate) duplicate: f64,
    /// Base one-way delay range, nanoseconds.
    pub(crate) delay: (u64, u64),
    /// Probability of a delay spike (up to ten times the maximum delay).
    pub(crate) spike: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            loss: 0.05,
            duplicate: 0.03,
            delay: (MS, 20 * MS),
            spike: 0.03,
        }
    }
}

/// A message handed to its destination.
#[derive(Debug)]
pub(crate) struct Delivery<M> {
    pub(crate) from: Node,
    pub(crate) to: Node,
    pub(crate) msg: M,
}

#[derive(Debug)]
struct InFlight<M> {
    from: Node,
    to: Node,
    link_seq: u64,
    msg: M,
}

/// The simulated network between `n` nodes.
#[derive(Debug)]
pub(crate) struct Network<M> {
    now: u64,
    next_id: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    flying: BTreeMap<u64, InFlight<M>>,
    cut: BTreeSet<(Node, Node)>,
    paused_until: BTreeMap<Node, u64>,
    crashed: BTreeSet<Node>,
    link_sent: BTreeMap<(Node, Node), u64>,
    link_delivered: BTreeMap<(Node, Node), u64>,
    config: NetConfig,
    rng: SmallRng,
    faults: FaultCounts,
    /// Messages sent, duplicates excluded.
    pub(crate) sent: u64,
}

impl<M: Clone> Network<M> {
    pub(crate) fn new(config: NetConfig, rng: SmallRng) -> Self {
        Self {
            now: 0,
            next_id: 0,
            queue: BinaryHeap::new(),
            flying: BTreeMap::new(),
            cut: BTreeSet::new(),
            paused_until: BTreeMap::new(),
            crashed: BTreeSet::new(),
            link_sent: BTreeMap::new(),
            link_delivered: BTreeMap::new(),
            config,
            rng,
            faults: FaultCounts::default(),
            sent: 0,
        }
    }

    /// Virtual time, nanoseconds.
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// The faults injected so far.
    pub(crate) fn faults(&self) -> &FaultCounts {
        &self.faults
    }

    /// Counts a fault injected outside the network (a pause, a crash, a clock step...).
    pub(crate) fn record(&mut self, fault: Fault) {
        self.faults.add(fault, 1);
    }

    /// Counts `n` faults observed outside the network.
    pub(crate) fn record_n(&mut self, fault: Fault, n: u64) {
        self.faults.add(fault, n);
    }

    /// Moves virtual time forward (never backward).
    pub(crate) fn advance_to(&mut self, t: u64) {
        self.now = self.now.max(t);
    }

    pub(crate) fn is_cut(&self, from: Node, to: Node) -> bool {
        self.cut.contains(&(from, to))
    }

    pub(crate) fn is_crashed(&self, node: Node) -> bool {
        self.crashed.contains(&node)
    }

    pub(crate) fn is_paused(&self, node: Node) -> bool {
        self.paused_until.get(&node).is_some_and(|&u| u > self.now)
    }

    /// Whether `node` can act now (neither crashed nor paused).
    pub(crate) fn is_up(&self, node: Node) -> bool {
        !self.is_crashed(node) && !self.is_paused(node)
    }

    /// Sends `msg`; the fault model decides whether, when and how often it arrives.
    pub(crate) fn send(&mut self, from: Node, to: Node, msg: M) {
        self.sent += 1;
        if self.is_cut(from, to) {
            self.faults.add(Fault::PartitionDrop, 1);
            return;
        }
        if self.rng.random_bool(self.config.loss) {
            self.faults.add(Fault::Loss, 1);
            return;
        }
        let copies = if self.rng.random_bool(self.config.duplicate) {
            self.faults.add(Fault::Duplicate, 1);
            2
        } else {
            1
        };
        let link_seq = {
            let s = self.link_sent.entry((from, to)).or_insert(0);
            *s += 1;
            *s
        };
        for i in 0..copies {
            let (lo, hi) = self.config.delay;
            let mut delay = self.rng.random_range(lo..=hi.max(lo));
            if i == 0 && self.rng.random_bool(self.config.spike) {
                self.faults.add(Fault::DelaySpike, 1);
                delay = delay.saturating_add(self.rng.random_range(hi..=hi.saturating_mul(10)));
            }
            let id = self.next_id;
            self.next_id += 1;
            self.queue.push(Reverse((self.now + delay, id)));
            self.flying.insert(
                id,
                InFlight {
                    from,
                    to,
                    link_seq,
                    msg: msg.clone(),
                },
            );
        }
    }

    /// The next message due at or before `until`, advancing time to its arrival; `None` (and
    /// time moved to `until`) when nothing more arrives by then.
    pub(crate) fn next_until(&mut self, until: u64) -> Option<Delivery<M>> {
        loop {
            let Some(&Reverse((at, id))) = self.queue.peek() else {
                self.advance_to(until);
                return None;
            };
            if at > until {
                self.advance_to(until);
                return None;
            }
            self.queue.pop();
            self.advance_to(at);
            let Some(f) = self.flying.remove(&id) else {
                continue;
            };
            if self.crashed.contains(&f.to) {
                continue; // the socket died with the process
            }
            if let Some(&u) = self.paused_until.get(&f.to)
                && u > at
            {
                // The process is paused: the message waits in its socket buffer.
                self.queue.push(Reverse((u, id)));
                self.flying.insert(id, f);
                continue;
            }
            if self.cut.contains(&(f.from, f.to)) {
                self.faults.add(Fault::PartitionDrop, 1);
                continue;
            }
            let last = self.link_delivered.entry((f.from, f.to)).or_insert(0);
            if f.link_seq < *last {
                self.faults.add(Fault::Reorder, 1);
            } else {
                *last = f.link_seq;
            }
            return Some(Delivery {
                from: f.from,
                to: f.to,
                msg: f.msg,
            });
        }
    }

    /// Cuts every link between `a` and `b`, both ways.
    pub(crate) fn partition(&mut self, a: &[Node], b: &[Node]) {
        self.faults.add(Fault::Partition, 1);
        for &x in a {
            for &y in b {
                self.cut.insert((x, y));
                self.cut.insert((y, x));
            }
        }
    }

    /// Cuts the links from `from` to `to` only: `to` still reaches `from`.
    pub(crate) fn partition_one_way(&mut self, from: &[Node], to: &[Node]) {
        self.faults.add(Fault::AsymmetricPartition, 1);
        for &x in from {
            for &y in to {
                self.cut.insert((x, y));
            }
        }
    }

    /// Restores every link.
    pub(crate) fn heal(&mut self) {
        if !self.cut.is_empty() {
            self.faults.add(Fault::Heal, 1);
        }
        self.cut.clear();
    }

    /// Pauses `node` until `until` (a GC pause, a stopped VM).
    pub(crate) fn pause(&mut self, node: Node, until: u64) {
        self.faults.add(Fault::Pause, 1);
        self.paused_until.insert(node, until);
    }

    /// Crashes `node`: messages to it are lost until [`restart`](Self::restart).
    pub(crate) fn crash(&mut self, node: Node) {
        self.faults.add(Fault::Crash, 1);
        self.crashed.insert(node);
    }

    pub(crate) fn restart(&mut self, node: Node) {
        self.crashed.remove(&node);
    }

    /// Whether `node` can reach a majority of `n` nodes (itself included) both ways.
    pub(crate) fn reaches_majority(&self, node: Node, n: usize) -> bool {
        let reach = (0..n)
            .filter(|&m| m == node || (!self.is_cut(node, m) && !self.is_cut(m, node)))
            .count();
        reach > n / 2
    }
}
