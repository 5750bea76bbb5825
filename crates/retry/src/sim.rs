//! A seeded, deterministic retry-storm simulator.
//!
//! It reproduces the model of Marc Brooker's "Exponential Backoff And Jitter" study (AWS
//! Architecture Blog): `N` clients each perform one optimistic-concurrency write to the same
//! row. Every attempt carries the row version the client last saw; the server applies it only
//! if that version is still current (and bumps it), otherwise it answers "conflict" with the
//! current version. Each network hop takes `|Normal(10 ms, 2 ms)|`. A client that loses backs
//! off (base 5 ms, cap 2 s) with the strategy under test and tries again. The simulator
//! reports the *work* (server calls, i.e. attempts) and the *completion time* (when the last
//! client succeeded), averaged over a few trials.
//!
//! A second experiment, [`amplification_table`], drives the real [`RetryPlanner`] with each
//! real budget and shows how many attempts each request costs as the failure probability of a
//! dependency goes from 0 to 1: without a budget, load multiplies by the attempt limit exactly
//! when the dependency is failing; with one, it stays bounded.
//!
//! Everything is driven by one seed through [`FastRng`] and integer nanoseconds; normal samples
//! come from a Box-Muller transform written here. Same seed, byte-identical output.
//!
//! ```
//! let a = quorate_retry::sim::storm_table(&[10], 1, 42);
//! let b = quorate_retry::sim::storm_table(&[10], 1, 42);
//! assert_eq!(a, b);
//! ```

use core::fmt::Write as _;
use core::time::Duration;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;

use crate::backoff::{Backoff, BackoffState, Jitter};
use crate::budget::{AdaptiveThrottle, GrpcThrottle, RetryBudget, RetryQuota, WindowedBudget};
use crate::outcome::{Classification, OutcomeClass};
use crate::planner::{Decision, RetryPlanner, RetryPolicy};
use crate::rng::FastRng;

const MS: u64 = 1_000_000;

/// One standard normal sample by the Box-Muller transform (one of the pair is discarded, which
/// keeps the stream position independent of call history).
///
/// ```
/// use quorate_retry::{FastRng, sim::standard_normal};
/// let mut rng = FastRng::seed_from_u64(9);
/// let mean = (0..10_000).map(|_| standard_normal(&mut rng)).sum::<f64>() / 10_000.0;
/// assert!(mean.abs() < 0.05);
/// ```
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // u1 in (0, 1] so ln(u1) is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (core::f64::consts::TAU * u2).cos()
}

/// One network hop: `|Normal(mean, sd)|` in nanoseconds.
fn hop<R: Rng + ?Sized>(rng: &mut R, mean: f64, sd: f64) -> u64 {
    // Non-negative and far below u64::MAX for any sane input.
    (mean + sd * standard_normal(rng)).abs().round() as u64
}

/// The backoff strategy a simulated client uses.
///
/// ```
/// assert_eq!(quorate_retry::sim::Strategy::ALL.len(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// Exponential backoff without jitter.
    Exponential,
    /// Exponential backoff, full jitter.
    FullJitter,
    /// Exponential backoff, equal jitter.
    EqualJitter,
    /// Decorrelated jitter.
    Decorrelated,
}

impl Strategy {
    /// Every strategy, in table order.
    pub const ALL: [Self; 4] = [
        Self::Exponential,
        Self::FullJitter,
        Self::EqualJitter,
        Self::Decorrelated,
    ];

    /// The table label.
    ///
    /// ```
    /// assert_eq!(quorate_retry::sim::Strategy::FullJitter.label(), "full");
    /// ```
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Exponential => "exponential",
            Self::FullJitter => "full",
            Self::EqualJitter => "equal",
            Self::Decorrelated => "decorrelated",
        }
    }

    fn jitter(self) -> Jitter {
        match self {
            Self::Exponential => Jitter::None,
            Self::FullJitter => Jitter::Full,
            Self::EqualJitter => Jitter::Equal,
            Self::Decorrelated => Jitter::Decorrelated,
        }
    }
}

/// The outcome of one storm run.
///
/// ```
/// use quorate_retry::sim::{run_storm, Strategy};
/// let r = run_storm(Strategy::FullJitter, 10, 1);
/// assert!(r.calls >= 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StormResult {
    /// Server calls (attempts) made by all clients together.
    pub calls: u64,
    /// When the last client's write succeeded (nanoseconds from the start).
    pub completion_nanos: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A write from `client`, carrying the version it last saw, reaches the server.
    Arrive { client: usize, seen: u64 },
    /// The server's answer reaches `client`: success, or a conflict with the current version.
    Reply {
        client: usize,
        ok: bool,
        version: u64,
    },
    /// `client` wakes from its backoff and sends again.
    Wake { client: usize },
}

