//! Multi-process mode (`--workers N`, PostgreSQL only): the job scheduler and the outbox relay
//! as N operating-system processes against one database, killed with `SIGKILL` at random and
//! restarted, with the invariants checked from the database at the end.
//!
//! This mode runs in real time, not in the simulation: leases come from [`PgLease`] (the
//! database clock), results are written with fenced updates, and the outbox is published by
//! [`Relay`]s over [`quorate_outbox::pg::PgRelayStore`] to a provider table that counts
//! deliveries. Workers sometimes pause longer than their lease between checking it and
//! writing. Kills are random, so runs are not reproducible from the seed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use quorate_clocks::{MonotonicClock, SystemClock};
use quorate_fencing::{FencedTable, FencedWriteError, LeaseClient, LeaseTiming, PgLease};
use quorate_outbox::{
    CallbackSink, NewMessage, Outbox, OutboxMessage, PublishError, Relay, RelayConfig,
};
use rand::Rng;

use crate::db::{Db, Location};
use crate::report::{Checker, Fault, ScenarioReport};
use crate::sim::rng_for;
use crate::{Progress, Scenario, TourError};

const LEASE_TTL: Duration = Duration::from_millis(500);

fn e(err: impl std::fmt::Display) -> TourError {
    TourError::Database(err.to_string())
}

fn client(location: &Location) -> Result<postgres::Client, TourError> {
    match location.open()? {
        Db::Postgres(c) => Ok(c),
        Db::Sqlite(_) => Err(TourError::Scenario("--workers needs PostgreSQL".into())),
    }
}

/// The worker process: take jobs under leases and publish the outbox until nothing is left.
/// Leases come from etcd when `etcd` names its endpoints (feature `etcd`), else PostgreSQL.
pub(crate) fn worker(
    location: &Location,
    id: u64,
    seed: u64,
    etcd: Option<&str>,
) -> Result<(), TourError> {
    match etcd {
        #[cfg(feature = "etcd")]
        Some(spec) => {
            let (endpoints, prefix) = etcd_spec(spec);
            let leases = quorate_fencing::EtcdLease::connect(&endpoints, &prefix).map_err(e)?;
            worker_with(Arc::new(leases), location, id, seed)
        }
        #[cfg(not(feature = "etcd"))]
        Some(_) => Err(TourError::Etcd),
        None => worker_with(
            Arc::new(PgLease::from_client(client(location)?).map_err(e)?),
            location,
            id,
            seed,
        ),
    }
}

/// `http://a:2379,http://b:2379[#prefix]` → endpoints and key prefix.
#[cfg(feature = "etcd")]
fn etcd_spec(spec: &str) -> (Vec<String>, String) {
    let (list, prefix) = spec.split_once('#').unwrap_or((spec, "/quorate-tour/"));
    (
        list.split(',').map(str::to_owned).collect(),
        format!("{prefix}leases/"),
    )
}

