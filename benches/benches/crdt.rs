//! quorate-crdt against `crdts` 7.3 (`Orswot`, `GCounter`, `PNCounter`, `Map<_, MVReg<_, _>, _>`).
//!
//! Groups (`<operation>/<implementation>/<size>`); element and actor ids are `u64` on both sides:
//! - `orset_merge_identical`, `orset_merge_divergent`, `orset_merge_disjoint` at 1k and 100k
//!   elements. Identical: `b` is a copy of `a`. Divergent: a common base, then each side adds 10%
//!   new elements and removes a different 10%. Disjoint: `a` holds `0..n` (actor 1), `b` holds
//!   `n..2n` (actor 2). Inputs are cloned outside the timed section (crdts' merge consumes
//!   `other`; ours borrows it), and the result is dropped outside it. `quorate` is the plain
//!   join (trusted input, like crdts' `merge`); `quorate_owned` is `join_owned`, which takes
//!   the other replica by value like crdts' `merge` (cloned outside the timed section for
//!   both); `quorate_validated` (divergent only) is `try_join`, which validates the peer state
//!   in linear time first.
//! - `orset_add`: one add to a 10k-element set (re-adding a rotating window of 1k elements,
//!   so the size stays put); `orset_remove`: one remove from a fresh 1k-element clone.
//! - `orset_apply_delta_one`: join one add delta from another replica into a 1k and a 100k set
//!   (crdts: apply the equivalent op). The delta is produced outside the timed section.
//! - `gcounter_merge`, `pncounter_merge` at 8 and 128 actors (every entry differs);
//!   `gcounter_read`, `pncounter_read` at 128 actors (crdts returns a `BigUint`/`BigInt`).
//! - `orset_encode_10k`: canonical encoding (ours) vs bincode 1.3 (crdts); the encoded sizes
//!   are printed once to stdout.
//! - `ormap_mvreg_merge_10k`: OR-map of MV-registers, 10k keys, divergent (each side rewrites
//!   a different 10% of the keys).
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use crdts::{CmRDT, CvRDT};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use quorate_clocks::Encode;
use quorate_crdt::{Crdt, DeltaCrdt, GCounter, MvReg, OrMap, OrSet, PnCounter};

type QSet = OrSet<u64, u64>;
type CSet = crdts::Orswot<u64, u64>;

fn q_set(range: std::ops::Range<u64>, actor: u64) -> QSet {
    let mut s = QSet::new();
    for x in range {
        s.add(actor, x).expect("no overflow");
    }
    s
}

fn c_add(s: &mut CSet, actor: u64, x: u64) {
    let ctx = s.read_ctx().derive_add_ctx(actor);
    let op = s.add(x, ctx);
    s.apply(op);
}

fn c_rm(s: &mut CSet, x: u64) {
    let ctx = s.contains(&x).derive_rm_ctx();
    let op = s.rm(x, ctx);
    s.apply(op);
}

fn c_set(range: std::ops::Range<u64>, actor: u64) -> CSet {
    let mut s = CSet::new();
    for x in range {
        c_add(&mut s, actor, x);
    }
    s
}

