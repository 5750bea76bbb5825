//! Payment capture: idempotency keys, a transactional outbox, a relay to a provider that times
//! out ambiguously, and reconciliation.
//!
//! The notes' "Practical design example: payment capture", end to end:
//!
//! - Clients send one capture request per payment with an idempotency key, retried with
//!   jittered backoff under a shared [`WindowedBudget`] and a deadline ([`RetryPlanner`]), over
//!   the faulty network: requests and answers are lost, duplicated and delayed, so clients time
//!   out after the service committed.
//! - The service runs each key once ([`IdempotencyStore::begin`]): in one database transaction
//!   it inserts the payment (unique per payment id), enqueues the capture message in the outbox
//!   ([`Outbox::enqueue`]) and stores the response for replay (`complete_in`). Retries get the
//!   stored bytes. The service crashes at named points (after taking the key, after committing
//!   but before answering) and is paused.
//! - A [`Relay`] publishes the outbox to a simulated payment provider that deduplicates by
//!   operation id and times out ambiguously (the capture happened, the answer is lost); the
//!   relay retries with backoff. The consumer side marks the payment captured through an
//!   [`Inbox`], once per message.
//! - A reconciliation pass asks the provider by operation id and repairs local state.
//!
//! Everything durable is in the scenario's SQLite file or PostgreSQL schema.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use quorate_clocks::{ManualClock, MonotonicClock, WallClock};
use quorate_idempotency::{
    Begin, Bytes, Fingerprint, IdempotencyStore, Outcome, PgStore, SqliteStore, StoreConfig,
};
use quorate_outbox::{
    CallbackSink, Inbox, InboxConfig, NewMessage, Outbox, OutboxMessage, PublishError, Relay,
    RelayConfig, RelayStore,
};
use quorate_retry::{
    Backoff, Decision, FastRng, Idempotency, Jitter, OutcomeClass, RetryPlanner, RetryPolicy,
    WindowedBudget,
};
use rand::Rng;
use rand::rngs::SmallRng;

use crate::db::{Db, Location, Val};
use crate::report::{Checker, Fault, ScenarioReport};
use crate::sim::{MS, NetConfig, Network, rng_for};
use crate::{Ctx, TourError};

const SERVICE: usize = 0;
const CLIENTS: usize = 1;
const BASE_WALL: u64 = 1_767_225_600_000_000_000;
const SCOPE: &str = "shop";
const ATTEMPT_TIMEOUT: u64 = 400 * MS;
/// The environment variable that makes the tour binary a payment-service worker process.
pub(crate) const WORKER_ENV: &str = "QUORATE_TOUR_WORKER";
/// The crash points the drills abort a real worker process at, in turn.
const DRILL_POINTS: [&str; 3] = [
    "idempotency.begin.after",
    "idempotency.complete.before",
    "idempotency.complete.after",
];
const DRILL_BATCH: usize = 6;

#[derive(Debug, Clone)]
enum Msg {
    Capture {
        payment: usize,
        amount: u64,
        key: String,
        attempt: u32,
    },
    Answer {
        payment: usize,
        attempt: u32,
        body: String,
    },
}

#[derive(Debug, Default)]
struct Provider {
    /// op id -> payment.
    captures: BTreeMap<String, String>,
    /// payment -> captures.
    per_payment: BTreeMap<String, u32>,
    ambiguous: u64,
    unreachable: u64,
}

