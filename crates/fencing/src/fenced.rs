//! Fenced writes: the token check inside the write's own SQL statement.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::error::FencedWriteError;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::token::FencingToken;

/// A SQL identifier that cannot be quoted safely.
///
/// ```
/// use quorate_fencing::{FencedTable, InvalidIdentifier};
/// assert!(matches!(FencedTable::new("jobs", "", "token"), Err(InvalidIdentifier { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("invalid sql identifier {name:?}")]
pub struct InvalidIdentifier {
    /// The identifier as given.
    pub name: String,
}

fn quote(name: &str) -> Result<String, InvalidIdentifier> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(format!("\"{name}\""))
    } else {
        Err(InvalidIdentifier {
            name: name.to_owned(),
        })
    }
}

/// A table whose rows carry the highest fencing token that wrote them.
///
/// Each row has a key column and a token column (SQLite `INTEGER`, PostgreSQL `BIGINT`, starting
/// at 0 for a row no holder has touched). A fenced update sets the columns and the token *in one
/// statement* whose `WHERE` requires the stored token not to exceed the presented one:
///
/// ```sql
/// UPDATE "jobs" SET "state" = $1, "token" = $2 WHERE "id" = $3 AND "token" <= $2
/// ```
///
/// so there is no read-then-write race: the database's row lock orders concurrent fenced writes,
/// and a writer with an older token matches no row. [`fence`](Self::fence) is fence-on-acquire: a
/// new holder raises the row's token before it does any work, so every later write with an
/// older token fails even if the old holder never talks to the lock service again.
///
/// Identifiers are restricted to `[A-Za-z_][A-Za-z0-9_]*` (at most 63 bytes) and quoted.
///
/// ```
/// use quorate_fencing::FencedTable;
/// # fn main() -> Result<(), quorate_fencing::InvalidIdentifier> {
/// let jobs = FencedTable::new("jobs", "id", "token")?;
/// let update = jobs.update(&["state", "attempts"])?;
/// assert_eq!(
///     update.postgres_sql(),
///     r#"UPDATE "jobs" SET "state" = $1, "attempts" = $2, "token" = $3 WHERE "id" = $4 AND "token" <= $3"#
/// );
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FencedTable {
    table: String,
    key: String,
    token: String,
}

impl FencedTable {
    /// A fenced table `table` keyed by `key_column`, tokens in `token_column`.
    ///
    /// # Errors
    ///
    /// [`InvalidIdentifier`] for a name outside `[A-Za-z_][A-Za-z0-9_]*` or longer than 63 bytes.
    ///
    /// ```
    /// use quorate_fencing::FencedTable;
    /// assert!(FencedTable::new("jobs", "id", "token").is_ok());
    /// assert!(FencedTable::new("jobs; DROP TABLE x", "id", "token").is_err());
    /// ```
    pub fn new(
        table: &str,
        key_column: &str,
        token_column: &str,
    ) -> Result<Self, InvalidIdentifier> {
        Ok(Self {
            table: quote(table)?,
            key: quote(key_column)?,
            token: quote(token_column)?,
        })
    }

    /// A prepared fenced update setting `columns` (then the token).
    ///
    /// # Errors
    ///
    /// [`InvalidIdentifier`] for an invalid column name.
    ///
    /// ```
    /// use quorate_fencing::FencedTable;
    /// let t = FencedTable::new("t", "k", "tok").unwrap();
    /// assert_eq!(t.update(&["v"]).unwrap().columns(), 1);
    /// ```
    pub fn update(&self, columns: &[&str]) -> Result<FencedUpdate, InvalidIdentifier> {
        let cols = columns
            .iter()
            .map(|c| quote(c))
            .collect::<Result<Vec<_>, _>>()?;
        let n = cols.len();
        let render = |p: &str| {
            let mut sql = format!("UPDATE {} SET ", self.table);
            for (i, c) in cols.iter().enumerate() {
                sql.push_str(&format!("{c} = {p}{}, ", i + 1));
            }
            sql.push_str(&format!(
                "{tok} = {p}{t} WHERE {key} = {p}{k} AND {tok} <= {p}{t}",
                tok = self.token,
                key = self.key,
                t = n + 1,
                k = n + 2
            ));
            sql
        };
        Ok(FencedUpdate {
            sqlite: render("?"),
            postgres: render("$"),
            select_sqlite: format!(
                "SELECT {} FROM {} WHERE {} = ?1",
                self.token, self.table, self.key
            ),
            select_postgres: format!(
                "SELECT {} FROM {} WHERE {} = $1",
                self.token, self.table, self.key
            ),
            columns: n,
        })
    }

