//! quorate-clocks against uhlc, hybrid-clocks, hlc-gen, crdts' `VClock` and vclock.
//!
//! Groups (`<operation>/<implementation>`):
//! - `hlc_now`: one stamp, system wall clock, one thread (`system_time_floor` is a bare
//!   `SystemTime::now()`, the cost every implementation pays).
//! - `hlc_now_const_clock`: one stamp with an injected constant clock (isolates the clock
//!   logic from the clock read; every stamp takes the logical-counter path).
//! - `hlc_now_2_threads`: two threads stamping one shared clock at once, system wall clock;
//!   the time is per stamp per thread. Two floors sit beside it: the clock read alone, and a
//!   clock read plus one `fetch_add` on a shared cache line (what any correct shared clock
//!   must at least do). `hybrid-clocks` is `&mut self` only, so it sits behind a
//!   `Mutex`, as a user would have to put it.
//! - `hlc_observe_older`: taking in a remote stamp that is older than the local clock
//!   (quorate `observe`, uhlc `update_with_timestamp`, hybrid-clocks `observe`, hlc-gen
//!   `update`). Each routine returns only whether it succeeded (`is_ok()`), so no
//!   implementation pays for copying a large `Result` into `black_box`.
//! - `lamport_tick`: quorate's atomic and plain Lamport clocks against a bare
//!   `AtomicU64::fetch_add` floor.
//! - `vv_compare/<impl>/<actors>` and `vv_merge/<impl>/<actors>`: version vectors of 4, 16 and
//!   128 actors; `b` is `a` with one entry advanced (so comparison must scan everything). Merge
//!   clones its inputs outside the timed section (crdts' merge consumes `other`).
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use quorate_clocks::{
    CoarseClock, HybridClock, Lamport, LamportClock, SystemClock, Timestamp, VersionVector,
    WallClock,
};

/// A wall clock that never moves (about 2023 in ns).
struct ConstClock;

const CONST_NANOS: u64 = 1_700_000_000_000_000_000;

impl WallClock for ConstClock {
    #[inline]
    fn now_unix_nanos(&self) -> u64 {
        CONST_NANOS
    }
}

fn uhlc_const_clock() -> uhlc::NTP64 {
    uhlc::NTP64(0x6543_2100_0000_0000)
}

/// Runs `f` `iters` times on each of two threads started together; returns the slower
/// thread's elapsed time (so the reported time is per operation per thread under contention).
fn two_threads(iters: u64, f: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(2);
    let run = || {
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    };
    std::thread::scope(|s| {
        let other = s.spawn(run);
        let mine = run();
        mine.max(other.join().expect("bench thread"))
    })
}

fn hlc_now(c: &mut Criterion) {
    let mut g = c.benchmark_group("hlc_now");
    g.bench_function("system_time_floor", |b| {
        b.iter(|| black_box(SystemTime::now()))
    });
    let ours = HybridClock::new(SystemClock);
    g.bench_function("quorate", |b| b.iter(|| black_box(ours.now())));
    // The opt-in millisecond-grained source (not comparable resolution; shown for reference).
    let coarse = HybridClock::new(CoarseClock);
    g.bench_function("quorate_coarse_clock", |b| {
        b.iter(|| black_box(coarse.now()))
    });
    let uhlc = uhlc::HLC::default();
    g.bench_function("uhlc", |b| b.iter(|| black_box(uhlc.new_timestamp())));
    let mut hc = hybrid_clocks::Clock::wall_ns().expect("clock");
    g.bench_function("hybrid_clocks", |b| b.iter(|| black_box(hc.now())));
    let hg = hlc_gen::HlcGenerator::new(0);
    g.bench_function("hlc_gen", |b| b.iter(|| black_box(hg.next_timestamp())));
    g.finish();
}