impl Provider {
    fn capture(&mut self, op: &str, payment: &str) {
        if !self.captures.contains_key(op) {
            self.captures.insert(op.to_owned(), payment.to_owned());
            *self.per_payment.entry(payment.to_owned()).or_insert(0) += 1;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn e(err: impl std::fmt::Display) -> TourError {
    TourError::Database(err.to_string())
}

enum Idem {
    Sqlite(SqliteStore),
    Pg(PgStore),
}

impl Idem {
    fn store(&self) -> &dyn IdempotencyStore {
        match self {
            Self::Sqlite(s) => s,
            Self::Pg(s) => s,
        }
    }
}

struct Client<'p> {
    planner: RetryPlanner<'p>,
    amount: u64,
    key: String,
    attempt: u32,
    /// Outstanding attempt's timeout, or the time of the next attempt.
    waiting_until: Option<u64>,
    next_attempt: Option<u64>,
    acked: bool,
    done: bool,
}

struct Service {
    idem: Idem,
    svc: Db,
    outbox: Outbox,
    broken: bool,
    executions: u64,
    crash_armed: BTreeSet<&'static str>,
    crashed_at: BTreeMap<&'static str, u64>,
    /// The body of each payment's first execution, for the replay check.
    first_body: BTreeMap<usize, String>,
}

impl Service {
    fn crash_here(&mut self, point: &'static str) -> bool {
        if self.crash_armed.remove(point) {
            *self.crashed_at.entry(point).or_insert(0) += 1;
            return true;
        }
        false
    }

    /// Handles one capture request; `None` when the service crashed before answering.
    fn handle(
        &mut self,
        payment: usize,
        amount: u64,
        key: &str,
    ) -> Result<Option<String>, TourError> {
        let pid = format!("p{payment}");
        if self.broken {
            // Broken safeguard: no idempotency store, no uniqueness: every request executes.
            self.executions += 1;
            let op = format!("{key}#{}", self.executions);
            let body = format!("accepted {pid} op={op}");
            self.commit(&pid, amount, &op, None)?;
            self.first_body
                .entry(payment)
                .or_insert_with(|| body.clone());
            return Ok(Some(body));
        }
        let fp = Fingerprint::of(format!("{pid}:{amount}").as_bytes());
        let begin = self.idem.store().begin(SCOPE, key, &fp).map_err(e)?;
        match begin {
            Begin::Execute(attempt) => {
                if self.crash_here("service.after_begin") {
                    return Ok(None);
                }
                self.executions += 1;
                let body = format!("accepted {pid} op={key}");
                self.first_body
                    .entry(payment)
                    .or_insert_with(|| body.clone());
                let outcome = Outcome::Succeeded(Bytes::from(body.clone()));
                self.commit(&pid, amount, key, Some((&attempt, outcome)))?;
                if self.crash_here("service.after_commit_before_reply") {
                    return Ok(None);
                }
                Ok(Some(body))
            }
            Begin::Replay(stored) => {
                Ok(Some(String::from_utf8_lossy(&stored.response).into_owned()))
            }
            Begin::InProgress { .. } => Ok(Some("in-progress".to_owned())),
            Begin::FingerprintMismatch => Ok(Some("fingerprint-mismatch".to_owned())),
        }
    }

    /// One transaction: the payment row, the outbox message and the stored response.
    fn commit(
        &mut self,
        pid: &str,
        amount: u64,
        op: &str,
        complete: Option<(&quorate_idempotency::Attempt, Outcome)>,
    ) -> Result<(), TourError> {
        let msg = NewMessage::new(
            pid,
            "payment.capture",
            format!("{pid}|{amount}|{op}").into_bytes(),
        )
        .map_err(e)?;
        let insert = if self.broken {
            "INSERT INTO quorate_tour_payments (id, amount, state, op_id) VALUES (?1, ?2, 'pending', ?3) \
             ON CONFLICT (id) DO UPDATE SET op_id = excluded.op_id"
        } else {
            "INSERT INTO quorate_tour_payments (id, amount, state, op_id) VALUES (?1, ?2, 'pending', ?3) \
             ON CONFLICT (id) DO NOTHING"
        };
        match (&mut self.svc, &self.idem) {
            (Db::Sqlite(conn), idem) => {
                let mut tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(e)?;
                tx.execute(insert, rusqlite::params![pid, amount as i64, op])
                    .map_err(e)?;
                self.outbox.enqueue(&mut tx, &msg).map_err(e)?;
                if let (Some((attempt, outcome)), Idem::Sqlite(store)) = (complete, idem) {
                    store.complete_in(&tx, attempt, outcome).map_err(e)?;
                }
                tx.commit().map_err(e)?;
            }
            (Db::Postgres(client), idem) => {
                let mut tx = client.transaction().map_err(e)?;
                let sql = insert
                    .replace("?1", "$1")
                    .replace("?2", "$2")
                    .replace("?3", "$3");
                tx.execute(sql.as_str(), &[&pid, &(amount as i64), &op])
                    .map_err(e)?;
                self.outbox.enqueue(&mut tx, &msg).map_err(e)?;
                if let (Some((attempt, outcome)), Idem::Pg(store)) = (complete, idem) {
                    store.complete_in(&mut tx, attempt, outcome).map_err(e)?;
                }
                tx.commit().map_err(e)?;
            }
        }
        Ok(())
    }
}

/// The service's stores: idempotency keys, its own connection for the capture transaction,
/// and the outbox. The schema must exist.
fn open_service(
    location: &Location,
    clock: &ManualClock,
    seed: u64,
    broken: bool,
) -> Result<Service, TourError> {
    let config = StoreConfig::new(
        Duration::from_millis(300),
        Duration::from_secs(86_400),
        4096,
    )
    .map_err(e)?;
    let idem = match location {
        Location::Sqlite(path) => Idem::Sqlite(
            SqliteStore::open(path, config)
                .map_err(e)?
                .with_clocks(clock.clone(), clock.clone()),
        ),
        Location::Postgres(cfg, _) => Idem::Pg(PgStore::connect(cfg, 1, config).map_err(e)?),
    };
    let wall: Arc<dyn WallClock> = Arc::new(clock.clone());
    Ok(Service {
        idem,
        svc: location.open()?,
        outbox: Outbox::builder().clock(wall).seed(seed).build(),
        broken,
        executions: 0,
        crash_armed: BTreeSet::new(),
        crashed_at: BTreeMap::new(),
        first_body: BTreeMap::new(),
    })
}

/// Creates the payment service's schema in a SQLite file (idempotency keys, outbox, payments).
pub(crate) fn prepare_sqlite(path: &Path) -> Result<(), TourError> {
    let mut db = Location::Sqlite(path.to_path_buf()).open()?;
    if let Db::Sqlite(c) = &db {
        quorate_idempotency::sqlite::migrate(c).map_err(e)?;
        quorate_outbox::sqlite::migrate(c).map_err(e)?;
    }
    db.batch(
        "CREATE TABLE IF NOT EXISTS quorate_tour_payments (id TEXT PRIMARY KEY, amount BIGINT NOT NULL, state TEXT NOT NULL, op_id TEXT NOT NULL);",
    )
}

/// Serves `requests` with a fresh service process state on the SQLite file at `path`, its
/// clock at `mono` nanoseconds, calling `answered` for each answer.
pub(crate) fn serve_sqlite(
    path: &Path,
    mono: u64,
    requests: &[(usize, u64, &str)],
    hook: fn(&str),
    answered: &mut dyn FnMut(usize, &str),
) -> Result<(), TourError> {
    quorate_idempotency::__private::set_crash_hook(hook);
    let clock = ManualClock::new(BASE_WALL);
    clock.advance(Duration::from_nanos(mono));
    let location = Location::Sqlite(path.to_path_buf());
    let mut service = open_service(&location, &clock, mono ^ 0x5EED, false)?;
    for &(payment, amount, key) in requests {
        if let Some(body) = service.handle(payment, amount, key)? {
            answered(payment, &body);
        }
    }
    Ok(())
}

/// Per payment id: whether it has a payment row, and how many outbox messages carry it.
pub(crate) fn audit_sqlite(path: &Path) -> Result<BTreeMap<String, (bool, i64)>, TourError> {
    let mut db = Location::Sqlite(path.to_path_buf()).open()?;
    let mut out: BTreeMap<String, (bool, i64)> = BTreeMap::new();
    for row in db.query("SELECT id FROM quorate_tour_payments", &[])? {
        if let Some(Val::S(id)) = row.first() {
            out.entry(id.clone()).or_default().0 = true;
        }
    }
    for row in db.query("SELECT key, COUNT(*) FROM quorate_outbox GROUP BY key", &[])? {
        if let (Some(Val::S(k)), Some(Val::I(n))) = (row.first(), row.get(1)) {
            out.entry(k.clone()).or_default().1 = *n;
        }
    }
    Ok(out)
}

/// Marks the payment captured, once per message id.
fn consume(conn: &mut Db, inbox: &Inbox, m: &OutboxMessage, payment: &str) -> Result<(), String> {
    let apply_sql = "UPDATE quorate_tour_payments SET state = 'captured' WHERE id = ?1";
    match conn {
        Db::Sqlite(c) => {
            let mut tx = c.transaction().map_err(|x| x.to_string())?;
            inbox
                .process_once(&mut tx, "payments", m.id(), |tx| {
                    tx.execute(apply_sql, [payment]).map(drop)
                })
                .map_err(|x| x.to_string())?;
            tx.commit().map_err(|x| x.to_string())
        }
        Db::Postgres(c) => {
            let mut tx = c.transaction().map_err(|x| x.to_string())?;
            let sql = apply_sql.replace("?1", "$1");
            inbox
                .process_once(&mut tx, "payments", m.id(), |tx| {
                    tx.execute(sql.as_str(), &[&payment]).map(drop)
                })
                .map_err(|x| x.to_string())?;
            tx.commit().map_err(|x| x.to_string())
        }
    }
}

static CRASH_AT: OnceLock<(String, u64)> = OnceLock::new();
static CRASH_HITS: AtomicU64 = AtomicU64::new(0);

/// The crash hook installed in a worker process: aborts at the armed point's armed hit.
fn crash_hook(name: &str) {
    if let Some((point, hit)) = CRASH_AT.get()
        && point == name
        && CRASH_HITS.fetch_add(1, Ordering::SeqCst) + 1 == *hit
    {
        std::process::abort();
    }
}

/// The worker side of a crash drill: a payment service in its own process, handling the
/// requests read from stdin (`payment amount key` per line), answering on stdout, and
/// aborting at the armed crash point.
pub(crate) fn worker_main() -> Option<ExitCode> {
    let role = std::env::var(WORKER_ENV).ok()?;
    if role == "mp-worker" {
        return Some(crate::multiprocess::worker_main());
    }
    Some(match run_worker(&role) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(3)
        }
    })
}

