//! Fencing tokens, epochs and leases for `quorate`.
//!
//! **Status: in progress.** The token and epoch types are here; issuers, resource-side guards
//! and leases are being built.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod token;

pub use token::{Epoch, FencingToken};
