//! The outbox and inbox conformance suite every quorate-outbox backend runs.
//!
//! A backend implements [`Backend`] (a transaction runner, an effects table written inside the
//! consumer's transaction, relay stores on fresh connections) and expands
//! [`outbox_conformance!`](crate::outbox_conformance) in a test file, which generates one
//! `#[test]` per case of this module. The cases state the crate's guarantees: commit publishes
//! and rollback does not, per-key order follows commit order, claims are exclusive and expire,
//! graceful shutdown releases claims, retries back off without busy loops, dead letters and the
//! poison policies, crash-loop detection, metrics, bounded cleanup, backpressure hysteresis,
//! the inbox's once-only effects, and randomized crash schedules with several relays.
//!
//! Crashes are simulated in-process here (a panic unwinding out of the relay at a step, with
//! nothing recorded for the batch), which the store cannot tell from a killed process because
//! every store call is its own committed transaction; the real process kills live in the
//! backends' crash tests.

// Every case is an assertion: panicking on a violated guarantee is its whole purpose.
#![allow(clippy::missing_panics_doc)]

use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::Duration;

use quorate_outbox::{
    Backpressure, CallbackSink, DeadReason, EnqueueError, Inbox, InboxConfig, MemorySink,
    MessageId, NewMessage, Outbox, OutboxMessage, OutboxTransaction, PoisonPolicies, PoisonPolicy,
    PublishError, Relay, RelayConfig, RelaySignal, RelayStep, RelayStore,
};

/// The wall-clock start of every case (2026-01-01T00:00:00Z) in nanoseconds.
pub const START_NS: u64 = 1_767_225_600_000_000_000;

/// The payload of a simulated crash; the suite's panic hook keeps such panics quiet.
pub const SIMULATED_CRASH: &str = "simulated relay crash";

/// A backend under test.
pub trait Backend {
    /// The transaction the outbox enqueues into.
    type Tx<'a>: OutboxTransaction
    where
        Self: 'a;
    /// The relay store.
    type Store: RelayStore + 'static;

    /// A short name for messages.
    fn label(&self) -> &'static str;
    /// Runs `f` in a fresh transaction on its own connection; commits when `f` returns `true`
    /// in the first element, rolls back otherwise.
    fn transact<R>(&self, f: impl for<'a> FnOnce(&mut Self::Tx<'a>) -> (bool, R)) -> R;
    /// Records `value` in an effects table inside `tx` (the consumer's business write).
    fn effect(tx: &mut Self::Tx<'_>, value: &str);
    /// The committed effects in insertion order.
    fn effects(&self) -> Vec<String>;
    /// A relay store on a fresh connection.
    fn store(&self) -> Self::Store;
    /// Whether two transactions can be open at once (separate connections, row locks).
    fn concurrent_transactions(&self) -> bool;
    /// Deletes every outbox, key, dead-letter, inbox and effect row.
    fn reset(&self);
}

fn quiet_simulated_crashes() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let simulated = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|s| *s == SIMULATED_CRASH);
            if !simulated {
                default(info);
            }
        }));
    });
}

fn clock() -> quorate_outbox::ManualClock {
    quorate_outbox::ManualClock::new(START_NS)
}

fn outbox(clock: &quorate_outbox::ManualClock) -> Outbox {
    Outbox::builder()
        .clock(Arc::new(clock.clone()))
        .seed(1)
        .build()
}

fn msg(key: &str, payload: &str) -> NewMessage {
    NewMessage::new(key, "test.event", payload.as_bytes().to_vec()).expect("valid message")
}

fn config(relay: &str) -> quorate_outbox::RelayConfigBuilder {
    RelayConfig::builder()
        .relay_id(relay)
        .seed(7)
        .claim_timeout(Duration::from_secs(10))
        .backoff(
            quorate_outbox::Backoff::exponential(
                Duration::from_millis(100),
                2.0,
                Duration::from_secs(1),
            )
            .expect("valid backoff")
            .with_jitter(quorate_outbox::Jitter::Full),
        )
}

fn relay<B: Backend, K: quorate_outbox::Sink>(
    b: &B,
    sink: K,
    config: RelayConfig,
    clock: &quorate_outbox::ManualClock,
) -> Relay<B::Store, K> {
    Relay::new(b.store(), sink, config)
        .with_clocks(Arc::new(clock.clone()), Arc::new(clock.clone()))
}

fn enqueue<B: Backend>(b: &B, outbox: &Outbox, messages: &[NewMessage]) -> Vec<MessageId> {
    b.transact(|tx| {
        let ids = messages
            .iter()
            .map(|m| outbox.enqueue(tx, m).expect("enqueue"))
            .collect();
        (true, ids)
    })
}

fn payloads(messages: &[OutboxMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload()).into_owned())
        .collect()
}

fn by_key(messages: &[OutboxMessage]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in messages {
        out.entry(m.key().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(m.payload()).into_owned());
    }
    out
}

fn drain<S: RelayStore, K: quorate_outbox::Sink>(relay: &mut Relay<S, K>) -> usize {
    let mut sent = 0;
    for _ in 0..1_000 {
        let o = relay.run_once().expect("run_once");
        sent += o.sent;
        if o.claimed == 0 {
            return sent;
        }
    }
    panic!("relay did not drain in 1000 batches");
}

