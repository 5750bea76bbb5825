//! Clock-jump monitoring after CockroachDB's `pkg/util/hlc` (`TestHLCMonotonicityCheck`,
//! `TestHLCPhysicalClockJump`, `TestHLCEnforceWallTimeWithinBoundsInNow`), restated: a wall
//! reading more than `max_offset / 10` below the previous one is a backward jump (counted,
//! always on); with the forward-jump monitor on, one `max_offset / 2` or more above it is a
//! forward jump (CockroachDB exits; `try_now` returns a typed error, `now` counts).

use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::{
    HlcConfig, HlcConfigError, HybridClock, ManualClock, NowError, SystemClock, Timestamp,
    WallClock,
};

const BASE: u64 = 1_700_000_000_000_000_000;

fn clock_with(wall: &ManualClock, max_offset: Duration) -> HybridClock<ManualClock> {
    let mut cfg = HlcConfig::default();
    cfg.max_offset = max_offset;
    HybridClock::with_config(wall.clone(), cfg).unwrap()
}

/// TestHLCMonotonicityCheck: max offset 100 ns; a 110 ns step back is a jump (110 > 10), a
/// further 10 ns step back is not (10 is not more than 10), measured from the previous
/// reading, not from the clock's state. No monotonic clock involved.
#[test]
fn monotonicity_check() {
    for use_try_now in [false, true] {
        let wall = ManualClock::new(100_000);
        let c = clock_with(&wall, Duration::from_nanos(100));
        let stamp = |c: &HybridClock<ManualClock>| {
            if use_try_now {
                c.try_now().unwrap()
            } else {
                c.now()
            }
        };
        let first = stamp(&c);
        wall.step_back(Duration::from_nanos(110));
        let second = stamp(&c);
        assert!(second > first);
        assert_eq!(c.stats().backward_jumps, 1, "try_now: {use_try_now}");
        wall.step_back(Duration::from_nanos(10));
        let third = stamp(&c);
        assert!(third > second);
        assert_eq!(c.stats().backward_jumps, 1, "try_now: {use_try_now}");
        // Forward jumps are not monitored by default.
        wall.advance(Duration::from_secs(3600));
        assert!(c.try_now().is_ok());
        assert_eq!(c.stats().forward_jumps, 0);
    }
}

/// `now` and `try_now` count the same backward jumps on the same clock, and so do `recv`,
/// `observe` (when it reads the wall clock) and `check_wall_clock`.
#[test]
fn every_reading_path_runs_the_same_backward_check() {
    let wall = ManualClock::new(BASE);
    let c = clock_with(&wall, Duration::from_millis(500)); // tolerance 50 ms
    c.now();
    let back = Duration::from_millis(51);
    wall.step_back(back);
    c.try_now().unwrap();
    wall.step_back(back);
    c.now();
    wall.step_back(back);
    c.recv(Timestamp::from_parts(BASE - 10_000_000_000, 0))
        .unwrap();
    wall.step_back(back);
    c.check_wall_clock().unwrap();
    wall.step_back(back);
    // observe reads the wall clock only for a remote stamp ahead of the state.
    c.observe(c.now().next().unwrap()).unwrap();
    assert_eq!(c.stats().backward_jumps, 5);
    wall.step_back(back);
    c.observe(c.now().next().unwrap().wall_next().unwrap())
        .unwrap();
    assert_eq!(c.stats().backward_jumps, 6);
    // Exactly the tolerance is not a jump.
    wall.step_back(Duration::from_millis(50));
    c.now();
    assert_eq!(c.stats().backward_jumps, 6);
}

struct JumpCase {
    name: &'static str,
    jump_ms: i64,
    max_offset_ms: u64,
    fatal: bool,
}

