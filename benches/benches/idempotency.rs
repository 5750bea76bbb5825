//! quorate-idempotency against raw baselines in the same run.
//!
//! - `begin_complete/*`: one `begin` on a new key plus one `complete` with a 22-byte response
//!   per iteration (throughput in pairs per second), on one thread:
//!   - `memory` (`MemoryStore`, 64 shards) beside `memory_raw`, a `std::sync::Mutex<HashMap>`
//!     insert then update of the same record (two critical sections);
//!   - `sqlite` (`SqliteStore` on a WAL file, `synchronous = NORMAL`) beside `sqlite_raw`, the
//!     same table (without the expiry index) with a cached prepared `INSERT` and `UPDATE`, each
//!     its own autocommit transaction, on a connection with the same pragmas;
//!   - `postgres` (`PgStore`, one connection) beside `postgres_raw`, the same table (without
//!     the expiry index) with a prepared `INSERT` and `UPDATE` through `postgres::Client`, each
//!     autocommit. Needs `QUORATE_PG_URL` (skipped with a printed line otherwise).
//!
//!   The SQLite and PostgreSQL pairs run interleaved (each function runs both, timing only its
//!   own), and paired medians with the throughput ratio are printed after each pair.
//!
//!   The memory store (retention 1 ns) is reaped every 65,536 pairs outside the timed region,
//!   and the baseline's map cleared, so both run in steady state rather than growing.
//! - `http_layer/*`: one `POST` through a trivial inner service (a fixed 22-byte response),
//!   polled to completion on the calling thread: `without_layer`, `with_layer` (a new
//!   `Idempotency-Key` each time: parse, buffer, fingerprint, begin, call, buffer, encode,
//!   complete) and `replay` (the same key each time: parse, buffer, fingerprint, begin, decode).

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use quorate_idempotency::postgres::postgres;
use quorate_idempotency::sqlite::rusqlite;
use quorate_idempotency::{
    Begin, Bytes, Fingerprint, IdempotencyLayer, IdempotencyStore, MemoryStore, Outcome, PgStore,
    SqliteStore, StoreConfig,
};
use tower::{Layer, Service};

const CHUNK: u64 = 1 << 16;

/// The memory baseline: (scope, key) to (state, response) under one mutex.
type RawMap = Mutex<HashMap<(String, String), (u64, Option<Bytes>)>>;
const RESPONSE: &[u8] = b"{\"status\":\"captured\"}\n";

fn execute(store: &impl IdempotencyStore, key: &str, fp: &Fingerprint) {
    let Ok(Begin::Execute(attempt)) = store.begin("tenant-7", key, fp) else {
        panic!("expected execute for {key}");
    };
    store
        .complete(&attempt, Outcome::Succeeded(Bytes::from_static(RESPONSE)))
        .expect("complete");
}

/// A memory store whose records expire as soon as they are begun (retention 1 ns, system
/// clocks), so the reaper can empty it between chunks: the maps keep their capacity, as in a
/// store in steady state, instead of growing from nothing each chunk.
fn reaped_store() -> MemoryStore {
    let config = StoreConfig::new(Duration::from_secs(30), Duration::from_nanos(1), 1 << 20)
        .expect("valid config");
    MemoryStore::with_config(config)
}

/// Reaps the `n` completed records of a chunk (outside the timed region).
fn reap_all(store: &MemoryStore, n: u64) {
    let reaped = store.reap(usize::MAX).expect("reap");
    assert_eq!(reaped as u64, n, "every completed record expired");
}