/// A committed transaction's messages are published; a rolled-back one's never are.
pub fn commit_publishes_rollback_does_not<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    b.transact(|tx| {
        outbox
            .enqueue(tx, &msg("a", "rolled-back"))
            .expect("enqueue");
        (false, ())
    });
    enqueue(b, &outbox, &[msg("a", "committed")]);
    let sink = MemorySink::new();
    let mut r = relay(
        b,
        sink.clone(),
        config("r1").build().expect("config"),
        &clock,
    );
    assert_eq!(drain(&mut r), 1, "{}", b.label());
    assert_eq!(payloads(&sink.messages()), ["committed"]);
    assert_eq!(r.metrics().expect("metrics").outbox.pending, 0);
    // Sent messages are not published again.
    clock.advance(Duration::from_secs(60));
    assert_eq!(drain(&mut r), 0);
    assert_eq!(sink.len(), 1);
}

/// Per-key order is commit order over several batches; every key is delivered.
pub fn per_key_order_follows_commit_order<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..40 {
        let key = format!("k{}", (i * 7) % 5);
        let payload = format!("{key}-{i}");
        enqueue(b, &outbox, &[msg(&key, &payload)]);
        expected.entry(key).or_default().push(payload);
    }
    // Two messages of one key in one transaction keep their statement order.
    enqueue(b, &outbox, &[msg("k9", "first"), msg("k9", "second")]);
    expected.insert("k9".into(), vec!["first".into(), "second".into()]);
    let sink = MemorySink::new();
    let mut r = relay(
        b,
        sink.clone(),
        config("r1").batch_size(7).build().expect("config"),
        &clock,
    );
    // Half now, half after the first batches: positions continue across numbering passes.
    assert_eq!(drain(&mut r), 42);
    for i in 40..60 {
        let key = format!("k{}", (i * 7) % 5);
        let payload = format!("{key}-{i}");
        enqueue(b, &outbox, &[msg(&key, &payload)]);
        expected.entry(key).or_default().push(payload);
    }
    assert_eq!(drain(&mut r), 20);
    assert_eq!(by_key(&sink.messages()), expected, "{}", b.label());
    // Within each key, positions are 1, 2, 3, ... in delivery order.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for m in sink.messages() {
        assert_eq!(m.msg_type(), "test.event");
        let prev = last.insert(m.key().to_owned(), m.key_seq()).unwrap_or(0);
        assert_eq!(m.key_seq(), prev + 1, "{} key {}", b.label(), m.key());
    }
}

/// Two relays never hold the same key; a claimed key is free again once its batch completes.
pub fn keys_are_claimed_exclusively<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    for i in 0..6 {
        enqueue(
            b,
            &outbox,
            &[msg(&format!("k{i}"), "x"), msg(&format!("k{i}"), "y")],
        );
    }
    let poison = PoisonPolicies::default();
    let mut s1 = b.store();
    let mut s2 = b.store();
    let now = i64::try_from(START_NS / 1_000_000).expect("ms");
    let req = |relay: &'static str, max: usize| quorate_outbox::ClaimRequest {
        relay,
        now_ms: now,
        claim_until_ms: now + 10_000,
        max_messages: max,
        crash_limit: 3,
        poison: &poison,
    };
    let a = s1.claim(&req("r1", 3)).expect("claim");
    let c = s2.claim(&req("r2", 100)).expect("claim");
    let keys_a: HashSet<_> = a.iter().map(|m| m.key().to_owned()).collect();
    let keys_c: HashSet<_> = c.iter().map(|m| m.key().to_owned()).collect();
    assert!(!a.is_empty() && !c.is_empty(), "{}", b.label());
    assert!(keys_a.is_disjoint(&keys_c), "{keys_a:?} vs {keys_c:?}");
    assert_eq!(keys_a.len() + keys_c.len(), 6);
    // Everything is claimed: a third claim gets nothing.
    assert!(s2.claim(&req("r3", 100)).expect("claim").is_empty());
    // Release r1's batch unattempted: its keys can be claimed again at once.
    let outcome = quorate_outbox::BatchOutcome {
        keys: keys_a.iter().cloned().collect(),
        unattempted: a
            .iter()
            .map(|m| (m.position(), m.key().to_owned()))
            .collect(),
        ..Default::default()
    };
    s1.complete("r1", &outcome, now).expect("complete");
    let again = s2.claim(&req("r2", 100)).expect("claim");
    let keys_again: HashSet<_> = again.iter().map(|m| m.key().to_owned()).collect();
    assert_eq!(keys_again, keys_a);
}

/// A relay that dies after claiming holds its keys until the claim expires; then another
/// relay publishes them.
pub fn expired_claims_are_taken_over<B: Backend>(b: &B) {
    quiet_simulated_crashes();
    let clock = clock();
    let outbox = outbox(&clock);
    enqueue(b, &outbox, &[msg("k", "m1"), msg("k", "m2")]);
    let dead_sink = MemorySink::new();
    let mut crashing = relay(
        b,
        dead_sink.clone(),
        config("r1").build().expect("config"),
        &clock,
    )
    .with_observer(|s| {
        if s == RelayStep::Claimed {
            std::panic::panic_any(SIMULATED_CRASH);
        }
    });
    assert!(catch_unwind(AssertUnwindSafe(|| crashing.run_once())).is_err());
    assert!(dead_sink.is_empty());
    let sink = MemorySink::new();
    let mut r2 = relay(
        b,
        sink.clone(),
        config("r2").build().expect("config"),
        &clock,
    );
    assert_eq!(
        r2.run_once().expect("run").claimed,
        0,
        "{}: claim still held",
        b.label()
    );
    clock.advance(Duration::from_secs(11));
    assert_eq!(drain(&mut r2), 2);
    assert_eq!(payloads(&sink.messages()), ["m1", "m2"]);
}