const CASES: [JumpCase; 7] = [
    JumpCase {
        name: "small forward jump",
        jump_ms: 50,
        max_offset_ms: 500,
        fatal: false,
    },
    JumpCase {
        name: "half max offset jump",
        jump_ms: 250,
        max_offset_ms: 500,
        fatal: true,
    },
    JumpCase {
        name: "large forward jump",
        jump_ms: 400,
        max_offset_ms: 500,
        fatal: true,
    },
    JumpCase {
        name: "large forward jump large thresh",
        jump_ms: 400,
        max_offset_ms: 900,
        fatal: false,
    },
    JumpCase {
        name: "small backward jump",
        jump_ms: -40,
        max_offset_ms: 500,
        fatal: false,
    },
    JumpCase {
        name: "large backward jump",
        jump_ms: -700,
        max_offset_ms: 500,
        fatal: false,
    },
    JumpCase {
        name: "large backward jump large thresh",
        jump_ms: -700,
        max_offset_ms: 900,
        fatal: false,
    },
];

fn jump(wall: &ManualClock, ms: i64) {
    if ms >= 0 {
        wall.advance(Duration::from_millis(ms.unsigned_abs()));
    } else {
        wall.step_back(Duration::from_millis(ms.unsigned_abs()));
    }
}

/// TestHLCPhysicalClockJump, case by case: the monitor is off by default (a jump of a whole
/// max offset is fine); once on, the monitor's tick (`check_wall_clock`) keeps the last
/// reading fresh; a jump of at least half the max offset is refused by `try_now`; turning
/// the monitor off stops the refusals. Stamps keep increasing throughout.
#[test]
fn physical_clock_jump() {
    for case in &CASES {
        let max_offset = Duration::from_millis(case.max_offset_ms);
        let tolerated = max_offset / 2;
        let wall = ManualClock::new(BASE);
        let c = clock_with(&wall, max_offset);
        assert!(!c.forward_jump_check());

        let t0 = c.try_now().unwrap();
        // Off by default: not refused even though it is a large jump.
        wall.advance(max_offset);
        let t1 = c.try_now().unwrap();
        assert!(t0 < t1, "{}", case.name);

        c.set_forward_jump_check(true).unwrap();
        assert!(c.forward_jump_check());

        // The monitor's tick sees the jump first (and, like CockroachDB's, may report it).
        jump(&wall, case.jump_ms);
        let tick = c.check_wall_clock();
        assert_eq!(tick.is_err(), case.fatal, "{}", case.name);
        // After the tick the last reading is current, so the next stamp is not refused.
        let t2 = c.try_now().unwrap();
        assert!(t1 < t2, "{}", case.name);
        assert_eq!(c.check_wall_clock(), Ok(wall.now_unix_nanos()));

        // Potentially refused, depending on the case.
        jump(&wall, case.jump_ms);
        let t3 = c.try_now();
        match t3 {
            Err(NowError::ForwardClockJump {
                jump: j,
                tolerated: tol,
            }) => {
                assert!(case.fatal, "{}", case.name);
                assert_eq!(j, Duration::from_millis(case.jump_ms.unsigned_abs()));
                assert_eq!(tol, tolerated);
            }
            Ok(t3) => {
                assert!(!case.fatal, "{}", case.name);
                assert!(t2 < t3, "{}", case.name);
            }
            Err(e) => panic!("{}: {e}", case.name),
        }
        let t3 = c.now(); // reported once: the next stamp is issued
        assert!(t2 < t3, "{}", case.name);

        // A jump of the whole max offset is surely refused.
        wall.advance(max_offset);
        assert!(
            matches!(c.try_now(), Err(NowError::ForwardClockJump { .. })),
            "{}",
            case.name
        );
        let t4 = c.now();
        assert!(t3 < t4);

        // Monitor off: no refusal.
        c.set_forward_jump_check(false).unwrap();
        jump(&wall, case.jump_ms);
        let t5 = c.try_now().unwrap();
        assert!(t4 < t5, "{}", case.name);

        let forward = if case.fatal { 3 } else { 1 };
        let backward = if case.jump_ms < 0 && case.jump_ms.unsigned_abs() * 10 > case.max_offset_ms
        {
            3
        } else {
            0
        };
        let s = c.stats();
        assert_eq!(
            (s.forward_jumps, s.backward_jumps),
            (forward, backward),
            "{}",
            case.name
        );
    }
}

