//! Retry storm: many clients against a dependency that fails, with plain retries, jittered
//! backoff and each retry budget of `quorate-retry`.
//!
//! The dependency fails every call during an outage (a quarter of the run), fails 5% of calls
//! otherwise, and fails every call beyond its capacity in a 100 ms bucket (overload: extra
//! attempts make things worse). Every strategy sees the same arrivals and the same dependency.
//! Each request is driven by a [`RetryPlanner`] in virtual time. The checker counts requests,
//! attempts, grants and successes itself and checks each budget's published bound at every
//! grant; it also checks that no attempt starts past its deadline and no backoff delay exceeds
//! the cap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use quorate_retry::{
    AdaptiveThrottle, Backoff, Decision, FastRng, GrpcThrottle, Idempotency, Jitter, OutcomeClass,
    RetryBudget, RetryPlanner, RetryPolicy, RetryQuota, WindowedBudget,
};
use rand::Rng;

use crate::report::{Checker, Fault, ScenarioReport};
use crate::sim::{MS, rng_for};
use crate::{Ctx, TourError};

const LATENCY: u64 = 10 * MS;
const CAP: Duration = Duration::from_secs(1);
const TTL: Duration = Duration::from_secs(10);
const WINDOW_PERCENT: f64 = 0.1;
const WINDOW_MIN_PER_SEC: u32 = 1;
const GRPC_MAX: f64 = 10.0;
const GRPC_RATIO: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Plain,
    Jittered,
    Windowed,
    Grpc,
    Quota,
    Adaptive,
}