/// Killed after the sink acknowledged but before mark-sent: published again, and the
/// consumer's inbox applies the effect once.
pub fn republished_duplicates_are_dropped_by_the_inbox<B: Backend>(b: &B) {
    quiet_simulated_crashes();
    let clock = clock();
    let outbox = outbox(&clock);
    let ids = enqueue(b, &outbox, &[msg("k", "m1")]);
    let delivered = MemorySink::new();
    let mut crashing = relay(
        b,
        delivered.clone(),
        config("r1").build().expect("config"),
        &clock,
    )
    .with_observer(|s| {
        if s == RelayStep::Published {
            std::panic::panic_any(SIMULATED_CRASH);
        }
    });
    assert!(catch_unwind(AssertUnwindSafe(|| crashing.run_once())).is_err());
    clock.advance(Duration::from_secs(11));
    let mut r2 = relay(
        b,
        delivered.clone(),
        config("r2").build().expect("config"),
        &clock,
    );
    assert_eq!(drain(&mut r2), 1);
    let deliveries = delivered.messages();
    assert_eq!(deliveries.len(), 2, "{}: published twice", b.label());
    assert!(deliveries.iter().all(|m| m.id() == &ids[0]));
    let inbox = inbox(&clock);
    let mut applied = 0;
    for m in &deliveries {
        let r = b.transact(|tx| {
            let r = inbox
                .process_once(tx, "consumer", m.id(), |tx| {
                    B::effect(tx, "captured");
                    Ok::<_, String>(())
                })
                .expect("process");
            (true, r)
        });
        if !r.is_duplicate() {
            applied += 1;
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(b.effects(), ["captured"]);
}

fn inbox(clock: &quorate_outbox::ManualClock) -> Inbox {
    Inbox::new(
        InboxConfig::new(Duration::from_secs(86_400), Duration::from_secs(3_600))
            .expect("inbox config"),
    )
    .with_clock(Arc::new(clock.clone()))
}

/// Shutdown mid-batch releases what was not published, so another relay needs no timeout.
pub fn graceful_shutdown_releases_claims<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    enqueue(
        b,
        &outbox,
        &[msg("k", "m1"), msg("k", "m2"), msg("k", "m3")],
    );
    let signal = RelaySignal::new();
    let stop = signal.clone();
    let published = Arc::new(Mutex::new(Vec::new()));
    let seen = published.clone();
    let sink = CallbackSink::new(move |m: &OutboxMessage| {
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(String::from_utf8_lossy(m.payload()).into_owned());
        stop.shutdown();
        Ok(())
    });
    let mut r1 = relay(b, sink, config("r1").build().expect("config"), &clock);
    r1.run(&signal).expect("run");
    assert_eq!(
        *published.lock().unwrap_or_else(PoisonError::into_inner),
        ["m1"]
    );
    let sink2 = MemorySink::new();
    let mut r2 = relay(
        b,
        sink2.clone(),
        config("r2").build().expect("config"),
        &clock,
    );
    // No clock advance: the claim was released, not left to expire.
    assert_eq!(drain(&mut r2), 2, "{}", b.label());
    assert_eq!(payloads(&sink2.messages()), ["m2", "m3"]);
}

/// A transient failure is retried after a backoff; until then the key is not claimed (no busy
/// loop) and the attempt count is stored.
pub fn transient_failures_back_off_without_busy_loop<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    enqueue(b, &outbox, &[msg("k", "m1"), msg("k", "m2")]);
    let calls = Arc::new(AtomicU32::new(0));
    let attempts_seen = Arc::new(Mutex::new(Vec::new()));
    let (c, a) = (calls.clone(), attempts_seen.clone());
    let sink = CallbackSink::new(move |m: &OutboxMessage| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        a.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(m.attempts());
        if n < 2 {
            Err(PublishError::transient("broker down"))
        } else {
            Ok(())
        }
    });
    let mut r = relay(b, sink, config("r1").build().expect("config"), &clock);
    let o = r.run_once().expect("run");
    assert_eq!((o.sent, o.retried, o.released), (0, 1, 1), "{}", b.label());
    for _ in 0..50 {
        assert_eq!(
            r.run_once().expect("run").claimed,
            0,
            "claimed during backoff"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no busy loop");
    clock.advance(Duration::from_secs(2));
    let o = r.run_once().expect("run");
    assert_eq!(o.retried, 1);
    clock.advance(Duration::from_secs(2));
    assert_eq!(drain(&mut r), 2);
    // Each retry saw the stored attempt count: 0, 1, 2, then m2 fresh.
    assert_eq!(
        *attempts_seen.lock().unwrap_or_else(PoisonError::into_inner),
        [0, 1, 2, 0]
    );
    assert_eq!(r.metrics().expect("metrics").outbox.dead_letters, 0);
}

fn poison_sink() -> CallbackSink<impl FnMut(&OutboxMessage) -> Result<(), PublishError> + Send> {
    CallbackSink::new(|m: &OutboxMessage| {
        if m.payload().as_ref() == b"poison" {
            Err(PublishError::transient("cannot deliver"))
        } else {
            Ok(())
        }
    })
}

fn run_poison<B: Backend>(
    b: &B,
    policy: PoisonPolicy,
) -> (
    Relay<B::Store, impl quorate_outbox::Sink + use<B>>,
    Vec<String>,
) {
    let clock = clock();
    let outbox = outbox(&clock);
    enqueue(
        b,
        &outbox,
        &[msg("k", "poison"), msg("k", "after"), msg("other", "fine")],
    );
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let d = delivered.clone();
    let sink = CallbackSink::new(move |m: &OutboxMessage| {
        if m.payload().as_ref() == b"poison" {
            return Err(PublishError::transient("cannot deliver"));
        }
        d.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(String::from_utf8_lossy(m.payload()).into_owned());
        Ok(())
    });
    let cfg = config("r1")
        .max_attempts(3)
        .poison(PoisonPolicies::new(policy))
        .build()
        .expect("config");
    let mut r = relay(b, sink, cfg, &clock);
    for _ in 0..10 {
        r.run_once().expect("run");
        clock.advance(Duration::from_secs(2));
    }
    let out = delivered
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    (r, out)
}

/// After `max_attempts` a message is dead-lettered with its last error; the strict policy
/// holds its key until released; other keys flow.
pub fn strict_policy_holds_the_key_after_dead_letter<B: Backend>(b: &B) {
    let (mut r, delivered) = run_poison(b, PoisonPolicy::Strict);
    assert_eq!(delivered, ["fine"], "{}", b.label());
    let dead = r.store_mut().dead_letters(10).expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, DeadReason::MaxAttempts);
    assert_eq!(dead[0].last_error, "cannot deliver");
    assert_eq!(dead[0].message.payload().as_ref(), b"poison");
    assert_eq!(r.metrics().expect("metrics").outbox.pending, 1);
    assert!(r.store_mut().release_key("k").expect("release"));
    assert!(!r.store_mut().release_key("k").expect("release twice"));
    assert_eq!(drain(&mut r), 1);
    assert_eq!(r.metrics().expect("metrics").outbox.pending, 0);
}

