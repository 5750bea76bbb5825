//! The practical designs composed from quorate's crates, run under injected faults.
//!
//! **Status: not yet built.** This package will hold the fault tour: payment capture,
//! inventory reservation, a job scheduler and a multi-region user profile, each composed from
//! the member crates and run under drops, duplicates, reordering, partitions, pauses and
//! crashes, on embedded SQLite by default and PostgreSQL when a database URL is given. It
//! depends on the fencing, idempotency and outbox crates, which do not exist yet.
#![forbid(unsafe_code)]
