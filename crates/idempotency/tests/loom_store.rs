//! Loom models of the in-memory store: begin / complete / takeover interleavings.
#![cfg(quorate_loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use quorate_clocks::ManualClock;
use quorate_idempotency::{
    Begin, Fingerprint, IdempotencyStore, MemoryStore, Outcome, StoreConfig, StoreError,
};

fn store(clock: &ManualClock) -> MemoryStore {
    let config =
        StoreConfig::new(Duration::from_secs(10), Duration::from_secs(3600), 64).expect("valid");
    MemoryStore::with_clocks(config, clock.clone(), clock.clone())
}

#[test]
fn two_begins_one_execute() {
    loom::model(|| {
        let clock = ManualClock::new(1_000);
        let store = Arc::new(store(&clock));
        let fp = Fingerprint::of(b"r");
        let other = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.begin("s", "k", &fp).expect("begin"))
        };
        let mine = store.begin("s", "k", &fp).expect("begin");
        let theirs = other.join().expect("join");
        let executes = [&mine, &theirs]
            .iter()
            .filter(|a| matches!(a, Begin::Execute(_)))
            .count();
        assert_eq!(executes, 1, "{mine:?} {theirs:?}");
    });
}

#[test]
fn late_completion_races_takeover() {
    loom::model(|| {
        let clock = ManualClock::new(1_000);
        let store = Arc::new(store(&clock));
        let fp = Fingerprint::of(b"r");
        let Begin::Execute(old) = store.begin("s", "k", &fp).expect("begin") else {
            panic!("execute")
        };
        clock.advance(Duration::from_secs(11)); // the old attempt's lock expired
        let taker = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let begin = store.begin("s", "k", &fp).expect("begin");
                if let Begin::Execute(new) = &begin {
                    store
                        .complete(new, Outcome::Succeeded("new".into()))
                        .expect("the taker holds the key");
                }
                begin
            })
        };
        let late = store.complete(&old, Outcome::Succeeded("old".into()));
        let begin = taker.join().expect("join");
        let Ok(Begin::Replay(stored)) = store.begin("s", "k", &fp) else {
            panic!("completed")
        };
        match (late, begin) {
            // The old attempt completed first: the taker replays its result.
            (Ok(()), Begin::Replay(r)) => {
                assert_eq!(r.response, "old");
                assert_eq!(stored.response, "old");
            }
            // The taker took over first: the late completion is fenced off.
            (Err(StoreError::StaleAttempt { .. }), Begin::Execute(new)) => {
                assert_eq!(Some(new.epoch()), old.epoch().next());
                assert_eq!(stored.response, "new");
            }
            (late, begin) => panic!("impossible interleaving: {late:?} {begin:?}"),
        }
    });
}

#[test]
fn release_races_begin() {
    loom::model(|| {
        let clock = ManualClock::new(1_000);
        let store = Arc::new(store(&clock));
        let fp = Fingerprint::of(b"r");
        let Begin::Execute(first) = store.begin("s", "k", &fp).expect("begin") else {
            panic!("execute")
        };
        let other = {
            let store = Arc::clone(&store);
            thread::spawn(move || store.begin("s", "k", &fp).expect("begin"))
        };
        store
            .complete(&first, Outcome::FailedRetryable)
            .expect("release");
        match other.join().expect("join") {
            Begin::InProgress { .. } => {
                // Begun before the release: the key is free now.
                assert!(matches!(store.begin("s", "k", &fp), Ok(Begin::Execute(_))));
            }
            Begin::Execute(second) => assert_eq!(Some(second.epoch()), first.epoch().next()),
            other => panic!("unexpected {other:?}"),
        }
    });
}
