//! Shared helpers for quorate's criterion benchmarks.
//!
//! The bench targets in `benches/` put quorate and the peer crates in the same criterion
//! group, named `<operation>/<implementation>`, so that every comparison is a ratio measured in
//! one run on one machine.
#![forbid(unsafe_code)]

pub mod report;