/// The lenient policy skips ahead past a dead letter.
pub fn lenient_policy_skips_ahead<B: Backend>(b: &B) {
    let (mut r, mut delivered) = run_poison(b, PoisonPolicy::Lenient);
    delivered.sort();
    assert_eq!(delivered, ["after", "fine"], "{}", b.label());
    assert_eq!(r.metrics().expect("metrics").outbox.dead_letters, 1);
    assert_eq!(r.metrics().expect("metrics").outbox.pending, 0);
}

/// A permanent error dead-letters at once.
pub fn permanent_errors_dead_letter_at_once<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    enqueue(b, &outbox, &[msg("k", "bad")]);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let sink = CallbackSink::new(move |_: &OutboxMessage| {
        c.fetch_add(1, Ordering::SeqCst);
        Err(PublishError::permanent("subject refused"))
    });
    let mut r = relay(b, sink, config("r1").build().expect("config"), &clock);
    assert_eq!(r.run_once().expect("run").dead_lettered, 1, "{}", b.label());
    let dead = r.store_mut().dead_letters(10).expect("dead");
    assert_eq!(dead[0].reason, DeadReason::Permanent);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A message that kills the relay each time it is published is claimed alone after the first
/// death, then dead-lettered at the crash limit; innocent messages are delivered.
pub fn crash_looping_messages_are_dead_lettered<B: Backend>(b: &B) {
    quiet_simulated_crashes();
    let clock = clock();
    let outbox = outbox(&clock);
    enqueue(
        b,
        &outbox,
        &[
            msg("k", "m1"),
            msg("k", "killer"),
            msg("k", "m3"),
            msg("other", "x"),
        ],
    );
    let delivered = MemorySink::new();
    let d = delivered.clone();
    let cfg = config("r1").crash_limit(2).build().expect("config");
    let mut crashes = 0;
    for round in 0..20 {
        let mut d = d.clone();
        let sink = CallbackSink::new(move |m: &OutboxMessage| {
            if m.payload().as_ref() == b"killer" {
                std::panic::panic_any(SIMULATED_CRASH);
            }
            quorate_outbox::Sink::publish(&mut d, m)
        });
        let mut r = relay(b, sink, cfg.clone(), &clock);
        match catch_unwind(AssertUnwindSafe(|| r.run_once())) {
            Err(_) => crashes += 1,
            Ok(o) => {
                if o.expect("run").claimed == 0 && round > 0 {
                    break;
                }
            }
        }
        clock.advance(Duration::from_secs(11));
    }
    assert_eq!(
        crashes,
        2,
        "{}: dead-lettered at the crash limit",
        b.label()
    );
    let mut store = b.store();
    let dead = store.dead_letters(10).expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, DeadReason::CrashLoop);
    assert_eq!(dead[0].message.payload().as_ref(), b"killer");
    let mut firsts: Vec<String> = payloads(&delivered.messages());
    firsts.dedup();
    firsts.sort();
    firsts.dedup();
    assert_eq!(firsts, ["m1", "x"], "m3 waits behind the held key");
}

