//! loom model of AckTracker: concurrent reports for a 3-node majority.
//!
//! Checks that the first report per node wins, that Satisfied and Impossible
//! are never both observed for one write, and that a decided status is final.
#![cfg(quorate_loom)]

use loom::sync::Arc;
use loom::thread;
use quorate_quorum::{AckStatus, AckTracker, Threshold};

fn tracker() -> Arc<AckTracker<Threshold>> {
    Arc::new(AckTracker::new(Threshold::majority(3).expect("valid")))
}

#[test]
fn satisfied_and_impossible_are_exclusive_and_final() {
    loom::model(|| {
        let t = tracker();
        let a = {
            let t = Arc::clone(&t);
            thread::spawn(move || {
                let s1 = t.record(0, true).expect("slot");
                let s2 = t.record(1, true).expect("slot");
                (s1, s2)
            })
        };
        let b = {
            let t = Arc::clone(&t);
            thread::spawn(move || {
                let s1 = t.record(2, false).expect("slot");
                let s2 = t.record(1, false).expect("slot");
                (s1, s2)
            })
        };
        let (a1, a2) = a.join().expect("join");
        let (b1, b2) = b.join().expect("join");
        let fin = t.status();
        let seen = [a1, a2, b1, b2, fin];
        let sat = seen.contains(&AckStatus::Satisfied);
        let imp = seen.contains(&AckStatus::Impossible);
        assert!(!(sat && imp), "both outcomes observed: {seen:?}");
        // Node 1's first report decides; the other is ignored.
        let acks = t.acked();
        let nacks = t.nacked();
        assert!(acks.intersection(nacks).is_empty());
        assert_eq!(acks.union(nacks).len(), 3);
        if acks.contains(1) {
            assert_eq!(fin, AckStatus::Satisfied);
        } else {
            assert_eq!(fin, AckStatus::Impossible);
        }
        // Final outcome agrees with whatever was observed as decided.
        if a2 != AckStatus::Waiting {
            assert_eq!(a2, fin);
        }
        if b2 != AckStatus::Waiting {
            assert_eq!(b2, fin);
        }
    });
}

#[test]
fn duplicate_reports_count_once() {
    loom::model(|| {
        let t = tracker();
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let t = Arc::clone(&t);
                thread::spawn(move || t.record(0, true).expect("slot"))
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().expect("join"), AckStatus::Waiting);
        }
        assert_eq!(t.acked().len(), 1);
        assert_eq!(t.record(2, true).expect("slot"), AckStatus::Satisfied);
    });
}
