//! Loom models of the budgets' compare-and-swap accounting (tiny configurations).
#![cfg(quorate_loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use quorate_retry::{
    AdaptiveThrottle, GrpcThrottle, OutcomeClass, RetryBudget, RetryCost, RetryQuota,
    WindowedBudget,
};

#[test]
fn windowed_last_retry_is_granted_once() {
    loom::model(|| {
        // Reserve of exactly one retry.
        let b = Arc::new(WindowedBudget::new(Duration::from_secs(1), 1, 0.0).unwrap());
        let b2 = Arc::clone(&b);
        let h = thread::spawn(move || b2.try_withdraw(0, RetryCost::Standard).is_some());
        let mine = b.try_withdraw(0, RetryCost::Standard).is_some();
        let theirs = h.join().unwrap();
        assert!(
            mine ^ theirs,
            "exactly one of the two may take the last retry"
        );
    });
}

#[test]
fn windowed_deposit_races_rotation_without_losing_accounting() {
    loom::model(|| {
        let b = Arc::new(WindowedBudget::new(Duration::from_secs(1), 0, 1.0).unwrap());
        b.on_request(0);
        let b2 = Arc::clone(&b);
        // Both threads act in a later window, so either may rotate while the other deposits.
        let h = thread::spawn(move || {
            b2.on_request(200_000_000);
        });
        let got = b.try_withdraw(200_000_000, RetryCost::Standard).is_some();
        h.join().unwrap();
        // The withdrawal may be refused while the other thread rotates (conservative), but if
        // granted it is charged to window 2, never to the closing window 0: at 1.1 s (window 0
        // expired, window 2 live) the one live deposit funds a retry only if it was not used.
        let left = (0..3)
            .filter(|_| b.try_withdraw(1_100_000_000, RetryCost::Standard).is_some())
            .count();
        assert_eq!(usize::from(got) + left, 1, "got {got}, left {left}");
        let later = (0..3)
            .filter(|_| b.try_withdraw(2_500_000_000, RetryCost::Standard).is_some())
            .count();
        assert_eq!(later, 0, "everything expired: nothing conjured");
    });
}

#[test]
fn windowed_racing_rotations_conserve_the_balance() {
    loom::model(|| {
        let b = Arc::new(WindowedBudget::new(Duration::from_secs(1), 0, 1.0).unwrap());
        b.on_request(0); // window 0
        let b2 = Arc::clone(&b);
        // One thread works in window 1, the other in window 10 (which expires window 0): both
        // may rotate, in either order, while the other deposits or withdraws.
        let h = thread::spawn(move || {
            b2.on_request(150_000_000);
            b2.try_withdraw(150_000_000, RetryCost::Standard).is_some()
        });
        let late = b.try_withdraw(1_050_000_000, RetryCost::Standard).is_some();
        let early = h.join().unwrap();
        // Two deposits, so at most two grants.
        assert!(usize::from(early) + usize::from(late) <= 2);
        // Long after, everything has expired: one new deposit funds exactly one retry. A lost
        // or doubled slot would leave the balance off by one in one direction or the other.
        b.on_request(9_000_000_000);
        assert!(b.try_withdraw(9_000_000_000, RetryCost::Standard).is_some());
        assert!(b.try_withdraw(9_000_000_000, RetryCost::Standard).is_none());
    });
}

#[test]
fn quota_grants_never_overdraw() {
    loom::model(|| {
        let q = Arc::new(RetryQuota::new(5, 5, 5, 1).unwrap());
        let q2 = Arc::clone(&q);
        let h = thread::spawn(move || q2.try_withdraw(0, RetryCost::Standard));
        let mine = q.try_withdraw(0, RetryCost::Standard);
        let theirs = h.join().unwrap();
        assert_eq!(
            usize::from(mine.is_some()) + usize::from(theirs.is_some()),
            1
        );
        assert_eq!(q.available(), 0);
    });
}

#[test]
fn quota_refund_and_withdraw_race() {
    loom::model(|| {
        let q = Arc::new(RetryQuota::new(10, 5, 5, 1).unwrap());
        let g = q.try_withdraw(0, RetryCost::Standard).unwrap();
        let q2 = Arc::clone(&q);
        let h = thread::spawn(move || q2.on_success(0, Some(g)));
        let got = q.try_withdraw(0, RetryCost::Standard).is_some();
        h.join().unwrap();
        assert!(got);
        assert_eq!(q.available(), 5);
    });
}

