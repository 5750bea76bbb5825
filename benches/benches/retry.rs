//! quorate-retry against backon, backoff and tower.
//!
//! - `next_delay`: 16 consecutive delays of exponential backoff with jitter (base 5 ms, factor
//!   2, cap 2 s) from a fresh state, per iteration. quorate uses full jitter on a seeded
//!   `FastRng`; backon uses `ExponentialBuilder` with jitter and a seed; backoff 0.4 uses
//!   `ExponentialBackoff::next_backoff` with randomization factor 0.5. backoff reads its clock
//!   on every call (for `max_elapsed_time`, even when that is `None`), so it is configured
//!   with `max_elapsed_time = None` and a frozen `Clock` (`backoff_frozen_clock`); the stock
//!   `SystemClock` variant is measured too (`backoff_system_clock`). backoff's randomness is
//!   `rand::random` (thread-local ChaCha, not seedable).
//! - `budget_deposit_withdraw_1t` / `_2t`: one deposit plus one withdrawal per iteration, on
//!   one thread or on each of two threads sharing the budget; against tower's `TpsBudget`
//!   (mutex + clock read per call) and a floor of two atomic read-modify-writes (a
//!   `fetch_add` and a compare-and-swap withdrawal on one counter).

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use quorate_retry::{
    AdaptiveThrottle, Backoff, BackoffState, FastRng, GrpcThrottle, Jitter, OutcomeClass,
    RetryBudget, RetryCost, RetryQuota, WindowedBudget,
};

const STEPS: usize = 16;

/// A `backoff::Clock` that returns one fixed instant, so `next_backoff` does no clock read.
#[derive(Clone)]
struct FrozenClock(Instant);

impl Default for FrozenClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl backoff::Clock for FrozenClock {
    fn now(&self) -> Instant {
        self.0
    }
}

fn next_delay(c: &mut Criterion) {
    let mut g = c.benchmark_group("next_delay");
    let ours = Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_secs(2))
        .expect("valid")
        .with_jitter(Jitter::Full);
    let mut rng = FastRng::seed_from_u64(0x2fdb_0020_ffc7_722b);
    g.bench_function("quorate", |b| {
        b.iter(|| {
            let mut s = BackoffState::new();
            for _ in 0..STEPS {
                black_box(ours.next_delay(&mut s, &mut rng));
            }
        });
    });
    let mut seed = 0u64;
    let builder = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(5))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(2))
        .without_max_times()
        .with_jitter();
    g.bench_function("backon", |b| {
        b.iter(|| {
            seed = seed.wrapping_add(1);
            let mut it = backon::BackoffBuilder::build(builder.with_jitter_seed(seed));
            for _ in 0..STEPS {
                black_box(it.next());
            }
        });
    });
    let frozen = backoff::exponential::ExponentialBackoffBuilder::<FrozenClock>::new()
        .with_initial_interval(Duration::from_millis(5))
        .with_multiplier(2.0)
        .with_max_interval(Duration::from_secs(2))
        .with_randomization_factor(0.5)
        .with_max_elapsed_time(None)
        .build();
    g.bench_function("backoff_frozen_clock", |b| {
        b.iter(|| {
            let mut it = frozen.clone();
            for _ in 0..STEPS {
                black_box(backoff::backoff::Backoff::next_backoff(&mut it));
            }
        });
    });
    let system = backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(Duration::from_millis(5))
        .with_multiplier(2.0)
        .with_max_interval(Duration::from_secs(2))
        .with_randomization_factor(0.5)
        .with_max_elapsed_time(None)
        .build();
    g.bench_function("backoff_system_clock", |b| {
        b.iter(|| {
            let mut it = system.clone();
            for _ in 0..STEPS {
                black_box(backoff::backoff::Backoff::next_backoff(&mut it));
            }
        });
    });
    g.finish();
}

/// One deposit plus one withdrawal, as each implementation spells them.
trait DepositWithdraw: Sync {
    fn round(&self, now: u64) -> bool;
}

struct Ours<B>(B, fn(&B, u64) -> bool);

impl<B: Sync> DepositWithdraw for Ours<B> {
    fn round(&self, now: u64) -> bool {
        (self.1)(&self.0, now)
    }
}

struct Tower(tower::retry::budget::TpsBudget);

impl DepositWithdraw for Tower {
    fn round(&self, _now: u64) -> bool {
        use tower::retry::budget::Budget;
        self.0.deposit();
        self.0.withdraw()
    }
}

/// The floor: a counter with a `fetch_add` deposit and a compare-and-swap withdrawal.
struct Floor(AtomicI64);

impl DepositWithdraw for Floor {
    fn round(&self, _now: u64) -> bool {
        self.0.fetch_add(1, Ordering::AcqRel);
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if cur < 1 {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(cur, cur - 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
    }
}

fn contenders() -> Vec<(&'static str, Box<dyn DepositWithdraw>)> {
    let windowed = WindowedBudget::new(Duration::from_secs(10), 10, 1.0).expect("valid");
    let grpc = GrpcThrottle::new(100.0, 1.0).expect("valid");
    let quota = RetryQuota::standard();
    let sre = AdaptiveThrottle::new(2.0, Duration::from_secs(120))
        .expect("valid")
        .with_seed(1);
    vec![
        (
            "quorate_windowed",
            Box::new(Ours(windowed, |b, now| {
                b.deposit(now);
                b.withdraw(now)
            })),
        ),
        (
            "quorate_grpc",
            Box::new(Ours(grpc, |b, now| {
                // A success earns tokens; a retry costs the failure that caused it plus the check.
                b.on_success(now, None);
                b.on_failure(now, OutcomeClass::Transient)
                    && b.try_withdraw(now, RetryCost::Standard).is_some()
            })),
        ),
        (
            "quorate_aws_quota",
            Box::new(Ours(quota, |b, now| {
                // Withdraw a retry, and the retry's success refunds it.
                let g = b.try_withdraw(now, RetryCost::Standard);
                b.on_success(now, g);
                g.is_some()
            })),
        ),
        (
            "quorate_sre",
            Box::new(Ours(sre, |b, now| {
                // A request is counted and accepted; a retry is admitted or shed.
                b.on_success(now, None);
                b.try_withdraw(now, RetryCost::Standard).is_some()
            })),
        ),
        (
            "tower_tps",
            Box::new(Tower(tower::retry::budget::TpsBudget::new(
                Duration::from_secs(10),
                10,
                1.0,
            ))),
        ),
        ("two_atomic_floor", Box::new(Floor(AtomicI64::new(0)))),
    ]
}

fn budget(c: &mut Criterion) {
    // Our budgets take the caller's `now`: it advances 1 µs per round, so window rotation (every
    // second for the windowed budget) is included, amortised.
    let mut g = c.benchmark_group("budget_deposit_withdraw_1t");
    for (name, b) in contenders() {
        let mut now = 0u64;
        g.bench_function(name, |bench| {
            bench.iter(|| {
                now += 1_000;
                black_box(b.round(black_box(now)))
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("budget_deposit_withdraw_2t");
    for (name, b) in contenders() {
        let b = &*b;
        g.bench_function(name, |bench| {
            bench.iter_custom(|iters| {
                let barrier = std::sync::Barrier::new(2);
                let start = std::thread::scope(|s| {
                    let other = s.spawn(|| {
                        barrier.wait();
                        for i in 0..iters {
                            black_box(b.round(i * 1_000));
                        }
                    });
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(b.round(i * 1_000));
                    }
                    let _ = other.join();
                    start
                });
                start.elapsed()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, next_delay, budget);
criterion_main!(benches);
