//! The idempotency-store conformance suite every `quorate-idempotency` backend runs unchanged.
//!
//! A backend's test implements [`Harness`] (a fresh store per case, a way to let time pass on
//! the store's lock and retention clocks, a way to jump the application host's wall clock) and
//! calls [`run_all`]. Each case is also public, so a failing one can be run alone.
//!
//! A backend's test (shown, not compiled here: the testkit does not depend on
//! `quorate-clocks`; `crates/idempotency/tests/conformance.rs` is the real thing):
//!
//! ```ignore
//! use std::time::Duration;
//! use quorate_clocks::{ManualClock, WallClock};
//! use quorate_idempotency::{MemoryStore, StoreConfig};
//! use quorate_testkit::idempotency_suite::{Harness, run_all};
//!
//! struct Memory(ManualClock);
//! impl Harness for Memory {
//!     type Store = MemoryStore;
//!     fn open(&mut self, config: StoreConfig) -> MemoryStore {
//!         MemoryStore::with_clocks(config, self.0.clone(), self.0.clone())
//!     }
//!     fn advance(&mut self, _: &MemoryStore, by: Duration) { self.0.advance(by) }
//!     fn jump_wall_clock(&mut self, _: &MemoryStore, forward: bool, by: Duration) {
//!         let now = self.0.now_unix_nanos();
//!         let by = by.as_nanos() as u64;
//!         self.0.set(if forward { now + by } else { now - by });
//!     }
//! }
//!
//! #[test]
//! fn memory_store_conforms() { run_all(&mut Memory(ManualClock::new(1 << 40))) }
//! ```

// Every case panics on a conformance failure: that is how the suite fails the calling test.
#![allow(clippy::missing_panics_doc)]

use std::sync::Barrier;
use std::time::Duration;

use quorate_idempotency::{
    Attempt, Begin, Bytes, Fingerprint, IdempotencyStore, InvalidKey, Outcome, State, StoreConfig,
    StoreError, Terminal,
};

/// What the suite needs from a backend's test.
pub trait Harness {
    /// The store under test.
    type Store: IdempotencyStore;
    /// A fresh, empty store with `config` (each case opens its own).
    fn open(&mut self, config: StoreConfig) -> Self::Store;
    /// Lets `by` pass on the store's lock clock and retention clock.
    fn advance(&mut self, store: &Self::Store, by: Duration);
    /// Steps the application host's wall clock forward or back by `by`, leaving the lock
    /// clock alone (a no-op for a backend that never reads the host's wall clock).
    fn jump_wall_clock(&mut self, store: &Self::Store, forward: bool, by: Duration);
}

/// Lock ttl 10 s, retention 1 h, responses up to 4 KiB.
fn config() -> StoreConfig {
    StoreConfig::new(Duration::from_secs(10), Duration::from_secs(3600), 4096)
        .expect("valid config")
}

const TTL: Duration = Duration::from_secs(10);
const MS: Duration = Duration::from_millis(1);

fn fp(s: &str) -> Fingerprint {
    Fingerprint::of(s.as_bytes())
}

fn execute<S: IdempotencyStore>(store: &S, scope: &str, key: &str, f: &Fingerprint) -> Attempt {
    match store.begin(scope, key, f) {
        Ok(Begin::Execute(a)) => a,
        other => panic!("begin({scope:?}, {key:?}): expected execute, got {other:?}"),
    }
}

fn replay<S: IdempotencyStore>(store: &S, key: &str, f: &Fingerprint) -> (Terminal, Bytes) {
    match store.begin("s", key, f) {
        Ok(Begin::Replay(stored)) => (stored.terminal, stored.response),
        other => panic!("begin({key:?}): expected replay, got {other:?}"),
    }
}

fn in_progress<S: IdempotencyStore>(store: &S, key: &str, f: &Fingerprint) -> Duration {
    match store.begin("s", key, f) {
        Ok(Begin::InProgress { retry_after }) => retry_after,
        other => panic!("begin({key:?}): expected in progress, got {other:?}"),
    }
}