/// Metrics: pending count, oldest pending age, dead letters, publish latency.
pub fn metrics_report_the_backlog<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    enqueue(b, &outbox, &[msg("a", "1")]);
    clock.advance(Duration::from_secs(5));
    enqueue(b, &outbox, &[msg("b", "2"), msg("c", "poison")]);
    clock.advance(Duration::from_secs(1));
    let mut r = relay(
        b,
        poison_sink(),
        config("r1")
            .batch_size(1)
            .max_attempts(1)
            .build()
            .expect("config"),
        &clock,
    );
    let m = r.metrics().expect("metrics");
    assert_eq!(m.outbox.pending, 3, "{}", b.label());
    assert_eq!(m.outbox.oldest_pending_age, Some(Duration::from_secs(6)));
    assert_eq!(m.outbox.dead_letters, 0);
    assert_eq!(m.latency.count, 0);
    r.run_once().expect("run");
    let m = r.metrics().expect("metrics");
    assert_eq!(m.outbox.pending, 2);
    assert_eq!(m.outbox.oldest_pending_age, Some(Duration::from_secs(1)));
    drain(&mut r);
    let m = r.metrics().expect("metrics");
    assert_eq!((m.outbox.pending, m.outbox.dead_letters), (0, 1));
    assert_eq!(m.outbox.oldest_pending_age, None);
    assert_eq!(m.latency.count, 2);
    assert_eq!(m.latency.max_lag_ms, 6_000);
}

/// Cleanup deletes sent rows past retention in bounded batches, never pending or dead ones.
pub fn cleanup_is_bounded_and_spares_pending_and_dead<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    for i in 0..5 {
        enqueue(b, &outbox, &[msg(&format!("k{i}"), "old")]);
    }
    enqueue(b, &outbox, &[msg("p", "poison")]);
    let mut r = relay(
        b,
        poison_sink(),
        config("r1").max_attempts(1).build().expect("config"),
        &clock,
    );
    drain(&mut r);
    clock.advance(Duration::from_secs(100));
    enqueue(b, &outbox, &[msg("late", "new")]);
    let m0 = r.metrics().expect("metrics");
    assert_eq!(
        (m0.outbox.pending, m0.outbox.dead_letters),
        (1, 1),
        "{}",
        b.label()
    );
    assert_eq!(r.cleanup(Duration::from_secs(50), 2).expect("cleanup"), 2);
    assert_eq!(r.cleanup(Duration::from_secs(50), 100).expect("cleanup"), 3);
    assert_eq!(r.cleanup(Duration::from_secs(50), 100).expect("cleanup"), 0);
    let m = r.metrics().expect("metrics");
    assert_eq!((m.outbox.pending, m.outbox.dead_letters), (1, 1));
    // Keys whose rows are all gone start over; positions stay consistent.
    enqueue(b, &outbox, &[msg("k0", "again")]);
    assert_eq!(drain(&mut r), 2);
}

/// Asserts that an enqueue is refused with `pending` messages pending at a high-water mark of
/// `pending`.
fn assert_refused_at<B: Backend>(b: &B, outbox: &Outbox, pending: u64) {
    let refused = b.transact(|tx| (false, outbox.enqueue(tx, &msg("x", "m"))));
    let expected = (pending, pending);
    assert!(
        matches!(
            refused,
            Err(EnqueueError::Backpressure { pending, high_water }) if (pending, high_water) == expected
        ),
        "{}: {refused:?}",
        b.label()
    );
}

/// Backpressure: refused at the high-water mark until pending falls to the low-water mark.
pub fn backpressure_has_hysteresis<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = Outbox::builder()
        .clock(Arc::new(clock.clone()))
        .backpressure(Backpressure::new(4, 1, Duration::ZERO).expect("backpressure"))
        .build();
    for i in 0..4 {
        enqueue(b, &outbox, &[msg(&format!("k{i}"), "m")]);
    }
    assert_refused_at(b, &outbox, 4);
    let mut r = relay(
        b,
        MemorySink::new(),
        config("r1").batch_size(2).build().expect("config"),
        &clock,
    );
    r.run_once().expect("run"); // 2 pending: above the low-water mark, still refused
    let refused = b.transact(|tx| (false, outbox.enqueue(tx, &msg("x", "m"))));
    assert!(
        matches!(refused, Err(EnqueueError::Backpressure { .. })),
        "{refused:?}"
    );
    r.run_once().expect("run"); // 0 pending: resumes
    let accepted = b.transact(|tx| (true, outbox.enqueue(tx, &msg("x", "m"))));
    assert!(accepted.is_ok(), "{accepted:?}");
}

/// Backpressure with a wait: a throttled enqueue gives up with the typed error after its wait
/// when nothing drains (every backend), and goes ahead as soon as a relay running meanwhile
/// brings the count to the low-water mark (backends whose transactions see other
/// connections' commits: PostgreSQL).
pub fn backpressure_waits_up_to_a_timeout<B: Backend + Sync>(b: &B) {
    let clock = clock();
    let bp = Backpressure::new(4, 1, Duration::from_millis(5)).expect("backpressure");
    let outbox = Outbox::builder()
        .clock(Arc::new(clock.clone()))
        .backpressure(bp.wait_up_to(Duration::from_millis(60)))
        .build();
    for i in 0..4 {
        enqueue(b, &outbox, &[msg(&format!("k{i}"), "m")]);
    }
    assert_refused_at(b, &outbox, 4);
    if !b.concurrent_transactions() {
        return;
    }
    let outbox = Outbox::builder()
        .clock(Arc::new(clock.clone()))
        .backpressure(bp.wait_up_to(Duration::from_secs(30)))
        .build();
    let sink = MemorySink::new();
    let started = AtomicBool::new(false);
    let accepted = std::thread::scope(|s| {
        s.spawn(|| {
            // Start draining only once the enqueue below is waiting.
            while !started.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(100));
            let mut r = relay(
                b,
                sink.clone(),
                config("r1").batch_size(1).build().expect("config"),
                &clock,
            );
            while r.run_once().expect("run").claimed > 0 {}
        });
        b.transact(|tx| {
            started.store(true, Ordering::SeqCst);
            let r = outbox.enqueue(tx, &msg("x", "after the wait"));
            (r.is_ok(), r)
        })
    });
    assert!(accepted.is_ok(), "{}: {accepted:?}", b.label());
    // The enqueue went ahead only once the relay had brought pending to the low-water mark.
    assert!(sink.len() >= 3, "{}: {} delivered", b.label(), sink.len());
}

