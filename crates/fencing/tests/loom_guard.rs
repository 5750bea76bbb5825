//! Loom models of the guards: concurrent checks never accept a stale token after a newer one
//! was accepted.
#![cfg(quorate_loom)]

use loom::sync::Arc;
use loom::sync::Mutex;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use quorate_fencing::{FencingToken, ShardedGuard, TokenGuard};

#[test]
fn token_guard_refuses_an_older_token_once_a_newer_one_was_accepted() {
    loom::model(|| {
        let guard = Arc::new(TokenGuard::new());
        let accepted2 = Arc::new(AtomicBool::new(false));
        let (g, flag) = (Arc::clone(&guard), Arc::clone(&accepted2));
        let newer = thread::spawn(move || {
            let ok = g.check(FencingToken::new(2)).is_ok();
            assert!(ok, "the highest token is always accepted");
            flag.store(true, Ordering::SeqCst);
        });
        let (g, flag) = (Arc::clone(&guard), Arc::clone(&accepted2));
        let older = thread::spawn(move || {
            let seen_newer = flag.load(Ordering::SeqCst);
            let ok = g.check(FencingToken::new(1)).is_ok();
            assert!(!(seen_newer && ok), "1 accepted after 2 was");
        });
        // The same holder as the newer one, checking again.
        let again = guard.check(FencingToken::new(2)).is_ok();
        assert!(again);
        newer.join().unwrap();
        older.join().unwrap();
        assert_eq!(guard.highest(), FencingToken::new(2));
    });
}

#[test]
fn token_guard_racing_advances_end_at_the_maximum() {
    loom::model(|| {
        let guard = Arc::new(TokenGuard::new());
        let handles: Vec<_> = [3u64, 5]
            .into_iter()
            .map(|t| {
                let g = Arc::clone(&guard);
                thread::spawn(move || g.check(FencingToken::new(t)).is_ok())
            })
            .collect();
        let four = guard.check(FencingToken::new(4));
        let results: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(results[1], "5 is the maximum: always accepted");
        assert_eq!(guard.highest(), FencingToken::new(5));
        // A refusal names a token that really was accepted and is above the presented one.
        if let Err(e) = four {
            assert_eq!(e.highest, FencingToken::new(5));
        }
    });
}

#[test]
fn sharded_guard_writes_in_token_order() {
    loom::model(|| {
        let guard: Arc<ShardedGuard<u8>> = Arc::new(ShardedGuard::with_shards(1));
        let log = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|t| {
                let (g, log) = (Arc::clone(&guard), Arc::clone(&log));
                thread::spawn(move || {
                    let _ = g.fenced(&7u8, FencingToken::new(t), || log.lock().unwrap().push(t));
                })
            })
            .collect();
        let _ = guard.fenced(&7u8, FencingToken::new(2), || log.lock().unwrap().push(2));
        for h in handles {
            h.join().unwrap();
        }
        let log = log.lock().unwrap();
        assert!(
            log.windows(2).all(|w| w[0] <= w[1]),
            "writes out of token order: {log:?}"
        );
        assert_eq!(log.iter().filter(|&&t| t == 2).count(), 2);
        assert_eq!(guard.highest(&7u8), Some(FencingToken::new(2)));
    });
}
