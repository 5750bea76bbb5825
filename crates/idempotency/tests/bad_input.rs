//! Bad input: corrupt stored rows (an error naming the key, never a panic or a silent miss),
//! schemas of a newer version or none, invalid configurations.

use std::time::Duration;

use quorate_idempotency::{InvalidConfig, StoreConfig};

#[test]
fn invalid_configs_are_refused() {
    let s = Duration::from_secs(1);
    assert_eq!(
        StoreConfig::new(Duration::ZERO, s, 1),
        Err(InvalidConfig::LockTtl(Duration::ZERO))
    );
    assert_eq!(
        StoreConfig::new(s, Duration::ZERO, 1),
        Err(InvalidConfig::Retention(Duration::ZERO))
    );
    assert_eq!(
        StoreConfig::new(s, s, 0),
        Err(InvalidConfig::MaxResponseBytes)
    );
    assert!(StoreConfig::new(Duration::MAX, s, 1).is_err());
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use quorate_idempotency::{
        Begin, Fingerprint, IdempotencyStore, Outcome, SqliteStore, StoreConfig, StoreError,
    };
    use quorate_testkit::TempDir;

    fn store(dir: &TempDir) -> (SqliteStore, rusqlite::Connection) {
        let path = dir.path().join("keys.db");
        let conn = rusqlite::Connection::open(&path).expect("open");
        quorate_idempotency::sqlite::migrate(&conn).expect("migrate");
        let store = SqliteStore::open(&path, StoreConfig::default()).expect("store");
        (store, conn)
    }

    #[test]
    fn corrupt_rows_are_errors_naming_the_key() {
        let dir = TempDir::new("idem-corrupt").expect("tempdir");
        let (store, conn) = store(&dir);
        let fp = Fingerprint::of(b"r");
        let damage = [
            ("fingerprint = x'00'", "fingerprint is not 32 bytes"),
            ("fingerprint = 'text'", "fingerprint is not a blob"),
            ("state = 9", "unknown state"),
            ("epoch = -1", "epoch"),
            ("epoch = 0", "epoch is 0"),
            ("epoch = 'x'", "epoch"),
            ("lock_until = 1.5", "lock_until"),
            ("response = NULL", "terminal record without a response"),
            ("response = 'text'", "response is not a blob"),
            ("phase_data = x'01'", "phase data without a phase"),
            ("phase = x'ff'", "phase is not text"),
        ];
        for (i, (set, reason)) in damage.iter().enumerate() {
            let key = format!("key-{i}");
            let Begin::Execute(a) = store.begin("tenant", &key, &fp).expect("begin") else {
                panic!("execute")
            };
            store
                .complete(&a, Outcome::Succeeded("ok".into()))
                .expect("complete");
            conn.execute(
                &format!("UPDATE quorate_idempotency SET {set} WHERE key = ?1"),
                [&key],
            )
            .expect("damage");
            for result in [
                store.begin("tenant", &key, &fp).map(|_| ()),
                store.get("tenant", &key).map(|_| ()),
            ] {
                match result {
                    Err(e @ StoreError::Corrupt { .. }) => {
                        let text = e.to_string();
                        assert!(text.contains(&format!("{key:?}")), "{text}");
                        assert!(text.contains("\"tenant\""), "{text}");
                        assert!(text.contains(reason), "{set}: {text}");
                    }
                    other => panic!("{set}: expected a corrupt-record error, got {other:?}"),
                }
            }
        }
        // Undamaged keys still work.
        assert!(matches!(
            store.begin("tenant", "fine", &fp).expect("begin"),
            Begin::Execute(_)
        ));
    }

    #[test]
    fn newer_schema_is_a_typed_error_and_left_alone() {
        let dir = TempDir::new("idem-schema").expect("tempdir");
        let path = dir.path().join("keys.db");
        let conn = rusqlite::Connection::open(&path).expect("open");
        assert!(matches!(
            SqliteStore::open(&path, StoreConfig::default()),
            Err(StoreError::SchemaOutdated {
                found: 0,
                supported: 1
            })
        ));
        assert_eq!(
            quorate_idempotency::sqlite::migrate(&conn).expect("migrate"),
            1
        );
        conn.execute("UPDATE quorate_idempotency_schema SET version = 2", [])
            .expect("bump");
        let err = SqliteStore::open(&path, StoreConfig::default()).expect_err("too new");
        assert!(matches!(
            err,
            StoreError::SchemaTooNew {
                found: 2,
                supported: 1
            }
        ));
        assert_eq!(
            err.to_string(),
            "idempotency schema version 2 is newer than this build supports (1)"
        );
        assert!(matches!(
            quorate_idempotency::sqlite::migrate(&conn),
            Err(StoreError::SchemaTooNew { found: 2, .. })
        ));
        assert_eq!(
            quorate_idempotency::sqlite::schema_version(&conn).expect("version"),
            2
        );
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use quorate_idempotency::{
        Begin, Fingerprint, IdempotencyStore, Outcome, PgStore, StoreConfig, StoreError,
    };
    use quorate_testkit::pg_test_db;

    #[test]
    fn corrupt_rows_are_errors_naming_the_key() {
        let db = pg_test_db!();
        let mut client = db.connect().expect("connect");
        quorate_idempotency::postgres::migrate(&mut client).expect("migrate");
        let store = PgStore::connect(db.config(), 1, StoreConfig::default()).expect("store");
        let fp = Fingerprint::of(b"r");
        let damage = [
            ("fingerprint = '\\x00'", "fingerprint is not 32 bytes"),
            ("state = 9", "unknown state"),
            ("epoch = -1", "epoch"),
            ("epoch = 0", "epoch is 0"),
            ("response = NULL", "terminal record without a response"),
            ("phase_data = '\\x01'", "phase data without a phase"),
        ];
        for (i, (set, reason)) in damage.iter().enumerate() {
            let key = format!("key-{i}");
            let Begin::Execute(a) = store.begin("tenant", &key, &fp).expect("begin") else {
                panic!("execute")
            };
            store
                .complete(&a, Outcome::Succeeded("ok".into()))
                .expect("complete");
            client
                .execute(
                    &format!("UPDATE quorate_idempotency SET {set} WHERE key = $1"),
                    &[&key],
                )
                .expect("damage");
            for result in [
                store.begin("tenant", &key, &fp).map(|_| ()),
                store.get("tenant", &key).map(|_| ()),
            ] {
                match result {
                    Err(e @ StoreError::Corrupt { .. }) => {
                        let text = e.to_string();
                        assert!(text.contains(&format!("{key:?}")), "{text}");
                        assert!(text.contains(reason), "{set}: {text}");
                    }
                    other => panic!("{set}: expected a corrupt-record error, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn newer_schema_is_a_typed_error_and_left_alone() {
        let db = pg_test_db!();
        let mut client = db.connect().expect("connect");
        assert!(matches!(
            PgStore::connect(db.config(), 1, StoreConfig::default()),
            Err(StoreError::SchemaOutdated {
                found: 0,
                supported: 1
            })
        ));
        assert_eq!(
            quorate_idempotency::postgres::migrate(&mut client).expect("migrate"),
            1
        );
        client
            .execute("UPDATE quorate_idempotency_schema SET version = 2", &[])
            .expect("bump");
        assert!(matches!(
            PgStore::connect(db.config(), 1, StoreConfig::default()),
            Err(StoreError::SchemaTooNew {
                found: 2,
                supported: 1
            })
        ));
        assert!(matches!(
            quorate_idempotency::postgres::migrate(&mut client),
            Err(StoreError::SchemaTooNew { found: 2, .. })
        ));
        assert_eq!(
            quorate_idempotency::postgres::schema_version(&mut client).expect("version"),
            2
        );
        assert!(matches!(
            PgStore::new(Vec::new(), StoreConfig::default()),
            Err(StoreError::NoConnection)
        ));
    }
}