fn env_var(name: &str) -> Result<String, TourError> {
    std::env::var(name).map_err(|_| TourError::Scenario(format!("worker: {name} not set")))
}

fn env_num(name: &str) -> Result<u64, TourError> {
    env_var(name)?
        .parse()
        .map_err(|_| TourError::Scenario(format!("worker: bad {name}")))
}

fn run_worker(role: &str) -> Result<(), TourError> {
    if role != "payment-service" {
        return Err(TourError::Scenario(format!("unknown worker role {role:?}")));
    }
    let location = Location::from_arg(&env_var("QUORATE_TOUR_STORE")?)?;
    let (mono, seed) = (
        env_num("QUORATE_TOUR_CLOCK")?,
        env_num("QUORATE_TOUR_SEED")?,
    );
    let _ = CRASH_AT.set((
        env_var("QUORATE_TOUR_CRASH")?,
        env_num("QUORATE_TOUR_CRASH_HIT")?,
    ));
    quorate_idempotency::__private::set_crash_hook(crash_hook);
    let clock = ManualClock::new(BASE_WALL);
    clock.advance(Duration::from_nanos(mono));
    // Another seed than the parent's: message ids must not collide.
    let mut service = open_service(&location, &clock, seed ^ 0xC41D_C41D, false)?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(e)?;
        let mut it = line.split(' ');
        let (Some(p), Some(a), Some(key)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let (Ok(payment), Ok(amount)) = (p.parse::<usize>(), a.parse::<u64>()) else {
            continue;
        };
        if let Some(body) = service.handle(payment, amount, key)? {
            writeln!(out, "answer {payment} {body}").map_err(e)?;
            out.flush().map_err(e)?;
        }
    }
    Ok(())
}

