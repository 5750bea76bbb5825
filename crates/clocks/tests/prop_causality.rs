//! Happens-before is preserved by Lamport clocks and HLCs under random message schedules
//! (drops, reordering, skewed clocks), and HLC stays within the clock offset of physical time.

use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::{
    HlcConfig, HybridClock, Lamport, LamportClock, ManualClock, Timestamp, WallClock,
};

const NODES: usize = 3;
const BASE: u64 = 1_700_000_000_000_000_000;
const MAX_SKEW: u64 = 50_000_000; // 50 ms between any two clocks

#[derive(Debug, Clone)]
enum Step {
    Local(usize),
    Send(usize, usize),
    Deliver(usize),
    Advance(u64),
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (0..NODES).prop_map(Step::Local),
            (0..NODES, 0..NODES).prop_map(|(a, b)| Step::Send(a, b)),
            any::<prop::sample::Index>().prop_map(|i| Step::Deliver(i.index(usize::MAX))),
            (0u64..200_000).prop_map(Step::Advance),
        ],
        1..120,
    )
}

/// Ground truth: vector clocks over plain arrays.
type Vc = [u64; NODES];

fn before(a: &Vc, b: &Vc) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a != b
}

struct Event<S> {
    vc: Vc,
    stamp: S,
}

/// Runs the schedule; `stamp_local(node)` and `stamp_recv(node, msg_stamp)` issue stamps.
fn run<S: Copy>(
    steps: &[Step],
    mut stamp_local: impl FnMut(usize) -> S,
    mut stamp_recv: impl FnMut(usize, S) -> S,
    mut advance: impl FnMut(u64),
) -> Vec<Event<S>> {
    let mut vcs = [[0u64; NODES]; NODES];
    let mut in_flight: Vec<(usize, Vc, S)> = Vec::new();
    let mut events = Vec::new();
    for step in steps {
        match *step {
            Step::Local(n) | Step::Send(n, _) => {
                vcs[n][n] += 1;
                let stamp = stamp_local(n);
                events.push(Event { vc: vcs[n], stamp });
                if let Step::Send(_, to) = *step {
                    in_flight.push((to, vcs[n], stamp));
                }
            }
            Step::Deliver(i) if !in_flight.is_empty() => {
                let (to, vc, s) = in_flight.swap_remove(i % in_flight.len());
                for k in 0..NODES {
                    vcs[to][k] = vcs[to][k].max(vc[k]);
                }
                vcs[to][to] += 1;
                let stamp = stamp_recv(to, s);
                events.push(Event { vc: vcs[to], stamp });
            }
            Step::Deliver(_) => {}
            Step::Advance(ns) => advance(ns),
        }
    }
    events
}

fn check_happens_before<S: Ord + std::fmt::Debug>(
    events: &[Event<S>],
) -> Result<(), TestCaseError> {
    for a in events {
        for b in events {
            if before(&a.vc, &b.vc) {
                prop_assert!(
                    a.stamp < b.stamp,
                    "{:?} -> {:?} but stamps {:?} !< {:?}",
                    a.vc,
                    b.vc,
                    a.stamp,
                    b.stamp
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn lamport_preserves_happens_before(steps in arb_steps()) {
        let clocks = std::cell::RefCell::new([Lamport::new(); NODES]);
        let events = run(
            &steps,
            |n| clocks.borrow_mut()[n].tick().unwrap(),
            |n, s| clocks.borrow_mut()[n].recv(s).unwrap(),
            |_| {},
        );
        check_happens_before(&events)?;
        let atomic: Vec<LamportClock> = (0..NODES).map(|_| LamportClock::new()).collect();
        let events = run(&steps, |n| atomic[n].tick().unwrap(), |n, s| atomic[n].recv(s).unwrap(), |_| {});
        check_happens_before(&events)?;
    }

    #[test]
    fn hlc_preserves_happens_before_and_stays_near_physical_time(
        steps in arb_steps(),
        skews in prop::array::uniform3(0u64..MAX_SKEW),
        use_observe in any::<bool>(),
    ) {
        let walls: Vec<ManualClock> = skews.iter().map(|s| ManualClock::new(BASE + s)).collect();
        let mut cfg = HlcConfig::default();
        cfg.max_offset = Duration::from_nanos(MAX_SKEW);
        let clocks: Vec<HybridClock<ManualClock>> = walls
            .iter()
            .map(|w| HybridClock::with_config(w.clone(), cfg).unwrap())
            .collect();
        // l - pt <= max clock offset (the paper's bound) and l >= pt, up to one tick of
        // rounding, checked at every stamp.
        let check = |n: usize, t: Timestamp| {
            let pt = walls[n].now_unix_nanos();
            assert!(t.physical_nanos() <= pt + MAX_SKEW, "{t} too far ahead of {pt}");
            assert!(t.physical_nanos() + (1 << 16) > pt, "{t} behind its wall clock {pt}");
            t
        };
        let events = run(
            &steps,
            |n| check(n, clocks[n].now()),
            |n, s: Timestamp| {
                let t = if use_observe {
                    clocks[n].observe(s).unwrap();
                    clocks[n].now()
                } else {
                    clocks[n].recv(s).unwrap()
                };
                check(n, t)
            },
            |ns| walls.iter().for_each(|w| w.advance_nanos(ns)),
        );
        check_happens_before(&events)?;
        for c in &clocks {
            prop_assert_eq!(c.stats().carries, 0);
            prop_assert_eq!(c.stats().offset_rejected, 0);
        }
    }
}
