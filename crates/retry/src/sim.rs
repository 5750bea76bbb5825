//! A seeded, deterministic retry-storm simulator.
//!
//! It reproduces Marc Brooker's "Exponential Backoff And Jitter" study (AWS Architecture
//! Blog) with the model of the simulator published beside it
//! (`aws-samples/aws-arch-backoff-simulator`): `N` clients each update one row once under
//! optimistic concurrency. A client reads the row's version, then writes conditionally on it;
//! the server applies the write only if the version is still current (and bumps it). A client
//! whose write lost backs off with the strategy under test and starts over with a new read.
//! Every message takes one network hop of `|Normal(10 ms, 2 ms)|`; the backoff has base 5 ms
//! and cap 2 s, and its exponent counts a client's failures from 1 (`min(cap, base * 2^n)`).
//! The five strategies are the study's: plain exponential, full, equal and decorrelated
//! jitter, and no backoff at all. The simulator reports the *work* (conditional writes the
//! server handled) and the *completion time* (when the last client learned it had won),
//! averaged over trials.
//!
//! Run with the same parameters, it gives the reference simulator's means (within sampling
//! noise; `tests/sim.rs` checks N = 20 and 50 against 1000-trial runs of it), and with them the
//! study's conclusions: jitter cuts the work by about half and the completion time by an
//! order of magnitude; full jitter does the least work, equal jitter a little more and
//! decorrelated more again, all far less than plain exponential and no backoff;
//! decorrelated finishes first, then full, then equal. The reference model itself bends
//! two of these at the ends of the range, and so does this one: at N ≤ 30 decorrelated does
//! as little work as full jitter (less than equal), and above about 130 clients decorrelated
//! finishes later than full jitter while full and equal jitter do the same work.
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

/// The backoff strategy a simulated client uses: the five of Brooker's study.
///
/// ```
/// assert_eq!(quorate_retry::sim::Strategy::ALL.len(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// Exponential backoff without jitter: `min(cap, base * 2^n)` after the `n`-th failure.
    Exponential,
    /// Exponential backoff, full jitter: `random_between(0, min(cap, base * 2^n))`.
    FullJitter,
    /// Exponential backoff, equal jitter: `v / 2 + random_between(0, v / 2)` of the same `v`.
    EqualJitter,
    /// Decorrelated jitter: `min(cap, random_between(base, previous_sleep * 3))`.
    Decorrelated,
    /// No backoff at all: a client that lost starts over at once (the study's baseline).
    NoBackoff,
}

impl Strategy {
    /// Every strategy, in table order.
    pub const ALL: [Self; 5] = [
        Self::Exponential,
        Self::FullJitter,
        Self::EqualJitter,
        Self::Decorrelated,
        Self::NoBackoff,
    ];

