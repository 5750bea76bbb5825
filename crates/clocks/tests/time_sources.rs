//! Time sources: system, boot-time, coarse and manual clocks.

use std::sync::Arc;
use std::time::Duration;

use quorate_clocks::{BootClock, CoarseClock, ManualClock, MonotonicClock, SystemClock, WallClock};

#[test]
fn system_and_boot_clocks_are_sane() {
    let w = SystemClock.now_unix_nanos();
    assert!(w > 1_600_000_000_000_000_000 && w < 4_000_000_000_000_000_000);
    let mut last = BootClock.now_nanos();
    let mut last_sys = SystemClock.now_nanos();
    for _ in 0..1000 {
        let b = BootClock.now_nanos();
        let s = SystemClock.now_nanos();
        assert!(b >= last && s >= last_sys);
        last = b;
        last_sys = s;
    }
    // Miri does not emulate CLOCK_BOOTTIME, so there `BootClock` takes its documented fallback.
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        // CLOCK_BOOTTIME counts from boot: at least as large as the process's own uptime.
        assert!(BootClock.now_nanos() >= SystemClock.now_nanos());
    }
}

#[test]
fn coarse_clock_is_close_to_the_fine_one() {
    let fine = SystemClock.now_unix_nanos();
    let coarse = CoarseClock.now_unix_nanos();
    let diff = fine.abs_diff(coarse);
    assert!(diff < 50_000_000, "coarse clock {diff} ns away");
}

#[test]
fn manual_clock_set_advance_step_back_shared() {
    let c = ManualClock::new(1_000);
    let d = c.clone();
    c.advance(Duration::from_nanos(10));
    c.advance_nanos(5);
    assert_eq!((d.now_unix_nanos(), d.now_nanos()), (1_015, 15));
    d.step_back(Duration::from_nanos(100));
    assert_eq!((c.now_unix_nanos(), c.now_nanos()), (915, 15));
    c.set(5);
    assert_eq!(d.now_unix_nanos(), 5);
    c.step_back(Duration::from_secs(1));
    assert_eq!(c.now_unix_nanos(), 0, "saturates at 0");
    c.set(u64::MAX - 1);
    c.advance_nanos(10);
    assert_eq!(c.now_unix_nanos(), u64::MAX, "saturates at the top");
    assert_eq!(ManualClock::default().now_unix_nanos(), 0);
}

#[test]
fn manual_clock_is_shared_between_threads() {
    let c = ManualClock::new(0);
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    c.advance_nanos(1);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(c.now_unix_nanos(), 4000);
    assert_eq!(c.now_nanos(), 4000);
}

#[test]
fn pointer_impls_and_object_safety() {
    let m = ManualClock::new(42);
    let boxed: Box<dyn WallClock> = Box::new(m.clone());
    let arced: Arc<dyn MonotonicClock> = Arc::new(m.clone());
    let by_ref: &dyn WallClock = &m;
    assert_eq!(boxed.now_unix_nanos(), 42);
    assert_eq!(arced.now_nanos(), 0);
    assert_eq!(by_ref.now_unix_nanos(), 42);
    fn generic<W: WallClock>(w: W) -> u64 {
        w.now_unix_nanos()
    }
    assert_eq!(generic(&m), 42);
    assert_eq!(generic(Arc::new(m.clone())), 42);
    assert_eq!(generic(boxed), 42);
}