fn hlc_now_const_clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("hlc_now_const_clock");
    let ours = HybridClock::new(ConstClock);
    g.bench_function("quorate", |b| b.iter(|| black_box(ours.now())));
    let uhlc = uhlc::HLCBuilder::new().with_clock(uhlc_const_clock).build();
    g.bench_function("uhlc", |b| b.iter(|| black_box(uhlc.new_timestamp())));
    let mut hc = hybrid_clocks::Clock::manual(CONST_NANOS).expect("clock");
    g.bench_function("hybrid_clocks", |b| b.iter(|| black_box(hc.now())));
    // hlc-gen packs 48-bit milliseconds with a 16-bit counter: with a clock that never moves,
    // `next_timestamp` fails (returns None) after 65,535 stamps. Move its manual clock one
    // millisecond every 60,000 stamps so it keeps issuing real stamps.
    let hg = hlc_gen::HlcGenerator::manual(0);
    let base = 1_700_000_000_000i64;
    hg.set_current_timestamp(base);
    let mut n = 0i64;
    g.bench_function("hlc_gen", |b| {
        b.iter(|| {
            n += 1;
            if n % 60_000 == 0 {
                hg.set_current_timestamp(base + n / 60_000);
            }
            black_box(hg.next_timestamp())
        })
    });
    g.finish();
}

fn hlc_now_2_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("hlc_now_2_threads");
    g.bench_function("system_time_floor", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(SystemTime::now());
            })
        })
    });
    // The floor for any correct shared clock: a clock read plus one read-modify-write of a
    // cache line both threads write (every stamp must be unique, so some shared word changes).
    let shared = AtomicU64::new(0);
    g.bench_function("clock_read_plus_shared_fetch_add_floor", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(SystemTime::now());
                black_box(shared.fetch_add(1, Ordering::AcqRel));
            })
        })
    });
    let ours = HybridClock::new(SystemClock);
    g.bench_function("quorate", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(ours.now());
            })
        })
    });
    let uhlc = uhlc::HLC::default();
    g.bench_function("uhlc", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(uhlc.new_timestamp());
            })
        })
    });
    let hc = Mutex::new(hybrid_clocks::Clock::wall_ns().expect("clock"));
    g.bench_function("hybrid_clocks", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let _ = black_box(hc.lock().expect("lock").now());
            })
        })
    });
    let hg = hlc_gen::HlcGenerator::new(0);
    g.bench_function("hlc_gen", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(hg.next_timestamp());
            })
        })
    });
    g.finish();
}

fn hlc_observe_older(c: &mut Criterion) {
    let mut g = c.benchmark_group("hlc_observe_older");
    let ours = HybridClock::new(SystemClock);
    ours.now();
    let old = Timestamp::from_u64(SystemClock.now_unix_nanos() - 1_000_000_000);
    g.bench_function("quorate", |b| {
        b.iter(|| ours.observe(black_box(old)).is_ok())
    });
    let uhlc = uhlc::HLC::default();
    uhlc.new_timestamp();
    let now_ntp = uhlc::system_time_clock();
    let old_uhlc = uhlc::Timestamp::new(uhlc::NTP64(now_ntp.0 - (1 << 32)), *uhlc.get_id());
    g.bench_function("uhlc", |b| {
        b.iter(|| uhlc.update_with_timestamp(black_box(&old_uhlc)).is_ok())
    });
    let mut hc = hybrid_clocks::Clock::wall_ns().expect("clock");
    let old_hc = hc.now().expect("now");
    hc.now().expect("now");
    g.bench_function("hybrid_clocks", |b| {
        b.iter(|| hc.observe(black_box(&old_hc)))
    });
    let hg = hlc_gen::HlcGenerator::new(0);
    let old_hg = hg.next_timestamp().expect("stamp");
    std::thread::sleep(Duration::from_millis(2));
    hg.next_timestamp();
    g.bench_function("hlc_gen", |b| {
        b.iter(|| hg.update(black_box(&old_hg)).is_ok())
    });
    g.finish();
}

fn lamport_tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("lamport_tick");
    let floor = AtomicU64::new(0);
    g.bench_function("atomic_fetch_add_floor", |b| {
        b.iter(|| black_box(floor.fetch_add(1, Ordering::AcqRel)))
    });
    let ours = LamportClock::new();
    g.bench_function("quorate", |b| b.iter(|| black_box(ours.tick())));
    let mut plain = Lamport::new();
    g.bench_function("quorate_plain", |b| b.iter(|| black_box(plain.tick())));
    g.finish();
}