fn memory(c: &mut Criterion) {
    let mut g = c.benchmark_group("begin_complete");
    g.throughput(Throughput::Elements(1));
    let fp = Fingerprint::of(b"capture 100 EUR");
    g.bench_function("memory", |b| {
        let store = reaped_store();
        b.iter_custom(|iters| {
            let mut key = String::with_capacity(32);
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let chunk = (iters - done).min(CHUNK);
                let start = Instant::now();
                for i in 0..chunk {
                    key.clear();
                    let _ = write!(key, "order-{i}");
                    execute(&store, &key, &fp);
                }
                total += start.elapsed();
                reap_all(&store, chunk);
                done += chunk;
            }
            total
        });
    });
    g.bench_function("memory_raw", |b| {
        let map: RawMap = Mutex::new(HashMap::new());
        b.iter_custom(|iters| {
            let mut key = String::with_capacity(32);
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let chunk = (iters - done).min(CHUNK);
                let start = Instant::now();
                for i in 0..chunk {
                    key.clear();
                    let _ = write!(key, "order-{i}");
                    let k = ("tenant-7".to_owned(), key.clone());
                    map.lock()
                        .expect("lock")
                        .entry(k.clone())
                        .or_insert((1, None));
                    if let Some(v) = map.lock().expect("lock").get_mut(&k) {
                        *v = (2, Some(Bytes::from_static(RESPONSE)));
                    }
                }
                total += start.elapsed();
                map.lock().expect("lock").clear();
                done += chunk;
            }
            total
        });
    });
    g.finish();
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("quorate-idem-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// A store under test and its raw baseline, measured interleaved: each criterion function runs
/// both kinds alternately and times only its own, so both see the same load and table sizes.
trait Pair {
    fn ours(&mut self);
    fn raw(&mut self);
}

fn bench_pair(c: &mut Criterion, label: &str, p: &mut impl Pair) {
    let mut g = c.benchmark_group("begin_complete");
    g.throughput(Throughput::Elements(1));
    g.bench_function(label, |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                let s = Instant::now();
                p.ours();
                t += s.elapsed();
                p.raw();
            }
            t
        });
    });
    g.bench_function(format!("{label}_raw"), |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                p.ours();
                let s = Instant::now();
                p.raw();
                t += s.elapsed();
            }
            t
        });
    });
    g.finish();
    let n = 2001;
    let (mut to, mut tr) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let s = Instant::now();
        p.ours();
        to.push(s.elapsed());
        let s = Instant::now();
        p.raw();
        tr.push(s.elapsed());
    }
    to.sort_unstable();
    tr.sort_unstable();
    let (mo, mr) = (to[n / 2], tr[n / 2]);
    println!(
        "begin_complete/{label} paired medians: quorate {mo:?}, raw {mr:?}, quorate at {:.0}% of raw throughput",
        100.0 * mr.as_secs_f64() / mo.as_secs_f64()
    );
}

const RAW_DDL: &str = "CREATE TABLE raw_idem (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint BLOB NOT NULL, epoch INTEGER NOT NULL,
    state INTEGER NOT NULL, lock_until INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    phase TEXT, phase_data BLOB, response BLOB, PRIMARY KEY (scope, key)) WITHOUT ROWID";

const RAW_INSERT_SQLITE: &str = "INSERT INTO raw_idem \
     (scope, key, fingerprint, epoch, state, lock_until, expires_at) VALUES (?1, ?2, ?3, 1, 0, ?4, ?5)";
const RAW_UPDATE_SQLITE: &str = "UPDATE raw_idem SET state = 1, response = ?1 \
     WHERE scope = ?2 AND key = ?3 AND epoch = 1 AND state = 0";

/// What both sides of a pair repeat: one fingerprint, and a fresh key per call.
struct Requests {
    fp: Fingerprint,
    key: String,
    n: u64,
}

impl Requests {
    fn new() -> Self {
        Self {
            fp: Fingerprint::of(b"capture 100 EUR"),
            key: String::new(),
            n: 0,
        }
    }

    /// The next key, and the fingerprint.
    fn next(&mut self) -> (&str, &Fingerprint) {
        self.n += 1;
        self.key.clear();
        let _ = write!(self.key, "order-{}", self.n);
        (&self.key, &self.fp)
    }
}

struct SqlitePair {
    store: SqliteStore,
    raw: rusqlite::Connection,
    req: Requests,
}

impl Pair for SqlitePair {
    fn ours(&mut self) {
        let (key, fp) = self.req.next();
        execute(&self.store, key, fp);
    }

    fn raw(&mut self) {
        let (key, fp) = self.req.next();
        self.raw
            .prepare_cached(RAW_INSERT_SQLITE)
            .expect("prepare")
            .execute(rusqlite::params![
                "tenant-7",
                key,
                &fp.as_bytes()[..],
                1i64,
                2i64
            ])
            .expect("insert");
        let changed = self
            .raw
            .prepare_cached(RAW_UPDATE_SQLITE)
            .expect("prepare")
            .execute(rusqlite::params![RESPONSE, "tenant-7", key])
            .expect("update");
        assert_eq!(changed, 1);
    }
}