fn assert_stale(result: Result<(), StoreError>, current: Option<(u64, State)>) {
    match result {
        Err(StoreError::StaleAttempt { current: c, .. }) => assert_eq!(
            c.map(|(e, s)| (e.get(), s)),
            current,
            "stale attempt names the current epoch and state"
        ),
        other => panic!("expected a stale-attempt error, got {other:?}"),
    }
}

/// Runs every case, each on a fresh store.
pub fn run_all<H: Harness>(h: &mut H) {
    execute_then_replay_byte_for_byte(h);
    failed_final_is_replayed(h);
    failed_retryable_releases_the_key(h);
    fingerprint_mismatch_leaves_the_record(h);
    scopes_are_isolated(h);
    takeover_after_lock_expiry_fences_the_old_attempt(h);
    lock_holds_until_its_ttl(h);
    wall_clock_jumps_do_not_move_locks(h);
    recovery_points_resume_after_takeover(h);
    checkpoints_renew_the_lock(h);
    release_keeps_the_recovery_point(h);
    key_limits(h);
    response_limit(h);
    retention_expires_terminal_records(h);
    reaper_is_bounded_and_spares_live_locks(h);
    second_completion_is_stale(h);
    completion_without_a_record_is_stale(h);
    concurrent_begins_execute_once(h);
}

/// Execute, in progress while held, then the succeeded response replayed byte for byte.
pub fn execute_then_replay_byte_for_byte<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    assert!(a.epoch().get() >= 1);
    assert!(a.recovery().is_none());
    let wait = in_progress(&store, "k", &f);
    assert!(wait > Duration::ZERO && wait <= TTL, "retry_after {wait:?}");
    let body = Bytes::from_static(b"\x00\xff{\"id\":1}\r\n\x00");
    store
        .complete(&a, Outcome::Succeeded(body.clone()))
        .expect("complete");
    assert_eq!(replay(&store, "k", &f), (Terminal::Succeeded, body.clone()));
    assert_eq!(replay(&store, "k", &f), (Terminal::Succeeded, body.clone()));
    let record = store.get("s", "k").expect("get").expect("record");
    assert_eq!(record.state, State::Succeeded);
    assert_eq!(record.response, Some(body));
    assert_eq!(record.fingerprint, f);
    assert_eq!(store.get("s", "other").expect("get"), None);
}

/// A failed-final response is stored and replayed like a success.
pub fn failed_final_is_replayed<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    store
        .complete(
            &a,
            Outcome::FailedFinal(Bytes::from_static(b"card declined")),
        )
        .expect("complete");
    assert_eq!(
        replay(&store, "k", &f),
        (Terminal::FailedFinal, Bytes::from_static(b"card declined"))
    );
    let record = store.get("s", "k").expect("get").expect("record");
    assert_eq!(record.state, State::FailedFinal);
}

/// A retryable failure releases the key: the next begin executes with a higher epoch.
pub fn failed_retryable_releases_the_key<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    store
        .complete(&a, Outcome::FailedRetryable)
        .expect("complete");
    let record = store.get("s", "k").expect("get").expect("record");
    assert_eq!(record.state, State::FailedRetryable);
    assert_eq!(record.response, None);
    let b = execute(&store, "s", "k", &f);
    assert_eq!(Some(b.epoch()), a.epoch().next());
    assert_stale(
        store.complete(&a, Outcome::Succeeded("late".into())),
        Some((b.epoch().get(), State::InProgress)),
    );
    store
        .complete(&b, Outcome::Succeeded("ok".into()))
        .expect("complete");
    assert_eq!(replay(&store, "k", &f).1, "ok");
}

/// Same key, different request: refused, and the stored record is untouched.
pub fn fingerprint_mismatch_leaves_the_record<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let (fa, fb) = (fp("a"), fp("b"));
    let a = execute(&store, "s", "k", &fa);
    let before = store.get("s", "k").expect("get");
    assert_eq!(
        store.begin("s", "k", &fb).expect("begin"),
        Begin::FingerprintMismatch
    );
    assert_eq!(store.get("s", "k").expect("get"), before);
    store
        .complete(&a, Outcome::Succeeded("ok".into()))
        .expect("complete");
    let before = store.get("s", "k").expect("get");
    assert_eq!(
        store.begin("s", "k", &fb).expect("begin"),
        Begin::FingerprintMismatch
    );
    assert_eq!(store.get("s", "k").expect("get"), before);
    assert_eq!(replay(&store, "k", &fa).1, "ok");
}

