//! The idempotency-store conformance suite every quorate-idempotency backend runs (to be written with the crate).
