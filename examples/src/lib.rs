//! The fault tour: the practical designs of the notes, composed from quorate's crates and run
//! under injected faults, with every invariant checked.
//!
//! `cargo run --release -p quorate-examples --bin tour` runs every scenario on embedded SQLite
//! files in a temporary directory (or on PostgreSQL with `--database-url`/`DATABASE_URL`) and
//! ends with a table of operations, faults injected by kind, invariants checked and violations;
//! it exits non-zero on any violation. This library is what the command runs: [`run`] with
//! [`TourOptions`], reporting through [`Progress`], returning a [`TourReport`].
//!
//! # Scenarios
//!
//! | name | design | crates | invariants |
//! |---|---|---|---|
//! | `payment` | capture with idempotency keys; payment row, outbox message and stored response in one transaction; a relay to a provider that times out ambiguously; an inbox; reconciliation by operation id | `quorate-idempotency`, `quorate-outbox`, `quorate-retry` | captured at most once per payment; every acknowledged payment captured; local state equals the provider's after reconciliation; a retried request replays the same response; each payment and its outbox message commit together |
//! | `inventory` | reservations through a majority-quorum replicated log, and per-region escrow quotas | `quorate-quorum` | confirmed ≤ stock; confirmations survive leader changes; committed logs agree; a replica cut off from the majority confirms nothing; escrow quota conserved; quotas rebalance after healing |
//! | `scheduler` | workers lease jobs ([`quorate_fencing`] leases with fencing tokens), fence the job row on acquire, write results with a fenced update; pauses past the lease | `quorate-fencing` | no write from a stale holder accepted; tokens increase with every grant; every job's result written exactly once; every job completes |
//! | `profile` | a user profile in three regions: LWW display name on HLC stamps, OR-set of preferences, MV-register email, a deletion marker; delta sync | `quorate-crdt`, `quorate-clocks` | regions equal after healing; concurrent preference toggles not lost; email conflicts surfaced, none lost; LWW picks the greatest HLC stamp; HLC stamps causal despite skew and backward steps; deletion dominates |
//! | `retry-storm` | many clients against a failing dependency: plain retries, jittered backoff, each budget | `quorate-retry` | each budget's published bound holds; no attempt starts past its deadline; attempts per request reported |
//!
//! # The fault model
//!
//! A seeded simulated network and process model in virtual time: message loss, duplication,
//! reordering and delay spikes; clean and asymmetric partitions and their healing; process
//! pauses longer than a lease or an election timeout; crashes at named points (volatile state
//! lost, what was committed to the store or the durable log kept); client timeouts, including
//! after the server committed; a dependency that fails or times out after acting; wall clocks
//! skewed and stepped backward. A run is a pure function of its seed: the same seed gives the
//! same operations, faults and checks (only elapsed times differ; on PostgreSQL the lock expiry
//! of the idempotency store follows the database clock, so runs there may differ slightly).
//!
//! Where a store is involved, crashes are also real: the payment scenario's crash drills
//! re-run the `tour` binary as a worker process ([`worker_main`],
//! [`TourOptions::with_worker_executable`]) that serves a batch of requests and aborts (no
//! unwinding, no destructors) at a named crash point of the idempotency store, through the
//! crate's crash hook; the tour then recovers from what the dead process left in the store.
//!
//! # Multi-process mode
//!
//! With PostgreSQL, [`TourOptions::with_workers`] (`--workers N`) also runs the job scheduler
//! and the outbox relay as N worker processes against the database, in real time: leases from
//! the database clock, fenced result writes, relays publishing to a provider table; the tour
//! kills random workers with `SIGKILL`, restarts them, and checks from the database that every
//! job completed with exactly one accepted result write, that no write carried a token older
//! than one granted before it, and that every outbox message reached the provider. With
//! [`TourOptions::with_etcd`] (`--etcd`) the leases come from etcd instead.
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `etcd` | no | `--etcd` / [`TourOptions::with_etcd`]: the multi-process mode's leases from etcd (`quorate-fencing/etcd`; building needs `protoc`) |
//!
//! # Example
//!
//! ```
//! use quorate_examples::{NoProgress, Scenario, TourOptions, run};
//!
//! # fn main() -> Result<(), quorate_examples::TourError> {
//! let options = TourOptions::new(42).with_scale(60).with_scenarios(vec![Scenario::RetryStorm]);
//! let report = run(&options, &mut NoProgress)?;
//! assert_eq!(report.violations(), 0);
//! println!("{}", report.render_table());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod db;
mod inventory;
mod multiprocess;
mod payment;
mod profile;
mod report;
mod scheduler;
mod sim;
mod storm;

