//! The scenarios' store: an embedded SQLite file in a temporary directory, or PostgreSQL.
//!
//! Scenarios write the records their invariants are checked from (confirmed reservations,
//! profile snapshots...) through this small layer, with SQL that runs unchanged on both
//! backends (`?N` placeholders are rewritten to `$N` for PostgreSQL).

use std::path::{Path, PathBuf};

use crate::TourError;

/// Where the scenarios keep their records.
///
/// ```
/// let b = quorate_examples::Backend::Sqlite;
/// assert_eq!(b.name(), "sqlite");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file per scenario in a fresh temporary directory, deleted afterwards.
    Sqlite,
    /// A PostgreSQL database (a URL or a libpq key-value string). The tour creates and drops
    /// its own tables, all named `quorate_tour_*`.
    Postgres(String),
}

impl Backend {
    /// `sqlite` or `postgres`.
    ///
    /// ```
    /// let b = quorate_examples::Backend::Postgres("host=/tmp".into());
    /// assert_eq!(b.name(), "postgres");
    /// ```
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    I(i64),
    S(String),
}

pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(_) => f.write_str("Db::Sqlite"),
            Self::Postgres(_) => f.write_str("Db::Postgres"),
        }
    }
}

fn db_err(e: impl std::fmt::Display) -> TourError {
    TourError::Database(e.to_string())
}

/// A private temporary directory, removed on drop.
#[derive(Debug)]
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn new(seed: u64) -> Result<Self, TourError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("quorate-tour-{}-{seed}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| TourError::Database(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where one scenario's store lives, for the crates that open their own connections.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Sqlite(PathBuf),
    /// The configuration (with the tour's schema on the search path) and the URL it came from.
    Postgres(Box<postgres::Config>, String),
}

impl Location {
    /// The location as one string, for a worker process (`sqlite:PATH` or `postgres:URL`).
    pub(crate) fn to_arg(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(_, url) => format!("postgres:{url}"),
        }
    }

    /// The inverse of [`to_arg`](Self::to_arg).
    pub(crate) fn from_arg(arg: &str) -> Result<Self, TourError> {
        if let Some(path) = arg.strip_prefix("sqlite:") {
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if let Some(url) = arg.strip_prefix("postgres:") {
            Ok(Self::Postgres(Box::new(pg_config(url)?), url.to_owned()))
        } else {
            Err(TourError::Scenario(format!("bad worker store {arg:?}")))
        }
    }

    pub(crate) fn for_scenario(
        backend: &Backend,
        dir: Option<&ScratchDir>,
        scenario: &str,
    ) -> Result<Self, TourError> {
        match backend {
            Backend::Sqlite => {
                let dir = dir.ok_or_else(|| db_err("no scratch directory"))?;
                Ok(Self::Sqlite(dir.path().join(format!("{scenario}.sqlite3"))))
            }
            Backend::Postgres(url) => Ok(Self::Postgres(Box::new(pg_config(url)?), url.clone())),
        }
    }

    /// A new SQLite connection (WAL, busy timeout) or PostgreSQL client.
    pub(crate) fn open(&self) -> Result<Db, TourError> {
        match self {
            Self::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).map_err(db_err)?;
                c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                    .map_err(db_err)?;
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(db_err)?;
                Ok(Db::Sqlite(c))
            }
            Self::Postgres(config, _) => config
                .connect(postgres::NoTls)
                .map(Db::Postgres)
                .map_err(|e| TourError::Unreachable(one_line(&e))),
        }
    }
}

/// The schema every PostgreSQL object of the tour lives in (created and dropped by the tour).
pub(crate) const PG_SCHEMA: &str = "quorate_tour";

/// The connection configuration for `url`, with the tour's schema first on the search path.
pub(crate) fn pg_config(url: &str) -> Result<postgres::Config, TourError> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| TourError::Unreachable(one_line(&e)))?;
    config.options(&format!("-c search_path={PG_SCHEMA}"));
    config.connect_timeout(std::time::Duration::from_secs(10));
    Ok(config)
}

/// Creates the tour's schema afresh.
pub(crate) fn pg_reset(url: &str) -> Result<(), TourError> {
    let mut c = connect_pg(url)?;
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE; CREATE SCHEMA {PG_SCHEMA};"
    ))
    .map_err(db_err)
}

/// Drops the tour's schema.
pub(crate) fn pg_drop(url: &str) -> Result<(), TourError> {
    let mut c = connect_pg(url)?;
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE;"))
        .map_err(db_err)
}

