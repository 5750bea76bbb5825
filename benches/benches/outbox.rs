//! quorate-outbox: relay throughput and the cost of enqueueing inside a transaction.
//!
//! - `outbox_relay/*`: time to drain a backlog of 10,000 messages over 1,000 ordering keys
//!   (per-key order kept) with batches of 100, into an in-memory sink; throughput is messages
//!   per second. `sqlite_1_relay` runs one relay on a WAL database file; `postgres_2_relays`
//!   runs two relays on their own connections and threads (needs `QUORATE_PG_URL`);
//!   `jetstream_memory_store` drains an in-memory store into NATS JetStream (acknowledged
//!   publishes with `Nats-Msg-Id`; needs `nats-server` on `PATH`, `/usr/sbin`, or
//!   `QUORATE_NATS_URL`).
//! - `outbox_enqueue/*`: one payment-capture transaction (update a balance, insert a ledger
//!   row, commit) with and without the outbox row (plus its key row), on SQLite in WAL mode
//!   with durable commits (`sqlite_durable`, `synchronous = FULL`) and without the commit
//!   fsync (`sqlite_wal_normal`), and on PostgreSQL (`QUORATE_PG_URL`, the server's commit
//!   settings). Each timed transaction follows an untimed one of the other variant, so both
//!   see the same conditions; the overhead is the ratio of `with_outbox` to `without_outbox`.
//!
//! Backends that cannot be reached are skipped with a printed line.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quorate_outbox::pg::PgRelayStore;
use quorate_outbox::sqlite::SqliteRelayStore;
use quorate_outbox::{MemoryOutbox, MemorySink, NewMessage, Outbox, Relay, RelayConfig};

const MESSAGES: usize = 10_000;
const KEYS: usize = 1_000;
const BATCH: usize = 100;

fn messages() -> Vec<NewMessage> {
    (0..MESSAGES)
        .map(|i| {
            NewMessage::new(
                format!("account-{}", i % KEYS),
                "payment.captured",
                vec![0u8; 64],
            )
            .expect("message")
        })
        .collect()
}

fn config(id: &str) -> RelayConfig {
    RelayConfig::builder()
        .relay_id(id)
        .batch_size(BATCH)
        .seed(1)
        .build()
        .expect("config")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "quorate-outbox-bench-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn sqlite_open(path: &std::path::Path, synchronous: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy");
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
    ))
    .expect("pragmas");
    conn
}

fn pg_url() -> Option<String> {
    let url = std::env::var("QUORATE_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    if url.is_none() {
        eprintln!("skipped postgres benchmarks: set QUORATE_PG_URL");
    }
    url
}

fn relay_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("outbox_relay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(MESSAGES as u64));
    let outbox = Outbox::builder().notify(false).build();
    let batch = messages();

    // SQLite: one relay.
    let dir = scratch("relay");
    let path = dir.join("db");
    {
        let conn = sqlite_open(&path, "NORMAL");
        quorate_outbox::sqlite::migrate(&conn).expect("migrate");
    }
    g.bench_function("sqlite_1_relay", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut conn = sqlite_open(&path, "NORMAL");
                conn.execute_batch("DELETE FROM quorate_outbox; DELETE FROM quorate_outbox_keys;")
                    .expect("reset");
                let mut tx = conn.transaction().expect("tx");
                for m in &batch {
                    outbox.enqueue(&mut tx, m).expect("enqueue");
                }
                tx.commit().expect("commit");
                let sink = MemorySink::new();
                let mut relay = Relay::new(
                    SqliteRelayStore::new(sqlite_open(&path, "NORMAL")),
                    sink.clone(),
                    config("r1"),
                );
                let start = Instant::now();
                while relay.run_once().expect("run").claimed > 0 {}
                total += start.elapsed();
                assert_eq!(sink.len(), MESSAGES);
            }
            total
        });
    });

    // PostgreSQL: two relays on their own connections.
    if let Some(url) = pg_url() {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        quorate_outbox::pg::migrate(&mut admin).expect("migrate");
        g.bench_function("postgres_2_relays", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    admin
                        .batch_execute(
                            "TRUNCATE quorate_outbox, quorate_outbox_keys, quorate_outbox_dead",
                        )
                        .expect("reset");
                    for chunk in batch.chunks(1_000) {
                        let mut tx = admin.transaction().expect("tx");
                        for m in chunk {
                            outbox.enqueue(&mut tx, m).expect("enqueue");
                        }
                        tx.commit().expect("commit");
                    }
                    admin
                        .batch_execute("VACUUM ANALYZE quorate_outbox, quorate_outbox_keys")
                        .expect("vacuum");
                    let sinks = [MemorySink::new(), MemorySink::new()];
                    let mut relays: Vec<_> = sinks
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let client =
                                postgres::Client::connect(&url, postgres::NoTls).expect("connect");
                            Relay::new(
                                PgRelayStore::new(client).expect("store"),
                                s.clone(),
                                config(&format!("r{i}")),
                            )
                        })
                        .collect();
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for r in &mut relays {
                            s.spawn(move || {
                                // Drained when the relay finds nothing twice in a row (the
                                // other one may hold the last keys for a moment).
                                let mut idle = 0;
                                while idle < 2 {
                                    if r.run_once().expect("run").claimed == 0 {
                                        idle += 1;
                                        std::thread::sleep(Duration::from_millis(1));
                                    } else {
                                        idle = 0;
                                    }
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                    assert_eq!(sinks[0].len() + sinks[1].len(), MESSAGES);
                }
                total
            });
        });
    }

    // JetStream: drain an in-memory store through the JetStream sink.
    if let Some(nats) = NatsProcess::start() {
        match quorate_outbox::nats::JetStreamSink::connect_blocking(
            &nats.url,
            "bench",
            "BENCH",
            Duration::from_secs(120),
        ) {
            Ok(sink) => {
                let mut sink = Some(sink);
                g.bench_function("jetstream_memory_store", |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let store = MemoryOutbox::new();
                            let mut tx = store.begin();
                            for m in &batch {
                                outbox.enqueue(&mut tx, m).expect("enqueue");
                            }
                            tx.commit();
                            let mut relay =
                                Relay::new(store, sink.take().expect("sink"), config("r1"));
                            let start = Instant::now();
                            let mut sent = 0;
                            loop {
                                let o = relay.run_once().expect("run");
                                sent += o.sent;
                                if o.claimed == 0 {
                                    break;
                                }
                            }
                            total += start.elapsed();
                            assert_eq!(sent, MESSAGES);
                            sink = Some(relay.into_parts().1);
                        }
                        total
                    });
                });
            }
            Err(e) => eprintln!("skipped jetstream benchmark: {e}"),
        }
    }
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