use std::fmt;

pub use db::Backend;
pub use report::{Fault, FaultCounts, InvariantResult, ScenarioReport, TourReport};

/// A scenario of the tour.
///
/// ```
/// use quorate_examples::Scenario;
/// assert_eq!(Scenario::from_name("inventory"), Some(Scenario::Inventory));
/// assert_eq!(Scenario::Inventory.name(), "inventory");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// Payment capture: idempotency keys, a transactional outbox and relay, reconciliation.
    Payment,
    /// Inventory reservation: majority quorums and per-region escrow.
    Inventory,
    /// Job scheduler: leases with fencing tokens, fenced storage, pauses past the lease.
    Scheduler,
    /// Multi-region user profile built from CRDTs, synced by deltas.
    Profile,
    /// Retry storm: plain retries, jittered backoff and each retry budget.
    RetryStorm,
}

impl Scenario {
    /// Every scenario, in the order the tour runs them.
    pub const ALL: [Self; 5] = [
        Self::Payment,
        Self::Inventory,
        Self::Scheduler,
        Self::Profile,
        Self::RetryStorm,
    ];

    /// The name given to `--scenario`.
    ///
    /// ```
    /// assert_eq!(quorate_examples::Scenario::RetryStorm.name(), "retry-storm");
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Inventory => "inventory",
            Self::Scheduler => "scheduler",
            Self::Profile => "profile",
            Self::RetryStorm => "retry-storm",
        }
    }

    /// The scenario called `name`, if any.
    ///
    /// ```
    /// assert_eq!(quorate_examples::Scenario::from_name("nope"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The names of every scenario, comma-separated (for error messages and `--help`).
    ///
    /// ```
    /// assert!(quorate_examples::Scenario::names().contains("profile"));
    /// ```
    #[must_use]
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the tour could not run (as opposed to running and finding violations).
///
/// Every message is one line.
///
/// ```
/// let e = quorate_examples::TourError::UnknownScenario("x".into());
/// assert!(e.to_string().starts_with("unknown scenario 'x'"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TourError {
    /// `--scenario` named no scenario.
    #[error("unknown scenario '{0}' (expected one of: {names})", names = Scenario::names())]
    UnknownScenario(String),
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Unreachable(String),
    /// A database statement failed during the run.
    #[error("database error: {0}")]
    Database(String),
    /// A scenario could not be set up.
    #[error("scenario setup failed: {0}")]
    Scenario(String),
    /// `--scale` must be at least 1.
    #[error("scale must be at least 1")]
    ZeroScale,
    /// `--workers` needs PostgreSQL, a worker executable and at least one worker.
    #[error("--workers needs PostgreSQL (--database-url or DATABASE_URL) and at least 1 worker")]
    Workers,
    /// `--etcd` needs `--workers` and a build with the `etcd` feature.
    #[error("--etcd needs --workers and a tour built with the etcd feature (--features etcd)")]
    Etcd,
}

/// What to run.
///
/// ```
/// use quorate_examples::{Backend, TourOptions};
/// let o = TourOptions::new(7).with_scale(500).with_backend(Backend::Sqlite);
/// assert_eq!((o.seed(), o.scale()), (7, 500));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TourOptions {
    seed: u64,
    scale: u64,
    scenarios: Vec<Scenario>,
    backend: Backend,
    broken: bool,
    worker_exe: Option<std::path::PathBuf>,
    workers: Option<usize>,
    etcd: Option<String>,
}

