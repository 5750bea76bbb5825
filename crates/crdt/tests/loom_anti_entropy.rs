//! Loom model of the anti-entropy driver: two threads mutate one replica while a third runs a
//! sync round (delta buffer, acknowledgement, buffer trimming and the full-state fallback of a
//! one-slot buffer) against another replica.
#![cfg(quorate_loom)]

use loom::sync::Arc;
use loom::thread;
use quorate_crdt::{AntiEntropy, GCounter};

fn sync_once(a: &AntiEntropy<GCounter<u8>, u8>, b: &AntiEntropy<GCounter<u8>, u8>) -> bool {
    match a.outgoing(&2) {
        Some(m) => {
            if let Some(reply) = b.receive(&1, m).expect("valid message") {
                a.receive(&2, reply).expect("valid reply");
            }
            true
        }
        None => false,
    }
}

fn model(capacity: usize) {
    loom::model(move || {
        let a = Arc::new(AntiEntropy::new(GCounter::<u8>::new(), capacity).expect("capacity"));
        let b = Arc::new(AntiEntropy::new(GCounter::<u8>::new(), 4).expect("capacity"));
        a.add_peer(2);
        b.add_peer(1);
        let a1 = a.clone();
        let t1 = thread::spawn(move || a1.mutate(|c| c.increment(1, 1)).expect("no overflow"));
        let a2 = a.clone();
        let t2 = thread::spawn(move || a2.mutate(|c| c.increment(1, 2)).expect("no overflow"));
        let (a3, b3) = (a.clone(), b.clone());
        let t3 = thread::spawn(move || {
            sync_once(&a3, &b3);
        });
        t1.join().expect("thread 1");
        t2.join().expect("thread 2");
        t3.join().expect("thread 3");
        let mut rounds = 0;
        while sync_once(&a, &b) {
            rounds += 1;
            assert!(rounds < 4, "sync must quiesce");
        }
        assert_eq!(b.read(|c| c.value()), 3);
        assert_eq!(a.buffered(), 0, "acknowledged deltas are released");
    });
}

#[test]
fn mutations_on_two_threads_and_sync_on_a_third_converge() {
    model(8);
}

#[test]
fn one_slot_buffer_falls_back_to_full_state() {
    model(1);
}