fn worker_with<L: quorate_fencing::Lease + 'static>(
    leases: Arc<L>,
    location: &Location,
    id: u64,
    seed: u64,
) -> Result<(), TourError> {
    let holder = format!("worker-{id}-{}", std::process::id());
    let timing = LeaseTiming::new(LEASE_TTL).map_err(e)?;
    let lease_client = LeaseClient::new(leases, holder.clone(), timing);
    let mut db = client(location)?;
    let table = FencedTable::new("quorate_tour_jobs", "id", "token").map_err(e)?;
    let (fence, write) = (
        table.fence(),
        table.update(&["state", "result"]).map_err(e)?,
    );
    let mut sink_db = client(location)?;
    let sink = CallbackSink::new(move |m: &OutboxMessage| {
        sink_db
            .execute(
                "INSERT INTO quorate_tour_provider (op, deliveries) VALUES ($1, 1) \
                 ON CONFLICT (op) DO UPDATE SET deliveries = quorate_tour_provider.deliveries + 1",
                &[&m.id().as_str()],
            )
            .map(drop)
            .map_err(|x| PublishError::transient(x.to_string()))
    });
    let relay_store = quorate_outbox::pg::PgRelayStore::new(client(location)?).map_err(e)?;
    let config = RelayConfig::builder()
        .relay_id(holder.clone())
        .batch_size(8)
        .claim_timeout(Duration::from_secs(1))
        .seed(seed ^ id)
        .build()
        .map_err(e)?;
    let mut relay = Relay::new(relay_store, sink, config);
    let mut rng = rng_for(seed ^ u64::from(std::process::id()), id);
    loop {
        let published = relay.run_once().map_err(e)?;
        let open = db
            .query(
                "SELECT id FROM quorate_tour_jobs WHERE state <> 'done' ORDER BY random() LIMIT 1",
                &[],
            )
            .map_err(e)?;
        let Some(job) = open.first().map(|r| r.get::<_, String>(0)) else {
            let pending: i64 = db
                .query_one(
                    "SELECT COUNT(*) FROM quorate_outbox WHERE sent_at IS NULL",
                    &[],
                )
                .map(|r| r.get(0))
                .unwrap_or(0);
            if published.claimed == 0 && pending == 0 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let Ok(lease) = lease_client.acquire(&job) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let token = lease.grant().token;
        let tok = i64::try_from(token.get()).unwrap_or(i64::MAX);
        db.execute(
            "INSERT INTO quorate_tour_grants (job, token, at) VALUES ($1, $2, clock_timestamp())",
            &[&job, &tok],
        )
        .map_err(e)?;
        if fence.execute_postgres(&mut db, &job, token, &[]).is_err() {
            continue;
        }
        let done: String = db
            .query_one("SELECT state FROM quorate_tour_jobs WHERE id = $1", &[&job])
            .map_err(e)?
            .get(0);
        if done == "done" {
            let _ = lease.release();
            continue;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(10..40)));
        // Check the lease, then (sometimes) pause past it before writing.
        let Ok(token) = lease.token() else { continue };
        if rng.random_bool(0.05) {
            db.execute(
                "INSERT INTO quorate_tour_events (kind) VALUES ('pause')",
                &[],
            )
            .map_err(e)?;
            std::thread::sleep(LEASE_TTL * 3 / 2);
        }
        let mut tx = db.transaction().map_err(e)?;
        let result = format!("result of {job} by {holder}");
        match write.execute_postgres(&mut tx, &job, token, &[&"done", &result]) {
            Ok(()) => {
                tx.execute(
                    "INSERT INTO quorate_tour_job_writes (job, token, worker, at) VALUES ($1, $2, $3, clock_timestamp())",
                    &[&job, &tok, &holder],
                )
                .map_err(e)?;
                tx.commit().map_err(e)?;
            }
            Err(FencedWriteError::Stale { .. }) => {
                drop(tx);
                db.execute(
                    "INSERT INTO quorate_tour_events (kind) VALUES ('stale_refused')",
                    &[],
                )
                .map_err(e)?;
            }
            Err(x) => return Err(e(x)),
        }
        let _ = lease.release();
    }
}

fn spawn(
    exe: &Path,
    location: &Location,
    id: u64,
    seed: u64,
    etcd: Option<&str>,
) -> Result<Child, TourError> {
    let mut cmd = Command::new(exe);
    if let Some(spec) = etcd {
        cmd.env("QUORATE_TOUR_ETCD", spec);
    }
    cmd.env(crate::payment::WORKER_ENV, "mp-worker")
        .env("QUORATE_TOUR_STORE", location.to_arg())
        .env("QUORATE_TOUR_SEED", seed.to_string())
        .env("QUORATE_TOUR_WORKER_ID", id.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|x| TourError::Scenario(format!("cannot start worker {}: {x}", exe.display())))
}

