//! quorate-fencing against baselines in the same run.
//!
//! - `guard_check_1t` / `guard_check_2t`: one fencing check of the current holder's token (the
//!   common case: the token equals the highest seen), on one thread or on each of two threads
//!   sharing the guard; `TokenGuard` (one atomic word, a load when equal) against a
//!   `std::sync::Mutex<u64>` compare-and-advance.
//! - `pg_update`: one single-row `UPDATE` on PostgreSQL (throwaway server over a Unix socket),
//!   fenced (`FencedUpdate::execute_postgres`, the token compare in the statement's `WHERE`)
//!   against the same update without the fence, both through `postgres::Client::execute`.
//! - `lease_cycle`: one acquire plus one release per iteration (throughput in elements per
//!   second) on each backend, beside a raw baseline with the same driver: a `Mutex<HashMap>`
//!   insert/remove (memory); `INSERT` + `DELETE` of a lock row in a `BEGIN IMMEDIATE` transaction
//!   with the same pragmas (SQLite); `INSERT … ON CONFLICT DO NOTHING` + `DELETE` (PostgreSQL);
//!   lease grant + put + revoke with etcd-client (etcd). PostgreSQL and etcd groups are skipped,
//!   with a printed line, when no server can be started.
//!
//! The machine running these is usually shared, so besides criterion's groups the PostgreSQL
//! update and each lease cycle are also measured in alternating pairs, and the paired medians and
//! their ratio are printed (`… paired medians: …, ratio r`): the steadier figure for the ratio.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quorate_fencing::{
    EtcdLease, FencedTable, FencingToken, Lease, MemoryLease, PgLease, SqliteLease, TokenGuard,
};
use quorate_testkit::PgDatabase;
use quorate_testkit::etcd::Etcd;

/// Runs `f` `iters` times on each of two threads started together; returns the slower
/// thread's elapsed time (so the reported time is per operation per thread under contention).
fn two_threads(iters: u64, f: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(2);
    let run = || {
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    };
    std::thread::scope(|s| {
        let other = s.spawn(run);
        let mine = run();
        mine.max(other.join().expect("bench thread"))
    })
}

/// Runs `a` and `b` alternately `n` times each and prints their median times and the ratio: on a
/// shared machine the pairs see the same load, so the ratio is steadier than two groups'.
fn paired(name: &str, n: usize, mut a: impl FnMut(), mut b: impl FnMut()) {
    let (mut ta, mut tb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let s = Instant::now();
        a();
        ta.push(s.elapsed());
        let s = Instant::now();
        b();
        tb.push(s.elapsed());
    }
    ta.sort_unstable();
    tb.sort_unstable();
    let (ma, mb) = (ta[n / 2], tb[n / 2]);
    eprintln!(
        "{name} paired medians: quorate {ma:?}, baseline {mb:?}, ratio {:.3}",
        ma.as_secs_f64() / mb.as_secs_f64()
    );
}

fn mutex_check(m: &Mutex<u64>, token: u64) -> Result<(), u64> {
    let mut highest = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if token >= *highest {
        *highest = token;
        Ok(())
    } else {
        Err(*highest)
    }
}

fn guard_check(c: &mut Criterion) {
    let token = FencingToken::new(42);
    let mut g = c.benchmark_group("guard_check_1t");
    let guard = TokenGuard::starting_at(token);
    g.bench_function("token_guard", |b| {
        b.iter(|| black_box(guard.check(black_box(token))));
    });
    let m = Mutex::new(42u64);
    g.bench_function("mutex_u64", |b| {
        b.iter(|| black_box(mutex_check(&m, black_box(42))));
    });
    g.finish();

    let mut g = c.benchmark_group("guard_check_2t");
    g.bench_function("token_guard", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let _ = black_box(guard.check(black_box(token)));
            })
        });
    });
    g.bench_function("mutex_u64", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                let _ = black_box(mutex_check(&m, black_box(42)));
            })
        });
    });
    g.finish();
}

fn pg_update(c: &mut Criterion) {
    let db = match PgDatabase::create() {
        Ok(db) => db,
        Err(e) => {
            eprintln!("skipped pg_update: {e}");
            return;
        }
    };
    let mut client = db.connect().expect("connect");
    client
        .batch_execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, state BIGINT NOT NULL, token BIGINT NOT NULL);
             INSERT INTO jobs VALUES ('fenced', 0, 0), ('plain', 0, 0);",
        )
        .expect("schema");
    let update = FencedTable::new("jobs", "id", "token")
        .and_then(|t| t.update(&["state"]))
        .expect("update");
    let token = FencingToken::new(7);
    let mut n = 0i64;
    let mut fenced = |client: &mut postgres::Client| {
        n += 1;
        update
            .execute_postgres(client, &"fenced", token, &[&n])
            .expect("fenced update");
    };
    let mut m = 0i64;
    let mut plain = |client: &mut postgres::Client| {
        m += 1;
        let rows = client
            .execute("UPDATE jobs SET state = $1 WHERE id = $2", &[&m, &"plain"])
            .expect("plain update");
        assert_eq!(rows, 1);
    };
    // The machine is shared: each measured update alternates with an unmeasured one of the
    // other kind, so both see the same load; the paired medians below are printed as well.
    let mut g = c.benchmark_group("pg_update");
    g.bench_function("fenced", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let s = Instant::now();
                fenced(&mut client);
                t += s.elapsed();
                plain(&mut client);
            }
            t
        });
    });
    g.bench_function("plain", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                fenced(&mut client);
                let s = Instant::now();
                plain(&mut client);
                t += s.elapsed();
            }
            t
        });
    });
    g.finish();
    let (mut f, mut p) = (Vec::new(), Vec::new());
    for _ in 0..2000 {
        let s = Instant::now();
        fenced(&mut client);
        f.push(s.elapsed());
        let s = Instant::now();
        plain(&mut client);
        p.push(s.elapsed());
    }
    f.sort_unstable();
    p.sort_unstable();
    let (mf, mp) = (f[f.len() / 2], p[p.len() / 2]);
    eprintln!(
        "pg_update paired medians: fenced {mf:?}, plain {mp:?}, ratio {:.3}",
        mf.as_secs_f64() / mp.as_secs_f64()
    );
}

