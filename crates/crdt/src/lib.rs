//! State-based and delta-state CRDTs with causal contexts, validation and compact canonical
//! encodings.
#![forbid(unsafe_code)]

mod sync;

mod antientropy;
mod causal;
mod codec;
mod context;
mod counters;
mod dotstore;
mod error;
mod gset;
mod ormap;
mod orset;
mod registers;
mod traits;
mod wrap;

pub mod laws;

pub use antientropy::{AntiEntropy, ConfigError, SyncError, SyncMessage};
pub use causal::{Causal, CausalDelta};
pub use codec::Digest;
pub use context::{CausalContext, DotView};
pub use counters::{GCounter, PnCounter};
pub use dotstore::{DotFun, DotMap, DotSet, DotStore, Key, RegisterValue};
pub use error::{RetireError, ValidationError};
pub use gset::{GSet, TwoPSet};
pub use ormap::{OrMap, OrMapDelta};
pub use orset::{OrSet, OrSetDelta, RwSet, RwSetDelta};
pub use registers::{EwFlag, EwFlagDelta, LwwReg, MvReg, MvRegDelta};
pub use traits::{Crdt, DeltaCrdt};
pub use wrap::Embed;