    /// The fence-on-acquire update: raises the row's token, sets nothing else.
    ///
    /// ```
    /// use quorate_fencing::FencedTable;
    /// let t = FencedTable::new("t", "k", "tok").unwrap();
    /// assert_eq!(t.fence().sqlite_sql(), r#"UPDATE "t" SET "tok" = ?1 WHERE "k" = ?2 AND "tok" <= ?1"#);
    /// ```
    #[must_use]
    pub fn fence(&self) -> FencedUpdate {
        // No column names to check: cannot fail.
        self.update(&[]).unwrap_or_else(|_| FencedUpdate::empty())
    }
}

/// A prepared fenced update (see [`FencedTable`]); execute it with `execute_sqlite` (`sqlite`
/// feature) or `execute_postgres` (`postgres` feature).
///
/// ```
/// use quorate_fencing::FencedTable;
/// let up = FencedTable::new("t", "k", "tok").unwrap().update(&["a", "b"]).unwrap();
/// assert_eq!(up.columns(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FencedUpdate {
    sqlite: String,
    postgres: String,
    select_sqlite: String,
    select_postgres: String,
    columns: usize,
}

impl FencedUpdate {
    fn empty() -> Self {
        Self {
            sqlite: String::new(),
            postgres: String::new(),
            select_sqlite: String::new(),
            select_postgres: String::new(),
            columns: 0,
        }
    }

    /// The number of value columns.
    ///
    /// ```
    /// use quorate_fencing::FencedTable;
    /// assert_eq!(FencedTable::new("t", "k", "tok").unwrap().fence().columns(), 0);
    /// ```
    #[must_use]
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The statement in SQLite's dialect (`?n` parameters).
    ///
    /// ```
    /// use quorate_fencing::FencedTable;
    /// let up = FencedTable::new("t", "k", "tok").unwrap().fence();
    /// assert!(up.sqlite_sql().contains("\"tok\" <= ?1"));
    /// ```
    #[must_use]
    pub fn sqlite_sql(&self) -> &str {
        &self.sqlite
    }