/// Runs the multi-process mode with `n` workers.
pub(crate) fn run(
    location: &Location,
    exe: &Path,
    n: usize,
    seed: u64,
    scale: u64,
    etcd: Option<&str>,
    progress: &mut dyn Progress,
) -> Result<ScenarioReport, TourError> {
    let mut report = ScenarioReport::new("workers");
    let mut chk = Checker::default();
    for name in [
        "no write from a stale holder is accepted",
        "every job's result is written exactly once",
        "every job completes",
        "every outbox message reaches the provider",
    ] {
        chk.declare(name);
    }
    let jobs = (scale / 4).max(10);
    let messages = (scale / 4).max(10);
    let mut db = client(location)?;
    quorate_outbox::pg::migrate(&mut db).map_err(e)?;
    if etcd.is_none() {
        drop(PgLease::from_client(client(location)?).map_err(e)?); // creates the lease table
    }
    db.batch_execute(
        "DROP TABLE IF EXISTS quorate_tour_jobs, quorate_tour_job_writes, quorate_tour_grants, quorate_tour_provider, quorate_tour_events;
         CREATE TABLE quorate_tour_jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, result TEXT, token BIGINT NOT NULL DEFAULT 0);
         CREATE TABLE quorate_tour_job_writes (job TEXT NOT NULL, token BIGINT NOT NULL, worker TEXT NOT NULL, at TIMESTAMPTZ NOT NULL);
         CREATE TABLE quorate_tour_grants (job TEXT NOT NULL, token BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL);
         CREATE TABLE quorate_tour_provider (op TEXT PRIMARY KEY, deliveries BIGINT NOT NULL);
         CREATE TABLE quorate_tour_events (kind TEXT NOT NULL);",
    )
    .map_err(e)?;
    let outbox = Outbox::builder().seed(seed).build();
    let mut tx = db.transaction().map_err(e)?;
    for j in 0..jobs {
        tx.execute(
            "INSERT INTO quorate_tour_jobs (id, state) VALUES ($1, 'queued')",
            &[&format!("job-{j:05}")],
        )
        .map_err(e)?;
    }
    let mut ids = Vec::new();
    for m in 0..messages {
        let msg = NewMessage::new(
            format!("p{m}"),
            "payment.capture",
            format!("p{m}").into_bytes(),
        )
        .map_err(e)?;
        ids.push(
            outbox
                .enqueue(&mut tx, &msg)
                .map_err(e)?
                .as_str()
                .to_owned(),
        );
    }
    tx.commit().map_err(e)?;

    progress.start(Scenario::Scheduler, jobs);
    let mut rng = rng_for(seed, 71);
    let mut children: Vec<Option<Child>> = Vec::with_capacity(n);
    for id in 0..n {
        children.push(Some(spawn(exe, location, id as u64, seed, etcd)?));
    }
    let clock = SystemClock;
    let started = clock.now_nanos();
    let (mut kills, mut restarts) = (0u64, 0u64);
    let mut worker_errors: Vec<String> = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let open: i64 = db
            .query_one(
                "SELECT COUNT(*) FROM quorate_tour_jobs WHERE state <> 'done'",
                &[],
            )
            .map_err(e)?
            .get(0);
        progress.advance(jobs.saturating_sub(u64::try_from(open).unwrap_or(0)));
        let mut running = 0;
        for (id, slot) in children.iter_mut().enumerate() {
            if let Some(child) = slot {
                match child.try_wait().map_err(e)? {
                    None => running += 1,
                    Some(status) => {
                        if !status.success() && worker_errors.len() < 3 {
                            let mut err = String::new();
                            if let Some(mut s) = child.stderr.take() {
                                let _ = std::io::Read::read_to_string(&mut s, &mut err);
                            }
                            worker_errors.push(format!("worker {id}: {status}: {}", err.trim()));
                        }
                        *slot = None;
                    }
                }
            }
        }
        if running == 0 {
            break;
        }
        let elapsed = clock.now_nanos().saturating_sub(started);
        if elapsed > 120_000_000_000 {
            for c in children.iter_mut().flatten() {
                let _ = c.kill();
                let _ = c.wait();
            }
            return Err(TourError::Scenario(
                "workers did not finish within 120 s".into(),
            ));
        }
        // SIGKILL a random running worker now and then, and start a fresh one in its place.
        if open > 0 && (kills == 0 || rng.random_bool(0.3)) {
            let live: Vec<usize> = (0..children.len())
                .filter(|&i| children[i].is_some())
                .collect();
            let victim = live[rng.random_range(0..live.len())];
            if let Some(mut c) = children[victim].take() {
                let _ = c.kill();
                let _ = c.wait();
                kills += 1;
                children[victim] = Some(spawn(
                    exe,
                    location,
                    victim as u64,
                    seed.wrapping_add(kills),
                    etcd,
                )?);
                restarts += 1;
            }
        }
    }
    // Checks, from the database only.
    let rows = db
        .query(
            "SELECT j.id, j.state, (SELECT COUNT(*) FROM quorate_tour_job_writes w WHERE w.job = j.id) FROM quorate_tour_jobs j ORDER BY j.id",
            &[],
        )
        .map_err(e)?;
    for r in &rows {
        let (id, state, writes): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
        chk.check("every job completes", state == "done", || {
            format!("{id} is {state}")
        });
        chk.check(
            "every job's result is written exactly once",
            writes == 1,
            || format!("{id}: {writes} accepted writes"),
        );
    }
    let stale = db
        .query(
            "SELECT w.job, w.token, g.token FROM quorate_tour_job_writes w JOIN quorate_tour_grants g \
             ON g.job = w.job AND g.token > w.token AND g.at < w.at",
            &[],
        )
        .map_err(e)?;
    let writes: i64 = db
        .query_one("SELECT COUNT(*) FROM quorate_tour_job_writes", &[])
        .map_err(e)?
        .get(0);
    for _ in 0..writes.max(1) {
        chk.check(
            "no write from a stale holder is accepted",
            stale.is_empty(),
            || {
                stale
                    .first()
                    .map(|r| {
                        format!(
                            "{} written with token {} after token {} was granted",
                            r.get::<_, String>(0),
                            r.get::<_, i64>(1),
                            r.get::<_, i64>(2)
                        )
                    })
                    .unwrap_or_default()
            },
        );
    }
    let delivered: BTreeMap<String, i64> = db
        .query("SELECT op, deliveries FROM quorate_tour_provider", &[])
        .map_err(e)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for id in &ids {
        chk.check(
            "every outbox message reaches the provider",
            delivered.contains_key(id),
            || format!("message {id} never delivered"),
        );
    }
    let mut count = |kind: &str| -> Result<u64, TourError> {
        let n: i64 = db
            .query_one(
                "SELECT COUNT(*) FROM quorate_tour_events WHERE kind = $1",
                &[&kind],
            )
            .map_err(e)?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let (pauses, stale_refused) = (count("pause")?, count("stale_refused")?);
    let grants: i64 = db
        .query_one("SELECT COUNT(*) FROM quorate_tour_grants", &[])
        .map_err(e)?
        .get(0);
    let duplicates: i64 = delivered.values().map(|d| d - 1).sum();
    report.faults.add(Fault::Crash, kills);
    report.faults.add(Fault::Pause, pauses);
    report.operations = jobs + messages;
    report.details.push(format!(
        "{n} worker processes (leases from {}), {kills} killed with SIGKILL and restarted ({restarts} restarts); {jobs} jobs, {grants} lease grants, {stale_refused} stale writes refused; {messages} outbox messages, {duplicates} duplicate deliveries after kills (the provider dedupes by message id)",
        if etcd.is_some() { "etcd" } else { "PostgreSQL" },
    ));
    for w in worker_errors {
        report.details.push(w);
    }
    report.invariants = chk.into_results();
    progress.finish(&report);
    Ok(report)
}

/// Entry point of a multi-process worker.
pub(crate) fn worker_main() -> ExitCode {
    let run = || -> Result<(), TourError> {
        let store = std::env::var("QUORATE_TOUR_STORE")
            .map_err(|_| TourError::Scenario("worker: no store".into()))?;
        let location = Location::from_arg(&store)?;
        let num = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let etcd = std::env::var("QUORATE_TOUR_ETCD").ok();
        worker(
            &location,
            num("QUORATE_TOUR_WORKER_ID"),
            num("QUORATE_TOUR_SEED"),
            etcd.as_deref(),
        )
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(3)
        }
    }
}
