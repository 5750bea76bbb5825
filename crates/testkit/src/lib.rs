//! Test support for quorate: a throwaway PostgreSQL server and a crash harness.
//!
//! Store backends must be tested against a real PostgreSQL and against real crashes, and both
//! need plumbing no test should repeat: finding the server binaries, starting a private cluster
//! (as the `postgres` user when the tests run as root), handing each test its own database and
//! cleaning up even when the test process is killed; and killing a process at a precise step and
//! telling the parent how it died. This crate is that plumbing. It is `publish = false`: a
//! dev-dependency of the workspace's crates, never a runtime one.
//!
//! | Need | Use |
//! |---|---|
//! | a fresh PostgreSQL database in a test, skipped outside CI when no server can be had | [`pg_test_db!`] or [`PgDatabase::for_test`] |
//! | the same, handling unavailability yourself | [`PgDatabase::create`] |
//! | mark a step where a crash matters, in the code under test | [`crash_point`] |
//! | crash a child at one step, or exhaustively at every step | [`CrashTest`] ([`crash_at`](CrashTest::crash_at), [`every_crash_point`](CrashTest::every_crash_point)) |
//! | tell the parent what the child had acknowledged before it died | [`crash_note`] |
//! | a private directory that is deleted afterwards | [`TempDir`] |
//!
//! # Example
//!
//! ```
//! use quorate_testkit::{TempDir, crash_point};
//!
//! # fn main() -> std::io::Result<()> {
//! // Code under test marks its steps; outside a crash-test child this costs one atomic load.
//! fn save(dir: &std::path::Path, value: &str) -> std::io::Result<()> {
//!     let tmp = dir.join("value.tmp");
//!     std::fs::write(&tmp, value)?;
//!     crash_point("save.before_rename");
//!     std::fs::rename(tmp, dir.join("value"))
//! }
//!
//! let dir = TempDir::new("doc")?;
//! save(dir.path(), "42")?;
//! assert_eq!(std::fs::read_to_string(dir.path().join("value"))?, "42");
//! # Ok(())
//! # }
//! ```
//!
//! A crash test and a PostgreSQL test, as they appear in `tests/*.rs` (they need a test
//! harness and a server, so they are not run here):
//!
//! ```no_run
//! use quorate_testkit::{ChildOutcome, CrashPoint, CrashTest, crash_point, pg_test_db};
//!
//! #[test]
//! fn the_child_dies_where_it_was_told() -> Result<(), Box<dyn std::error::Error>> {
//!     let at = CrashPoint::new("step", 2)?;
//!     let report = CrashTest::current()?.crash_at(&at, |_| {
//!         crash_point("step");
//!         crash_point("step"); // aborts here
//!         unreachable!();
//!     })?;
//!     assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
//!     Ok(())
//! }
//!
//! #[test]
//! fn a_row_round_trips() -> Result<(), postgres::Error> {
//!     let db = pg_test_db!(Ok(()));
//!     let mut client = db.connect()?;
//!     client.batch_execute("CREATE TABLE t (v INT)")?;
//!     client.execute("INSERT INTO t VALUES (1)", &[])?;
//!     assert_eq!(client.query_one("SELECT v FROM t", &[])?.get::<_, i32>(0), 1);
//!     Ok(())
//! }
//! ```
//!
//! # PostgreSQL
//!
//! [`PgDatabase::create`] connects to `QUORATE_PG_URL` when it is set. Otherwise it starts one
//! throwaway cluster per test process, lazily, on first use (concurrent first uses start exactly
//! one): the server binaries are found in `QUORATE_PG_BINDIR`, then `PATH`, then the highest
//! `/usr/lib/postgresql/<version>/bin` holding both `initdb` and `pg_ctl`; the cluster lives in
//! a fresh temporary directory (under `/tmp` when running as root), listens only on a Unix
//! socket inside it (`listen_addresses = ''`), trusts local connections as `postgres`, and runs
//! with `fsync = off`. When the process is root, the directory is given to the `postgres` system
//! user and the server runs as that user.
//!
//! The server is stopped and its directory deleted when the process exits: synchronously by an
//! `atexit` handler on a normal exit (so nothing is left when `cargo test` returns), and by a
//! watchdog process when the test process dies abnormally (killed, aborted, Ctrl-C).
//!
//! Each [`PgDatabase`] is a new database, dropped with the handle. When no server can be had,
//! [`PgDatabase::for_test`] fails the test if `CI` (or `QUORATE_PG_REQUIRED`) is set, and
//! otherwise skips it, printing `skipped <test>: <reason>` to stderr.
//!
//! # Crash tests
//!
//! [`CrashTest`] re-executes the current test binary, filtered to the current test, with the
//! crash point armed through environment variables; the child runs the test from the top until
//! the harness call, runs the scenario, and aborts at the armed [`crash_point`] hit. The parent
//! gets a [`CrashReport`]: completed, crashed at a point, panicked (with the message), exited
//! with a code, killed by another signal or timed out, plus the child's notes and output. Then it
//! reopens the store and checks. See the [`crash` protocol](CrashTest) for details.
//!
//! # Features
//!
//! None. The crate is Unix-only (Unix sockets, signals, `uid`/`gid` on commands).
//!
//! # Guarantees and assumptions
//!
//! - One server per test process; databases are unique per test (`test_<name>_<pid>_<n>_<salt>`).
//! - No server process or directory survives a test process that exits normally; after a kill,
//!   the watchdog removes them within a moment.
//! - A crash point aborts the process (no unwinding, no destructors, no user-space buffers
//!   flushed): writes that reached the kernel survive, as after a process crash. Power loss is
//!   not simulated.
//! - A test makes at most one crash-harness call (the child re-runs the test from the top).
//! - `crash_point` counts hits across all threads of the child.

#![deny(unsafe_code)]

mod crash;
mod pg;
mod tempdir;

pub use crash::{
    ChildOutcome, CrashArgs, CrashError, CrashExploration, CrashPoint, CrashReport, CrashTest,
    InvalidCrashPoint, PointHits, crash_note, crash_point, is_crash_child,
};
pub use pg::{PG_BINDIR_ENV, PG_REQUIRED_ENV, PG_URL_ENV, PgDatabase, PgUnavailable};
pub use tempdir::TempDir;

/// A fresh [`PgDatabase`] for the current test, or an early return when the test must be skipped.
///
/// Expands to [`PgDatabase::for_current_test`] followed by `return` when it yields `None`:
/// `pg_test_db!()` in a test returning `()`, `pg_test_db!(value)` to return `value` (for
/// example `Ok(())`) from a test returning a `Result`. The skip/fail policy is that of
/// [`PgDatabase::for_test`]: skipped (and printed) outside CI, failed when `CI` is set.
///
/// # Panics
///
/// When no server can be had and `CI` or `QUORATE_PG_REQUIRED` is set.
///
/// # Examples
///
/// ```no_run
/// use quorate_testkit::pg_test_db;
///
/// #[test]
/// fn store_round_trip() {
///     let db = pg_test_db!();
///     let mut client = db.connect().expect("connect");
///     client.batch_execute("SELECT 1").expect("query");
/// }
/// ```
#[macro_export]
macro_rules! pg_test_db {
    () => {
        match $crate::PgDatabase::for_current_test() {
            ::core::option::Option::Some(db) => db,
            ::core::option::Option::None => return,
        }
    };
    ($skipped:expr) => {
        match $crate::PgDatabase::for_current_test() {
            ::core::option::Option::Some(db) => db,
            ::core::option::Option::None => return $skipped,
        }
    };
}
