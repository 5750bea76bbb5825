//! Job scheduler: leases with fencing tokens, storage that checks the token, workers that
//! pause past their leases.
//!
//! The notes' "Practical design example: distributed job scheduler". Workers take a lease per
//! job from a lease service ([`LeaseClient`] over [`MemoryLease`] on the virtual clock), with
//! the lease timing of [`LeaseTiming`]. Every grant carries a [`FencingToken`]. A new holder
//! first raises the job row's token (fence-on-acquire, [`FencedTable::fence`]); the result is
//! written with a fenced update ([`FencedTable::update`]) whose `WHERE` refuses a token lower
//! than the row's, in the same transaction as the write-log row the checker counts.
//!
//! Faults: workers pause for longer than a lease *after* checking their lease and before
//! writing (the case no timing can cover), crash at named points (after the work, after the
//! write and before releasing), lose the lease service's answer to an acquire (the grant
//! happened, the worker never learns it), and are cut off from the lease service while they
//! can still reach the storage.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use quorate_clocks::{ManualClock, MonotonicClock};
use quorate_fencing::{
    FencedTable, FencedUpdate, FencedWriteError, FencingToken, HeldLease, LeaseClient, LeaseTiming,
    MemoryLease,
};
use rand::Rng;

use crate::db::{Db, Val};
use crate::report::{Checker, Fault, FaultCounts, ScenarioReport};
use crate::sim::{MS, rng_for};
use crate::{Ctx, TourError};

const WORKERS: usize = 4;
const TTL: Duration = Duration::from_secs(1);

type Backend = MemoryLease<ManualClock>;

enum State {
    Idle {
        next_try: u64,
    },
    Working {
        job: String,
        lease: HeldLease<Backend>,
        done_at: u64,
    },
    /// Paused after checking the lease: resumes and writes with `token`.
    Paused {
        job: String,
        lease: HeldLease<Backend>,
        token: FencingToken,
        resume_at: u64,
    },
    Down {
        until: u64,
    },
}

fn e(err: impl std::fmt::Display) -> TourError {
    TourError::Database(err.to_string())
}

struct Storage {
    fence: FencedUpdate,
    write: FencedUpdate,
    broken: bool,
}

impl Storage {
    fn fence(
        &self,
        db: &mut Db,
        job: &str,
        token: FencingToken,
    ) -> Result<Result<(), FencedWriteError>, TourError> {
        Ok(match db {
            Db::Sqlite(c) => self.fence.execute_sqlite(c, &job, token, &[]),
            Db::Postgres(c) => self.fence.execute_postgres(c, &job, token, &[]),
        })
    }

    /// The result write and its log row, in one transaction; `Ok(false)` when the storage
    /// refused a stale token.
    fn write(
        &self,
        db: &mut Db,
        job: &str,
        token: FencingToken,
        worker: &str,
    ) -> Result<bool, TourError> {
        let result = format!("result of {job}");
        let log = "INSERT INTO quorate_tour_job_writes (job, token, worker) VALUES (?1, ?2, ?3)";
        let tok = i64::try_from(token.get()).unwrap_or(i64::MAX);
        let unfenced =
            "UPDATE quorate_tour_jobs SET state = ?1, result = ?2, token = ?3 WHERE id = ?4";
        match db {
            Db::Sqlite(c) => {
                let tx = c.transaction().map_err(e)?;
                let written = if self.broken {
                    // Broken safeguard: the storage does not check the token.
                    tx.execute(unfenced, rusqlite::params!["done", result, tok, job])
                        .map_err(e)?;
                    Ok(())
                } else {
                    self.write
                        .execute_sqlite(&tx, &job, token, &[&"done", &result])
                };
                match written {
                    Ok(()) => {
                        tx.execute(log, rusqlite::params![job, tok, worker])
                            .map_err(e)?;
                        tx.commit().map_err(e)?;
                        Ok(true)
                    }
                    Err(FencedWriteError::Stale { .. }) => Ok(false),
                    Err(x) => Err(e(x)),
                }
            }
            Db::Postgres(c) => {
                let mut tx = c.transaction().map_err(e)?;
                let written = if self.broken {
                    let sql = unfenced
                        .replace("?1", "$1")
                        .replace("?2", "$2")
                        .replace("?3", "$3")
                        .replace("?4", "$4");
                    tx.execute(sql.as_str(), &[&"done", &result, &tok, &job])
                        .map_err(e)?;
                    Ok(())
                } else {
                    self.write
                        .execute_postgres(&mut tx, &job, token, &[&"done", &result])
                };
                match written {
                    Ok(()) => {
                        let sql = log
                            .replace("?1", "$1")
                            .replace("?2", "$2")
                            .replace("?3", "$3");
                        tx.execute(sql.as_str(), &[&job, &tok, &worker])
                            .map_err(e)?;
                        tx.commit().map_err(e)?;
                        Ok(true)
                    }
                    Err(FencedWriteError::Stale { .. }) => Ok(false),
                    Err(x) => Err(e(x)),
                }
            }
        }
    }
}