#[test]
fn grpc_failures_are_never_lost() {
    loom::model(|| {
        let t = Arc::new(GrpcThrottle::new(4.0, 1.0).unwrap());
        let t2 = Arc::clone(&t);
        let h = thread::spawn(move || {
            t2.on_failure(0, OutcomeClass::Transient)
                && t2.try_withdraw(0, RetryCost::Standard).is_some()
        });
        let mine = t.on_failure(0, OutcomeClass::Transient)
            && t.try_withdraw(0, RetryCost::Standard).is_some();
        let theirs = h.join().unwrap();
        assert_eq!(t.milli_tokens(), 2000);
        // Only the failure that leaves 3 (> 2) makes room for a retry, the one that leaves 2 does
        // not; the grant also re-checks the current count, so it may be refused if the other
        // failure landed in between: never more than one grant, whatever the interleaving.
        assert!(usize::from(mine) + usize::from(theirs) <= 1);
    });
}

#[test]
fn windowed_deposits_that_rotate_are_counted_once() {
    loom::model(|| {
        // Both deposits arrive in window 1 with window 0 current: each adds first, finds the
        // window due, takes its deposit back, rotates (or finds the other rotating) and adds it
        // again. Whatever the interleaving, the balance ends exactly three deposits high.
        let b = Arc::new(WindowedBudget::new(Duration::from_secs(1), 0, 1.0).unwrap());
        b.on_request(0);
        let b2 = Arc::clone(&b);
        let h = thread::spawn(move || {
            b2.on_request(150_000_000);
        });
        b.on_request(150_000_000);
        h.join().unwrap();
        let now = (0..4)
            .filter(|_| b.try_withdraw(150_000_000, RetryCost::Standard).is_some())
            .count();
        assert_eq!(now, 3, "three live deposits fund exactly three retries");
        // The three retries are charged to window 1; when window 0 expires, whatever was
        // credited to it leaves the balance at or below zero: nothing more is granted.
        assert!(b.try_withdraw(1_050_000_000, RetryCost::Standard).is_none());
        // Long after, everything has expired: one deposit funds exactly one retry.
        b.on_request(9_000_000_000);
        assert!(b.try_withdraw(9_000_000_000, RetryCost::Standard).is_some());
        assert!(b.try_withdraw(9_000_000_000, RetryCost::Standard).is_none());
    });
}

#[test]
fn adaptive_counts_racing_into_an_expired_slot_are_exact() {
    loom::model(|| {
        // Slots of 1 ns: window 10 reuses window 0's slot. Three requests in window 0, then
        // two threads each count one request in window 10: both optimistic increments land in
        // the expired word; one replaces it with a fresh count, the other's increment is
        // discarded with the old word and counted again. Exactly two requests and no accepts
        // live in window 10, so the reject probability is 2 / 3.
        let t = Arc::new(
            AdaptiveThrottle::new(1.0, Duration::from_nanos(10))
                .unwrap()
                .with_seed(3),
        );
        for _ in 0..3 {
            t.on_request(0);
        }
        let t2 = Arc::clone(&t);
        let h = thread::spawn(move || {
            t2.on_request(10);
        });
        t.on_request(10);
        h.join().unwrap();
        assert_eq!(t.reject_probability(10), 2.0 / 3.0);
    });
}

#[test]
fn adaptive_accepts_and_requests_share_a_slot_without_losing_counts() {
    loom::model(|| {
        // One thread counts accepts while the other counts requests in the same (fresh) slot
        // pair: neither count disturbs the other. 2 requests, 2 accepts, K = 1: probability 0.
        let t = Arc::new(
            AdaptiveThrottle::new(1.0, Duration::from_nanos(10))
                .unwrap()
                .with_seed(3),
        );
        t.on_request(0);
        let t2 = Arc::clone(&t);
        let h = thread::spawn(move || {
            t2.on_success(5, None);
            t2.on_success(5, None);
        });
        t.on_request(5);
        h.join().unwrap();
        assert_eq!(t.reject_probability(5), 0.0);
        // A third request with no accept: (3 − 2) / 4.
        t.on_request(5);
        assert_eq!(t.reject_probability(5), 0.25);
    });
}