/// A key in one scope never replays another scope's response.
pub fn scopes_are_isolated<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("same request");
    let a = execute(&store, "tenant-a", "k", &f);
    let b = execute(&store, "tenant-b", "k", &f);
    // A scope that is a prefix of another, with the rest moved into the key.
    let c = execute(&store, "tenant-", "ak", &f);
    store
        .complete(&a, Outcome::Succeeded("A".into()))
        .expect("complete");
    store
        .complete(&b, Outcome::Succeeded("B".into()))
        .expect("complete");
    store
        .complete(&c, Outcome::Succeeded("C".into()))
        .expect("complete");
    for (scope, key, want) in [
        ("tenant-a", "k", "A"),
        ("tenant-b", "k", "B"),
        ("tenant-", "ak", "C"),
    ] {
        match store.begin(scope, key, &f).expect("begin") {
            Begin::Replay(s) => assert_eq!(s.response, want, "scope {scope}"),
            other => panic!("expected replay in {scope}, got {other:?}"),
        }
    }
}

/// After the lock ttl a begin takes the key over with a higher epoch; the old attempt's
/// checkpoint and completion are refused, before and after the new one completes.
pub fn takeover_after_lock_expiry_fences_the_old_attempt<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let old = execute(&store, "s", "k", &f);
    h.advance(&store, TTL + MS);
    let new = execute(&store, "s", "k", &f);
    assert_eq!(Some(new.epoch()), old.epoch().next());
    let e = new.epoch().get();
    assert_stale(
        store.checkpoint(&old, "p", b"x"),
        Some((e, State::InProgress)),
    );
    assert_stale(
        store.complete(&old, Outcome::Succeeded("old".into())),
        Some((e, State::InProgress)),
    );
    store
        .complete(&new, Outcome::Succeeded("new".into()))
        .expect("complete");
    assert_stale(
        store.complete(&old, Outcome::Succeeded("old".into())),
        Some((e, State::Succeeded)),
    );
    assert_eq!(replay(&store, "k", &f).1, "new");
}

/// Before the ttl passes the key stays in progress, and nothing is recorded by the refused begin.
pub fn lock_holds_until_its_ttl<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    h.advance(&store, TTL - Duration::from_secs(1));
    let wait = in_progress(&store, "k", &f);
    assert!(wait <= Duration::from_secs(1) + MS, "retry_after {wait:?}");
    let record = store.get("s", "k").expect("get").expect("record");
    assert_eq!((record.epoch, record.state), (a.epoch(), State::InProgress));
    store
        .complete(&a, Outcome::Succeeded("ok".into()))
        .expect("complete");
}

/// A wall-clock jump on the host neither extends nor shortens a lock.
pub fn wall_clock_jumps_do_not_move_locks<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    h.jump_wall_clock(&store, true, TTL * 10);
    let _ = in_progress(&store, "k", &f);
    h.jump_wall_clock(&store, false, TTL * 20);
    let _ = in_progress(&store, "k", &f);
    h.advance(&store, TTL + MS);
    let b = execute(&store, "s", "k", &f);
    assert_eq!(Some(b.epoch()), a.epoch().next());
}

/// A takeover resumes after the last recorded phase, with its data.
pub fn recovery_points_resume_after_takeover<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    store
        .checkpoint(&a, "charged", b"ch_1")
        .expect("checkpoint");
    store
        .checkpoint(&a, "emailed", b"\x00msg")
        .expect("checkpoint");
    let record = store.get("s", "k").expect("get").expect("record");
    assert_eq!(record.recovery.as_ref().map(|p| p.phase()), Some("emailed"));
    h.advance(&store, TTL + MS);
    let b = execute(&store, "s", "k", &f);
    let point = b.recovery().expect("recovery point");
    assert_eq!(
        (point.phase(), &point.data()[..]),
        ("emailed", &b"\x00msg"[..])
    );
    store
        .complete(&b, Outcome::Succeeded("ok".into()))
        .expect("complete");
    let record = store.get("s", "k").expect("get").expect("record");
    assert_eq!(
        record.recovery, None,
        "a completed record keeps no recovery point"
    );
}

