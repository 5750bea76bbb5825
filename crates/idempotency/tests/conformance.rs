//! The testkit's conformance suite on every backend: memory, SQLite and PostgreSQL.

use std::time::Duration;

use quorate_clocks::{ManualClock, WallClock};
use quorate_idempotency::{MemoryStore, StoreConfig};
use quorate_testkit::idempotency_suite::{Harness, run_all};

/// A manual clock far from zero, so wall-clock jumps back stay positive.
fn clock() -> ManualClock {
    ManualClock::new(1_700_000_000_000_000_000)
}

fn jump(clock: &ManualClock, forward: bool, by: Duration) {
    let now = clock.now_unix_nanos();
    let by = u64::try_from(by.as_nanos()).expect("small");
    clock.set(if forward { now + by } else { now - by });
}

struct Memory(ManualClock);

impl Harness for Memory {
    type Store = MemoryStore;
    fn open(&mut self, config: StoreConfig) -> MemoryStore {
        self.0 = clock();
        MemoryStore::with_clocks(config, self.0.clone(), self.0.clone())
    }
    fn advance(&mut self, _: &MemoryStore, by: Duration) {
        self.0.advance(by);
    }
    fn jump_wall_clock(&mut self, _: &MemoryStore, forward: bool, by: Duration) {
        jump(&self.0, forward, by);
    }
}

#[test]
fn memory_store_conforms() {
    run_all(&mut Memory(clock()));
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use quorate_idempotency::SqliteStore;
    use quorate_testkit::TempDir;

    struct Sqlite {
        dir: TempDir,
        clock: ManualClock,
        n: usize,
    }

    impl Harness for Sqlite {
        type Store = SqliteStore;
        fn open(&mut self, config: StoreConfig) -> SqliteStore {
            self.n += 1;
            self.clock = clock();
            let path = self.dir.path().join(format!("case-{}.db", self.n));
            let conn = rusqlite::Connection::open(&path).expect("open");
            quorate_idempotency::sqlite::migrate(&conn).expect("migrate");
            drop(conn);
            SqliteStore::open(&path, config)
                .expect("store")
                .with_clocks(self.clock.clone(), self.clock.clone())
        }
        fn advance(&mut self, _: &SqliteStore, by: Duration) {
            self.clock.advance(by);
        }
        fn jump_wall_clock(&mut self, _: &SqliteStore, forward: bool, by: Duration) {
            jump(&self.clock, forward, by);
        }
    }

    #[test]
    fn sqlite_store_conforms() {
        run_all(&mut Sqlite {
            dir: TempDir::new("idem-conformance").expect("tempdir"),
            clock: clock(),
            n: 0,
        });
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use quorate_idempotency::PgStore;
    use quorate_testkit::{PgDatabase, pg_test_db};

    struct Pg<'a> {
        db: &'a PgDatabase,
    }

    impl Harness for Pg<'_> {
        type Store = PgStore;
        fn open(&mut self, config: StoreConfig) -> PgStore {
            let mut client = self.db.connect().expect("connect");
            client
                .batch_execute("TRUNCATE quorate_idempotency")
                .expect("truncate");
            PgStore::connect(self.db.config(), 16, config).expect("store")
        }
        fn advance(&mut self, store: &PgStore, by: Duration) {
            store.advance_clock_for_tests(by);
        }
        // The PostgreSQL store reads only the database clock: a jump of the host's clock
        // cannot reach it.
        fn jump_wall_clock(&mut self, _: &PgStore, _: bool, _: Duration) {}
    }

    #[test]
    fn postgres_store_conforms() {
        let db = pg_test_db!();
        let mut client = db.connect().expect("connect");
        quorate_idempotency::postgres::migrate(&mut client).expect("migrate");
        run_all(&mut Pg { db: &db });
    }
}

/// The async store, driven through a blocking adapter so the same suite runs on it.
#[cfg(feature = "tokio")]
mod pg_async {
    use super::*;
    use quorate_idempotency::{
        AsyncPgStore, Attempt, Begin, Fingerprint, IdempotencyStore, Outcome, Record, StoreError,
    };
    use quorate_testkit::{PgDatabase, pg_test_db};

    struct Blocking {
        rt: Arc<tokio::runtime::Runtime>,
        store: AsyncPgStore,
    }

    use std::sync::Arc;

    impl IdempotencyStore for Blocking {
        fn begin(&self, scope: &str, key: &str, fp: &Fingerprint) -> Result<Begin, StoreError> {
            self.rt.block_on(self.store.begin(scope, key, fp))
        }
        fn checkpoint(&self, a: &Attempt, phase: &str, data: &[u8]) -> Result<(), StoreError> {
            self.rt.block_on(self.store.checkpoint(a, phase, data))
        }
        fn complete(&self, a: &Attempt, outcome: Outcome) -> Result<(), StoreError> {
            self.rt.block_on(self.store.complete(a, outcome))
        }
        fn get(&self, scope: &str, key: &str) -> Result<Option<Record>, StoreError> {
            self.rt.block_on(self.store.get(scope, key))
        }
        fn reap(&self, max: usize) -> Result<usize, StoreError> {
            self.rt.block_on(self.store.reap(max))
        }
        fn config(&self) -> &StoreConfig {
            self.store.config()
        }
    }

    struct PgAsync<'a> {
        db: &'a PgDatabase,
        rt: Arc<tokio::runtime::Runtime>,
    }

    impl Harness for PgAsync<'_> {
        type Store = Blocking;
        fn open(&mut self, config: StoreConfig) -> Blocking {
            let conn = self.db.connection_string().to_owned();
            let store = self.rt.block_on(async move {
                let mut clients = Vec::new();
                for _ in 0..16 {
                    let (client, connection) =
                        tokio_postgres::connect(&conn, tokio_postgres::NoTls)
                            .await
                            .expect("connect");
                    tokio::spawn(connection);
                    clients.push(client);
                }
                clients[0]
                    .batch_execute("TRUNCATE quorate_idempotency")
                    .await
                    .expect("truncate");
                AsyncPgStore::new(clients, config).await.expect("store")
            });
            Blocking {
                rt: Arc::clone(&self.rt),
                store,
            }
        }
        fn advance(&mut self, store: &Blocking, by: Duration) {
            store.store.advance_clock_for_tests(by);
        }
        fn jump_wall_clock(&mut self, _: &Blocking, _: bool, _: Duration) {}
    }

    #[test]
    fn async_postgres_store_conforms() {
        let db = pg_test_db!();
        let rt = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime"),
        );
        let conn = db.connection_string().to_owned();
        rt.block_on(async move {
            let (mut client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            quorate_idempotency::postgres::migrate_async(&mut client)
                .await
                .expect("migrate");
        });
        run_all(&mut PgAsync { db: &db, rt });
    }
}