/// The inbox applies an effect once; a rolled-back effect leaves no mark.
pub fn inbox_applies_effects_once<B: Backend>(b: &B) {
    let clock = clock();
    let inbox = inbox(&clock);
    let id = MessageId::new("m-1").expect("id");
    // Rolled back: no mark, no effect.
    b.transact(|tx| {
        let r = inbox.process_once(tx, "c1", &id, |tx| {
            B::effect(tx, "rolled-back");
            Ok::<_, String>(())
        });
        assert!(matches!(r, Ok(quorate_outbox::Processed::Applied(()))));
        (false, ())
    });
    // A failing effect reports the error.
    let failed = b.transact(|tx| {
        let r = inbox.process_once(tx, "c1", &id, |_| Err::<(), _>("refused".to_owned()));
        (
            false,
            matches!(r, Err(quorate_outbox::InboxError::Effect(ref e)) if e == "refused"),
        )
    });
    assert!(failed, "{}", b.label());
    for _ in 0..3 {
        b.transact(|tx| {
            let r = inbox
                .process_once(tx, "c1", &id, |tx| {
                    B::effect(tx, "applied");
                    Ok::<_, String>(())
                })
                .expect("process");
            (true, r)
        });
    }
    // Another consumer has its own marks.
    let other = b.transact(|tx| {
        let r = inbox
            .process_once(tx, "c2", &id, |tx| {
                B::effect(tx, "c2");
                Ok::<_, String>(())
            })
            .expect("process");
        (true, r)
    });
    assert!(!other.is_duplicate());
    assert_eq!(b.effects(), ["applied", "c2"]);
}

/// Enqueueing an id twice is refused.
pub fn duplicate_ids_are_refused<B: Backend>(b: &B) {
    let clock = clock();
    let outbox = outbox(&clock);
    let id = MessageId::new("evt-1").expect("id");
    enqueue(b, &outbox, &[msg("k", "a").with_id(id.clone())]);
    let r = b.transact(|tx| {
        (
            false,
            outbox.enqueue(tx, &msg("k", "b").with_id(id.clone())),
        )
    });
    assert!(
        matches!(r, Err(EnqueueError::DuplicateId(ref d)) if *d == id),
        "{}: {r:?}",
        b.label()
    );
    let sink = MemorySink::new();
    let mut relay = relay(
        b,
        sink.clone(),
        config("r1").build().expect("config"),
        &clock,
    );
    assert_eq!(drain(&mut relay), 1);
    assert_eq!(sink.messages()[0].id(), &id);
}

/// A row whose id was assigned before another's but committed after is still published
/// (no "id > last seen" skipping), and per-key order follows commit order.
pub fn late_committed_rows_are_not_skipped<B: Backend>(b: &B) {
    if !b.concurrent_transactions() {
        return;
    }
    let clock = clock();
    let outbox = outbox(&clock);
    let sink = MemorySink::new();
    let mut r = relay(
        b,
        sink.clone(),
        config("r1").build().expect("config"),
        &clock,
    );
    b.transact(|t1| {
        outbox
            .enqueue(t1, &msg("a", "t1-early-id"))
            .expect("enqueue");
        b.transact(|t2| {
            outbox.enqueue(t2, &msg("b", "t2-first")).expect("enqueue");
            (true, ())
        });
        assert_eq!(drain(&mut r), 1);
        // t1 now enqueues to b after t2 committed there: b's order is t2 then t1.
        outbox.enqueue(t1, &msg("b", "t1-second")).expect("enqueue");
        (true, ())
    });
    assert_eq!(drain(&mut r), 2, "{}", b.label());
    let by = by_key(&sink.messages());
    assert_eq!(by["a"], ["t1-early-id"]);
    assert_eq!(by["b"], ["t2-first", "t1-second"]);
}

/// Two transactions enqueueing to one key concurrently: the second waits for the first, and
/// the relay publishes in commit order.
pub fn concurrent_enqueues_to_one_key_keep_commit_order<B: Backend + Sync>(b: &B) {
    if !b.concurrent_transactions() {
        return;
    }
    let clock = clock();
    let outbox = outbox(&clock);
    let first_in = AtomicBool::new(false);
    let order = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            b.transact(|tx| {
                outbox.enqueue(tx, &msg("k", "first")).expect("enqueue");
                first_in.store(true, Ordering::SeqCst);
                // Give the other transaction time to block on the key's lock.
                std::thread::sleep(Duration::from_millis(100));
                order
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push("first");
                (true, ())
            });
        });
        s.spawn(|| {
            while !first_in.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            b.transact(|tx| {
                outbox.enqueue(tx, &msg("k", "second")).expect("enqueue");
                order
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push("second");
                (true, ())
            });
        });
    });
    let commit_order = order.into_inner().unwrap_or_else(PoisonError::into_inner);
    let sink = MemorySink::new();
    let mut r = relay(
        b,
        sink.clone(),
        config("r1").build().expect("config"),
        &clock,
    );
    drain(&mut r);
    assert_eq!(payloads(&sink.messages()), commit_order, "{}", b.label());
}