/// `now` never fails: with the monitor on it only counts a forward jump.
#[test]
fn now_counts_forward_jumps_but_issues_the_stamp() {
    let wall = ManualClock::new(BASE);
    let c = clock_with(&wall, Duration::from_millis(500));
    c.set_forward_jump_check(true).unwrap();
    let a = c.now();
    wall.advance(Duration::from_secs(10));
    let b = c.now();
    assert!(b > a && b.physical_nanos() > a.physical_nanos());
    assert_eq!(c.stats().forward_jumps, 1);
    // recv counts too.
    wall.advance(Duration::from_secs(10));
    c.recv(a).unwrap();
    assert_eq!(c.stats().forward_jumps, 2);
}

/// Enabling the monitor after an idle period does not report the idle gap (CockroachDB reads
/// the clock once before enforcing); enabling it twice is harmless.
#[test]
fn enabling_the_monitor_reads_the_clock_first() {
    let wall = ManualClock::new(BASE);
    let c = clock_with(&wall, Duration::from_millis(500));
    c.now();
    wall.advance(Duration::from_secs(3600));
    c.set_forward_jump_check(true).unwrap();
    c.set_forward_jump_check(true).unwrap();
    assert!(c.try_now().is_ok());
    assert_eq!(c.stats().forward_jumps, 0);
    // Just below the tolerance is fine, at the tolerance it is not.
    wall.advance(Duration::from_millis(250) - Duration::from_nanos(1));
    assert!(c.try_now().is_ok());
    wall.advance(Duration::from_millis(250));
    assert!(c.try_now().is_err());
}

/// CockroachDB would report every reading with a max offset below 2 ns (tolerance 0);
/// turning the monitor on is refused instead.
#[test]
fn the_monitor_needs_a_positive_tolerance() {
    for ns in [0, 1] {
        let wall = ManualClock::new(BASE);
        let c = clock_with(&wall, Duration::from_nanos(ns));
        assert_eq!(
            c.set_forward_jump_check(true),
            Err(HlcConfigError::ForwardJumpToleranceZero)
        );
        assert!(!c.forward_jump_check());
        assert!(c.set_forward_jump_check(false).is_ok());
    }
    let c = clock_with(&ManualClock::new(BASE), Duration::from_nanos(2));
    assert!(c.set_forward_jump_check(true).is_ok());
}

/// TestHLCEnforceWallTimeWithinBoundsInNow: a wall time above the persisted upper bound is
/// fatal in CockroachDB; here the stamp is capped at the bound and counted as an overrun, by
/// `try_now` as by `now`. At or below the bound nothing is counted.
#[test]
fn wall_time_beyond_the_upper_bound_is_an_overrun() {
    for (physical, bound, overrun) in [
        (1_000u64, 100u64, true),
        (1_000, 1_010, false),
        (1_000, 1_000, false),
    ] {
        for use_try_now in [false, true] {
            let c = HybridClock::new(ManualClock::new(physical));
            c.extend_upper_bound(Timestamp::from_u64(bound));
            let t = if use_try_now {
                c.try_now().unwrap()
            } else {
                c.now()
            };
            assert!(t.as_u64() <= bound.max(1));
            assert_eq!(
                c.stats().bound_overruns,
                u64::from(overrun),
                "physical {physical}, bound {bound}, try_now {use_try_now}"
            );
        }
    }
}

/// Many threads on the real clock: the race check keeps a thread that was delayed between
/// reading its clock and recording it from reporting a backward jump.
#[test]
fn racing_threads_do_not_report_backward_jumps() {
    let c = HybridClock::new(SystemClock);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20_000 {
                    std::hint::black_box(c.now());
                }
            });
        }
    });
    assert_eq!(c.stats().backward_jumps, 0);
}