    /// The table label.
    ///
    /// ```
    /// assert_eq!(quorate_retry::sim::Strategy::FullJitter.label(), "full");
    /// assert_eq!(quorate_retry::sim::Strategy::NoBackoff.label(), "none");
    /// ```
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Exponential => "exponential",
            Self::FullJitter => "full",
            Self::EqualJitter => "equal",
            Self::Decorrelated => "decorrelated",
            Self::NoBackoff => "none",
        }
    }

    /// The schedule, built from the crate's own [`Backoff`]. Brooker's simulator counts the
    /// exponent from the first failure (`base * 2^1` first), so the exponential schedules start
    /// at `2 * base`; decorrelated jitter starts from `base` itself.
    fn backoff(self, base: Duration, cap: Duration) -> Option<Backoff> {
        let exp = |j| {
            Backoff::exponential(base * 2, 2.0, cap)
                .ok()
                .map(|b| b.with_jitter(j))
        };
        match self {
            Self::Exponential => exp(Jitter::None),
            Self::FullJitter => exp(Jitter::Full),
            Self::EqualJitter => exp(Jitter::Equal),
            Self::Decorrelated => Backoff::exponential(base, 2.0, cap)
                .ok()
                .map(|b| b.with_jitter(Jitter::Decorrelated)),
            Self::NoBackoff => Backoff::constant(Duration::ZERO).ok(),
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
    /// Server write calls (conditional writes, won or lost) made by all clients together: the
    /// study's "work". Reads are not counted, as in the study.
    pub calls: u64,
    /// When the last client learned its write succeeded (nanoseconds from the start): the
    /// study's "completion time".
    pub completion_nanos: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// `client`'s read of the row reaches the server.
    Read { client: usize },
    /// The server's answer to a read reaches `client`, with the row's version at that time.
    ReadReply { client: usize, version: u64 },
    /// `client`'s conditional write, expecting `version`, reaches the server.
    Write { client: usize, version: u64 },
    /// The server's answer to a write reaches `client`: won, or lost to another writer.
    WriteReply { client: usize, ok: bool },
}

/// Runs one storm: `clients` clients, one write each, with `strategy`, seeded by `seed`.
///
/// The workload is the one of Brooker's published simulator
/// (`aws-samples/aws-arch-backoff-simulator`): each client reads the row's version, then writes
/// conditionally on it; the server applies the write only if the version is still current
/// (and bumps it). A client whose write lost backs off, then starts over with a new read.
/// Every message takes one network hop, `|Normal(10 ms, 2 ms)|`. Backoff: base 5 ms, cap 2 s,
/// the `n`-th failure of a client (from 1) backing off `min(cap, base * 2^n)` before jitter.
///
/// ```
/// use quorate_retry::sim::{run_storm, Strategy};
/// assert_eq!(run_storm(Strategy::Exponential, 20, 5), run_storm(Strategy::Exponential, 20, 5));
/// ```
#[must_use]
pub fn run_storm(strategy: Strategy, clients: usize, seed: u64) -> StormResult {
    let mut rng = FastRng::seed_from_u64(seed);
    let Some(backoff) = strategy.backoff(Duration::from_millis(5), Duration::from_secs(2)) else {
        return StormResult::default();
    };
    let (mean, sd) = (10.0 * MS as f64, 2.0 * MS as f64);
    let mut states = vec![BackoffState::new(); clients];
    let mut version = 0u64;
    let mut calls = 0u64;
    let mut done = 0usize;
    let mut last = 0u64;
    // Min-heap on (time, sequence number): ties resolve in insertion order, deterministically.
    let mut queue: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::with_capacity(clients);
    let mut seq = 0u64;
    let mut push = |q: &mut BinaryHeap<Reverse<(u64, u64, Event)>>, t: u64, e: Event| {
        q.push(Reverse((t, seq, e)));
        seq += 1;
    };
    for client in 0..clients {
        let t = hop(&mut rng, mean, sd);
        push(&mut queue, t, Event::Read { client });
    }
    while let Some(Reverse((now, _, event))) = queue.pop() {
        // Every event but a won write's reply sends one message, which takes one hop.
        let t = match event {
            Event::WriteReply { ok: true, .. } => now,
            _ => now.saturating_add(hop(&mut rng, mean, sd)),
        };
        match event {
            Event::Read { client } => push(&mut queue, t, Event::ReadReply { client, version }),
            Event::ReadReply { client, version } => {
                push(&mut queue, t, Event::Write { client, version });
            }
            Event::Write { client, version: v } => {
                calls += 1;
                let ok = v == version;
                if ok {
                    version += 1;
                }
                push(&mut queue, t, Event::WriteReply { client, ok });
            }
            Event::WriteReply { client, ok } => {
                if ok {
                    done += 1;
                    last = last.max(now);
                } else if let Some(state) = states.get_mut(client) {
                    // The next read leaves after the backoff and takes its hop (already in `t`).
                    let d = backoff.next_delay_nanos(state, &mut rng);
                    push(&mut queue, t.saturating_add(d), Event::Read { client });
                }
            }
        }
    }
    debug_assert_eq!(done, clients);
    StormResult {
        calls,
        completion_nanos: last,
    }
}

/// The storm table: for each client count and strategy, the mean work (server write calls)
/// and mean completion time over `trials` seeded runs.
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
        let _ = write!(out, " | {:>22}", s.label());
    }
    out.push('\n');
    let _ = write!(out, "{:>7}", "");
    for _ in Strategy::ALL {
        let _ = write!(out, " | {:>12} {:>9}", "calls", "time ms");
    }
    out.push('\n');
    for &n in client_counts {
        let _ = write!(out, "{n:>7}");
        for s in Strategy::ALL {
            let r = mean_storm(s, n, trials, seed);
            let _ = write!(out, " | {:>12} {:>9}", r.calls, r.completion_nanos / MS);
        }
        out.push('\n');
    }
    out
}

/// The mean of [`run_storm`] over `trials` runs (at least one), each seeded from `seed`, the
/// strategy, the client count and the trial number: the numbers of one cell of
/// [`storm_table`].
///
/// ```
/// use quorate_retry::sim::{mean_storm, Strategy};
/// let r = mean_storm(Strategy::FullJitter, 20, 3, 1);
/// assert_eq!(r, mean_storm(Strategy::FullJitter, 20, 3, 1));
/// assert!(r.calls >= 20);
/// ```
#[must_use]
pub fn mean_storm(strategy: Strategy, clients: usize, trials: u64, seed: u64) -> StormResult {
    let k = trials.max(1);
    let si = Strategy::ALL
        .iter()
        .position(|&s| s == strategy)
        .unwrap_or(0) as u64;
    let (mut calls, mut time) = (0u64, 0u64);
    for t in 0..k {
        let run_seed = seed ^ crate::rng::splitmix64((clients as u64) << 32 | si << 16 | t);
        let r = run_storm(strategy, clients, run_seed);
        calls = calls.saturating_add(r.calls);
        time = time.saturating_add(r.completion_nanos);
    }
    StormResult {
        calls: calls / k,
        completion_nanos: time / k,
    }
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

/// The full report printed by the `retry_storm` example: the storm table (the example uses
/// N = 10..100, 100 trials each, as the study did) and the amplification table.
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
        "retry storm: N clients each read then conditionally write one row, starting over after a conflict; hop |Normal(10ms, 2ms)|; backoff min(2s, 5ms * 2^failures); calls = writes; mean of {trials} trial(s); seed {seed}"
    );
    out.push_str(&storm_table(client_counts, trials, seed));
    let _ = writeln!(
        out,
        "\namplification: attempts per request (max 4 attempts) vs failure probability; {requests} requests, 1 per ms"
    );
    out.push_str(&amplification_table(requests, seed));
    out
}
