//! The conformance suite on PostgreSQL (a throwaway database per test; each transaction and
//! each relay on its own connection, so the concurrent cases run).

use std::sync::Mutex;

use postgres::{Client, Transaction};
use quorate_outbox::pg::{PgRelayStore, migrate};
use quorate_testkit::PgDatabase;
use quorate_testkit::outbox_suite::Backend;

struct Pg {
    db: PgDatabase,
    pool: Mutex<Vec<Client>>,
}

impl Pg {
    fn new() -> Option<Self> {
        let db = PgDatabase::for_current_test()?;
        let mut client = db.connect().expect("connect");
        migrate(&mut client).expect("migrate");
        client
            .batch_execute("CREATE TABLE suite_effects (n BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)")
            .expect("effects table");
        Some(Self {
            db,
            pool: Mutex::new(vec![client]),
        })
    }
    fn client(&self) -> Client {
        let pooled = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        pooled.unwrap_or_else(|| self.db.connect().expect("connect"))
    }
    fn give_back(&self, c: Client) {
        self.pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(c);
    }
}

impl Backend for Pg {
    type Tx<'a> = Transaction<'a>;
    type Store = PgRelayStore;

    fn label(&self) -> &'static str {
        "postgres"
    }
    fn transact<R>(&self, f: impl for<'a> FnOnce(&mut Transaction<'a>) -> (bool, R)) -> R {
        let mut client = self.client();
        let r = {
            let mut tx = client.transaction().expect("begin");
            let (commit, r) = f(&mut tx);
            if commit {
                tx.commit().expect("commit");
            } else {
                tx.rollback().expect("rollback");
            }
            r
        };
        self.give_back(client);
        r
    }
    fn effect(tx: &mut Transaction<'_>, value: &str) {
        tx.execute("INSERT INTO suite_effects (v) VALUES ($1)", &[&value])
            .expect("effect");
    }
    fn effects(&self) -> Vec<String> {
        let mut c = self.client();
        let rows = c
            .query("SELECT v FROM suite_effects ORDER BY n", &[])
            .expect("query");
        self.give_back(c);
        rows.iter().map(|r| r.get(0)).collect()
    }
    fn store(&self) -> PgRelayStore {
        PgRelayStore::new(self.db.connect().expect("connect")).expect("relay store")
    }
    fn concurrent_transactions(&self) -> bool {
        true
    }
    fn reset(&self) {
        let mut c = self.client();
        c.batch_execute(
            "TRUNCATE quorate_outbox, quorate_outbox_keys, quorate_outbox_dead, quorate_inbox, suite_effects RESTART IDENTITY",
        )
        .expect("reset");
        self.give_back(c);
    }
}

quorate_testkit::outbox_conformance!(Pg::new(), schedules = 40);
