//! Fencing tokens, epochs and leases for `quorate`.
//!
//! **Status: not yet implemented.** This crate reserves the name and its place in the workspace;
//! it exports nothing yet. It will provide:
//!
//! - fencing-token issuers that hand out strictly increasing tokens, and validators that a
//!   resource (a storage service, a database row) uses to reject writes carrying a token older
//!   than the newest it has seen, so that a paused or partitioned former leader cannot corrupt
//!   state after its lease ran out;
//! - epochs (monotone generation numbers) for leaders, attempts and configurations;
//! - leases that stay safe under process pauses and bounded clock skew: the holder stops acting
//!   before the grantor could hand the lease to someone else, with the margin computed from the
//!   skew bound and the clock's drift, and time read only through `quorate-clocks`.
//!
//! Until it lands, see [`quorate-clocks`](https://docs.rs/quorate-clocks) for the time sources
//! these leases will use.
#![forbid(unsafe_code)]