/// Runs one storm: `clients` clients, one write each, with `strategy`, seeded by `seed`.
///
/// The backoff is exponential with base 5 ms, factor 2, cap 2 s (decorrelated: base 5 ms,
/// cap 2 s); hops are `|Normal(10 ms, 2 ms)|`.
///
/// ```
/// use quorate_retry::sim::{run_storm, Strategy};
/// assert_eq!(run_storm(Strategy::Exponential, 20, 5), run_storm(Strategy::Exponential, 20, 5));
/// ```
#[must_use]
pub fn run_storm(strategy: Strategy, clients: usize, seed: u64) -> StormResult {
    let mut rng = FastRng::seed_from_u64(seed);
    let Ok(backoff) = Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_secs(2))
    else {
        return StormResult::default();
    };
    let backoff = backoff.with_jitter(strategy.jitter());
    let (mean, sd) = (10.0 * MS as f64, 2.0 * MS as f64);
    let mut states = vec![BackoffState::new(); clients];
    let mut seen = vec![0u64; clients];
    let mut version = 0u64;
    let mut calls = 0u64;
    let mut done = 0usize;
    let mut last = 0u64;
    // Min-heap on (time, sequence number): ties resolve in insertion order, deterministically.
    let mut queue: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |q: &mut BinaryHeap<Reverse<(u64, u64, Event)>>, t: u64, e: Event| {
        q.push(Reverse((t, seq, e)));
        seq += 1;
    };
    for c in 0..clients {
        let t = hop(&mut rng, mean, sd);
        calls += 1;
        push(&mut queue, t, Event::Arrive { client: c, seen: 0 });
    }
    while let Some(Reverse((now, _, event))) = queue.pop() {
        match event {
            Event::Arrive { client, seen: v } => {
                let ok = v == version;
                if ok {
                    version += 1;
                }
                let t = now + hop(&mut rng, mean, sd);
                push(
                    &mut queue,
                    t,
                    Event::Reply {
                        client,
                        ok,
                        version,
                    },
                );
            }
            Event::Reply {
                client,
                ok,
                version: v,
            } => {
                if ok {
                    done += 1;
                    last = last.max(now);
                } else {
                    seen[client] = v;
                    let d = backoff.next_delay_nanos(&mut states[client], &mut rng);
                    push(&mut queue, now + d, Event::Wake { client });
                }
            }
            Event::Wake { client } => {
                calls += 1;
                let t = now + hop(&mut rng, mean, sd);
                push(
                    &mut queue,
                    t,
                    Event::Arrive {
                        client,
                        seen: seen[client],
                    },
                );
            }
        }
    }
    debug_assert_eq!(done, clients);
    StormResult {
        calls,
        completion_nanos: last,
    }
}

/// The storm table: for each client count and strategy, the mean work (server calls) and mean
/// completion time over `trials` seeded runs.
///
/// ```
/// let t = quorate_retry::sim::storm_table(&[10, 20], 2, 7);
/// assert!(t.contains("clients"));
/// ```
#[must_use]
pub fn storm_table(client_counts: &[usize], trials: u64, seed: u64) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:>7}", "clients");
    for s in Strategy::ALL {
        let _ = write!(
            out,
            " | {:>12} {:>9}",
            format!("{} calls", s.label()),
            "time ms"
        );
    }
    out.push('\n');
    for &n in client_counts {
        let _ = write!(out, "{n:>7}");
        for (si, s) in Strategy::ALL.into_iter().enumerate() {
            let (mut calls, mut time) = (0u64, 0u64);
            for t in 0..trials.max(1) {
                let run_seed =
                    seed ^ crate::rng::splitmix64((n as u64) << 32 | (si as u64) << 16 | t);
                let r = run_storm(s, n, run_seed);
                calls += r.calls;
                time += r.completion_nanos;
            }
            let k = trials.max(1);
            let _ = write!(out, " | {:>12} {:>9}", calls / k, time / k / MS);
        }
        out.push('\n');
    }
    out
}

/// The budgets compared in the amplification table, in column order.
const BUDGETS: [&str; 5] = ["none", "windowed", "grpc", "aws-quota", "sre"];