/// Randomized crash schedules with several relays: every committed message's effect happens
/// exactly once, in commit order per key, and nothing is lost.
///
/// Each schedule interleaves committed and rolled-back enqueues, relay batches that may die at
/// a step or in the middle of a wave, transient sink failures and clock jumps past claim
/// timeouts, then drains. The consumer deduplicates by message id (the inbox's rule).
pub fn randomized_crash_schedules<B: Backend>(b: &B, schedules: u64, seed: u64) {
    quiet_simulated_crashes();
    let (mut crashes, mut duplicates, mut delivered) = (0, 0, 0);
    for n in 0..schedules {
        b.reset();
        let (c, d, m) = one_schedule(b, seed.wrapping_add(n));
        crashes += c;
        duplicates += d;
        delivered += m;
    }
    println!(
        "{}: {schedules} schedules, {delivered} messages, {crashes} relay crashes, {duplicates} duplicate deliveries",
        b.label()
    );
    if schedules >= 20 {
        // The schedules must actually exercise crashes and redelivery.
        assert!(
            crashes > 0 && duplicates > 0 && delivered > 0,
            "{}",
            b.label()
        );
    }
}

#[derive(Default)]
struct Consumer {
    seen: HashSet<MessageId>,
    applied: BTreeMap<String, Vec<String>>,
    deliveries: u64,
}

fn one_schedule<B: Backend>(b: &B, seed: u64) -> (u64, u64, u64) {
    let mut rng = SplitMix(seed);
    let clock = clock();
    let outbox = outbox(&clock);
    let consumer = Arc::new(Mutex::new(Consumer::default()));
    let relays = rng.below(1..=3usize);
    let crash_at = Arc::new(AtomicU64::new(u64::MAX));
    let fail_rate = rng.below(0..30u32);
    let make = |i: usize, crash_at: &Arc<AtomicU64>, rng_seed: u64| {
        let c = consumer.clone();
        let crash_sink = crash_at.clone();
        let mut sink_rng = SplitMix(rng_seed);
        let sink = CallbackSink::new(move |m: &OutboxMessage| {
            // Code 100 = die in the sink, after some messages of the wave went out.
            if crash_sink.load(Ordering::SeqCst) == 100 && sink_rng.below(0..3u32) == 0 {
                std::panic::panic_any(SIMULATED_CRASH);
            }
            if sink_rng.below(0..100u32) < fail_rate {
                return Err(PublishError::transient("flaky broker"));
            }
            let mut c = c.lock().unwrap_or_else(PoisonError::into_inner);
            c.deliveries += 1;
            if c.seen.insert(m.id().clone()) {
                c.applied
                    .entry(m.key().to_owned())
                    .or_default()
                    .push(String::from_utf8_lossy(m.payload()).into_owned());
            }
            Ok(())
        });
        let crash_obs = crash_at.clone();
        let cfg = config(&format!("r{i}"))
            .batch_size(rng_seed as usize % 4 + 1)
            .max_attempts(1_000_000)
            .crash_limit(1_000_000)
            .build()
            .expect("config");
        relay(b, sink, cfg, &clock).with_observer(move |step| {
            let code = match step {
                RelayStep::Claimed => 1,
                RelayStep::Published => 2,
                RelayStep::Completed => 3,
                _ => 0,
            };
            if crash_obs.load(Ordering::SeqCst) == code {
                std::panic::panic_any(SIMULATED_CRASH);
            }
        })
    };
    let mut fleet: Vec<_> = (0..relays)
        .map(|i| make(i, &crash_at, seed ^ i as u64))
        .collect();
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let keys = rng.below(1..=4u32);
    let steps = rng.below(10..40u32);
    let mut restarts = 0u64;
    for step in 0..steps {
        match rng.below(0..10u32) {
            0..=3 => {
                let n = rng.below(1..=3u32);
                let commit = rng.below(0..5u32) != 0;
                let batch: Vec<(String, String)> = (0..n)
                    .map(|j| {
                        (
                            format!("k{}", rng.below(0..keys)),
                            format!("{seed}-{step}-{j}"),
                        )
                    })
                    .collect();
                b.transact(|tx| {
                    for (k, p) in &batch {
                        outbox.enqueue(tx, &msg(k, p)).expect("enqueue");
                    }
                    (commit, ())
                });
                if commit {
                    for (k, p) in batch {
                        expected.entry(k).or_default().push(p);
                    }
                }
            }
            4..=8 => {
                let i = rng.below(0..fleet.len());
                let code = if rng.below(0..3u32) == 0 {
                    [1, 2, 3, 100][rng.below(0..4usize)]
                } else {
                    u64::MAX
                };
                crash_at.store(code, Ordering::SeqCst);
                let died = catch_unwind(AssertUnwindSafe(|| fleet[i].run_once())).is_err();
                crash_at.store(u64::MAX, Ordering::SeqCst);
                if died {
                    // Restart the process: fresh relay, fresh connection.
                    restarts += 1;
                    fleet[i] = make(i, &crash_at, seed ^ (i as u64) ^ (restarts << 8));
                }
            }
            _ => clock.advance(Duration::from_millis(rng.below(0..15_000u64))),
        }
    }
    // Drain: no more crashes, claims expire, retries come due.
    for _ in 0..2_000 {
        clock.advance(Duration::from_secs(11));
        let mut claimed = 0;
        for r in &mut fleet {
            claimed += r.run_once().expect("drain").claimed;
        }
        let pending = fleet[0].metrics().expect("metrics").outbox.pending;
        if claimed == 0 && pending == 0 {
            break;
        }
    }
    let m = fleet[0].metrics().expect("metrics");
    assert_eq!(
        (m.outbox.pending, m.outbox.dead_letters),
        (0, 0),
        "{} seed {seed}",
        b.label()
    );
    let c = consumer.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(
        c.applied,
        expected,
        "{} seed {seed}: effects once, per-key commit order",
        b.label()
    );
    assert!(c.deliveries >= c.seen.len() as u64);
    (
        restarts,
        c.deliveries - c.seen.len() as u64,
        c.seen.len() as u64,
    )
}