#[derive(Debug, Clone)]
enum Op {
    Step(i64),
    Now,
    TryNow,
    Recv,
    Tick,
    Monitor(bool),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (-2_000_000i64..2_000_000).prop_map(Op::Step),
            1 => (-300_000_000i64..600_000_000).prop_map(Op::Step),
            2 => Just(Op::Now),
            2 => Just(Op::TryNow),
            1 => Just(Op::Recv),
            1 => Just(Op::Tick),
            1 => any::<bool>().prop_map(Op::Monitor),
        ],
        1..80,
    )
}

/// A literal model of CockroachDB's `checkPhysicalClock` on single-threaded readings.
struct Model {
    btol: u64,
    ftol: u64,
    prev: Option<u64>,
    back: u64,
    fwd: u64,
}

impl Model {
    /// A reading against the previous one; `true` for a forward jump while monitoring.
    fn read(&mut self, now: u64, monitor: bool) -> bool {
        let mut forward = false;
        if let Some(p) = self.prev {
            if p > now && p - now > self.btol {
                self.back += 1;
            }
            if monitor && now >= p && now - p >= self.ftol {
                self.fwd += 1;
                forward = true;
            }
        }
        self.prev = Some(now);
        forward
    }
}

proptest! {
    /// Against a literal model of CockroachDB's `checkPhysicalClock` (previous reading vs.
    /// new reading, `> max_offset / 10` back counts, `>= max_offset / 2` forward is an error
    /// while monitoring): the counters match, `try_now` fails exactly on modelled forward
    /// jumps, and stamps keep increasing.
    #[test]
    fn jumps_match_cockroachdbs_check(max_offset_ms in 1u64..1_000, ops in ops()) {
        let wall = ManualClock::new(BASE);
        let max_offset = Duration::from_millis(max_offset_ms);
        let c = clock_with(&wall, max_offset);
        let mo = max_offset_ms * 1_000_000;
        let (btol, ftol) = (mo / 10, mo / 2);
        let mut m = Model { btol, ftol, prev: None, back: 0, fwd: 0 };
        let mut monitor = false;
        let mut last_stamp = Timestamp::ZERO;
        for op in &ops {
            match *op {
                Op::Step(d) => {
                    if d >= 0 {
                        wall.advance_nanos(d.unsigned_abs());
                    } else {
                        wall.step_back(Duration::from_nanos(d.unsigned_abs()));
                    }
                }
                Op::Now => {
                    m.read(wall.now_unix_nanos(), monitor);
                    let t = c.now();
                    prop_assert!(t > last_stamp);
                    last_stamp = t;
                }
                Op::TryNow => {
                    let forward = m.read(wall.now_unix_nanos(), monitor);
                    match c.try_now() {
                        Ok(t) => {
                            prop_assert!(!forward);
                            prop_assert!(t > last_stamp);
                            last_stamp = t;
                        }
                        Err(NowError::ForwardClockJump { .. }) => prop_assert!(forward),
                        Err(e) => prop_assert!(false, "unexpected {}", e),
                    }
                }
                Op::Recv => {
                    m.read(wall.now_unix_nanos(), monitor);
                    let t = c.recv(Timestamp::from_parts(BASE / 2, 0)).unwrap();
                    prop_assert!(t > last_stamp);
                    last_stamp = t;
                }
                Op::Tick => {
                    let forward = m.read(wall.now_unix_nanos(), monitor);
                    prop_assert_eq!(c.check_wall_clock().is_err(), forward);
                }
                Op::Monitor(on) => {
                    if on && !monitor {
                        // Turning it on takes a reading with the monitor still off.
                        m.read(wall.now_unix_nanos(), false);
                    }
                    monitor = on;
                    c.set_forward_jump_check(on).unwrap();
                }
            }
            let s = c.stats();
            prop_assert_eq!((s.backward_jumps, s.forward_jumps), (m.back, m.fwd));
        }
    }
}