/// Runs a batch of requests in a worker process armed to abort at `point`; returns the answers
/// it gave before dying and whether it was aborted.
fn run_drill(
    exe: &Path,
    location: &Location,
    now: u64,
    seed: u64,
    point: &str,
    hit: u64,
    batch: &[(usize, u64, String, u32)],
) -> Result<(Vec<(usize, String)>, bool), TourError> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(exe)
        .env(WORKER_ENV, "payment-service")
        .env("QUORATE_TOUR_STORE", location.to_arg())
        .env("QUORATE_TOUR_CLOCK", now.to_string())
        .env("QUORATE_TOUR_SEED", seed.to_string())
        .env("QUORATE_TOUR_CRASH", point)
        .env("QUORATE_TOUR_CRASH_HIT", hit.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|x| TourError::Scenario(format!("cannot start worker {}: {x}", exe.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        for (payment, amount, key, _) in batch {
            // A worker that already died closed the pipe: the rest goes unanswered.
            if writeln!(stdin, "{payment} {amount} {key}").is_err() {
                break;
            }
        }
    }
    let output = child.wait_with_output().map_err(e)?;
    let answers = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| {
            let (p, body) = l.strip_prefix("answer ")?.split_once(' ')?;
            Some((p.parse().ok()?, body.to_owned()))
        })
        .collect();
    #[cfg(unix)]
    let aborted = {
        use std::os::unix::process::ExitStatusExt;
        output.status.signal() == Some(6)
    };
    #[cfg(not(unix))]
    let aborted = !output.status.success();
    if !aborted && !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(TourError::Scenario(format!(
            "worker failed: {}",
            err.trim()
        )));
    }
    Ok((answers, aborted))
}

/// Moves the virtual clock (both readings) forward to `t` nanoseconds after the start.
fn advance_to(clock: &ManualClock, t: u64) {
    let cur = clock.now_nanos();
    if t > cur {
        clock.advance(Duration::from_nanos(t - cur));
    }
}

