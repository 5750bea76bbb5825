//! Transactional outbox and inbox for `quorate`.
//!
//! **Status: not yet implemented.** This crate reserves the name and its place in the workspace;
//! it exports nothing yet. It will provide:
//!
//! - an outbox: messages written in the same database transaction as the state change that
//!   caused them, so a change is never committed without its message or the reverse;
//! - a relay that publishes pending messages at least once, with backoff from `quorate-retry`,
//!   and marks them sent;
//! - an inbox that records the ids of consumed messages in the consumer's transaction, so that
//!   at-least-once delivery becomes effectively-once processing;
//! - SQLite and PostgreSQL backends passing one conformance suite and crash tests.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
