//! Zero-allocation claims: drawing delays, budget operations and planning never allocate.
//! The counting allocator counts per thread so the test harness cannot interfere.

use quorate_testkit::{CountingAllocator, allocations};
use std::time::Duration;

use quorate_retry::{
    AdaptiveThrottle, Backoff, BackoffState, FastRng, GrpcThrottle, Jitter, OutcomeClass,
    RetryBudget, RetryCost, RetryPlanner, RetryPolicy, RetryQuota, ThreadLocalRng, WindowedBudget,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocs_during(f: impl FnOnce()) -> u64 {
    allocations(f).0
}

#[test]
fn hot_paths_do_not_allocate() {
    let backoffs: Vec<Backoff> = [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ]
    .into_iter()
    .map(|j| {
        Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_secs(2))
            .unwrap()
            .with_jitter(j)
    })
    .collect();
    let windowed = WindowedBudget::new(Duration::from_secs(1), 10, 0.2).unwrap();
    let grpc = GrpcThrottle::new(10.0, 0.1).unwrap();
    let quota = RetryQuota::standard();
    let sre = AdaptiveThrottle::new(2.0, Duration::from_secs(10)).unwrap();
    let policy = RetryPolicy::new(backoffs[1]).with_max_attempts(5).unwrap();
    // Warm the thread-local generator (its first use seeds from the OS).
    let _ = rand::RngCore::next_u64(&mut ThreadLocalRng);

    let n = allocs_during(|| {
        let mut rng = FastRng::seed_from_u64(1);
        for b in &backoffs {
            let mut s = BackoffState::new();
            for _ in 0..100 {
                std::hint::black_box(b.next_delay(&mut s, &mut rng));
                std::hint::black_box(b.next_delay(&mut s, &mut ThreadLocalRng));
            }
        }
        let budgets: [&dyn RetryBudget; 4] = [&windowed, &grpc, &quota, &sre];
        for (i, b) in budgets.iter().enumerate() {
            for t in 0..1000u64 {
                let now = t * 10_000_000; // crosses many windows: rotation included
                b.on_request(now);
                b.on_failure(now, OutcomeClass::Transient);
                let g = b.try_withdraw(now, RetryCost::Standard);
                b.on_success(now, g);
                std::hint::black_box(i);
            }
        }
        for t in 0..100u64 {
            let mut p = RetryPlanner::new(&policy).with_budget(&quota);
            let _ = p.begin_attempt(t);
            std::hint::black_box(p.on_failure(t + 1, OutcomeClass::Throttled.into(), &mut rng));
        }
    });
    assert_eq!(n, 0, "{n} allocations on the hot paths");
}