fn parse(payload: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(payload).ok()?;
    let mut it = s.split('|');
    let pid = it.next()?.to_owned();
    let _amount = it.next()?;
    let op = it.next()?.to_owned();
    Some((pid, op))
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, TourError> {
    let mut report = ScenarioReport::new("payment");
    let mut chk = Checker::default();
    for name in [
        "a retried request replays the same response",
        "captured at most once per payment",
        "every acknowledged payment is captured",
        "local state equals the provider's after reconciliation",
        "each payment and its outbox message commit together",
    ] {
        chk.declare(name);
    }
    let clock = ManualClock::new(BASE_WALL);
    let wall: Arc<dyn WallClock> = Arc::new(clock.clone());
    let mono: Arc<dyn MonotonicClock> = Arc::new(clock.clone());
    // Schema: idempotency keys, outbox and inbox, and the payments table.
    let mut svc = ctx.location.open()?;
    match &mut svc {
        Db::Sqlite(c) => {
            quorate_idempotency::sqlite::migrate(c).map_err(e)?;
            quorate_outbox::sqlite::migrate(c).map_err(e)?;
        }
        Db::Postgres(c) => {
            quorate_idempotency::postgres::migrate(c).map_err(e)?;
            quorate_outbox::pg::migrate(c).map_err(e)?;
        }
    }
    svc.batch(
        "DROP TABLE IF EXISTS quorate_tour_payments;
         CREATE TABLE quorate_tour_payments (id TEXT PRIMARY KEY, amount BIGINT NOT NULL, state TEXT NOT NULL, op_id TEXT NOT NULL);",
    )?;
    let relay_store: Box<dyn RelayStore> = match ctx.location.open()? {
        Db::Sqlite(c) => Box::new(quorate_outbox::sqlite::SqliteRelayStore::new(c)),
        Db::Postgres(c) => Box::new(quorate_outbox::pg::PgRelayStore::new(c).map_err(e)?),
    };
    drop(svc);
    let mut service = open_service(ctx.location, &clock, ctx.seed, ctx.broken)?;
    // The provider and the consumer side of the relay.
    let provider = Arc::new(Mutex::new(Provider::default()));
    let provider_rng: Arc<Mutex<SmallRng>> = Arc::new(Mutex::new(rng_for(ctx.seed, 51)));
    let inbox = Inbox::new(
        InboxConfig::new(Duration::from_secs(86_400), Duration::from_secs(3_600)).map_err(e)?,
    )
    .with_clock(wall.clone());
    let consumer_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = {
        let provider = provider.clone();
        let rng = provider_rng.clone();
        let errors = consumer_errors.clone();
        let mut conn = ctx.location.open()?;
        CallbackSink::new(move |m: &OutboxMessage| {
            let Some((pid, op)) = parse(m.payload()) else {
                return Err(PublishError::permanent("malformed capture message"));
            };
            let mut rng = lock(&rng);
            if rng.random_bool(0.08) {
                lock(&provider).unreachable += 1;
                return Err(PublishError::transient("provider unreachable"));
            }
            lock(&provider).capture(&op, &pid);
            if rng.random_bool(0.12) {
                // The provider captured, the answer was lost: the relay will retry.
                lock(&provider).ambiguous += 1;
                return Err(PublishError::transient("provider timed out"));
            }
            if let Err(x) = consume(&mut conn, &inbox, m, &pid) {
                lock(&errors).push(x.clone());
                return Err(PublishError::transient(x));
            }
            Ok(())
        })
    };
    let relay_config = RelayConfig::builder()
        .batch_size(32)
        .max_attempts(30)
        .claim_timeout(Duration::from_secs(5))
        .backoff(
            Backoff::exponential(Duration::from_millis(50), 2.0, Duration::from_secs(2))
                .map_err(e)?
                .with_jitter(Jitter::Full),
        )
        .seed(ctx.seed)
        .build()
        .map_err(e)?;
    let mut relay =
        Relay::new(relay_store, sink, relay_config).with_clocks(wall.clone(), mono.clone());

    // Clients.
    let payments = ctx.scale.max(10) as usize;
    let budget = WindowedBudget::new(Duration::from_secs(10), 10, 0.5).map_err(e)?;
    let policy = RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(50), 2.0, Duration::from_secs(1))
            .map_err(e)?
            .with_jitter(Jitter::Full),
    )
    .with_max_attempts(8)
    .map_err(e)?
    .with_deadline(Duration::from_secs(8))
    .map_err(e)?
    .with_idempotency(Idempotency::Keyed);
    let mut wl = rng_for(ctx.seed, 52);
    let mut retry_rng = FastRng::seed_from_u64(ctx.seed ^ 0x9a7);
    let mut clients: Vec<Client<'_>> = Vec::with_capacity(payments);
    let mut net: Network<Msg> = Network::new(NetConfig::default(), rng_for(ctx.seed, 53));
    let interval = (12_000 * MS / payments as u64).max(5 * MS);
    let duration = payments as u64 * interval;
    let mut schedule: Vec<(u64, u8)> = vec![
        (duration / 5, 0),      // crash after taking a key
        (duration * 3 / 10, 1), // client side cut off from the service for 1 s
        (duration * 2 / 5, 2),  // crash after commit, before the answer
        (duration / 2, 3),      // service paused 700 ms
        (duration * 7 / 10, 0),
        (duration * 4 / 5, 2),
        // Crash drills: real worker processes aborted at named points.
        (duration * 11 / 20, 4),
        (duration * 13 / 20, 4),
        (duration * 3 / 4, 4),
    ];
    schedule.sort_by_key(|s| s.0);
    let mut si = 0;
    let mut heal_at: Option<u64> = None;
    let mut service_down_until = 0u64;
    let (mut replays, mut in_progress) = (0u64, 0u64);
    let mut gave_up: BTreeMap<String, u64> = BTreeMap::new();
    let mut drill: Option<Vec<(usize, u64, String, u32)>> = None;
    let (mut drills, mut drills_skipped) = (0usize, 0u64);
    let mut aborts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let step = 5 * MS;
    let mut now = 0u64;
    let mut issued = 0usize;
    let mut next_issue = 0u64;
    let hard_stop = duration + 60_000 * MS;
    loop {
        now += step;
        advance_to(&clock, now);
        while si < schedule.len() && schedule[si].0 <= now {
            match schedule[si].1 {
                0 => {
                    service.crash_armed.insert("service.after_begin");
                }
                1 => {
                    net.partition(&[CLIENTS], &[SERVICE]);
                    heal_at = Some(now + 1_000 * MS);
                }
                2 => {
                    service
                        .crash_armed
                        .insert("service.after_commit_before_reply");
                }
                3 => net.pause(SERVICE, now + 700 * MS),
                _ => {
                    if ctx.worker_exe.is_none() {
                        drills_skipped += 1;
                    } else if drill.is_none() {
                        drill = Some(Vec::new());
                    }
                }
            }
            si += 1;
        }
        if heal_at.is_some_and(|t| t <= now) {
            heal_at = None;
            net.heal();
        }
        if service_down_until > 0 && service_down_until <= now {
            service_down_until = 0;
            net.restart(SERVICE);
        }
        // Deliveries.
        while let Some(d) = net.next_until(now) {
            advance_to(&clock, net.now());
            match d.msg {
                Msg::Capture {
                    payment,
                    amount,
                    key,
                    attempt,
                } => {
                    if let Some(batch) = &mut drill {
                        // This request goes to the worker process of the current drill.
                        batch.push((payment, amount, key, attempt));
                        if batch.len() >= DRILL_BATCH
                            && let (Some(exe), Some(batch)) = (ctx.worker_exe, drill.take())
                        {
                            let point = DRILL_POINTS[drills % DRILL_POINTS.len()];
                            let hit = 1 + (ctx.seed + drills as u64) % 3;
                            drills += 1;
                            let seed = ctx.seed.wrapping_add(drills as u64);
                            let (answers, aborted) =
                                run_drill(exe, ctx.location, net.now(), seed, point, hit, &batch)?;
                            for (p, body) in answers {
                                if body.starts_with("accepted") {
                                    service.first_body.entry(p).or_insert_with(|| body.clone());
                                }
                                let attempt = batch.iter().find(|b| b.0 == p).map_or(0, |b| b.3);
                                net.send(
                                    SERVICE,
                                    CLIENTS,
                                    Msg::Answer {
                                        payment: p,
                                        attempt,
                                        body,
                                    },
                                );
                            }
                            if aborted {
                                *aborts.entry(point).or_insert(0) += 1;
                                net.crash(SERVICE);
                                service_down_until = net.now() + 150 * MS;
                            }
                        }
                        continue;
                    }
                    match service.handle(payment, amount, &key)? {
                        Some(body) => net.send(
                            SERVICE,
                            CLIENTS,
                            Msg::Answer {
                                payment,
                                attempt,
                                body,
                            },
                        ),
                        None => {
                            // Crashed at a named point: down for 150 ms, volatile state gone.
                            net.crash(SERVICE);
                            service_down_until = net.now() + 150 * MS;
                        }
                    }
                }
                Msg::Answer {
                    payment,
                    attempt,
                    body,
                } => {
                    let Some(c) = clients.get_mut(payment) else {
                        continue;
                    };
                    if c.done || attempt != c.attempt || c.waiting_until.is_none() {
                        continue; // a late or duplicated answer
                    }
                    c.waiting_until = None;
                    if body.starts_with("accepted") {
                        if attempt > 1 {
                            replays += 1;
                            let first = service.first_body.get(&payment);
                            let same = first == Some(&body);
                            chk.check("a retried request replays the same response", same, || {
                                format!("payment {payment}: first executed {first:?}, retry answered {body:?}")
                            });
                        }
                        c.planner.on_success(net.now());
                        c.acked = true;
                        c.done = true;
                    } else {
                        in_progress += 1;
                        match c.planner.on_failure(
                            net.now(),
                            OutcomeClass::Transient.into(),
                            &mut retry_rng,
                        ) {
                            Decision::RetryAfter(delay) => {
                                c.next_attempt = Some(
                                    net.now() + u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX),
                                );
                            }
                            Decision::GiveUp(reason) => {
                                c.done = true;
                                *gave_up.entry(format!("{reason:?}")).or_insert(0) += 1;
                            }
                        }
                    }
                }
            }
        }
        // New payments.
        while now < duration && next_issue <= now && issued < payments {
            next_issue += interval;
            let amount = wl.random_range(1..=500u64) * 100;
            clients.push(Client {
                planner: RetryPlanner::new(&policy).with_budget(&budget),
                amount,
                key: format!("cap-{issued}"),
                attempt: 0,
                waiting_until: None,
                next_attempt: Some(now),
                acked: false,
                done: false,
            });
            issued += 1;
            if issued.is_multiple_of(16) {
                ctx.progress.advance(issued as u64);
            }
        }
        // Attempts and timeouts.
        for (p, c) in clients.iter_mut().enumerate() {
            if c.done {
                continue;
            }
            if let Some(t) = c.waiting_until
                && t <= now
            {
                c.waiting_until = None;
                net.record(Fault::ClientTimeout);
                if service.first_body.contains_key(&p) {
                    // The service had committed this payment: the client cannot know.
                    net.record(Fault::TimeoutAfterCommit);
                }
                match c
                    .planner
                    .on_failure(now, OutcomeClass::Timeout.into(), &mut retry_rng)
                {
                    Decision::RetryAfter(delay) => {
                        c.next_attempt =
                            Some(now + u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
                    }
                    Decision::GiveUp(reason) => {
                        c.done = true;
                        *gave_up.entry(format!("{reason:?}")).or_insert(0) += 1;
                    }
                }
            }
            if let Some(t) = c.next_attempt
                && t <= now
            {
                c.next_attempt = None;
                if let Err(reason) = c.planner.begin_attempt(now) {
                    c.done = true;
                    *gave_up.entry(format!("{reason:?}")).or_insert(0) += 1;
                    continue;
                }
                c.attempt += 1;
                let key = if ctx.broken {
                    format!("{}-try{}", c.key, c.attempt)
                } else {
                    c.key.clone()
                };
                net.send(
                    CLIENTS,
                    SERVICE,
                    Msg::Capture {
                        payment: p,
                        amount: c.amount,
                        key,
                        attempt: c.attempt,
                    },
                );
                c.waiting_until = Some(now + ATTEMPT_TIMEOUT);
            }
        }
        // The relay runs every 100 ms (it shares the service's fate: down while it is down).
        if now.is_multiple_of(100 * MS) && net.is_up(SERVICE) {
            relay.run_once().map_err(e)?;
        }
        let clients_done = issued == payments && clients.iter().all(|c| c.done);
        if clients_done && now >= duration {
            // Drain: stop when every payment row is captured, or at the hard stop.
            let pending = ctx.db.query(
                "SELECT COUNT(*) FROM quorate_tour_payments WHERE state <> 'captured'",
                &[],
            )?;
            let pending = matches!(pending.first().and_then(|r| r.first()), Some(Val::I(0)));
            if pending || now >= hard_stop {
                break;
            }
        }
        if now >= hard_stop + 60_000 * MS {
            break;
        }
    }
    // Reconciliation: ask the provider by operation id and repair local state.
    let rows = ctx.db.query(
        "SELECT id, state, op_id FROM quorate_tour_payments ORDER BY id",
        &[],
    )?;
    let mut repaired = 0u64;
    let mut local: BTreeMap<String, (String, String)> = BTreeMap::new();
    for row in rows {
        if let (Some(Val::S(id)), Some(Val::S(state)), Some(Val::S(op))) =
            (row.first(), row.get(1), row.get(2))
        {
            local.insert(id.clone(), (state.clone(), op.clone()));
        }
    }
    for (id, (state, op)) in &mut local {
        let known = lock(&provider).captures.contains_key(op);
        if state != "captured" {
            if !known {
                // Never reached the provider (dead-lettered or still pending): capture now,
                // under the same operation id.
                lock(&provider).capture(op, id);
            }
            ctx.db.exec(
                "UPDATE quorate_tour_payments SET state = 'captured' WHERE id = ?1",
                &[Val::S(id.clone())],
            )?;
            *state = "captured".to_owned();
            repaired += 1;
        }
    }
    // Checks. Atomicity first: whatever the crashes interrupted, every payment row has exactly
    // one capture message (sent, pending or dead-lettered) and every message a payment row.
    let messages = ctx.db.query(
        "SELECT key, COUNT(*) FROM (SELECT key FROM quorate_outbox UNION ALL SELECT key FROM quorate_outbox_dead) m GROUP BY key",
        &[],
    )?;
    let mut per_key: BTreeMap<String, i64> = BTreeMap::new();
    for row in messages {
        if let (Some(Val::S(k)), Some(Val::I(n))) = (row.first(), row.get(1)) {
            per_key.insert(k.clone(), *n);
        }
    }
    for pid in local
        .keys()
        .chain(per_key.keys().filter(|k| !local.contains_key(*k)))
    {
        let (row, n) = (
            local.contains_key(pid),
            per_key.get(pid).copied().unwrap_or(0),
        );
        chk.check(
            "each payment and its outbox message commit together",
            row && n == 1,
            || format!("{pid}: payment row {row}, {n} outbox messages"),
        );
    }
    let prov = lock(&provider);
    for (pid, &n) in &prov.per_payment {
        chk.check("captured at most once per payment", n <= 1, || {
            format!("{pid} captured {n} times")
        });
    }
    for (p, c) in clients.iter().enumerate() {
        if c.acked {
            let pid = format!("p{p}");
            let captured = prov.per_payment.get(&pid).copied().unwrap_or(0) > 0;
            chk.check("every acknowledged payment is captured", captured, || {
                format!("{pid} was acknowledged to its client but never captured")
            });
        }
    }
    let stored = ctx.db.query(
        "SELECT id, state FROM quorate_tour_payments ORDER BY id",
        &[],
    )?;
    let captured_locally: BTreeSet<String> = stored
        .iter()
        .filter(|r| matches!(r.get(1), Some(Val::S(s)) if s == "captured"))
        .filter_map(|r| match r.first() {
            Some(Val::S(id)) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let at_provider: BTreeSet<String> = prov.per_payment.keys().cloned().collect();
    for pid in captured_locally.union(&at_provider) {
        let (l, r) = (captured_locally.contains(pid), at_provider.contains(pid));
        chk.check(
            "local state equals the provider's after reconciliation",
            l == r,
            || format!("{pid}: captured locally {l}, at the provider {r}"),
        );
    }
    let acked = clients.iter().filter(|c| c.acked).count();
    let mut crashes: Vec<String> = aborts
        .iter()
        .map(|(p, n)| format!("process aborted at {p} x{n}"))
        .collect();
    if drills_skipped > 0 {
        crashes.push(format!(
            "{drills_skipped} process drills skipped (no worker executable)"
        ));
    }
    let in_process: Vec<String> = service
        .crashed_at
        .iter()
        .map(|(p, n)| format!("{p} x{n}"))
        .collect();
    crashes.extend(in_process);
    let mut faults = net.faults().clone();
    faults.add(Fault::DependencyFailure, prov.ambiguous + prov.unreachable);
    report.faults = faults;
    report.details.push(format!(
        "{payments} payments, {acked} acknowledged, {} executions in the service process, {replays} accepted answers to retries, {in_progress} 'in progress' answers, {} provider timeouts after capture, {} provider unreachable, {repaired} repaired by reconciliation; clients gave up: {gave_up:?}; crashed at: {}",
        service.executions,
        prov.ambiguous,
        prov.unreachable,
        if crashes.is_empty() { "none".into() } else { crashes.join(", ") }
    ));
    let errors = lock(&consumer_errors);
    if let Some(first) = errors.first() {
        report
            .details
            .push(format!("{} consumer errors, first: {first}", errors.len()));
    }
    report.operations = payments as u64;
    report.invariants = chk.into_results();
    Ok(report)
}
