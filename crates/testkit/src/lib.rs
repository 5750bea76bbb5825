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
//! | check that a hot path never allocates | [`CountingAllocator`] with [`allocations`] |
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
//! [`PgDatabase::create`] connects to `QUORATE_PG_URL` when it is set (a URL or a libpq
//! key-value string; the role must be allowed to `CREATE DATABASE`). Otherwise the first call in
//! a process starts one throwaway cluster that every test in the process shares (a mutex makes
//! concurrent first calls start exactly one):
//!
//! - the server binaries come from `QUORATE_PG_BINDIR`, then the first `PATH` entry holding
//!   `initdb`, `pg_ctl` and `postgres`, then the highest `/usr/lib/postgresql/<version>/bin`;
//! - `initdb` writes a cluster into a fresh temporary directory (under `/tmp` when running as
//!   root, so the server's user can reach it), with trust authentication for the `postgres` role;
//! - the server listens only on a Unix socket inside that directory (`listen_addresses = ''`),
//!   with `fsync`, `full_page_writes` and `synchronous_commit` off;
//! - when the process is root, the directory is handed to the `postgres` system user and
//!   `initdb`, `postgres` and `pg_ctl` run as that user (via `CommandExt::uid`/`gid`, which also
//!   drops supplementary groups), because PostgreSQL refuses to run as root;
//! - `postgres -D` runs as a child of the test process (not daemonized by `pg_ctl start`), so
//!   the test process reaps it and no zombie is left for PID 1.
//!
//! Rust never drops statics, so two mechanisms stop the server and delete its directory:
//!
//! 1. **`atexit`**: a handler registered with `libc::atexit` runs on a normal exit (the test
//!    harness returning from `main`, or calling `exit` after failures). It finishes before the
//!    process is gone, so no `postgres` process outlives `cargo test`.
//! 2. **A watchdog**: a small `sh` process, in its own process group, blocks reading a pipe whose
//!    only writer is the test process. When the test process dies in any way (`SIGKILL`,
//!    `abort`, Ctrl-C: cases where `atexit` does not run), the pipe closes and the watchdog runs
//!    `pg_ctl stop -m immediate` and removes the directory. The `atexit` handler takes the same
//!    path: it closes the pipe, waits for the watchdog and reaps the postmaster.
//!
//! Each [`PgDatabase`] is a fresh `CREATE DATABASE test_<test>_<pid>_<n>_<salt>`, dropped
//! (`WITH (FORCE)`) with the handle. When no server can be had, [`PgDatabase::for_test`] and
//! [`pg_test_db!`] fail the test if `CI` (or `QUORATE_PG_REQUIRED`) is set to anything but empty,
//! `0` or `false`; otherwise they skip it, printing `skipped <test>: <reason>` to the real stderr
//! (visible through the test harness's output capture). A failed start is remembered: the other
//! tests of the process fail or skip at once with the same reason.
//!
//! # Crash tests
//!
//! A [`CrashTest`] re-executes the current test binary ([`std::env::current_exe`]) with the
//! test's name as the filter (`<name> --exact --nocapture --include-ignored --test-threads=1`)
//! and environment variables telling the child where to report, which test it runs and which
//! crash point to arm (`QUORATE_CRASH_DIR`, `QUORATE_CRASH_TEST`, `QUORATE_CRASH_AT`); values
//! given with [`CrashTest::arg`] travel as `QUORATE_CRASH_ARGK_<i>`/`QUORATE_CRASH_ARGV_<i>`. If
//! the parent runs a throwaway PostgreSQL server, the child gets it as `QUORATE_PG_URL` and never
//! starts its own.
//!
//! In the child the test function runs from the top until the harness call, which arms
//! [`crash_point`] (only calls made while the scenario runs count), runs the scenario and exits
//! the process, so the rest of the test body runs only in the parent. The child appends one line
//! per event to a report file with unbuffered writes: `started`, each [`crash_note`], then
//! either `crash <hit> <point>` right before `abort`, or the hit counts followed by `done` or
//! `panic <message>`. A write that reached the kernel survives the abort. The parent combines the
//! file with the exit status into a [`CrashReport`] ([`ChildOutcome`]: completed, crashed at a
//! point, panicked with its message, exited with a code, killed by another signal, timed out),
//! then reopens the store and checks. [`CrashTest::every_crash_point`] does a dry run to discover
//! every point and its hit count, then kills a child at each `(point, hit)`.
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
//! - A test makes at most one crash-harness call (the child re-runs the test from the top); the
//!   test must run under libtest (`harness = true`, the default).
//! - `crash_point` counts hits across all threads of the child.

#![deny(unsafe_code)]

mod alloc;
mod crash;
pub mod etcd;
pub mod nats;
mod pg;
mod tempdir;

#[cfg(feature = "fencing")]
pub mod fencing_suite;
#[cfg(feature = "idempotency")]
pub mod idempotency_suite;
#[cfg(feature = "outbox")]
pub mod outbox_suite;

pub use alloc::{CountingAllocator, allocation_count, allocations};
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
