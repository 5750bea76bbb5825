//! The outbox and inbox conformance suite every quorate-outbox backend runs (to be written with the crate).