fn one_line(e: &postgres::Error) -> String {
    let mut msg = e.to_string();
    if let Some(src) = std::error::Error::source(e) {
        let s = src.to_string();
        if !msg.contains(&s) {
            msg = format!("{msg}: {s}");
        }
    }
    msg.replace('\n', " ")
}

impl Db {
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), TourError> {
        match self {
            Self::Sqlite(c) => c.execute_batch(sql).map_err(db_err),
            Self::Postgres(c) => c.batch_execute(sql).map_err(db_err),
        }
    }

    /// Runs `f` in one transaction (`BEGIN IMMEDIATE` on SQLite).
    pub(crate) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, TourError>,
    ) -> Result<T, TourError> {
        let begin = match self {
            Self::Sqlite(_) => "BEGIN IMMEDIATE",
            Self::Postgres(_) => "BEGIN",
        };
        self.batch(begin)?;
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Executes one statement; returns the rows affected.
    pub(crate) fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, TourError> {
        match self {
            Self::Sqlite(c) => {
                let p: Vec<rusqlite::types::Value> = params.iter().map(to_sqlite).collect();
                c.execute(sql, rusqlite::params_from_iter(p))
                    .map(|n| n as u64)
                    .map_err(db_err)
            }
            Self::Postgres(c) => {
                let sql = pg_sql(sql);
                let p = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    p.iter().map(|b| b.as_ref()).collect();
                c.execute(sql.as_str(), &refs).map_err(db_err)
            }
        }
    }

    /// Runs a query whose columns are all `BIGINT`/`TEXT`.
    pub(crate) fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, TourError> {
        match self {
            Self::Sqlite(c) => {
                let p: Vec<rusqlite::types::Value> = params.iter().map(to_sqlite).collect();
                let mut st = c.prepare(sql).map_err(db_err)?;
                let n = st.column_count();
                let rows = st
                    .query_map(rusqlite::params_from_iter(p), |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Integer(v) => Val::I(v),
                                    rusqlite::types::ValueRef::Text(t) => {
                                        Val::S(String::from_utf8_lossy(t).into_owned())
                                    }
                                    rusqlite::types::ValueRef::Null => Val::I(0),
                                    other => Val::S(format!("{other:?}")),
                                })
                            })
                            .collect::<Result<Vec<_>, rusqlite::Error>>()
                    })
                    .map_err(db_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
            }
            Self::Postgres(c) => {
                let sql = pg_sql(sql);
                let p = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    p.iter().map(|b| b.as_ref()).collect();
                let rows = c.query(sql.as_str(), &refs).map_err(db_err)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut vals = Vec::with_capacity(r.len());
                    for (i, col) in r.columns().iter().enumerate() {
                        let v = if *col.type_() == postgres::types::Type::TEXT
                            || *col.type_() == postgres::types::Type::VARCHAR
                        {
                            Val::S(
                                r.try_get::<_, Option<String>>(i)
                                    .map_err(db_err)?
                                    .unwrap_or_default(),
                            )
                        } else if *col.type_() == postgres::types::Type::INT4 {
                            Val::I(i64::from(
                                r.try_get::<_, Option<i32>>(i).map_err(db_err)?.unwrap_or(0),
                            ))
                        } else {
                            Val::I(r.try_get::<_, Option<i64>>(i).map_err(db_err)?.unwrap_or(0))
                        };
                        vals.push(v);
                    }
                    out.push(vals);
                }
                Ok(out)
            }
        }
    }
}

/// Connects to PostgreSQL, turning every failure into a one-line error.
pub(crate) fn connect_pg(url: &str) -> Result<postgres::Client, TourError> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| TourError::Unreachable(one_line(&e)))?;
    config.connect_timeout(std::time::Duration::from_secs(10));
    config
        .connect(postgres::NoTls)
        .map_err(|e| TourError::Unreachable(one_line(&e)))
}

fn to_sqlite(v: &Val) -> rusqlite::types::Value {
    match v {
        Val::I(i) => rusqlite::types::Value::Integer(*i),
        Val::S(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

fn pg_params(params: &[Val]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
            match v {
                Val::I(i) => Box::new(*i),
                Val::S(s) => Box::new(s.clone()),
            }
        })
        .collect()
}

/// `?1` → `$1`.
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_rewritten_for_postgres() {
        assert_eq!(super::pg_sql("SELECT ?1, '?', ?12"), "SELECT $1, '?', $12");
    }
}