fn make_budget(which: usize, seed: u64) -> Option<Box<dyn RetryBudget>> {
    let b: Box<dyn RetryBudget> = match which {
        1 => Box::new(WindowedBudget::new(Duration::from_secs(10), 10, 0.2).ok()?),
        2 => Box::new(GrpcThrottle::new(100.0, 0.1).ok()?),
        3 => Box::new(RetryQuota::standard()),
        4 => Box::new(
            AdaptiveThrottle::new(2.0, Duration::from_secs(120))
                .ok()?
                .with_seed(seed),
        ),
        _ => return None,
    };
    Some(b)
}

/// Attempts per request under budget `which` (see [`amplification_table`]) when each attempt
/// fails with probability `p_fail`.
///
/// ```
/// let a = quorate_retry::sim::attempts_per_request(0, 1.0, 1_000, 1);
/// assert!((a - 4.0).abs() < 1e-9); // no budget: every request makes all 4 attempts
/// ```
#[must_use]
pub fn attempts_per_request(which: usize, p_fail: f64, requests: u64, seed: u64) -> f64 {
    let mut rng = FastRng::seed_from_u64(seed);
    let budget = make_budget(which, seed);
    let Ok(backoff) = Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_secs(2))
    else {
        return 0.0;
    };
    let Ok(policy) = RetryPolicy::new(backoff.with_jitter(Jitter::Full)).with_max_attempts(4)
    else {
        return 0.0;
    };
    let mut attempts = 0u64;
    for i in 0..requests {
        // One new request per millisecond; retries are sent at their backoff times.
        let mut now = i * MS;
        let mut planner = RetryPlanner::new(&policy);
        if let Some(b) = budget.as_deref() {
            planner = planner.with_budget(b);
        }
        loop {
            if planner.begin_attempt(now).is_err() {
                break;
            }
            attempts += 1;
            now += 10 * MS;
            if rng.random::<f64>() < p_fail {
                match planner.on_failure(
                    now,
                    Classification::new(OutcomeClass::Transient),
                    &mut rng,
                ) {
                    Decision::RetryAfter(d) => {
                        now += u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
                    }
                    Decision::GiveUp(_) => break,
                }
            } else {
                planner.on_success(now);
                break;
            }
        }
    }
    attempts as f64 / requests.max(1) as f64
}

/// The amplification table: attempts per request (max 4 attempts, full-jitter backoff, one
/// request per simulated millisecond) for each budget as the failure probability goes from 0
/// to 1. Budgets: none; windowed (10 s, 10/s, 20%); gRPC (max_tokens 100, ratio 0.1); AWS
/// standard quota; SRE adaptive throttling (K = 2, 2 min).
///
/// ```
/// let t = quorate_retry::sim::amplification_table(1_000, 3);
/// assert!(t.starts_with("p_fail"));
/// ```
#[must_use]
pub fn amplification_table(requests: u64, seed: u64) -> String {
    let mut out = String::new();
    let _ = write!(out, "p_fail");
    for b in BUDGETS {
        let _ = write!(out, " | {b:>9}");
    }
    out.push('\n');
    for step in 0..=10u32 {
        let p = f64::from(step) / 10.0;
        let _ = write!(out, "{p:>6.1}");
        for which in 0..BUDGETS.len() {
            let a = attempts_per_request(
                which,
                p,
                requests,
                seed ^ u64::from(step) << 8 ^ which as u64,
            );
            let _ = write!(out, " | {a:>9.3}");
        }
        out.push('\n');
    }
    out
}

/// The full report printed by the `retry_storm` example: the storm table for N = 10..100 and
/// the amplification table.
///
/// ```
/// # // Small arguments keep the doctest quick; the example uses the full sizes.
/// let r = quorate_retry::sim::report(&[10], 1, 100, 1);
/// assert!(r.contains("amplification"));
/// ```
#[must_use]
pub fn report(client_counts: &[usize], trials: u64, requests: u64, seed: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "retry storm: N clients, one OCC write each to one row; hop |Normal(10ms, 2ms)|; base 5ms, cap 2s; mean of {trials} trial(s); seed {seed}"
    );
    out.push_str(&storm_table(client_counts, trials, seed));
    let _ = writeln!(
        out,
        "\namplification: attempts per request (max 4 attempts) vs failure probability; {requests} requests, 1 per ms"
    );
    out.push_str(&amplification_table(requests, seed));
    out
}
