//! Joins of OR-sets large enough to span many key chunks (interleaved, disjoint and shared
//! keys) agree with a naive reference OR-set, obey the join laws, and the by-value join equals
//! the borrowing one.

use std::collections::{BTreeMap, BTreeSet};

use quorate_crdt::laws::check_join_laws;
use quorate_crdt::{Crdt, DeltaCrdt, OrSet};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The textbook OR-set: element -> tags, plus every tag ever seen.
#[derive(Clone, Default)]
struct Naive {
    elems: BTreeMap<u32, BTreeSet<(u8, u64)>>,
    seen: BTreeSet<(u8, u64)>,
}

impl Naive {
    fn join(&mut self, o: &Naive) {
        let keys: BTreeSet<u32> = self.elems.keys().chain(o.elems.keys()).copied().collect();
        let mut out = BTreeMap::new();
        for k in keys {
            let empty = BTreeSet::new();
            let a = self.elems.get(&k).unwrap_or(&empty);
            let b = o.elems.get(&k).unwrap_or(&empty);
            let tags: BTreeSet<_> = a
                .iter()
                .filter(|t| b.contains(t) || !o.seen.contains(t))
                .chain(b.iter().filter(|t| !self.seen.contains(t)))
                .copied()
                .collect();
            if !tags.is_empty() {
                out.insert(k, tags);
            }
        }
        self.elems = out;
        self.seen.extend(o.seen.iter().copied());
    }

    fn value(&self) -> Vec<u32> {
        self.elems.keys().copied().collect()
    }
}

struct Replica {
    actor: u8,
    set: OrSet<u32, u8>,
    naive: Naive,
    counter: u64,
}

impl Replica {
    fn add(&mut self, x: u32) {
        self.set.add(self.actor, x).unwrap();
        self.counter += 1;
        let tag = (self.actor, self.counter);
        self.naive.elems.insert(x, [tag].into());
        self.naive.seen.insert(tag);
    }

    fn remove(&mut self, x: u32) {
        self.set.remove(&x);
        self.naive.elems.remove(&x);
    }
}

fn replicas(seed: u64) -> Vec<Replica> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut reps: Vec<Replica> = (1..=3u8)
        .map(|actor| Replica {
            actor,
            set: OrSet::new(),
            naive: Naive::default(),
            counter: 0,
        })
        .collect();
    // Keys: a shared range, a per-replica range (disjoint), and interleaved keys.
    for step in 0..4_000u32 {
        let i = rng.random_range(0..3usize);
        let r = &mut reps[i];
        match rng.random_range(0..10u32) {
            0..=3 => r.add(rng.random_range(0..1_500)),
            4..=5 => r.add(10_000 * (i as u32 + 1) + step),
            6 => r.add(3 * rng.random_range(2_000..3_000u32) + i as u32),
            7..=8 => {
                let present: Vec<u32> = r.set.iter().copied().collect();
                if !present.is_empty() {
                    let x = present[rng.random_range(0..present.len())];
                    r.remove(x);
                }
            }
            _ => {
                let j = (i + rng.random_range(1..3usize)) % 3;
                let (src_set, src_naive) = (reps[j].set.clone(), reps[j].naive.clone());
                let r = &mut reps[i];
                if rng.random_bool(0.5) {
                    r.set.try_join(&src_set).unwrap();
                } else {
                    r.set.try_join_owned(src_set).unwrap();
                }
                r.naive.join(&src_naive);
            }
        }
    }
    reps
}

#[test]
fn large_joins_match_the_reference_and_the_laws() {
    for seed in 0..4 {
        let reps = replicas(seed);
        for r in &reps {
            assert!(r.set.len() > 600, "spans several chunks: {}", r.set.len());
            assert_eq!(r.set.iter().copied().collect::<Vec<_>>(), r.naive.value());
        }
        let (a, b, c) = (&reps[0], &reps[1], &reps[2]);
        check_join_laws(&a.set, &b.set, &c.set).unwrap();
        for (x, y) in [(a, b), (b, c), (c, a), (b, a)] {
            let mut borrowed = x.set.clone();
            borrowed.try_join(&y.set).unwrap();
            let mut owned = x.set.clone();
            owned.join_owned(y.set.clone());
            assert_eq!(borrowed, owned, "seed {seed}");
            let mut via_delta = x.set.clone();
            via_delta.try_join_delta(&y.set.to_delta()).unwrap();
            assert_eq!(borrowed, via_delta, "seed {seed}");
            let mut naive = x.naive.clone();
            naive.join(&y.naive);
            assert_eq!(borrowed.iter().copied().collect::<Vec<_>>(), naive.value());
            assert!(borrowed.validate().is_ok());
        }
    }
}
