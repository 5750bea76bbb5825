//! quorate-outbox: relay throughput and the cost of enqueueing inside a transaction.
//!
//! - `outbox_relay/*`: time to drain a backlog of 10,000 messages over 1,000 ordering keys
//!   (per-key order kept) with batches of 100, into an in-memory sink; throughput is messages
//!   per second. `sqlite_1_relay` runs one relay on a WAL database file; `postgres_2_relays`
//!   runs two relays on their own connections and threads (needs `QUORATE_PG_URL`);
//!   `jetstream_memory_store` drains an in-memory store into NATS JetStream (acknowledged
//!   publishes with `Nats-Msg-Id`; needs `nats-server` on `PATH`, `/usr/sbin`, or
//!   `QUORATE_NATS_URL`).
//! - `outbox_enqueue/*`: one payment-capture transaction as the design notes describe it (the
//!   payment's state transition, the capture under its unique operation id, the ledger entry,
//!   commit) with and without the outbox row, on SQLite in WAL mode with durable commits
//!   (`sqlite_durable`, `synchronous = FULL`) and without the commit fsync
//!   (`sqlite_wal_normal`), and on PostgreSQL (`QUORATE_PG_URL`, the server's commit
//!   settings), where the application's statements and the outbox's are prepared
//!   (`with_outbox`; `with_outbox_unprepared` has the server parse and plan the enqueue each
//!   time; `with_round_trip` has a `SELECT 1` instead, the floor of a statement of its own),
//!   and on tokio-postgres with the statements pipelined (`postgres_pipelined`). Each
//!   timed transaction follows an untimed one of the other variant, so both see
//!   the same conditions; the overhead is the ratio of `with_outbox` to `without_outbox`.
//!   Before criterion's runs, the variants of each backend also run interleaved, transaction
//!   by transaction, 500 rounds; that printed line (`interleaved outbox_enqueue_pairs/...`)
//!   is what the headline rows use, since criterion measures each function in a window of
//!   its own and a slow spell of a shared machine then lands on one side of the ratio only.
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
                    let delivered = || sinks.iter().map(MemorySink::len).sum::<usize>();
                    std::thread::scope(|s| {
                        for r in &mut relays {
                            s.spawn(move || {
                                // Until both sinks hold everything: a relay that finds
                                // nothing (the other one is numbering the new rows or holds
                                // the last keys) looks again a millisecond later.
                                let give_up = Instant::now() + Duration::from_secs(120);
                                while delivered() < MESSAGES && Instant::now() < give_up {
                                    if r.run_once().expect("run").claimed == 0 {
                                        std::thread::sleep(Duration::from_millis(1));
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

/// Benchmarks `<prefix>_<variant>` for each variant: index 0 is the transaction without the
/// outbox row, the others with it. Each timed iteration is preceded by an untimed run of the
/// other side (variant 0 for the others, variant 1 for variant 0), so that all see the same
/// conditions (checkpoints, WAL growth, machine load).
fn paired(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    prefix: &str,
    variants: &[&str],
    run: &mut dyn FnMut(usize),
) {
    // First, the variants interleaved transaction by transaction (round-robin, 500 rounds):
    // criterion measures each function in its own time window, so on a busy machine a slow
    // spell (a checkpoint, another process) lands on one variant only; interleaved, it lands
    // on all of them. The headline rows read this line (group `outbox_enqueue_pairs`).
    let rounds = 500u32;
    let mut totals = vec![Duration::ZERO; variants.len()];
    for r in 0..rounds {
        for k in 0..variants.len() {
            let v = (k + r as usize) % variants.len();
            let start = Instant::now();
            run(v);
            if let Some(t) = totals.get_mut(v) {
                *t += start.elapsed();
            }
        }
    }
    let line: Vec<String> = variants
        .iter()
        .zip(&totals)
        .map(|(name, t)| format!("{name} {:.1} ns", t.as_secs_f64() * 1e9 / f64::from(rounds)))
        .collect();
    println!(
        "interleaved outbox_enqueue_pairs/{prefix}: {}",
        line.join(", ")
    );
    for (v, variant) in variants.iter().enumerate() {
        g.bench_function(format!("{prefix}_{variant}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    run(usize::from(v == 0));
                    let start = Instant::now();
                    run(v);
                    total += start.elapsed();
                }
                total
            });
        });
    }
}

/// The application's side of a payment capture, as the design notes describe it: the
/// payment's state transition, the capture recorded under its unique operation id, and the
/// ledger entry. SQLite dialect; PostgreSQL's differs only in types.
const SQLITE_APP_SCHEMA: &str = "
    CREATE TABLE payments (id INTEGER PRIMARY KEY, state TEXT NOT NULL, version INTEGER NOT NULL);
    CREATE TABLE captures (operation_id TEXT PRIMARY KEY, payment_id INTEGER NOT NULL, amount INTEGER NOT NULL);
    CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, payment_id INTEGER NOT NULL, amount INTEGER NOT NULL);
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
    INSERT INTO payments SELECT i, 'authorized', 0 FROM n;";
const PG_APP_SCHEMA: &str = "
    DROP TABLE IF EXISTS bench_payments, bench_captures, bench_ledger;
    CREATE TABLE bench_payments (id BIGINT PRIMARY KEY, state TEXT NOT NULL, version BIGINT NOT NULL);
    CREATE TABLE bench_captures (operation_id TEXT PRIMARY KEY, payment_id BIGINT NOT NULL, amount BIGINT NOT NULL);
    CREATE TABLE bench_ledger (id BIGSERIAL PRIMARY KEY, payment_id BIGINT NOT NULL, amount BIGINT NOT NULL);
    INSERT INTO bench_payments SELECT g, 'authorized', 0 FROM generate_series(0, 999) g;";
const PG_TRANSITION: &str =
    "UPDATE bench_payments SET state = 'captured', version = version + 1 WHERE id = $1";
const PG_CAPTURE: &str =
    "INSERT INTO bench_captures (operation_id, payment_id, amount) VALUES ($1, $2, 100)";
const PG_LEDGER: &str = "INSERT INTO bench_ledger (payment_id, amount) VALUES ($1, 100)";

fn capture_message(payment: i64) -> NewMessage {
    NewMessage::new(
        format!("payment-{payment}"),
        "payment.captured",
        vec![0u8; 64],
    )
    .expect("message")
}

fn enqueue_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("outbox_enqueue");
    let outbox = Outbox::builder().notify(false).build();
    let dir = scratch("enqueue");
    for (prefix, synchronous) in [("sqlite_durable", "FULL"), ("sqlite_wal_normal", "NORMAL")] {
        let path = dir.join(format!("{prefix}.db"));
        let mut conn = sqlite_open(&path, synchronous);
        quorate_outbox::sqlite::migrate(&conn).expect("migrate");
        conn.execute_batch(SQLITE_APP_SCHEMA).expect("schema");
        let mut i = 0i64;
        paired(
            &mut g,
            prefix,
            &["without_outbox", "with_outbox"],
            &mut |v| {
                i += 1;
                let payment = i % 1_000;
                let mut tx = conn.transaction().expect("tx");
                tx.prepare_cached(
                    "UPDATE payments SET state = 'captured', version = version + 1 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute([payment]))
                .expect("transition");
                tx.prepare_cached(
                    "INSERT INTO captures (operation_id, payment_id, amount) VALUES (?1, ?2, 100)",
                )
                .and_then(|mut s| s.execute(rusqlite::params![format!("op-{i}"), payment]))
                .expect("capture");
                tx.prepare_cached("INSERT INTO ledger (payment_id, amount) VALUES (?1, 100)")
                    .and_then(|mut s| s.execute([payment]))
                    .expect("ledger");
                if v > 0 {
                    black_box(
                        outbox
                            .enqueue(&mut tx, &capture_message(payment))
                            .expect("enqueue"),
                    );
                }
                tx.commit().expect("commit");
            },
        );
    }
    if let Some(url) = pg_url() {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        quorate_outbox::pg::migrate(&mut client).expect("migrate");
        client.batch_execute(PG_APP_SCHEMA).expect("schema");
        let transition = client.prepare(PG_TRANSITION).expect("prepare");
        let capture = client.prepare(PG_CAPTURE).expect("prepare");
        let ledger = client.prepare(PG_LEDGER).expect("prepare");
        // The application's statements are prepared, and so is the outbox's (the
        // `PreparedEnqueue` a user keeps per connection); `with_outbox_unprepared` sends the
        // enqueue statement unprepared (parsed and planned by the server each time).
        // `with_round_trip` adds a prepared `SELECT 1` instead: the floor of any enqueue that
        // is a statement of its own on the synchronous driver.
        let prepared = quorate_outbox::pg::PreparedEnqueue::prepare(&mut client).expect("prepare");
        let select1 = client.prepare("SELECT 1").expect("prepare");
        let mut i = 0i64;
        paired(
            &mut g,
            "postgres",
            &[
                "without_outbox",
                "with_outbox",
                "with_outbox_unprepared",
                "with_round_trip",
            ],
            &mut |v| {
                i += 1;
                let payment = i % 1_000;
                let mut tx = client.transaction().expect("tx");
                tx.execute(&transition, &[&payment]).expect("transition");
                tx.execute(&capture, &[&format!("op-{i}"), &payment])
                    .expect("capture");
                tx.execute(&ledger, &[&payment]).expect("ledger");
                if v == 3 {
                    black_box(tx.query_one(&select1, &[]).expect("select 1"));
                } else if v > 0 {
                    let m = capture_message(payment);
                    let id = if v == 1 {
                        outbox.enqueue(&mut prepared.on(&mut tx), &m)
                    } else {
                        outbox.enqueue(&mut tx, &m)
                    };
                    black_box(id.expect("enqueue"));
                }
                tx.commit().expect("commit");
            },
        );
        drop(client);
        pipelined(&mut g, &outbox, &url);
    }
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

/// The same transaction on tokio-postgres with its statements pipelined: the application's
/// three and (in `with_outbox`) the prepared enqueue are sent together and answered in one
/// round trip, so the outbox row costs its execution on the server, not a round trip.
fn pipelined(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    outbox: &Outbox,
    url: &str,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut client, st, prepared) = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let mut st = Vec::new();
        for sql in [PG_TRANSITION, PG_CAPTURE, PG_LEDGER] {
            st.push(client.prepare(sql).await.expect("prepare"));
        }
        let prepared = quorate_outbox::pg::PreparedEnqueue::prepare_async(&client)
            .await
            .expect("prepare");
        (client, st, prepared)
    });
    let [transition, capture, ledger] = <[_; 3]>::try_from(st).expect("three statements");
    let mut i = 0i64;
    paired(
        g,
        "postgres_pipelined",
        &["without_outbox", "with_outbox"],
        &mut |v| {
            i += 1;
            let payment = i % 1_000;
            let op = format!("op-p{i}");
            rt.block_on(async {
                let tx = client.transaction().await.expect("tx");
                let one: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&payment];
                let two: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&op, &payment];
                let app = futures_util::future::try_join3(
                    tx.execute(&transition, &one),
                    tx.execute(&capture, &two),
                    tx.execute(&ledger, &one),
                );
                if v > 0 {
                    let m = capture_message(payment);
                    let enqueue =
                        quorate_outbox::pg::enqueue_async_prepared(outbox, &tx, &prepared, &m);
                    let (app, id) = futures_util::future::join(app, enqueue).await;
                    app.expect("statements");
                    black_box(id.expect("enqueue"));
                } else {
                    app.await.expect("statements");
                }
                tx.commit().await.expect("commit");
            });
        },
    );
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
