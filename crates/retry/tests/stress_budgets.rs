//! Sixteen threads hammer each budget at once: no budget ever grants more than its
//! accounting allows (zero overdraft), and no update is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use quorate_retry::{
    AdaptiveThrottle, GrpcThrottle, OutcomeClass, RetryBudget, RetryCost, RetryQuota,
    WindowedBudget,
};

const THREADS: u64 = 16;

fn run(f: impl Fn(u64) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let hs: Vec<_> = (0..THREADS)
        .map(|t| {
            let f = Arc::clone(&f);
            thread::spawn(move || f(t))
        })
        .collect();
    for h in hs {
        h.join().expect("worker panicked");
    }
}

#[test]
fn windowed_grants_exactly_floor_p_times_d_plus_reserve() {
    // 16 threads each deposit 1000 times at 0.3 and ask for a retry after every deposit and
    // 2000 more times after; reserve 10/s × 10 s = 100.
    let b = Arc::new(WindowedBudget::new(Duration::from_secs(10), 10, 0.3).unwrap());
    let grants = Arc::new(AtomicU64::new(0));
    let (b2, g2) = (Arc::clone(&b), Arc::clone(&grants));
    run(move |_| {
        for _ in 0..1000 {
            b2.on_request(0);
            if b2.try_withdraw(0, RetryCost::Standard).is_some() {
                g2.fetch_add(1, Ordering::Relaxed);
            }
        }
        for _ in 0..2000 {
            if b2.try_withdraw(0, RetryCost::Standard).is_some() {
                g2.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    // Deposits: 16 000 × 0.3 = 4 800 exactly, plus 100 reserve. Any overdraft would exceed it;
    // the final drain shows nothing was lost either.
    assert_eq!(grants.load(Ordering::Relaxed), 4_900);
    assert_eq!(b.available(), 0);
}

#[test]
fn windowed_rotation_under_contention_conserves_the_balance() {
    // Threads deposit and withdraw while time sweeps through 30 windows; several threads race
    // to rotate. Afterwards, once everything has expired, exactly the reserve must remain: a
    // lost or doubled slot would show up as a different number.
    let b = Arc::new(WindowedBudget::new(Duration::from_secs(1), 7, 0.5).unwrap());
    let b2 = Arc::clone(&b);
    run(move |t| {
        for i in 0..3000u64 {
            let now = i * 1_000_000 + t * 7_919; // 3 s of time, threads slightly skewed
            b2.on_request(now);
            if i % 3 == 0 {
                let _ = b2.try_withdraw(now, RetryCost::Standard);
            }
        }
    });
    let later = 100_000_000_000;
    let granted = (0..100)
        .filter(|_| b.try_withdraw(later, RetryCost::Standard).is_some())
        .count();
    assert_eq!(granted, 7);
}

#[test]
fn grpc_never_grants_below_the_threshold() {
    // No successes: failures drive tokens 100 → 0. A retry is granted only if the count left by
    // the thread's own failure was above 50 (charged and checked in one CAS): only 49 of the
    // 800 failures leave 99..=51, so at most 49 grants (fewer if a grant's re-check of the
    // current count lands after other failures).
    let t = Arc::new(GrpcThrottle::new(100.0, 0.5).unwrap());
    let grants = Arc::new(AtomicU64::new(0));
    let (t2, g2) = (Arc::clone(&t), Arc::clone(&grants));
    run(move |_| {
        for _ in 0..50 {
            if t2.on_failure(0, OutcomeClass::Transient)
                && t2.try_withdraw(0, RetryCost::Standard).is_some()
            {
                g2.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    assert!(
        grants.load(Ordering::Relaxed) <= 49,
        "{}",
        grants.load(Ordering::Relaxed)
    );
    assert_eq!(t.milli_tokens(), 0);
}

#[test]
fn grpc_successes_and_failures_are_never_lost() {
    let t = Arc::new(GrpcThrottle::new(1000.0, 1.0).unwrap());
    let t2 = Arc::clone(&t);
    run(move |i| {
        for _ in 0..500 {
            if i % 2 == 0 {
                t2.on_failure(0, OutcomeClass::Transient);
            } else {
                t2.on_success(0, None);
            }
        }
    });
    // Tokens start full, so early successes may be clipped at the cap; failures never are
    // until zero. 8 × 500 failures = 4000 > 1000: the count must end within [0, 1000].
    assert!(t.milli_tokens() <= 1_000_000);
}

#[test]
fn aws_quota_never_overdraws() {
    let q = Arc::new(RetryQuota::standard());
    let grants = Arc::new(AtomicU64::new(0));
    let refunds = Arc::new(AtomicU64::new(0));
    let (q2, g2, r2) = (Arc::clone(&q), Arc::clone(&grants), Arc::clone(&refunds));
    run(move |t| {
        for i in 0..2000u64 {
            let cost = if (i + t) % 4 == 0 {
                RetryCost::Timeout
            } else {
                RetryCost::Standard
            };
            if let Some(g) = q2.try_withdraw(0, cost) {
                g2.fetch_add(g.cost(), Ordering::Relaxed);
                if i % 10 == 0 {
                    q2.on_success(0, Some(g));
                    r2.fetch_add(g.cost(), Ordering::Relaxed);
                }
            }
        }
    });
    // Everything granted was paid for out of the capacity plus refunds.
    let (spent, refunded) = (
        grants.load(Ordering::Relaxed),
        refunds.load(Ordering::Relaxed),
    );
    assert_eq!(spent, 500 - q.available() + refunded);
    assert!(spent <= 500 + refunded);
}

#[test]
fn sre_counts_every_request() {
    let t = Arc::new(
        AdaptiveThrottle::new(2.0, Duration::from_secs(60))
            .unwrap()
            .with_seed(5),
    );
    let t2 = Arc::clone(&t);
    run(move |_| {
        for _ in 0..1000 {
            let _ = t2.on_request(0);
        }
    });
    // 16 000 requests, no accepts: p = 16000 / 16001 exactly if no increment was lost.
    assert!((t.reject_probability(0) - 16_000.0 / 16_001.0).abs() < 1e-12);
}