impl TourOptions {
    /// Every scenario at the default scale (1000 operations each) on SQLite, from `seed`.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(1).scale(), 1000);
    /// ```
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            scale: 1000,
            scenarios: Scenario::ALL.to_vec(),
            backend: Backend::Sqlite,
            broken: false,
            worker_exe: None,
            workers: None,
            etcd: None,
        }
    }

    /// Operations per scenario.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(1).with_scale(10).scale(), 10);
    /// ```
    #[must_use]
    pub fn with_scale(mut self, scale: u64) -> Self {
        self.scale = scale;
        self
    }

    /// Runs only these scenarios.
    ///
    /// ```
    /// use quorate_examples::{Scenario, TourOptions};
    /// let o = TourOptions::new(1).with_scenarios(vec![Scenario::Profile]);
    /// assert_eq!(o.scenarios(), &[Scenario::Profile]);
    /// ```
    #[must_use]
    pub fn with_scenarios(mut self, scenarios: Vec<Scenario>) -> Self {
        self.scenarios = scenarios;
        self
    }

    /// Where records are stored.
    ///
    /// ```
    /// use quorate_examples::{Backend, TourOptions};
    /// let o = TourOptions::new(1).with_backend(Backend::Postgres("host=/tmp".into()));
    /// assert_eq!(o.backend().name(), "postgres");
    /// ```
    #[must_use]
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The executable to start as a worker process for the crash drills: the `tour` binary,
    /// which calls [`worker_main`] first. The drills run a batch of payment requests in that
    /// process and abort it (a real `abort`, no unwinding) at a named crash point of the
    /// idempotency store; the tour then recovers from what the dead process left in the store.
    /// Without it, the drills are skipped (and the report says so).
    ///
    /// ```
    /// let o = quorate_examples::TourOptions::new(1).with_worker_executable("/usr/local/bin/tour");
    /// assert!(o.worker_executable().is_some());
    /// ```
    #[must_use]
    pub fn with_worker_executable(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.worker_exe = Some(path.into());
        self
    }

    /// Also runs the multi-process mode: the job scheduler and the outbox relay as `n`
    /// worker processes (the worker executable) against the PostgreSQL database, killed with
    /// `SIGKILL` at random and restarted; its invariants are checked from the database. Needs
    /// [`Backend::Postgres`] and [`with_worker_executable`](Self::with_worker_executable).
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(1).with_workers(3).workers(), Some(3));
    /// ```
    #[must_use]
    pub fn with_workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Takes the multi-process mode's leases from etcd instead of PostgreSQL: `endpoints` is a
    /// comma-separated list of client URLs, optionally followed by `#` and a key prefix
    /// (default `/quorate-tour/`). Needs the `etcd` feature.
    ///
    /// ```
    /// let o = quorate_examples::TourOptions::new(1).with_etcd("http://127.0.0.1:2379");
    /// assert_eq!(o.etcd(), Some("http://127.0.0.1:2379"));
    /// ```
    #[must_use]
    pub fn with_etcd(mut self, endpoints: impl Into<String>) -> Self {
        self.etcd = Some(endpoints.into());
        self
    }

    /// The etcd endpoints of the multi-process mode, if set.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(1).etcd(), None);
    /// ```
    #[must_use]
    pub fn etcd(&self) -> Option<&str> {
        self.etcd.as_deref()
    }

    /// The number of worker processes of the multi-process mode, if it runs.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(1).workers(), None);
    /// ```
    #[must_use]
    pub fn workers(&self) -> Option<usize> {
        self.workers
    }

    /// The worker executable, if set.
    ///
    /// ```
    /// assert!(quorate_examples::TourOptions::new(1).worker_executable().is_none());
    /// ```
    #[must_use]
    pub fn worker_executable(&self) -> Option<&std::path::Path> {
        self.worker_exe.as_deref()
    }

    /// Test-only: turns off one safeguard in every scenario (the idempotency store, the fencing
    /// check, the quorum check and the quota check, retransmission of deltas, the retry budget),
    /// so that a test can show the checker reports the violation. The command line never sets
    /// it.
    #[doc(hidden)]
    #[must_use]
    pub fn with_broken_safeguards(mut self) -> Self {
        self.broken = true;
        self
    }

    /// The seed.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(3).seed(), 3);
    /// ```
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Operations per scenario.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(3).scale(), 1000);
    /// ```
    #[must_use]
    pub fn scale(&self) -> u64 {
        self.scale
    }

    /// The scenarios to run.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(3).scenarios().len(), 5);
    /// ```
    #[must_use]
    pub fn scenarios(&self) -> &[Scenario] {
        &self.scenarios
    }

    /// The store.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourOptions::new(3).backend().name(), "sqlite");
    /// ```
    #[must_use]
    pub fn backend(&self) -> &Backend {
        &self.backend
    }
}