impl Strategy {
    const ALL: [Self; 6] = [
        Self::Plain,
        Self::Jittered,
        Self::Windowed,
        Self::Grpc,
        Self::Quota,
        Self::Adaptive,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain retries",
            Self::Jittered => "jittered backoff",
            Self::Windowed => "WindowedBudget (10%, 1/s)",
            Self::Grpc => "GrpcThrottle (10, 0.1)",
            Self::Quota => "RetryQuota (AWS standard)",
            Self::Adaptive => "AdaptiveThrottle (K=2)",
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    attempts: u64,
    succeeded: u64,
    first_try_successes: u64,
    retry_successes: u64,
    retries: u64,
    shed: u64,
    max_attempts: u32,
    failures: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrive(usize),
    Attempt(usize),
    Respond(usize, bool),
}

struct Dependency {
    outage: (u64, u64),
    bucket: u64,
    in_bucket: u64,
    capacity: u64,
}

impl Dependency {
    fn call(&mut self, now: u64, rng: &mut impl Rng) -> bool {
        let b = now / (100 * MS);
        if b != self.bucket {
            self.bucket = b;
            self.in_bucket = 0;
        }
        self.in_bucket += 1;
        if now >= self.outage.0 && now < self.outage.1 {
            return false;
        }
        if self.in_bucket > self.capacity {
            return false;
        }
        !rng.random_bool(0.05)
    }
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, TourError> {
    let mut report = ScenarioReport::new("retry-storm");
    let mut chk = Checker::default();
    let requests = ctx.scale.max(10);
    // Arrivals spread over 40 virtual seconds; the outage is seconds 10 to 20.
    let span = 40_000 * MS;
    let interval = span / requests;
    let per_bucket = (100 * MS).div_ceil(interval).max(1);
    let cfg = |e: quorate_retry::ConfigError| TourError::Scenario(e.to_string());
    let plain = RetryPolicy::new(Backoff::constant(Duration::ZERO).map_err(cfg)?)
        .with_max_attempts(4)
        .map_err(cfg)?
        .with_deadline(Duration::from_secs(3))
        .map_err(cfg)?
        .with_idempotency(Idempotency::Keyed);
    let jittered = RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(20), 2.0, CAP)
            .map_err(cfg)?
            .with_jitter(Jitter::Full),
    )
    .with_max_attempts(4)
    .map_err(cfg)?
    .with_deadline(Duration::from_secs(3))
    .map_err(cfg)?
    .with_idempotency(Idempotency::Keyed);
    for name in [
        "no attempt starts past its deadline",
        "no backoff delay exceeds the cap",
        "WindowedBudget: retries in a window <= 10% of requests + reserve",
        "GrpcThrottle: retries <= max_tokens/2 + token_ratio x successes",
        "RetryQuota: retry costs <= capacity + refills + refunds",
    ] {
        chk.declare(name);
    }
    let mut done_total = 0u64;
    for (si, strategy) in Strategy::ALL.into_iter().enumerate() {
        let windowed = WindowedBudget::new(TTL, WINDOW_MIN_PER_SEC, WINDOW_PERCENT).map_err(cfg)?;
        let grpc = GrpcThrottle::new(GRPC_MAX, GRPC_RATIO).map_err(cfg)?;
        let quota = RetryQuota::standard();
        let adaptive = AdaptiveThrottle::new(2.0, TTL)
            .map_err(cfg)?
            .with_seed(ctx.seed);
        let budget: Option<&dyn RetryBudget> = match strategy {
            Strategy::Plain | Strategy::Jittered => None,
            Strategy::Windowed => Some(&windowed),
            Strategy::Grpc => Some(&grpc),
            Strategy::Quota => Some(&quota),
            Strategy::Adaptive => Some(&adaptive),
        };
        let policy = if strategy == Strategy::Plain {
            &plain
        } else {
            &jittered
        };
        // The broken safeguard: the budgeted strategies retry without consulting their budget.
        let budget = if ctx.broken && strategy != Strategy::Adaptive {
            None
        } else {
            budget
        };
        let mut planners: Vec<RetryPlanner<'_>> = Vec::with_capacity(requests as usize);
        let mut rng = FastRng::seed_from_u64(ctx.seed ^ 0x5707);
        let mut dep_rng = rng_for(ctx.seed, 31);
        let mut dep = Dependency {
            outage: (10_000 * MS, 20_000 * MS),
            bucket: u64::MAX,
            in_bucket: 0,
            capacity: per_bucket * 2,
        };
        let mut t = Tally::default();
        let mut events: BinaryHeap<Reverse<(u64, Event)>> = BinaryHeap::new();
        for i in 0..requests as usize {
            events.push(Reverse((i as u64 * interval, Event::Arrive(i))));
        }
        // Times of requests and granted retries, for the windowed bound.
        let mut request_times: VecDeque<u64> = VecDeque::new();
        let mut retry_times: VecDeque<u64> = VecDeque::new();
        let mut attempts_of: Vec<u32> = vec![0; requests as usize];
        let mut dependency_failures = 0u64;
        while let Some(Reverse((now, ev))) = events.pop() {
            match ev {
                Event::Arrive(i) => {
                    let mut p = RetryPlanner::new(policy);
                    if let Some(b) = budget {
                        p = p.with_budget(b);
                    }
                    planners.push(p);
                    debug_assert_eq!(planners.len(), i + 1);
                    t.requests += 1;
                    request_times.push_back(now);
                    events.push(Reverse((now, Event::Attempt(i))));
                    let done = done_total + t.requests;
                    if done.is_multiple_of(64) {
                        ctx.progress.advance(done * ctx.scale / (requests * 6));
                    }
                }
                Event::Attempt(i) => {
                    let Some(p) = planners.get_mut(i) else {
                        continue;
                    };
                    match p.begin_attempt(now) {
                        Ok(info) => {
                            let late = info.deadline_nanos.is_some_and(|d| now >= d);
                            chk.check("no attempt starts past its deadline", !late, || {
                                format!(
                                    "{}: request {i} attempt {} started past its deadline",
                                    strategy.name(),
                                    info.number
                                )
                            });
                            t.attempts += 1;
                            attempts_of[i] = info.number;
                            let ok = dep.call(now, &mut dep_rng);
                            if !ok {
                                dependency_failures += 1;
                            }
                            events.push(Reverse((now + LATENCY, Event::Respond(i, ok))));
                        }
                        Err(_) => t.shed += 1,
                    }
                }
                Event::Respond(i, ok) => {
                    let Some(p) = planners.get_mut(i) else {
                        continue;
                    };
                    if ok {
                        p.on_success(now);
                        t.succeeded += 1;
                        if attempts_of[i] == 1 {
                            t.first_try_successes += 1;
                        } else {
                            t.retry_successes += 1;
                        }
                        continue;
                    }
                    t.failures += 1;
                    if let Decision::RetryAfter(d) =
                        p.on_failure(now, OutcomeClass::Transient.into(), &mut rng)
                    {
                        t.retries += 1;
                        chk.check("no backoff delay exceeds the cap", d <= CAP, || {
                            format!("{}: delay {d:?} above the cap {CAP:?}", strategy.name())
                        });
                        retry_times.push_back(now);
                        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                        events.push(Reverse((now.saturating_add(d), Event::Attempt(i))));
                        check_bound(&mut chk, strategy, &t, now, &request_times, &retry_times);
                    }
                }
            }
        }
        t.max_attempts = attempts_of.iter().copied().max().unwrap_or(0);
        report
            .faults
            .add(Fault::DependencyFailure, dependency_failures);
        done_total += t.requests;
        let bound = match strategy {
            Strategy::Plain | Strategy::Jittered => "no bound".to_owned(),
            Strategy::Adaptive => format!("sheds locally ({} shed)", t.shed),
            _ => {
                let name = bound_name(strategy);
                let held = chk_violations(&chk, name) == 0;
                format!("bound held: {}", if held { "yes" } else { "NO" })
            }
        };
        report.details.push(format!(
            "{:<26} {} requests, {:.2} attempts/request (max {}), {:.1}% succeeded; {}",
            strategy.name(),
            t.requests,
            t.attempts as f64 / t.requests.max(1) as f64,
            t.max_attempts,
            100.0 * t.succeeded as f64 / t.requests.max(1) as f64,
            bound
        ));
        let _ = si;
        ctx.progress
            .advance(ctx.scale * (done_total / requests) / 6);
    }
    report.operations = done_total;
    report.invariants = chk.into_results();
    Ok(report)
}

