//! Differential test: `DvvSet` against a direct model of Riak's `dvvset.erl` list algorithm
//! (`sync/2`, `sync2`, `merge/5`, `event/3`, `update/2`, `update/3`, `less/2`, `join/1`,
//! `lww/2`), over random histories of clients writing through replicas, with anonymous
//! values, stale contexts and counter-0 entries. Entries must match exactly; anonymous values
//! match as multisets (Riak's `sets:to_list` order is unspecified).

use proptest::prelude::*;
use quorate_clocks::DvvSet;

type Entries = Vec<(u8, u64, Vec<u32>)>;

/// Riak's clock: `{entries(), values()}`.
#[derive(Debug, Clone, Default)]
struct Model {
    entries: Entries,
    anon: Vec<u32>,
}

fn greater(a: &[(u8, u64, Vec<u32>)], b: &[(u8, u64, Vec<u32>)], strict: bool) -> bool {
    match (a, b) {
        ([], []) => strict,
        ([_, ..], []) => true,
        ([], [_, ..]) => false,
        ([(i1, n1, _), t1 @ ..], [(i2, n2, _), t2 @ ..]) if i1 == i2 => {
            if n1 == n2 {
                greater(t1, t2, strict)
            } else if n1 > n2 {
                greater(t1, t2, true)
            } else {
                false
            }
        }
        ([(i1, _, _), t1 @ ..], [(i2, _, _), ..]) if i1 < i2 => greater(t1, b, true),
        _ => false,
    }
}

fn less(a: &Model, b: &Model) -> bool {
    greater(&b.entries, &a.entries, false)
}

fn merge(i: u8, n1: u64, l1: &[u32], n2: u64, l2: &[u32]) -> (u8, u64, Vec<u32>) {
    let (ll1, ll2) = (l1.len() as u64, l2.len() as u64);
    if n1 >= n2 {
        if n1 - ll1 >= n2 - ll2 {
            (i, n1, l1.to_vec())
        } else {
            (i, n1, l1[..(n1 - n2 + ll2) as usize].to_vec())
        }
    } else if n2 - ll2 >= n1 - ll1 {
        (i, n2, l2.to_vec())
    } else {
        (i, n2, l2[..(n2 - n1 + ll1) as usize].to_vec())
    }
}

fn sync2(a: &[(u8, u64, Vec<u32>)], b: &[(u8, u64, Vec<u32>)]) -> Entries {
    match (a, b) {
        ([], c) | (c, []) => c.to_vec(),
        ([h1 @ (i1, n1, l1), t1 @ ..], [h2 @ (i2, n2, l2), t2 @ ..]) => {
            let mut out = Vec::new();
            if i1 < i2 {
                out.push(h1.clone());
                out.extend(sync2(t1, b));
            } else if i1 > i2 {
                out.push(h2.clone());
                out.extend(sync2(t2, a));
            } else {
                out.push(merge(*i1, *n1, l1, *n2, l2));
                out.extend(sync2(t1, t2));
            }
            out
        }
    }
}