/// Receives progress while the tour runs (the command draws progress bars or prints lines).
///
/// ```
/// use quorate_examples::{Progress, Scenario, ScenarioReport};
/// struct Count(u64);
/// impl Progress for Count {
///     fn start(&mut self, _: Scenario, _: u64) {}
///     fn advance(&mut self, done: u64) { self.0 = done; }
///     fn finish(&mut self, _: &ScenarioReport) {}
/// }
/// ```
pub trait Progress {
    /// Scenario `scenario` starts; it will issue about `total` operations.
    fn start(&mut self, scenario: Scenario, total: u64);
    /// `done` operations have been issued so far.
    fn advance(&mut self, done: u64);
    /// The scenario finished with `report`.
    fn finish(&mut self, report: &ScenarioReport);
}

/// A [`Progress`] that shows nothing.
///
/// ```
/// use quorate_examples::{NoProgress, Progress, Scenario};
/// NoProgress.start(Scenario::Profile, 10);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: Scenario, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self, _: &ScenarioReport) {}
}

/// What a scenario gets to run with.
pub(crate) struct Ctx<'a> {
    pub(crate) seed: u64,
    pub(crate) scale: u64,
    pub(crate) broken: bool,
    pub(crate) db: &'a mut db::Db,
    pub(crate) location: &'a db::Location,
    pub(crate) worker_exe: Option<&'a std::path::Path>,
    pub(crate) progress: &'a mut dyn Progress,
}

/// Hooks for the crash-harness tests of the payment service (not part of the API).
#[doc(hidden)]
pub mod __crash {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::TourError;

    /// Creates the payment service's tables in a SQLite file.
    ///
    /// # Errors
    ///
    /// Database failures.
    pub fn prepare(path: &Path) -> Result<(), TourError> {
        crate::payment::prepare_sqlite(path)
    }

    /// Serves `(payment, amount, key)` requests with a fresh service whose clock reads `mono`,
    /// with `hook` installed as the idempotency store's crash hook; `answered` sees each answer.
    ///
    /// # Errors
    ///
    /// Database failures.
    pub fn serve(
        path: &Path,
        mono: u64,
        requests: &[(usize, u64, &str)],
        hook: fn(&str),
        answered: &mut dyn FnMut(usize, &str),
    ) -> Result<(), TourError> {
        crate::payment::serve_sqlite(path, mono, requests, hook, answered)
    }

    /// Per payment id: whether a payment row exists, and how many outbox messages carry it.
    ///
    /// # Errors
    ///
    /// Database failures.
    pub fn audit(path: &Path) -> Result<BTreeMap<String, (bool, i64)>, TourError> {
        crate::payment::audit_sqlite(path)
    }
}

/// Runs this process as a tour worker when it was started as one, and returns its exit code;
/// `None` otherwise. The `tour` binary calls it first thing (see
/// [`TourOptions::with_worker_executable`]).
///
/// ```
/// assert!(quorate_examples::worker_main().is_none()); // not started as a worker
/// ```
#[must_use]
pub fn worker_main() -> Option<std::process::ExitCode> {
    payment::worker_main()
}

/// Checks that the store can be reached, without running anything.
///
/// # Errors
///
/// [`TourError::Unreachable`] when PostgreSQL cannot be connected to.
///
/// ```
/// quorate_examples::check_backend(&quorate_examples::Backend::Sqlite)?;
/// # Ok::<(), quorate_examples::TourError>(())
/// ```
pub fn check_backend(backend: &Backend) -> Result<(), TourError> {
    match backend {
        Backend::Sqlite => Ok(()),
        Backend::Postgres(url) => db::connect_pg(url).map(drop),
    }
}