/// One merge scenario: its name, our pair of replicas, crdts' pair.
type Scenario = (&'static str, (QSet, QSet), (CSet, CSet));

/// The three merge scenarios for size `n`, for both implementations.
fn scenarios(n: u64) -> Vec<Scenario> {
    let tenth = n / 10;
    let identical_q = q_set(0..n, 1);
    let identical_c = c_set(0..n, 1);

    let mut qa = q_set(0..n, 1);
    let mut qb = qa.clone();
    let mut ca = c_set(0..n, 1);
    let mut cb = ca.clone();
    for x in 0..tenth {
        qa.add(1, n + x).expect("no overflow");
        qa.remove(&x);
        c_add(&mut ca, 1, n + x);
        c_rm(&mut ca, x);
        qb.add(2, 2 * n + x).expect("no overflow");
        qb.remove(&(tenth + x));
        c_add(&mut cb, 2, 2 * n + x);
        c_rm(&mut cb, tenth + x);
    }
    vec![
        (
            "identical",
            (identical_q.clone(), identical_q),
            (identical_c.clone(), identical_c),
        ),
        ("divergent", (qa, qb), (ca, cb)),
        (
            "disjoint",
            (q_set(0..n, 1), q_set(n..2 * n, 2)),
            (c_set(0..n, 1), c_set(n..2 * n, 2)),
        ),
    ]
}

fn orset_merge(c: &mut Criterion) {
    for (n, label) in [(1_000u64, "1k"), (100_000, "100k")] {
        for (scenario, (qa, qb), (ca, cb)) in scenarios(n) {
            // Sanity: both implementations agree on the merged set.
            let mut qm = qa.clone();
            qm.join(&qb);
            let mut cm = ca.clone();
            cm.merge(cb.clone());
            assert_eq!(qm.len(), cm.read().val.len(), "{scenario} {label}");
            let mut qo = qa.clone();
            qo.join_owned(qb.clone());
            assert_eq!(
                qo, qm,
                "owned join equals borrowed join: {scenario} {label}"
            );

            let mut g = c.benchmark_group(format!("orset_merge_{scenario}"));
            if n > 10_000 {
                g.sample_size(10);
            }
            g.bench_function(BenchmarkId::new("quorate", label), |b| {
                b.iter_batched(
                    || qa.clone(),
                    |mut x| {
                        x.join(black_box(&qb));
                        x
                    },
                    BatchSize::LargeInput,
                )
            });
            // Join by value, like crdts' merge: the clone of `b` is made outside the timed
            // section for both; new entries are moved instead of cloned.
            g.bench_function(BenchmarkId::new("quorate_owned", label), |b| {
                b.iter_batched(
                    || (qa.clone(), qb.clone()),
                    |(mut x, y)| {
                        x.join_owned(black_box(y));
                        x
                    },
                    BatchSize::LargeInput,
                )
            });
            if scenario == "divergent" {
                // The validating join a replica uses for peer input (linear-time checks first).
                g.bench_function(BenchmarkId::new("quorate_validated", label), |b| {
                    b.iter_batched(
                        || qa.clone(),
                        |mut x| {
                            x.try_join(black_box(&qb)).expect("valid peer");
                            x
                        },
                        BatchSize::LargeInput,
                    )
                });
            }
            g.bench_function(BenchmarkId::new("crdts", label), |b| {
                b.iter_batched(
                    || (ca.clone(), cb.clone()),
                    |(mut x, y)| {
                        x.merge(black_box(y));
                        x
                    },
                    BatchSize::LargeInput,
                )
            });
            g.finish();
        }
    }
}

fn orset_ops(c: &mut Criterion) {
    let mut g = c.benchmark_group("orset_add");
    let mut q = q_set(0..10_000, 1);
    let mut i = 0u64;
    g.bench_function("quorate", |b| {
        b.iter(|| {
            i = (i + 1) % 1_000;
            black_box(q.add(1, 10_000 + i).expect("no overflow"));
        })
    });
    let mut cs = c_set(0..10_000, 1);
    let mut j = 0u64;
    g.bench_function("crdts", |b| {
        b.iter(|| {
            j = (j + 1) % 1_000;
            let ctx = cs.read_ctx().derive_add_ctx(1);
            let op = cs.add(10_000 + j, ctx);
            cs.apply(black_box(op));
        })
    });
    g.finish();

    let mut g = c.benchmark_group("orset_remove");
    let q = q_set(0..1_000, 1);
    let cs = c_set(0..1_000, 1);
    let mut k = 0u64;
    g.bench_function("quorate", |b| {
        b.iter_batched(
            || {
                k = (k + 7) % 1_000;
                (q.clone(), k)
            },
            |(mut s, x)| {
                black_box(s.remove(&x));
                s
            },
            BatchSize::SmallInput,
        )
    });
    let mut k = 0u64;
    g.bench_function("crdts", |b| {
        b.iter_batched(
            || {
                k = (k + 7) % 1_000;
                (cs.clone(), k)
            },
            |(mut s, x)| {
                let ctx = s.contains(&x).derive_rm_ctx();
                let op = s.rm(x, ctx);
                s.apply(black_box(op));
                s
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn orset_apply_delta_one(c: &mut Criterion) {
    let mut g = c.benchmark_group("orset_apply_delta_one");
    for (n, label) in [(1_000u64, "1k"), (100_000, "100k")] {
        let mut big = q_set(0..n, 1);
        let mut writer = QSet::new();
        let mut x = 10_000_000u64;
        g.bench_function(BenchmarkId::new("quorate", label), |b| {
            b.iter_batched(
                || {
                    x += 1;
                    writer.add(2, x).expect("no overflow")
                },
                |d| {
                    big.join_delta(black_box(&d));
                    d
                },
                BatchSize::SmallInput,
            )
        });
        let mut cbig = c_set(0..n, 1);
        let mut cwriter = CSet::new();
        let mut y = 10_000_000u64;
        g.bench_function(BenchmarkId::new("crdts", label), |b| {
            b.iter_batched(
                || {
                    y += 1;
                    let ctx = cwriter.read_ctx().derive_add_ctx(2);
                    let op = cwriter.add(y, ctx);
                    cwriter.apply(op.clone());
                    op
                },
                |op| cbig.apply(black_box(op)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn counters(c: &mut Criterion) {
    for actors in [8u64, 128] {
        let mut qa = GCounter::<u64>::new();
        let mut qb = GCounter::<u64>::new();
        let mut ca = crdts::GCounter::<u64>::new();
        let mut cb = crdts::GCounter::<u64>::new();
        let mut pa = PnCounter::<u64>::new();
        let mut pb = PnCounter::<u64>::new();
        let mut da = crdts::PNCounter::<u64>::new();
        let mut db = crdts::PNCounter::<u64>::new();
        for a in 0..actors {
            let (x, y) = if a % 2 == 0 { (5, 9) } else { (9, 5) };
            qa.increment(a, x).expect("no overflow");
            qb.increment(a, y).expect("no overflow");
            ca.apply(ca.inc_many(a, x));
            cb.apply(cb.inc_many(a, y));
            pa.increment(a, x).expect("no overflow");
            pa.decrement(a, y).expect("no overflow");
            pb.increment(a, y).expect("no overflow");
            pb.decrement(a, x).expect("no overflow");
            da.apply(da.inc_many(a, x));
            da.apply(da.dec_many(a, y));
            db.apply(db.inc_many(a, y));
            db.apply(db.dec_many(a, x));
        }
        let label = actors.to_string();
        let mut g = c.benchmark_group("gcounter_merge");
        g.bench_function(BenchmarkId::new("quorate", &label), |b| {
            b.iter_batched(
                || qa.clone(),
                |mut x| {
                    x.join(black_box(&qb));
                    x
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(BenchmarkId::new("crdts", &label), |b| {
            b.iter_batched(
                || (ca.clone(), cb.clone()),
                |(mut x, y)| {
                    x.merge(black_box(y));
                    x
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
        let mut g = c.benchmark_group("pncounter_merge");
        g.bench_function(BenchmarkId::new("quorate", &label), |b| {
            b.iter_batched(
                || pa.clone(),
                |mut x| {
                    x.join(black_box(&pb));
                    x
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(BenchmarkId::new("crdts", &label), |b| {
            b.iter_batched(
                || (da.clone(), db.clone()),
                |(mut x, y)| {
                    x.merge(black_box(y));
                    x
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
        if actors == 128 {
            let mut g = c.benchmark_group("gcounter_read");
            g.bench_function(BenchmarkId::new("quorate", &label), |b| {
                b.iter(|| black_box(black_box(&qa).value()))
            });
            g.bench_function(BenchmarkId::new("crdts", &label), |b| {
                b.iter(|| black_box(black_box(&ca).read()))
            });
            g.finish();
            let mut g = c.benchmark_group("pncounter_read");
            g.bench_function(BenchmarkId::new("quorate", &label), |b| {
                b.iter(|| black_box(black_box(&pa).value()))
            });
            g.bench_function(BenchmarkId::new("crdts", &label), |b| {
                b.iter(|| black_box(black_box(&da).read()))
            });
            g.finish();
        }
    }
}

fn orset_encode(c: &mut Criterion) {
    let q = q_set(0..10_000, 1);
    let cs = c_set(0..10_000, 1);
    let q_bytes = quorate_clocks::encode_to_vec(&q);
    let c_bytes = bincode::serialize(&cs).expect("bincode");
    println!(
        "orset_encoded_size_10k: quorate {} bytes, crdts+bincode {} bytes, ratio {:.2}x",
        q_bytes.len(),
        c_bytes.len(),
        c_bytes.len() as f64 / q_bytes.len() as f64
    );
    let mut g = c.benchmark_group("orset_encode_10k");
    g.bench_function("quorate", |b| {
        b.iter(|| {
            let mut buf = Vec::with_capacity(q_bytes.len());
            black_box(&q).encode(&mut buf);
            buf
        })
    });
    g.bench_function("crdts", |b| {
        b.iter(|| bincode::serialize(black_box(&cs)).expect("bincode"))
    });
    g.finish();
}

type QMap = OrMap<u64, MvReg<u64, u64>, u64>;
type CMap = crdts::Map<u64, crdts::MVReg<u64, u64>, u64>;

fn c_map_write(m: &mut CMap, actor: u64, k: u64, v: u64) {
    let ctx = m.read_ctx().derive_add_ctx(actor);
    let op = m.update(k, ctx, |r, ctx| r.write(v, ctx));
    m.apply(op);
}

fn ormap_merge(c: &mut Criterion) {
    let n = 10_000u64;
    let mut qa = QMap::new();
    let mut ca = CMap::new();
    for k in 0..n {
        qa.update(k, |r| r.write_delta(1, k)).expect("no overflow");
        c_map_write(&mut ca, 1, k, k);
    }
    let mut qb = qa.clone();
    let mut cb = ca.clone();
    for k in 0..n / 10 {
        qa.update(k, |r| r.write_delta(1, k + 1))
            .expect("no overflow");
        c_map_write(&mut ca, 1, k, k + 1);
        let k2 = n / 10 + k;
        qb.update(k2, |r| r.write_delta(2, k2 + 2))
            .expect("no overflow");
        c_map_write(&mut cb, 2, k2, k2 + 2);
    }
    let mut g = c.benchmark_group("ormap_mvreg_merge_10k");
    g.sample_size(20);
    g.bench_function("quorate", |b| {
        b.iter_batched(
            || qa.clone(),
            |mut x| {
                x.join(black_box(&qb));
                x
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("crdts", |b| {
        b.iter_batched(
            || (ca.clone(), cb.clone()),
            |(mut x, y)| {
                x.merge(black_box(y));
                x
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = orset_merge, orset_ops, orset_apply_delta_one, counters, orset_encode, ormap_merge
}
criterion_main!(benches);