/// `(actor, counter)` entries of one version vector.
type Entries = Vec<(u64, u64)>;

/// `a` has `n` actors with assorted counters; `b` is `a` with its last actor advanced.
fn vv_inputs(n: u64) -> (Entries, Entries) {
    let a: Vec<(u64, u64)> = (0..n).map(|i| (i * 7919 % 100_003, 1 + i % 5)).collect();
    let mut b = a.clone();
    if let Some(last) = b.last_mut() {
        last.1 += 1;
    }
    (a, b)
}

fn quorate_vv(e: &[(u64, u64)]) -> VersionVector<u64> {
    e.iter().copied().collect()
}

fn crdts_vv(e: &[(u64, u64)]) -> crdts::VClock<u64> {
    e.iter().map(|&(a, n)| crdts::Dot::new(a, n)).collect()
}

fn vclock_vv(e: &[(u64, u64)]) -> vclock::VClock<u64, u64> {
    vclock::VClock::from(e.iter().copied().collect::<HashMap<u64, u64>>())
}

fn vv_compare(c: &mut Criterion) {
    let mut g = c.benchmark_group("vv_compare");
    for n in [4u64, 16, 128] {
        let (a, b) = vv_inputs(n);
        let (qa, qb) = (quorate_vv(&a), quorate_vv(&b));
        assert_eq!(qa.partial_cmp(&qb), Some(core::cmp::Ordering::Less));
        g.bench_with_input(BenchmarkId::new("quorate", n), &n, |bch, _| {
            bch.iter(|| black_box(black_box(&qa).partial_cmp(black_box(&qb))))
        });
        let (ca, cb) = (crdts_vv(&a), crdts_vv(&b));
        assert_eq!(ca.partial_cmp(&cb), Some(core::cmp::Ordering::Less));
        g.bench_with_input(BenchmarkId::new("crdts", n), &n, |bch, _| {
            bch.iter(|| black_box(black_box(&ca).partial_cmp(black_box(&cb))))
        });
        let (va, vb) = (vclock_vv(&a), vclock_vv(&b));
        assert_eq!(va.partial_cmp(&vb), Some(core::cmp::Ordering::Less));
        g.bench_with_input(BenchmarkId::new("vclock", n), &n, |bch, _| {
            bch.iter(|| black_box(black_box(&va).partial_cmp(black_box(&vb))))
        });
    }
    g.finish();
}

fn vv_merge(c: &mut Criterion) {
    use crdts::CvRDT;
    let mut g = c.benchmark_group("vv_merge");
    for n in [4u64, 16, 128] {
        let (a, b) = vv_inputs(n);
        let (qa, qb) = (quorate_vv(&a), quorate_vv(&b));
        g.bench_with_input(BenchmarkId::new("quorate", n), &n, |bch, _| {
            bch.iter_batched_ref(
                || qa.clone(),
                |x| x.merge(black_box(&qb)),
                BatchSize::SmallInput,
            )
        });
        let (ca, cb) = (crdts_vv(&a), crdts_vv(&b));
        g.bench_with_input(BenchmarkId::new("crdts", n), &n, |bch, _| {
            bch.iter_batched_ref(
                || (ca.clone(), cb.clone()),
                |(x, y)| x.merge(std::mem::take(y)),
                BatchSize::SmallInput,
            )
        });
        let (va, vb) = (vclock_vv(&a), vclock_vv(&b));
        g.bench_with_input(BenchmarkId::new("vclock", n), &n, |bch, _| {
            bch.iter_batched_ref(
                || va.clone(),
                |x| x.merge(black_box(&vb)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    hlc_now,
    hlc_now_const_clock,
    hlc_now_2_threads,
    hlc_observe_older,
    lamport_tick,
    vv_compare,
    vv_merge
);
criterion_main!(benches);