/// Runs the tour.
///
/// The scenarios run one after another, each on its own store (a fresh SQLite file in a
/// temporary directory that is deleted afterwards, or fresh `quorate_tour_*` tables in the
/// PostgreSQL database, dropped afterwards).
///
/// # Errors
///
/// [`TourError`] when the tour cannot run: the database is unreachable or fails, or the scale
/// is 0. Violations are not errors: they are in the report.
///
/// ```
/// use quorate_examples::{NoProgress, Scenario, TourOptions, run};
/// let o = TourOptions::new(1).with_scale(40).with_scenarios(vec![Scenario::Profile]);
/// let r = run(&o, &mut NoProgress)?;
/// assert_eq!(r.scenarios.len(), 1);
/// # Ok::<(), quorate_examples::TourError>(())
/// ```
pub fn run(options: &TourOptions, progress: &mut dyn Progress) -> Result<TourReport, TourError> {
    if options.scale == 0 {
        return Err(TourError::ZeroScale);
    }
    if let Some(n) = options.workers
        && (n == 0
            || options.worker_exe.is_none()
            || !matches!(options.backend, Backend::Postgres(_)))
    {
        return Err(TourError::Workers);
    }
    if options.etcd.is_some() && (options.workers.is_none() || !cfg!(feature = "etcd")) {
        return Err(TourError::Etcd);
    }
    check_backend(&options.backend)?;
    let scratch = match options.backend {
        Backend::Sqlite => Some(db::ScratchDir::new(options.seed)?),
        Backend::Postgres(_) => None,
    };
    if let Backend::Postgres(url) = &options.backend {
        db::pg_reset(url)?;
    }
    let mut report = TourReport::new(options.seed, options.scale, options.backend.name());
    let result = run_scenarios(options, progress, scratch.as_ref(), &mut report);
    if let Backend::Postgres(url) = &options.backend {
        let dropped = db::pg_drop(url);
        result?;
        dropped?;
    } else {
        result?;
    }
    Ok(report)
}

fn run_scenarios(
    options: &TourOptions,
    progress: &mut dyn Progress,
    scratch: Option<&db::ScratchDir>,
    report: &mut TourReport,
) -> Result<(), TourError> {
    for &scenario in &options.scenarios {
        let location = db::Location::for_scenario(&options.backend, scratch, scenario.name())?;
        let mut store = location.open()?;
        progress.start(scenario, options.scale);
        let clock = quorate_clocks::SystemClock;
        let started = quorate_clocks::MonotonicClock::now_nanos(&clock);
        let mut ctx = Ctx {
            seed: options.seed,
            scale: options.scale,
            broken: options.broken,
            db: &mut store,
            location: &location,
            worker_exe: options.worker_exe.as_deref(),
            progress,
        };
        let mut r = match scenario {
            Scenario::Payment => payment::run(&mut ctx)?,
            Scenario::Inventory => inventory::run(&mut ctx)?,
            Scenario::Scheduler => scheduler::run(&mut ctx)?,
            Scenario::Profile => profile::run(&mut ctx)?,
            Scenario::RetryStorm => storm::run(&mut ctx)?,
        };
        let ended = quorate_clocks::MonotonicClock::now_nanos(&clock);
        r.elapsed_ms = ended.saturating_sub(started) / 1_000_000;
        progress.finish(&r);
        report.scenarios.push(r);
    }
    if let (Some(n), Some(exe)) = (options.workers, options.worker_exe.as_deref()) {
        let location = db::Location::for_scenario(&options.backend, scratch, "workers")?;
        let clock = quorate_clocks::SystemClock;
        let started = quorate_clocks::MonotonicClock::now_nanos(&clock);
        let mut r = multiprocess::run(
            &location,
            exe,
            n,
            options.seed,
            options.scale,
            options.etcd.as_deref(),
            progress,
        )?;
        let ended = quorate_clocks::MonotonicClock::now_nanos(&clock);
        r.elapsed_ms = ended.saturating_sub(started) / 1_000_000;
        report.scenarios.push(r);
    }
    Ok(())
}