fn sqlite(c: &mut Criterion) {
    let path = scratch("store.db");
    let conn = rusqlite::Connection::open(&path).expect("open");
    quorate_idempotency::sqlite::migrate(&conn).expect("migrate");
    drop(conn);
    let store = SqliteStore::open(&path, StoreConfig::default()).expect("store");
    let raw = rusqlite::Connection::open(scratch("raw.db")).expect("open");
    raw.pragma_update(None, "journal_mode", "WAL").expect("wal");
    raw.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    raw.execute_batch(RAW_DDL).expect("ddl");
    let mut pair = SqlitePair {
        store,
        raw,
        req: Requests::new(),
    };
    bench_pair(c, "sqlite", &mut pair);
    drop(pair);
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

struct PgPair {
    store: PgStore,
    raw: postgres::Client,
    insert: postgres::Statement,
    update: postgres::Statement,
    req: Requests,
}

impl Pair for PgPair {
    fn ours(&mut self) {
        let (key, fp) = self.req.next();
        execute(&self.store, key, fp);
    }

    fn raw(&mut self) {
        let (key, fp) = self.req.next();
        let fp: &[u8] = fp.as_bytes();
        self.raw
            .execute(&self.insert, &[&"tenant-7", &key, &fp, &1i64, &2i64])
            .expect("insert");
        let changed = self
            .raw
            .execute(&self.update, &[&RESPONSE, &"tenant-7", &key])
            .expect("update");
        assert_eq!(changed, 1);
    }
}

fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("QUORATE_PG_URL") else {
        println!("begin_complete/postgres: skipped (set QUORATE_PG_URL)");
        return;
    };
    let config: postgres::Config = url.parse().expect("QUORATE_PG_URL");
    let mut admin = config.connect(postgres::NoTls).expect("connect");
    quorate_idempotency::postgres::migrate(&mut admin).expect("migrate");
    admin
        .batch_execute(
            "DROP TABLE IF EXISTS raw_idem;
             CREATE TABLE raw_idem (
                scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint BYTEA NOT NULL,
                epoch BIGINT NOT NULL, state SMALLINT NOT NULL, lock_until BIGINT NOT NULL,
                expires_at BIGINT NOT NULL, phase TEXT, phase_data BYTEA, response BYTEA,
                PRIMARY KEY (scope, key));
             TRUNCATE quorate_idempotency;",
        )
        .expect("setup");
    let store = PgStore::connect(&config, 1, StoreConfig::default()).expect("store");
    let mut raw = config.connect(postgres::NoTls).expect("connect");
    let insert = raw
        .prepare(
            "INSERT INTO raw_idem (scope, key, fingerprint, epoch, state, lock_until, expires_at) \
             VALUES ($1, $2, $3, 1, 0, $4, $5)",
        )
        .expect("prepare");
    let update = raw
        .prepare(
            "UPDATE raw_idem SET state = 1, response = $1 \
             WHERE scope = $2 AND key = $3 AND epoch = 1 AND state = 0",
        )
        .expect("prepare");
    let mut pair = PgPair {
        store,
        raw,
        insert,
        update,
        req: Requests::new(),
    };
    bench_pair(c, "postgres", &mut pair);
}

/// A trivial inner service: a fixed response, ready at once.
#[derive(Clone)]
struct Inner;

impl Service<Request<Full<Bytes>>> for Inner {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(RESPONSE)))))
    }
}

/// Polls a future that completes without waiting (memory store, ready inner service).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn request(key: Option<&str>, body: &Bytes) -> Request<Full<Bytes>> {
    let mut req = Request::post("/charges");
    if let Some(key) = key {
        req = req.header("idempotency-key", HeaderValue::from_str(key).expect("key"));
    }
    req.body(Full::new(body.clone())).expect("request")
}

fn call<S>(svc: &mut S, req: Request<Full<Bytes>>) -> Response<Full<Bytes>>
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    let Ok(()) = now(std::future::poll_fn(|cx| svc.poll_ready(cx)));
    let Ok(response) = now(svc.call(req));
    response
}

fn http_layer(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_layer");
    g.throughput(Throughput::Elements(1));
    let body = Bytes::from_static(b"{\"amount\":100,\"currency\":\"EUR\",\"order\":\"ord_4242\"}");
    g.bench_function("without_layer", |b| {
        let mut svc = Inner;
        let mut key = String::new();
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            key.clear();
            let _ = write!(key, "\"key-{n}\"");
            black_box(call(&mut svc, request(Some(&key), &body)));
        });
    });
    g.bench_function("with_layer", |b| {
        let store = Arc::new(reaped_store());
        let mut svc = IdempotencyLayer::from_arc(Arc::clone(&store)).layer(Inner);
        b.iter_custom(|iters| {
            let mut key = String::new();
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let chunk = (iters - done).min(CHUNK);
                let start = Instant::now();
                for i in 0..chunk {
                    key.clear();
                    let _ = write!(key, "\"key-{i}\"");
                    let response = call(&mut svc, request(Some(&key), &body));
                    assert_eq!(response.status(), 200);
                    black_box(response);
                }
                total += start.elapsed();
                reap_all(&store, chunk);
                done += chunk;
            }
            total
        });
    });
    g.bench_function("replay", |b| {
        let mut svc = IdempotencyLayer::new(MemoryStore::new()).layer(Inner);
        let _ = call(&mut svc, request(Some("\"key-1\""), &body));
        b.iter(|| {
            let response = call(&mut svc, request(Some("\"key-1\""), &body));
            debug_assert!(response.headers().contains_key("idempotent-replayed"));
            black_box(response);
        });
    });
    g.finish();
}

criterion_group!(benches, memory, sqlite, postgres, http_layer);
criterion_main!(benches);