/// A checkpoint renews the attempt's lock.
pub fn checkpoints_renew_the_lock<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    h.advance(&store, TTL * 3 / 4);
    store.checkpoint(&a, "p", b"").expect("checkpoint");
    h.advance(&store, TTL * 3 / 4);
    let _ = in_progress(&store, "k", &f);
    store
        .complete(&a, Outcome::Succeeded("ok".into()))
        .expect("complete");
}

/// A retryable failure keeps the recovery point: the retry does not redo finished phases.
pub fn release_keeps_the_recovery_point<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    store.checkpoint(&a, "reserved", b"r1").expect("checkpoint");
    store
        .complete(&a, Outcome::FailedRetryable)
        .expect("release");
    let b = execute(&store, "s", "k", &f);
    assert_eq!(b.recovery().map(|p| p.phase()), Some("reserved"));
}

/// Empty or oversized keys and oversized scopes are refused; 255 bytes is accepted.
pub fn key_limits<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    assert!(matches!(
        store.begin("s", "", &f),
        Err(StoreError::InvalidKey(InvalidKey::Empty))
    ));
    assert!(matches!(
        store.begin("s", &"k".repeat(256), &f),
        Err(StoreError::InvalidKey(InvalidKey::TooLong {
            len: 256,
            max: 255
        }))
    ));
    // 128 two-byte characters: 256 bytes.
    assert!(matches!(
        store.begin("s", &"é".repeat(128), &f),
        Err(StoreError::InvalidKey(InvalidKey::TooLong { len: 256, .. }))
    ));
    assert!(matches!(
        store.begin(&"s".repeat(256), "k", &f),
        Err(StoreError::InvalidKey(InvalidKey::ScopeTooLong { .. }))
    ));
    let long = "k".repeat(255);
    let a = execute(&store, &"s".repeat(255), &long, &f);
    store
        .complete(&a, Outcome::Succeeded("ok".into()))
        .expect("complete");
    assert!(matches!(store.get("s", ""), Err(StoreError::InvalidKey(_))));
}

/// Responses and recovery data over the limit are refused, nothing stored, the attempt still
/// holds the key.
pub fn response_limit<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    let big = Bytes::from(vec![7u8; 4097]);
    assert!(matches!(
        store.complete(&a, Outcome::Succeeded(big.clone())),
        Err(StoreError::ResponseTooLarge {
            len: 4097,
            max: 4096
        })
    ));
    assert!(matches!(
        store.complete(&a, Outcome::FailedFinal(big.clone())),
        Err(StoreError::ResponseTooLarge { .. })
    ));
    assert!(matches!(
        store.checkpoint(&a, "p", &big),
        Err(StoreError::ResponseTooLarge { .. })
    ));
    let record = store.get("s", "k").expect("get").expect("record");
    assert_eq!((record.state, record.recovery), (State::InProgress, None));
    let exact = Bytes::from(vec![9u8; 4096]);
    store
        .complete(&a, Outcome::Succeeded(exact.clone()))
        .expect("a response at the limit is stored");
    assert_eq!(replay(&store, "k", &f).1, exact);
}

/// Past retention a terminal key is missing: get returns none, begin executes (even for
/// another request), and the epoch keeps counting.
pub fn retention_expires_terminal_records<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    store
        .complete(&a, Outcome::Succeeded("ok".into()))
        .expect("complete");
    h.advance(&store, Duration::from_secs(3599));
    assert_eq!(replay(&store, "k", &f).1, "ok");
    h.advance(&store, Duration::from_secs(2));
    assert_eq!(store.get("s", "k").expect("get"), None);
    let b = execute(&store, "s", "k", &fp("another request"));
    assert!(b.epoch() > a.epoch(), "epochs keep growing past retention");
    assert_stale(
        store.complete(&a, Outcome::Succeeded("late".into())),
        Some((b.epoch().get(), State::InProgress)),
    );
}

