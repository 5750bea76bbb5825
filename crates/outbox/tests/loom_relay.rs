//! Loom model of the in-memory backend's claim / publish / mark-sent paths: two relays racing
//! over the same keys publish every message exactly once (claims are exclusive, nothing
//! expires, nobody crashes), in per-key order, and leave nothing pending or claimed.
#![cfg(quorate_loom)]

use std::sync::Arc;

use quorate_outbox::{
    ManualClock, MemoryOutbox, MemorySink, NewMessage, Outbox, Relay, RelayConfig, RelayStore as _,
};

fn relay(
    store: &MemoryOutbox,
    sink: &MemorySink,
    id: &str,
    batch: usize,
    clock: &ManualClock,
) -> Relay<MemoryOutbox, MemorySink> {
    let config = RelayConfig::builder()
        .relay_id(id)
        .batch_size(batch)
        .seed(1)
        .build()
        .expect("config");
    Relay::new(store.clone(), sink.clone(), config)
        .with_clocks(Arc::new(clock.clone()), Arc::new(clock.clone()))
}

#[test]
fn two_relays_publish_each_message_once_in_key_order() {
    loom::model(|| {
        let clock = ManualClock::new(1_000_000_000_000);
        let store = MemoryOutbox::new();
        let outbox = Outbox::builder()
            .clock(Arc::new(clock.clone()))
            .seed(3)
            .build();
        for (k, v) in [("k", "1"), ("j", "1"), ("k", "2")] {
            let mut tx = store.begin();
            outbox
                .enqueue(
                    &mut tx,
                    &NewMessage::new(k, "t", v.as_bytes().to_vec()).expect("msg"),
                )
                .expect("enqueue");
            tx.commit();
        }
        let sink = MemorySink::new();
        let mut a = relay(&store, &sink, "a", 1, &clock);
        let mut b = relay(&store, &sink, "b", 2, &clock);
        let t = loom::thread::spawn(move || {
            a.run_once().expect("relay a");
        });
        b.run_once().expect("relay b");
        t.join().expect("join");
        // Whatever is left is claimable at once: both batches completed and released.
        let mut c = relay(&store, &sink, "c", 10, &clock);
        while c.run_once().expect("relay c").claimed > 0 {}

        let published = sink.messages();
        assert_eq!(published.len(), 3, "exactly once: {published:?}");
        let k: Vec<&[u8]> = published
            .iter()
            .filter(|m| m.key() == "k")
            .map(|m| m.payload().as_ref())
            .collect();
        assert_eq!(k, [b"1".as_slice(), b"2".as_slice()]);
        let mut store = store;
        assert_eq!(store.metrics(0).expect("metrics").pending, 0);
    });
}
