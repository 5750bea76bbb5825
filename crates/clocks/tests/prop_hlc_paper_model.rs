//! Differential test: `HybridClock` against a literal model of the send and receive rules of
//! Kulkarni, Demirbas et al. 2014 (`l' = max(l, l_m, pt)`, with the three counter cases) and
//! of CockroachDB's `Clock.Update` for `observe` (forward to the remote, no tick), under a wall
//! clock that moves forwards and backwards by random amounts.

use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::{HlcConfig, HybridClock, ManualClock, OffsetPolicy, TICK_NANOS, Timestamp};

const BASE: u64 = 1 << 50;

#[derive(Debug, Clone)]
enum Op {
    /// Move the wall clock by this many ticks (possibly backwards) plus a sub-tick offset.
    Wall(i32, u16),
    Now,
    /// Receive a stamp `dl` ticks from the current local `l`, with counter `c`.
    Recv(i32, u16),
    Observe(i32, u16),
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (-50i32..50, any::<u16>()).prop_map(|(d, s)| Op::Wall(d, s)),
            Just(Op::Now),
            (-5i32..5, 0u16..1000).prop_map(|(d, c)| Op::Recv(d, c)),
            (-5i32..5, 0u16..1000).prop_map(|(d, c)| Op::Observe(d, c)),
        ],
        1..80,
    )
}

/// The paper's state: `l` in ticks, `c` the counter.
#[derive(Debug, Clone, Copy)]
struct Model {
    l: u64,
    c: u64,
}

impl Model {
    fn send(&mut self, pt: u64) -> (u64, u64) {
        let l0 = self.l;
        self.l = l0.max(pt);
        self.c = if self.l == l0 { self.c + 1 } else { 0 };
        (self.l, self.c)
    }

    fn recv(&mut self, pt: u64, lm: u64, cm: u64) -> (u64, u64) {
        let l0 = self.l;
        self.l = l0.max(lm).max(pt);
        self.c = if self.l == l0 && self.l == lm {
            self.c.max(cm) + 1
        } else if self.l == l0 {
            self.c + 1
        } else if self.l == lm {
            cm + 1
        } else {
            0
        };
        (self.l, self.c)
    }

    fn observe(&mut self, lm: u64, cm: u64) {
        if (lm, cm) > (self.l, self.c) {
            (self.l, self.c) = (lm, cm);
        }
    }
}

fn stamp((l, c): (u64, u64)) -> Timestamp {
    Timestamp::from_u64(l * TICK_NANOS + c)
}

proptest! {
    #[test]
    fn hlc_follows_the_paper_exactly(ops in arb_ops()) {
        let wall = ManualClock::new(BASE);
        let mut cfg = HlcConfig::default();
        cfg.max_offset = Duration::from_secs(1);
        cfg.offset_policy = OffsetPolicy::AcceptAndCount;
        let clock = HybridClock::with_config(wall.clone(), cfg).unwrap();
        let mut m = Model { l: 0, c: 0 };
        for op in ops {
            let pt = |w: &ManualClock| {
                use quorate_clocks::WallClock;
                w.now_unix_nanos() / TICK_NANOS
            };
            match op {
                Op::Wall(d, sub) => {
                    use quorate_clocks::WallClock;
                    let tick = (wall.now_unix_nanos() / TICK_NANOS).saturating_add_signed(i64::from(d));
                    wall.set(tick * TICK_NANOS + u64::from(sub));
                }
                Op::Now => {
                    let want = m.send(pt(&wall));
                    prop_assert_eq!(clock.now(), stamp(want));
                }
                Op::Recv(d, c) => {
                    let lm = m.l.max(1).saturating_add_signed(i64::from(d));
                    let want = m.recv(pt(&wall), lm, u64::from(c));
                    let got = clock.recv(stamp((lm, u64::from(c)))).unwrap();
                    prop_assert_eq!(got, stamp(want));
                }
                Op::Observe(d, c) => {
                    let lm = m.l.max(1).saturating_add_signed(i64::from(d));
                    m.observe(lm, u64::from(c));
                    clock.observe(stamp((lm, u64::from(c)))).unwrap();
                    prop_assert_eq!(clock.last(), Some(stamp((m.l, m.c))));
                }
            }
        }
    }
}
