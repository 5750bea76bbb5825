//! The idempotency-key state machine for `quorate`.
//!
//! **Status: not yet implemented.** This crate reserves the name and its place in the workspace;
//! it exports nothing yet. It will provide:
//!
//! - the state machine for an idempotency key (`started -> completed`, or `started -> failed`,
//!   with a recovery point in between), binding each key to a fingerprint of the request so
//!   that a reused key with a different request is rejected rather than silently replayed;
//! - stable response replay: a retried request gets the stored response byte for byte;
//! - attempt epochs taken from `quorate-fencing`, so that a stale attempt that wakes up after a
//!   pause cannot overwrite the outcome of a newer one;
//! - one store trait with in-memory, SQLite and PostgreSQL backends, each passing the same
//!   conformance and crash suites.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