/// Every case but the randomized schedules, by name (for a backend's own loop).
pub const CASES: &[&str] = &[
    "commit_publishes_rollback_does_not",
    "per_key_order_follows_commit_order",
    "keys_are_claimed_exclusively",
    "expired_claims_are_taken_over",
    "republished_duplicates_are_dropped_by_the_inbox",
    "graceful_shutdown_releases_claims",
    "transient_failures_back_off_without_busy_loop",
    "strict_policy_holds_the_key_after_dead_letter",
    "lenient_policy_skips_ahead",
    "permanent_errors_dead_letter_at_once",
    "crash_looping_messages_are_dead_lettered",
    "metrics_report_the_backlog",
    "cleanup_is_bounded_and_spares_pending_and_dead",
    "backpressure_has_hysteresis",
    "backpressure_waits_up_to_a_timeout",
    "inbox_applies_effects_once",
    "duplicate_ids_are_refused",
    "late_committed_rows_are_not_skipped",
    "concurrent_enqueues_to_one_key_keep_commit_order",
];

/// Generates one `#[test]` per conformance case.
///
/// `$backend` is an expression evaluating to `Option<impl Backend + Sync>` (`None` skips, for
/// example when no PostgreSQL server can be had outside CI). `$schedules` is how many
/// randomized crash schedules to run.
#[macro_export]
macro_rules! outbox_conformance {
    ($backend:expr, schedules = $schedules:expr) => {
        $crate::outbox_conformance!(@cases $backend;
            commit_publishes_rollback_does_not,
            per_key_order_follows_commit_order,
            keys_are_claimed_exclusively,
            expired_claims_are_taken_over,
            republished_duplicates_are_dropped_by_the_inbox,
            graceful_shutdown_releases_claims,
            transient_failures_back_off_without_busy_loop,
            strict_policy_holds_the_key_after_dead_letter,
            lenient_policy_skips_ahead,
            permanent_errors_dead_letter_at_once,
            crash_looping_messages_are_dead_lettered,
            metrics_report_the_backlog,
            cleanup_is_bounded_and_spares_pending_and_dead,
            backpressure_has_hysteresis,
            backpressure_waits_up_to_a_timeout,
            inbox_applies_effects_once,
            duplicate_ids_are_refused,
            late_committed_rows_are_not_skipped,
            concurrent_enqueues_to_one_key_keep_commit_order
        );
        #[test]
        fn randomized_crash_schedules() {
            if let ::core::option::Option::Some(b) = $backend {
                $crate::outbox_suite::randomized_crash_schedules(&b, $schedules, 0x5eed);
            }
        }
    };
    (@cases $backend:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                if let ::core::option::Option::Some(b) = $backend {
                    $crate::outbox_suite::$case(&b);
                }
            }
        )*
    };
}

/// A small deterministic generator (SplitMix64) for the schedules.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below<T: Below>(&mut self, range: T) -> T::Out {
        range.pick(self.next())
    }
}

trait Below {
    type Out;
    fn pick(self, r: u64) -> Self::Out;
}

impl Below for std::ops::Range<u32> {
    type Out = u32;
    fn pick(self, r: u64) -> u32 {
        let span = u64::from(self.end.saturating_sub(self.start)).max(1);
        self.start + u32::try_from(r % span).unwrap_or(0)
    }
}

impl Below for std::ops::RangeInclusive<u32> {
    type Out = u32;
    fn pick(self, r: u64) -> u32 {
        (*self.start()..self.end().saturating_add(1)).pick(r)
    }
}

impl Below for std::ops::Range<u64> {
    type Out = u64;
    fn pick(self, r: u64) -> u64 {
        self.start + r % self.end.saturating_sub(self.start).max(1)
    }
}

impl Below for std::ops::Range<usize> {
    type Out = usize;
    fn pick(self, r: u64) -> usize {
        let span = self.end.saturating_sub(self.start).max(1) as u64;
        self.start + usize::try_from(r % span).unwrap_or(0)
    }
}

impl Below for std::ops::RangeInclusive<usize> {
    type Out = usize;
    fn pick(self, r: u64) -> usize {
        (*self.start()..self.end().saturating_add(1)).pick(r)
    }
}