const HOLD: Duration = Duration::from_secs(30);

fn cycle(lease: &dyn Lease) {
    let g = lease.acquire("bench", "bencher", HOLD).expect("acquire");
    lease.release(&g).expect("release");
}

fn lease_cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("lease_cycle");
    g.throughput(Throughput::Elements(1));

    let memory = MemoryLease::new();
    g.bench_function("memory", |b| b.iter(|| cycle(&memory)));
    let raw: Mutex<HashMap<String, (String, u64)>> = Mutex::new(HashMap::new());
    // The baseline's acquire (insert if absent) and release (remove), each under the lock.
    let raw_cycle = || {
        let mut m = raw
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !m.contains_key("bench") {
            m.insert("bench".to_owned(), ("bencher".to_owned(), 1));
        }
        drop(m);
        let mut m = raw
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        black_box(m.remove("bench"));
    };
    g.bench_function("memory_raw_mutex_map", |b| b.iter(raw_cycle));

    paired("lease_cycle/memory", 20_000, || cycle(&memory), raw_cycle);

    let dir = quorate_testkit::TempDir::new("bench-fencing").expect("temp dir");
    let sqlite = SqliteLease::open(dir.path().join("leases.db")).expect("sqlite lease");
    g.bench_function("sqlite", |b| b.iter(|| cycle(&sqlite)));
    let mut raw = rusqlite::Connection::open(dir.path().join("raw.db")).expect("open");
    raw.busy_timeout(Duration::from_secs(5)).expect("pragma");
    let _: String = raw
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .expect("wal");
    raw.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE locks (resource TEXT PRIMARY KEY, holder TEXT NOT NULL);",
    )
    .expect("schema");
    let mut raw_cycle = || {
        let tx = raw
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begin");
        tx.execute(
            "INSERT INTO locks (resource, holder) VALUES ('bench', 'bencher')",
            [],
        )
        .expect("insert");
        tx.commit().expect("commit");
        raw.execute("DELETE FROM locks WHERE resource = 'bench'", [])
            .expect("delete");
    };
    g.bench_function("sqlite_raw_rusqlite", |b| b.iter(&mut raw_cycle));
    paired("lease_cycle/sqlite", 200, || cycle(&sqlite), &mut raw_cycle);

    match PgDatabase::create() {
        Ok(db) => {
            let pg = PgLease::from_client(db.connect().expect("connect")).expect("pg lease");
            g.bench_function("postgres", |b| b.iter(|| cycle(&pg)));
            let mut raw = db.connect().expect("connect");
            raw.batch_execute(
                "CREATE TABLE locks (resource TEXT PRIMARY KEY, holder TEXT NOT NULL)",
            )
            .expect("schema");
            let mut raw_cycle = || {
                raw.execute(
                    "INSERT INTO locks VALUES ('bench', 'bencher') ON CONFLICT DO NOTHING",
                    &[],
                )
                .expect("insert");
                raw.execute("DELETE FROM locks WHERE resource = 'bench'", &[])
                    .expect("delete");
            };
            g.bench_function("postgres_raw_client", |b| b.iter(&mut raw_cycle));
            paired("lease_cycle/postgres", 500, || cycle(&pg), &mut raw_cycle);
        }
        Err(e) => eprintln!("skipped lease_cycle/postgres: {e}"),
    }

    match Etcd::create() {
        Ok(etcd) => {
            let ours = EtcdLease::connect(etcd.endpoints(), etcd.prefix()).expect("etcd lease");
            g.bench_function("etcd", |b| b.iter(|| cycle(&ours)));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let mut raw = rt
                .block_on(etcd_client::Client::connect(etcd.endpoints(), None))
                .expect("connect");
            let key = format!("{}raw", etcd.prefix());
            let mut raw_cycle = || {
                rt.block_on(async {
                    let lease = raw.lease_grant(30, None).await.expect("grant");
                    let opts = etcd_client::PutOptions::new().with_lease(lease.id());
                    raw.put(key.as_str(), "bencher", Some(opts))
                        .await
                        .expect("put");
                    raw.lease_revoke(lease.id()).await.expect("revoke");
                });
            };
            g.bench_function("etcd_raw_client", |b| b.iter(&mut raw_cycle));
            paired("lease_cycle/etcd", 300, || cycle(&ours), &mut raw_cycle);
        }
        Err(e) => eprintln!("skipped lease_cycle/etcd: {e}"),
    }
    g.finish();
}

criterion_group!(benches, guard_check, pg_update, lease_cycle);
criterion_main!(benches);