    /// The statement in PostgreSQL's dialect (`$n` parameters).
    ///
    /// ```
    /// use quorate_fencing::FencedTable;
    /// let up = FencedTable::new("t", "k", "tok").unwrap().fence();
    /// assert!(up.postgres_sql().contains("\"tok\" <= $1"));
    /// ```
    #[must_use]
    pub fn postgres_sql(&self) -> &str {
        &self.postgres
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    fn check_arity(&self, values: usize) -> Result<(), FencedWriteError> {
        if values == self.columns {
            Ok(())
        } else {
            Err(FencedWriteError::Arity {
                columns: self.columns,
                values,
            })
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn token_param(token: FencingToken) -> Result<i64, FencedWriteError> {
    i64::try_from(token.get()).map_err(|_| FencedWriteError::TokenOutOfRange(token))
}

/// Explains why an update matched no row, from the row's stored token (`None`: no row).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn diagnose(stored: Option<Option<i64>>, presented: FencingToken) -> FencedWriteError {
    match stored {
        None => FencedWriteError::UnknownResource,
        Some(None) => FencedWriteError::Corrupt("null token".to_owned()),
        Some(Some(v)) => match u64::try_from(v) {
            Err(_) => FencedWriteError::Corrupt(format!("negative token {v}")),
            Ok(v) if v > presented.get() => FencedWriteError::Stale {
                presented,
                highest: FencingToken::new(v),
            },
            Ok(_) => FencedWriteError::Raced,
        },
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_impl {
    use super::*;
    use crate::error::StoreError;
    use rusqlite::{OptionalExtension, ToSql};

    impl FencedUpdate {
        /// Runs the fenced update on `conn` (a connection or a transaction, which derefs to one).
        ///
        /// # Errors
        ///
        /// [`FencedWriteError::Stale`] when the row holds a higher token (nothing is written),
        /// [`FencedWriteError::UnknownResource`] when no row has `key`,
        /// [`FencedWriteError::Corrupt`] for a NULL or negative stored token,
        /// [`FencedWriteError::Arity`], [`FencedWriteError::TokenOutOfRange`],
        /// [`FencedWriteError::Store`].
        ///
        /// ```
        /// use quorate_fencing::{FencedTable, FencedWriteError, FencingToken};
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// let conn = rusqlite::Connection::open_in_memory()?;
        /// conn.execute_batch("CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT, token INTEGER NOT NULL DEFAULT 0);
        ///                     INSERT INTO jobs (id, state) VALUES ('j1', 'new');")?;
        /// let jobs = FencedTable::new("jobs", "id", "token")?;
        /// jobs.fence().execute_sqlite(&conn, &"j1", FencingToken::new(5), &[])?; // new holder
        /// let err = jobs.update(&["state"])?
        ///     .execute_sqlite(&conn, &"j1", FencingToken::new(4), &[&"done by 4"])
        ///     .unwrap_err();
        /// assert!(matches!(err, FencedWriteError::Stale { .. }));
        /// # Ok(()) }
        /// ```
        pub fn execute_sqlite(
            &self,
            conn: &rusqlite::Connection,
            key: &dyn ToSql,
            token: FencingToken,
            values: &[&dyn ToSql],
        ) -> Result<(), FencedWriteError> {
            self.check_arity(values.len())?;
            let tok = token_param(token)?;
            let mut params: Vec<&dyn ToSql> = Vec::with_capacity(values.len() + 2);
            params.extend_from_slice(values);
            params.push(&tok);
            params.push(key);
            let store = |e: rusqlite::Error| FencedWriteError::Store(StoreError::new(e));
            let n = conn
                .prepare_cached(&self.sqlite)
                .and_then(|mut s| s.execute(params.as_slice()))
                .map_err(store)?;
            if n > 0 {
                return Ok(());
            }
            let stored: Option<Option<i64>> = conn
                .prepare_cached(&self.select_sqlite)
                .and_then(|mut s| {
                    s.query_row([key], |r| r.get::<_, Option<i64>>(0))
                        .optional()
                })
                .map_err(|e| match e {
                    rusqlite::Error::FromSqlConversionFailure(..)
                    | rusqlite::Error::InvalidColumnType(..)
                    | rusqlite::Error::IntegralValueOutOfRange(..) => {
                        FencedWriteError::Corrupt(e.to_string())
                    }
                    e => store(e),
                })?;
            Err(diagnose(stored, token))
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres_impl {
    use super::*;
    use crate::error::StoreError;
    use postgres::GenericClient;
    use postgres::types::ToSql;

    impl FencedUpdate {
        /// Runs the fenced update on `client` (a client or a transaction).
        ///
        /// # Errors
        ///
        /// As `execute_sqlite`: [`FencedWriteError::Stale`] (nothing written),
        /// [`FencedWriteError::UnknownResource`], [`FencedWriteError::Corrupt`],
        /// [`FencedWriteError::Arity`], [`FencedWriteError::TokenOutOfRange`],
        /// [`FencedWriteError::Store`].
        ///
        /// ```no_run
        /// use quorate_fencing::{FencedTable, FencingToken};
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// let mut client = postgres::Client::connect("host=/tmp user=postgres", postgres::NoTls)?;
        /// let jobs = FencedTable::new("jobs", "id", "token")?;
        /// jobs.update(&["state"])?
        ///     .execute_postgres(&mut client, &"j1", FencingToken::new(7), &[&"running"])?;
        /// # Ok(()) }
        /// ```
        pub fn execute_postgres<C: GenericClient>(
            &self,
            client: &mut C,
            key: &(dyn ToSql + Sync),
            token: FencingToken,
            values: &[&(dyn ToSql + Sync)],
        ) -> Result<(), FencedWriteError> {
            self.check_arity(values.len())?;
            let tok = token_param(token)?;
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(values.len() + 2);
            params.extend_from_slice(values);
            params.push(&tok);
            params.push(key);
            let store = |e: postgres::Error| FencedWriteError::Store(StoreError::new(e));
            let n = client
                .execute(self.postgres.as_str(), &params)
                .map_err(store)?;
            if n > 0 {
                return Ok(());
            }
            let row = client
                .query_opt(self.select_postgres.as_str(), &[key])
                .map_err(store)?;
            let stored = match row {
                None => None,
                Some(r) => Some(
                    r.try_get::<_, Option<i64>>(0)
                        .map_err(|e| FencedWriteError::Corrupt(e.to_string()))?,
                ),
            };
            Err(diagnose(stored, token))
        }
    }
}
