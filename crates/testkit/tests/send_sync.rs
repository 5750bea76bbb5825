//! Public types can cross threads.

use quorate_testkit::{
    ChildOutcome, CrashArgs, CrashError, CrashExploration, CrashPoint, CrashReport, CrashTest,
    InvalidCrashPoint, PgDatabase, PgUnavailable, PointHits, TempDir,
};

fn send_sync<T: Send + Sync>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<PgDatabase>();
    send_sync::<TempDir>();
    send_sync::<CrashTest>();
    send_sync::<CrashReport>();
    send_sync::<CrashArgs>();
    send_sync::<CrashPoint>();
    send_sync::<ChildOutcome>();
    send_sync::<CrashExploration>();
    send_sync::<PointHits>();
    error::<PgUnavailable>();
    error::<CrashError>();
    error::<InvalidCrashPoint>();
}
