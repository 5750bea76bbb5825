//! Random interleavings of begin, checkpoint, complete, clock advances and reaping, on the
//! memory and SQLite stores, against the state machine's invariants: epochs per key only grow;
//! only the newest attempt may checkpoint or complete; a completed key replays exactly the
//! response it was completed with until retention; a refused begin records nothing.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::ManualClock;
use quorate_idempotency::{
    Attempt, Begin, Bytes, Fingerprint, IdempotencyStore, MemoryStore, Outcome, State, StoreConfig,
    StoreError,
};

#[derive(Debug, Clone)]
enum Op {
    Begin { key: u8, fp: u8 },
    Checkpoint { attempt: usize },
    Complete { attempt: usize, outcome: u8 },
    Advance { secs: u64 },
    Reap,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..2, 0u8..2).prop_map(|(key, fp)| Op::Begin { key, fp }),
        2 => any::<usize>().prop_map(|attempt| Op::Checkpoint { attempt }),
        3 => (any::<usize>(), 0u8..3).prop_map(|(attempt, outcome)| Op::Complete { attempt, outcome }),
        2 => prop_oneof![0u64..3, 9u64..12, 50u64..70].prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Reap),
    ]
}

/// Lock ttl 10 s, retention 60 s.
fn config() -> StoreConfig {
    StoreConfig::new(Duration::from_secs(10), Duration::from_secs(60), 64).expect("valid")
}

fn check(store: &impl IdempotencyStore, clock: &ManualClock, ops: &[Op]) {
    let keys = ["k0", "k1"];
    let fps = [Fingerprint::of(b"a"), Fingerprint::of(b"b")];
    let mut attempts: Vec<Attempt> = Vec::new();
    // Per key: the newest epoch issued, and the response of the newest terminal completion.
    let mut newest: HashMap<&str, u64> = HashMap::new();
    let mut completed: HashMap<&str, Bytes> = HashMap::new();
    let mut n = 0u32;
    for op in ops {
        match *op {
            Op::Begin { key, fp } => {
                let key = keys[usize::from(key)];
                let before = store.get("s", key).expect("get");
                match store.begin("s", key, &fps[usize::from(fp)]).expect("begin") {
                    Begin::Execute(a) => {
                        let last = newest.get(key).copied().unwrap_or(0);
                        assert!(
                            a.epoch().get() > last,
                            "epochs grow: {} after {last}",
                            a.epoch()
                        );
                        newest.insert(key, a.epoch().get());
                        attempts.push(a);
                    }
                    Begin::Replay(stored) => {
                        assert_eq!(
                            Some(&stored.response),
                            completed.get(key),
                            "replay of {key}"
                        );
                        assert_eq!(Some(stored.epoch.get()), newest.get(key).copied());
                        assert_eq!(store.get("s", key).expect("get"), before);
                    }
                    Begin::InProgress { retry_after } => {
                        assert!(retry_after <= Duration::from_secs(10));
                        let after = store.get("s", key).expect("get");
                        assert_eq!(after, before, "a refused begin records nothing");
                        let record = after.expect("an in-progress record");
                        assert_eq!(record.state, State::InProgress);
                        assert_eq!(Some(record.epoch.get()), newest.get(key).copied());
                    }
                    Begin::FingerprintMismatch => {
                        let after = store.get("s", key).expect("get");
                        assert!(after.is_some());
                        assert_eq!(after, before, "a mismatch leaves the record");
                    }
                }
            }
            Op::Checkpoint { attempt } if !attempts.is_empty() => {
                let a = &attempts[attempt % attempts.len()];
                let result = store.checkpoint(a, "phase", b"data");
                if newest.get(a.key()) != Some(&a.epoch().get()) {
                    assert!(
                        matches!(result, Err(StoreError::StaleAttempt { .. })),
                        "{result:?}"
                    );
                }
            }
            Op::Complete { attempt, outcome } if !attempts.is_empty() => {
                let a = attempts[attempt % attempts.len()].clone();
                n += 1;
                let response = Bytes::from(format!("response {n}"));
                let outcome = match outcome {
                    0 => Outcome::Succeeded(response.clone()),
                    1 => Outcome::FailedFinal(response.clone()),
                    _ => Outcome::FailedRetryable,
                };
                let terminal = outcome.is_terminal();
                let result = store.complete(&a, outcome);
                let key = keys
                    .iter()
                    .copied()
                    .find(|k| *k == a.key())
                    .expect("known key");
                if newest.get(key) != Some(&a.epoch().get()) {
                    assert!(
                        matches!(result, Err(StoreError::StaleAttempt { .. })),
                        "{result:?}"
                    );
                }
                if result.is_ok() {
                    if terminal {
                        completed.insert(key, response);
                    }
                    // A second completion by the same attempt is always refused.
                    assert!(matches!(
                        store.complete(&a, Outcome::FailedRetryable),
                        Err(StoreError::StaleAttempt { .. })
                    ));
                }
            }
            Op::Advance { secs } => clock.advance(Duration::from_secs(secs)),
            Op::Reap => {
                let _ = store.reap(1).expect("reap");
            }
            Op::Checkpoint { .. } | Op::Complete { .. } => {}
        }
    }
}

fn clock() -> ManualClock {
    ManualClock::new(1_700_000_000_000_000_000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn memory_store_keeps_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let clock = clock();
        let store = MemoryStore::with_clocks(config(), clock.clone(), clock.clone());
        check(&store, &clock, &ops);
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_store_keeps_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let clock = clock();
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        quorate_idempotency::sqlite::migrate(&conn).expect("migrate");
        let store = quorate_idempotency::SqliteStore::from_connection(conn, config())
            .expect("store")
            .with_clocks(clock.clone(), clock.clone());
        check(&store, &clock, &ops);
    }
}