/// Benchmarks `run(false)` and `run(true)` as `<prefix>_without_outbox` and
/// `<prefix>_with_outbox`, each timed iteration preceded by an untimed run of the other
/// variant, so that both see the same conditions (checkpoints, WAL growth, machine load).
fn paired(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    prefix: &str,
    run: &mut dyn FnMut(bool),
) {
    for with in [false, true] {
        let name = format!(
            "{prefix}_{}",
            if with {
                "with_outbox"
            } else {
                "without_outbox"
            }
        );
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    run(!with);
                    let start = Instant::now();
                    run(with);
                    total += start.elapsed();
                }
                total
            });
        });
    }
}

fn enqueue_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("outbox_enqueue");
    let outbox = Outbox::builder().notify(false).build();
    let dir = scratch("enqueue");
    for (prefix, synchronous) in [("sqlite_durable", "FULL"), ("sqlite_wal_normal", "NORMAL")] {
        let path = dir.join(format!("{prefix}.db"));
        let mut conn = sqlite_open(&path, synchronous);
        quorate_outbox::sqlite::migrate(&conn).expect("migrate");
        conn.execute_batch(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
             CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, account INTEGER NOT NULL, amount INTEGER NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
             INSERT INTO accounts SELECT i, 0 FROM n;",
        )
        .expect("schema");
        let mut i = 0u64;
        paired(&mut g, prefix, &mut |with| {
            i += 1;
            let account = i % 1_000;
            let mut tx = conn.transaction().expect("tx");
            tx.execute(
                "UPDATE accounts SET balance = balance + 1 WHERE id = ?1",
                [account],
            )
            .expect("update");
            tx.execute(
                "INSERT INTO ledger (account, amount) VALUES (?1, 1)",
                [account],
            )
            .expect("insert");
            if with {
                let m = NewMessage::new(
                    format!("account-{account}"),
                    "payment.captured",
                    vec![0u8; 64],
                )
                .expect("message");
                black_box(outbox.enqueue(&mut tx, &m).expect("enqueue"));
            }
            tx.commit().expect("commit");
        });
    }
    if let Some(url) = pg_url() {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        quorate_outbox::pg::migrate(&mut client).expect("migrate");
        client
            .batch_execute(
                "DROP TABLE IF EXISTS bench_accounts, bench_ledger;
                 CREATE TABLE bench_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);
                 CREATE TABLE bench_ledger (id BIGSERIAL PRIMARY KEY, account BIGINT NOT NULL, amount BIGINT NOT NULL);
                 INSERT INTO bench_accounts SELECT g, 0 FROM generate_series(0, 999) g;",
            )
            .expect("schema");
        let update = client
            .prepare("UPDATE bench_accounts SET balance = balance + 1 WHERE id = $1")
            .expect("prepare");
        let insert = client
            .prepare("INSERT INTO bench_ledger (account, amount) VALUES ($1, 1)")
            .expect("prepare");
        let mut i = 0i64;
        paired(&mut g, "postgres", &mut |with| {
            i += 1;
            let account = i % 1_000;
            let mut tx = client.transaction().expect("tx");
            tx.execute(&update, &[&account]).expect("update");
            tx.execute(&insert, &[&account]).expect("insert");
            if with {
                let m = NewMessage::new(
                    format!("account-{account}"),
                    "payment.captured",
                    vec![0u8; 64],
                )
                .expect("message");
                black_box(outbox.enqueue(&mut tx, &m).expect("enqueue"));
            }
            tx.commit().expect("commit");
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

/// A throwaway `nats-server -js` for the JetStream benchmark (or `QUORATE_NATS_URL`).
struct NatsProcess {
    url: String,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

impl NatsProcess {
    fn start() -> Option<Self> {
        if let Ok(url) = std::env::var("QUORATE_NATS_URL")
            && !url.trim().is_empty()
        {
            return Some(Self {
                url,
                child: None,
                dir: None,
            });
        }
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        let Some(bin) = bin else {
            eprintln!("skipped jetstream benchmark: no nats-server");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = scratch("nats");
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..200 {
            if std::net::TcpStream::connect(addr).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            url: format!("nats://127.0.0.1:{port}"),
            child: Some(child),
            dir: Some(dir),
        })
    }
}

impl Drop for NatsProcess {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

criterion_group!(benches, relay_throughput, enqueue_overhead);
criterion_main!(benches);