fn is_done(db: &mut Db, job: &str) -> Result<bool, TourError> {
    let rows = db.query(
        "SELECT state FROM quorate_tour_jobs WHERE id = ?1",
        &[Val::S(job.to_owned())],
    )?;
    Ok(matches!(rows.first().and_then(|r| r.first()), Some(Val::S(s)) if s == "done"))
}

pub(crate) fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, TourError> {
    let mut report = ScenarioReport::new("scheduler");
    let mut chk = Checker::default();
    for name in [
        "no write from a stale holder is accepted",
        "tokens increase with every grant",
        "every job's result is written exactly once",
        "every job completes",
    ] {
        chk.declare(name);
    }
    let jobs = (ctx.scale / 4).max(10) as usize;
    ctx.db.batch(
        "DROP TABLE IF EXISTS quorate_tour_jobs; DROP TABLE IF EXISTS quorate_tour_job_writes;
         CREATE TABLE quorate_tour_jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, result TEXT, token BIGINT NOT NULL DEFAULT 0);
         CREATE TABLE quorate_tour_job_writes (job TEXT NOT NULL, token BIGINT NOT NULL, worker TEXT NOT NULL);",
    )?;
    ctx.db.transaction(|db| {
        for j in 0..jobs {
            db.exec(
                "INSERT INTO quorate_tour_jobs (id, state) VALUES (?1, 'queued')",
                &[Val::S(format!("job-{j:05}"))],
            )?;
        }
        Ok(())
    })?;
    let table = FencedTable::new("quorate_tour_jobs", "id", "token").map_err(e)?;
    let storage = Storage {
        fence: table.fence(),
        write: table.update(&["state", "result"]).map_err(e)?,
        broken: ctx.broken,
    };
    let clock = ManualClock::new(0);
    let backend = Arc::new(MemoryLease::with_clock(clock.clone()));
    let timing = LeaseTiming::new(TTL).map_err(e)?;
    let clients: Vec<LeaseClient<Backend>> = (0..WORKERS)
        .map(|w| {
            LeaseClient::new(backend.clone(), format!("worker-{w}"), timing)
                .with_clock(Arc::new(clock.clone()) as Arc<dyn MonotonicClock>)
        })
        .collect();
    let mut states: Vec<State> = (0..WORKERS)
        .map(|w| State::Idle {
            next_try: w as u64 * 7 * MS,
        })
        .collect();
    let mut rng = rng_for(ctx.seed, 61);
    let mut faults = FaultCounts::default();
    // The checker's view of the lease service: the latest token granted per job.
    let mut granted: BTreeMap<String, FencingToken> = BTreeMap::new();
    let (mut grants, mut stale_refused, mut lost_grants, mut skipped_done) =
        (0u64, 0u64, 0u64, 0u64);
    let mut crash_armed: Vec<&'static str> = Vec::new();
    let mut crashed: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut cut_off: Option<(usize, u64)> = None;
    let step = 5 * MS;
    let expected = (jobs as u64 * 120 * MS / WORKERS as u64).max(10_000 * MS);
    let mut schedule: Vec<(u64, u8)> = vec![
        (expected / 10, 0),
        (expected / 5, 1),
        (expected * 3 / 10, 2),
        (expected * 2 / 5, 0),
        (expected / 2, 3),
        (expected * 3 / 5, 0),
        (expected * 7 / 10, 1),
    ];
    schedule.sort_by_key(|s| s.0);
    let mut si = 0;
    let mut now = 0u64;
    let hard_stop = expected * 4 + 30_000 * MS;
    let mut done_jobs = 0usize;
    while now < hard_stop {
        now += step;
        clock.advance(Duration::from_nanos(step));
        while si < schedule.len() && schedule[si].0 <= now {
            match schedule[si].1 {
                // Pause the next worker that checks its lease before writing, for 2.5 leases.
                0 => crash_armed.push("pause"),
                1 => crash_armed.push("worker.after_work_before_write"),
                2 => crash_armed.push("worker.after_write_before_release"),
                _ => {
                    // Worker 1 cannot reach the lease service for 3 s; storage still reachable.
                    cut_off = Some((1, now + 3_000 * MS));
                    faults.add(Fault::AsymmetricPartition, 1);
                }
            }
            si += 1;
        }
        if cut_off.is_some_and(|(_, until)| until <= now) {
            cut_off = None;
            faults.add(Fault::Heal, 1);
        }
        for w in 0..WORKERS {
            let worker = format!("worker-{w}");
            let state = std::mem::replace(&mut states[w], State::Idle { next_try: u64::MAX });
            states[w] = match state {
                State::Down { until } if until <= now => State::Idle { next_try: now },
                State::Down { until } => State::Down { until },
                State::Idle { next_try } if next_try > now => State::Idle { next_try },
                State::Idle { .. } => {
                    if cut_off.is_some_and(|(c, _)| c == w) {
                        State::Idle {
                            next_try: now + 100 * MS,
                        }
                    } else {
                        let open = ctx.db.query(
                            "SELECT id FROM quorate_tour_jobs WHERE state <> 'done' ORDER BY id LIMIT 8",
                            &[],
                        )?;
                        let mut next = State::Idle {
                            next_try: now + 20 * MS,
                        };
                        if !open.is_empty() {
                            let pick = rng.random_range(0..open.len());
                            if let Some(Val::S(job)) = open[pick].first() {
                                // An acquire that fails means another worker holds the job: try later.
                                if let Ok(lease) = clients[w].acquire(job) {
                                    grants += 1;
                                    let token = lease.grant().token;
                                    let prev = granted.insert(job.clone(), token);
                                    chk.check(
                                        "tokens increase with every grant",
                                        prev.is_none_or(|p| token > p),
                                        || format!("{job}: token {token} after {prev:?}"),
                                    );
                                    if rng.random_bool(0.03) {
                                        // The grant's answer is lost: the lease expires unused.
                                        lost_grants += 1;
                                        faults.add(Fault::Loss, 1);
                                    } else if storage.fence(ctx.db, job, token)?.is_err() {
                                        stale_refused += 1;
                                    } else if is_done(ctx.db, job)? {
                                        skipped_done += 1;
                                        let _ = lease.release();
                                    } else {
                                        let work = rng.random_range(30 * MS..150 * MS);
                                        next = State::Working {
                                            job: job.clone(),
                                            lease,
                                            done_at: now + work,
                                        };
                                    }
                                }
                            }
                        }
                        next
                    }
                }
                State::Working {
                    job,
                    lease,
                    done_at,
                } if done_at > now => State::Working {
                    job,
                    lease,
                    done_at,
                },
                State::Working { job, lease, .. } => {
                    if let Some(i) = crash_armed
                        .iter()
                        .position(|p| *p == "worker.after_work_before_write")
                    {
                        crash_armed.remove(i);
                        *crashed.entry("worker.after_work_before_write").or_insert(0) += 1;
                        faults.add(Fault::Crash, 1);
                        State::Down {
                            until: now + 500 * MS,
                        }
                    } else {
                        match lease.token() {
                            Err(_) => State::Idle { next_try: now }, // the lease ran out: give up
                            Ok(token) => {
                                if let Some(i) = crash_armed.iter().position(|p| *p == "pause") {
                                    crash_armed.remove(i);
                                    faults.add(Fault::Pause, 1);
                                    State::Paused {
                                        job,
                                        lease,
                                        token,
                                        resume_at: now + TTL.as_nanos() as u64 * 5 / 2,
                                    }
                                } else {
                                    finish(
                                        ctx.db,
                                        &storage,
                                        &mut chk,
                                        &granted,
                                        &job,
                                        token,
                                        &worker,
                                        &mut stale_refused,
                                        &mut done_jobs,
                                    )?;
                                    if let Some(i) = crash_armed
                                        .iter()
                                        .position(|p| *p == "worker.after_write_before_release")
                                    {
                                        crash_armed.remove(i);
                                        *crashed
                                            .entry("worker.after_write_before_release")
                                            .or_insert(0) += 1;
                                        faults.add(Fault::Crash, 1);
                                        State::Down {
                                            until: now + 500 * MS,
                                        }
                                    } else {
                                        let _ = lease.release();
                                        State::Idle { next_try: now }
                                    }
                                }
                            }
                        }
                    }
                }
                State::Paused {
                    job,
                    lease,
                    token,
                    resume_at,
                } if resume_at > now => State::Paused {
                    job,
                    lease,
                    token,
                    resume_at,
                },
                State::Paused {
                    job, lease, token, ..
                } => {
                    // Awake: the write goes out with the token checked before the pause.
                    finish(
                        ctx.db,
                        &storage,
                        &mut chk,
                        &granted,
                        &job,
                        token,
                        &worker,
                        &mut stale_refused,
                        &mut done_jobs,
                    )?;
                    let _ = lease.release();
                    State::Idle { next_try: now }
                }
            };
        }
        if now.is_multiple_of(100 * MS) {
            ctx.progress
                .advance((done_jobs as u64 * ctx.scale / jobs as u64).min(ctx.scale));
            let open = ctx.db.query(
                "SELECT COUNT(*) FROM quorate_tour_jobs WHERE state <> 'done'",
                &[],
            )?;
            let paused = states.iter().any(|s| matches!(s, State::Paused { .. }));
            if matches!(open.first().and_then(|r| r.first()), Some(Val::I(0)))
                && !paused
                && si >= schedule.len()
            {
                break;
            }
        }
    }
    // Final checks from the database.
    let rows = ctx.db.query(
        "SELECT j.id, j.state, (SELECT COUNT(*) FROM quorate_tour_job_writes w WHERE w.job = j.id) FROM quorate_tour_jobs j ORDER BY j.id",
        &[],
    )?;
    for row in &rows {
        let (Some(Val::S(id)), Some(Val::S(state)), Some(Val::I(writes))) =
            (row.first(), row.get(1), row.get(2))
        else {
            continue;
        };
        chk.check("every job completes", state == "done", || {
            format!("{id} is {state}")
        });
        chk.check(
            "every job's result is written exactly once",
            *writes == 1,
            || format!("{id}: {writes} accepted result writes"),
        );
    }
    report.operations = jobs as u64;
    report.faults = faults;
    let crashes: Vec<String> = crashed.iter().map(|(p, n)| format!("{p} x{n}")).collect();
    report.details.push(format!(
        "{jobs} jobs, {WORKERS} workers, lease ttl {TTL:?}; {grants} grants, {stale_refused} stale writes refused by the storage, {lost_grants} grants lost in transit, {skipped_done} already done on acquire; crashed at: {}",
        if crashes.is_empty() { "none".into() } else { crashes.join(", ") }
    ));
    report.invariants = chk.into_results();
    Ok(report)
}

#[allow(clippy::too_many_arguments)] // the simulation's counters, passed explicitly
fn finish(
    db: &mut Db,
    storage: &Storage,
    chk: &mut Checker,
    granted: &BTreeMap<String, FencingToken>,
    job: &str,
    token: FencingToken,
    worker: &str,
    stale_refused: &mut u64,
    done_jobs: &mut usize,
) -> Result<(), TourError> {
    let latest = granted.get(job).copied();
    if storage.write(db, job, token, worker)? {
        *done_jobs += 1;
        chk.check("no write from a stale holder is accepted", latest == Some(token), || {
            format!("{worker} wrote {job} with token {token}, but token {latest:?} had been granted since")
        });
    } else {
        *stale_refused += 1;
    }
    Ok(())
}