/// The reaper deletes expired records in bounded batches and never an in-progress record
/// whose lock is live, even past retention.
pub fn reaper_is_bounded_and_spares_live_locks<H: Harness>(h: &mut H) {
    // Retention shorter than the lock ttl, so a live lock can outlast retention.
    let cfg = StoreConfig::new(TTL, Duration::from_secs(1), 4096).expect("valid");
    let store = h.open(cfg);
    let f = fp("a");
    for i in 0..5 {
        let a = execute(&store, "s", &format!("done-{i}"), &f);
        store
            .complete(&a, Outcome::Succeeded("ok".into()))
            .expect("complete");
    }
    let live = execute(&store, "s", "live", &f);
    assert_eq!(store.reap(100).expect("reap"), 0, "nothing expired yet");
    h.advance(&store, Duration::from_secs(2));
    assert_eq!(store.reap(2).expect("reap"), 2);
    assert_eq!(store.reap(2).expect("reap"), 2);
    assert_eq!(store.reap(2).expect("reap"), 1);
    assert_eq!(store.reap(2).expect("reap"), 0);
    let record = store
        .get("s", "live")
        .expect("get")
        .expect("live record kept");
    assert_eq!(record.state, State::InProgress);
    store
        .checkpoint(&live, "p", b"")
        .expect("the live attempt still holds its key");
    h.advance(&store, TTL + MS);
    assert_eq!(
        store.reap(100).expect("reap"),
        1,
        "a dead lock past retention is reaped"
    );
    assert_eq!(store.get("s", "live").expect("get"), None);
    // The key's next incarnation starts above every epoch of the reaped one: the paused
    // attempt of the reaped record stays fenced.
    let next = execute(&store, "s", "live", &f);
    assert!(next.epoch() > live.epoch());
    assert_stale(
        store.complete(&live, Outcome::Succeeded("late".into())),
        Some((next.epoch().get(), State::InProgress)),
    );
}

/// Completing twice with the same attempt is refused the second time.
pub fn second_completion_is_stale<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let f = fp("a");
    let a = execute(&store, "s", "k", &f);
    store
        .complete(&a, Outcome::Succeeded("first".into()))
        .expect("complete");
    let e = a.epoch().get();
    assert_stale(
        store.complete(&a, Outcome::Succeeded("second".into())),
        Some((e, State::Succeeded)),
    );
    assert_stale(store.checkpoint(&a, "p", b""), Some((e, State::Succeeded)));
    assert_eq!(replay(&store, "k", &f).1, "first");
}

/// A completion for a key that has no record is refused.
pub fn completion_without_a_record_is_stale<H: Harness>(h: &mut H) {
    let store = h.open(config());
    let a = Attempt::resume(
        "s",
        "never",
        quorate_idempotency::FencingToken::new(1),
        None,
    );
    assert_stale(store.complete(&a, Outcome::Succeeded("x".into())), None);
    assert_eq!(store.get("s", "never").expect("get"), None);
}

/// 64 threads begin the same key at once: exactly one executes, the rest see it in progress.
pub fn concurrent_begins_execute_once<H: Harness>(h: &mut H)
where
    H::Store: Sync,
{
    let store = h.open(config());
    let f = fp("a");
    let barrier = Barrier::new(64);
    let answers: Vec<Begin> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    store.begin("s", "hot", &f).expect("begin")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let executes = answers
        .iter()
        .filter(|a| matches!(a, Begin::Execute(_)))
        .count();
    let waiting = answers
        .iter()
        .filter(|a| matches!(a, Begin::InProgress { .. }))
        .count();
    assert_eq!((executes, waiting), (1, 63), "answers: {answers:?}");
    let winner = answers
        .iter()
        .find_map(|a| match a {
            Begin::Execute(a) => Some(a.epoch()),
            _ => None,
        })
        .expect("one execute");
    let record = store.get("s", "hot").expect("get").expect("record");
    assert_eq!(record.epoch, winner);
}
