//! The lease and fencing conformance suite every quorate-fencing backend runs (to be written with the crate).