fn sync(a: &Model, b: &Model) -> Model {
    let anon = if less(a, b) {
        b.anon.clone()
    } else if less(b, a) {
        a.anon.clone()
    } else {
        let mut v: Vec<u32> = a.anon.iter().chain(&b.anon).copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    Model {
        entries: sync2(&a.entries, &b.entries),
        anon,
    }
}

fn event(c: &[(u8, u64, Vec<u32>)], i: u8, v: u32) -> Entries {
    match c {
        [] => vec![(i, 1, vec![v])],
        [(i1, n, l), t @ ..] if *i1 == i => {
            let mut l2 = vec![v];
            l2.extend(l);
            let mut out = vec![(i, n + 1, l2)];
            out.extend(t.iter().cloned());
            out
        }
        [(i1, _, _), ..] if *i1 > i => {
            let mut out = vec![(i, 1, vec![v])];
            out.extend(c.iter().cloned());
            out
        }
        [h, t @ ..] => {
            let mut out = vec![h.clone()];
            out.extend(event(t, i, v));
            out
        }
    }
}

/// `update({Cc,[V]}, Cr, I)`.
fn update3(client: &Model, v: u32, server: &Model, i: u8) -> Model {
    let synced = sync(
        &Model {
            entries: client.entries.clone(),
            anon: vec![],
        },
        server,
    );
    Model {
        entries: event(&synced.entries, i, v),
        anon: synced.anon,
    }
}

/// `new(join(C), [V])`: Riak keeps counter-0 entries in `join`.
fn new_with(entries: &[(u8, u64, Vec<u32>)], v: Vec<u32>) -> Model {
    Model {
        entries: entries.iter().map(|(i, n, _)| (*i, *n, vec![])).collect(),
        anon: v,
    }
}

/// `lww(F, C)` with `F = fun(A, B) -> A =< B end`.
fn lww(c: &Model) -> Option<Model> {
    let mut best: Option<(Option<u8>, u32)> = None;
    for (i, _, l) in &c.entries {
        if let Some(v) = l.first() {
            best = match best {
                Some((bi, bv)) if bv > *v => Some((bi, bv)),
                _ => Some((Some(*i), *v)),
            };
        }
    }
    for v in &c.anon {
        best = match best {
            Some((bi, bv)) if bv > *v => Some((bi, bv)),
            _ => Some((None, *v)),
        };
    }
    let (winner, v) = best?;
    Some(match winner {
        Some(id) => Model {
            entries: c
                .entries
                .iter()
                .map(|(i, n, _)| (*i, *n, if *i == id { vec![v] } else { vec![] }))
                .collect(),
            anon: vec![],
        },
        None => new_with(&c.entries, vec![v]),
    })
}

fn to_set(m: &Model) -> DvvSet<u8, u32> {
    DvvSet::from_parts(m.entries.clone(), m.anon.clone()).unwrap()
}

fn same(ours: &DvvSet<u8, u32>, model: &Model) -> Result<(), TestCaseError> {
    let entries: Entries = ours
        .entries()
        .map(|(a, n, vs)| (*a, n, vs.to_vec()))
        .collect();
    prop_assert_eq!(&entries, &model.entries);
    let mut a = ours.anonymous().to_vec();
    let mut b = model.anon.clone();
    a.sort_unstable();
    b.sort_unstable();
    prop_assert_eq!(a, b);
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    /// A client reads replica `r` (remembering its history).
    Read {
        client: usize,
        r: usize,
    },
    /// A client writes through replica `r` with the history it last read.
    Write {
        client: usize,
        r: usize,
    },
    /// A write with no history at all (a blind write through `update/2` on a fresh set).
    Blind {
        r: usize,
    },
    /// Anonymous values arrive at replica `r` (a reconcile result or a legacy import),
    /// possibly with duplicates and a zero-counter entry in the history.
    Anon {
        r: usize,
        vals: Vec<u8>,
        zero_actor: Option<u8>,
    },
    Sync {
        from: usize,
        to: usize,
    },
    Lww {
        r: usize,
    },
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (0..3usize, 0..3usize).prop_map(|(client, r)| Op::Read { client, r }),
            (0..3usize, 0..3usize).prop_map(|(client, r)| Op::Write { client, r }),
            (0..3usize).prop_map(|r| Op::Blind { r }),
            (
                0..3usize,
                prop::collection::vec(0u8..4, 0..4),
                prop::option::of(3u8..6)
            )
                .prop_map(|(r, vals, zero_actor)| Op::Anon {
                    r,
                    vals,
                    zero_actor
                }),
            (0..3usize, 0..3usize).prop_map(|(from, to)| Op::Sync { from, to }),
            (0..3usize).prop_map(|r| Op::Lww { r }),
        ],
        1..40,
    )
}

proptest! {
    #[test]
    fn dvvset_matches_riaks_list_algorithm(ops in arb_ops()) {
        let mut ours: Vec<DvvSet<u8, u32>> = vec![DvvSet::default(); 3];
        let mut model: Vec<Model> = vec![Model::default(); 3];
        let mut reads: Vec<Model> = vec![Model::default(); 3];
        let mut next = 100u32;
        for op in ops {
            match op {
                Op::Read { client, r } => reads[client] = model[r].clone(),
                Op::Write { client, r } => {
                    next += 1;
                    let ctx = new_with(&reads[client].entries, vec![next]);
                    model[r] = update3(&ctx, next, &model[r], r as u8);
                    ours[r] = to_set(&ctx).update_with(&ours[r], &(r as u8)).unwrap();
                }
                Op::Blind { r } => {
                    next += 1;
                    let fresh = Model { entries: vec![], anon: vec![next] };
                    // update/2 on a fresh set, then synced into the replica.
                    let written = Model { entries: event(&[], r as u8, next), anon: vec![] };
                    model[r] = sync(&model[r], &written);
                    let w = to_set(&fresh).update(&(r as u8)).unwrap();
                    ours[r] = ours[r].sync(&w);
                }
                Op::Anon { r, vals, zero_actor } => {
                    let mut entries = model[r].entries.clone();
                    for e in &mut entries {
                        e.2.clear();
                    }
                    if let Some(z) = zero_actor
                        && let Err(i) = entries.binary_search_by(|e| e.0.cmp(&z))
                    {
                        entries.insert(i, (z, 0, vec![]));
                    }
                    let m = Model { entries, anon: vals.iter().map(|v| u32::from(*v)).collect() };
                    model[r] = sync(&model[r], &m);
                    ours[r] = ours[r].sync(&to_set(&m));
                }
                Op::Sync { from, to } => {
                    model[to] = sync(&model[to], &model[from]);
                    ours[to] = ours[to].sync(&ours[from]);
                }
                Op::Lww { r } => {
                    if let Some(m) = lww(&model[r]) {
                        model[r] = m;
                        ours[r] = ours[r].lww(|a, b| a <= b);
                    }
                }
            }
            for r in 0..3 {
                same(&ours[r], &model[r])?;
                prop_assert_eq!(ours[r].less(&ours[(r + 1) % 3]), less(&model[r], &model[(r + 1) % 3]));
                prop_assert_eq!(ours[r].size(), model[r].entries.iter().map(|e| e.2.len()).sum::<usize>() + model[r].anon.len());
            }
        }
    }
}