fn bound_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Windowed => "WindowedBudget: retries in a window <= 10% of requests + reserve",
        Strategy::Grpc => "GrpcThrottle: retries <= max_tokens/2 + token_ratio x successes",
        Strategy::Quota => "RetryQuota: retry costs <= capacity + refills + refunds",
        _ => "",
    }
}

fn chk_violations(chk: &Checker, name: &str) -> u64 {
    chk.violations_of(name)
}

/// Checks the budget's published bound at a grant made at `now`, from the simulator's own
/// counts (not from the budget's state).
fn check_bound(
    chk: &mut Checker,
    strategy: Strategy,
    t: &Tally,
    now: u64,
    requests: &VecDeque<u64>,
    retries: &VecDeque<u64>,
) {
    match strategy {
        Strategy::Windowed => {
            // Withdrawals of the last 0.9 ttl have certainly not expired; deposits older than
            // ttl plus one slot certainly have. The balance never goes below zero.
            let ttl = u64::try_from(TTL.as_nanos()).unwrap_or(u64::MAX);
            let recent_retries = retries
                .iter()
                .rev()
                .take_while(|&&r| r + ttl * 9 / 10 > now)
                .count() as f64;
            let deposits = requests
                .iter()
                .rev()
                .take_while(|&&r| r + ttl * 12 / 10 > now)
                .count() as f64;
            let reserve = f64::from(WINDOW_MIN_PER_SEC) * TTL.as_secs() as f64;
            let bound = (WINDOW_PERCENT * deposits).floor() + reserve + 1.0;
            chk.check(bound_name(strategy), recent_retries <= bound, || {
                format!(
                    "{recent_retries} retries in 0.9 ttl against {deposits} requests: bound {bound}"
                )
            });
        }
        Strategy::Grpc => {
            let bound = GRPC_MAX / 2.0 + GRPC_RATIO * t.succeeded as f64 + 1.0;
            chk.check(bound_name(strategy), t.retries as f64 <= bound, || {
                format!(
                    "{} retries after {} successes: bound {bound}",
                    t.retries, t.succeeded
                )
            });
        }
        Strategy::Quota => {
            let spent = 5 * t.retries;
            let funded = 500 + t.first_try_successes + 5 * t.retry_successes;
            chk.check(bound_name(strategy), spent <= funded, || {
                format!("{} retries cost {spent}, funded {funded}", t.retries)
            });
        }
        _ => {}
    }
}
