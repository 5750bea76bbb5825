//! The macro that turns `Causal<Store>` into a named public type.

use quorate_clocks::Actor;

use crate::causal::Causal;
use crate::dotstore::{DotStore, StoreCodec};

/// A type that can be nested as an [`OrMap`](crate::OrMap) value.
///
/// Implemented by [`OrSet`](crate::OrSet), [`RwSet`](crate::RwSet), [`MvReg`](crate::MvReg),
/// [`EwFlag`](crate::EwFlag), [`OrMap`](crate::OrMap) itself, and the counters
/// [`GCounter`](crate::GCounter) and [`PnCounter`](crate::PnCounter) (which, nested, keep one
/// dot per change: see [`OrMap::increment`](crate::OrMap::increment)). A nested value shares
/// the map's causal context, which is what gives the map reset-remove semantics: removing a
/// key removes exactly the dots observed under it.
///
/// ```
/// use quorate_crdt::{Embed, MvReg};
/// let r = MvReg::<u32, u8>::new();
/// let c = r.as_causal().clone();
/// assert_eq!(MvReg::from_causal(c), r);
/// ```
pub trait Embed<A: Actor>: Sized {
    /// The dot store of the type when nested.
    type Store: DotStore<A>;
    /// The value of a map key, from the key's store and the map's context.
    fn from_causal(c: Causal<Self::Store, A>) -> Self;
}

/// A dot store with a canonical encoding: the public name of the bound the `Encode`, `Decode`
/// and `digest` impls of the causal types need.
///
/// Blanket-implemented (and only implementable) for every encodable store of this crate:
/// [`DotSet`](crate::DotSet), [`DotFun`](crate::DotFun) of values that implement
/// `quorate_clocks::{Encode, Decode}`, and [`DotMap`](crate::DotMap) of such keys and stores.
/// Generic code names it where it needs the encoding of a [`Causal`] value or delta.
///
/// ```
/// use quorate_clocks::encode_to_vec;
/// use quorate_crdt::{Causal, DotSet, EncodeStore};
/// fn bytes<S: EncodeStore<u8>>(c: &Causal<S, u8>) -> Vec<u8> {
///     encode_to_vec(c)
/// }
/// assert!(!bytes(&Causal::<DotSet<u8>, u8>::default()).is_empty());
/// ```
pub trait EncodeStore<A: Actor>: DotStore<A> + StoreCodec<A> {}
impl<A: Actor, S: DotStore<A> + StoreCodec<A>> EncodeStore<A> for S {}

/// A value type of an [`OrMap`](crate::OrMap) whose map encodes: an [`Embed`] type whose
/// store is an [`EncodeStore`].
///
/// This is the bound to write in generic code over OR-map values. It is blanket-implemented,
/// so every nested type of this crate with encodable contents qualifies ([`MvReg`](crate::MvReg)
/// and [`RwSet`](crate::RwSet) of encodable values, [`OrSet`](crate::OrSet) of encodable
/// elements, [`EwFlag`](crate::EwFlag), counters, and nested [`OrMap`](crate::OrMap)s of those).
///
/// ```
/// use quorate_clocks::{DecodeError, decode_exact, encode_to_vec};
/// use quorate_crdt::{MvReg, NestedValue, OrMap, OrSet};
///
/// /// Storage for any document whose fields are one CRDT type.
/// trait Snapshot: Sized {
///     fn save(&self) -> Vec<u8>;
///     fn load(bytes: &[u8]) -> Result<Self, DecodeError>;
/// }
///
/// impl<V: NestedValue<u64>> Snapshot for OrMap<String, V, u64> {
///     fn save(&self) -> Vec<u8> {
///         encode_to_vec(self)
///     }
///     fn load(bytes: &[u8]) -> Result<Self, DecodeError> {
///         decode_exact(bytes)
///     }
/// }
///
/// let mut tags = OrMap::<String, OrSet<String, u64>, u64>::new();
/// tags.update("post-1".into(), |s| s.add_delta(7, "rust".into()))?;
/// assert_eq!(OrMap::load(&tags.save())?, tags);
///
/// let mut names = OrMap::<String, MvReg<String, u64>, u64>::new();
/// names.update("user-1".into(), |r| r.write_delta(7, "Ada".into()))?;
/// assert_eq!(OrMap::load(&names.save())?, names);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait NestedValue<A: Actor>: Embed<A, Store: EncodeStore<A>> {}
impl<A: Actor, V: Embed<A, Store: EncodeStore<A>>> NestedValue<A> for V {}

macro_rules! causal_type {
    (
        $(#[$meta:meta])*
        $name:ident [$($gen:ident),*] [$($bound:tt)*] store = $store:ty; example = $ex:literal;
    ) => {
        $(#[$meta])*
        pub struct $name<$($bound)*> {
            pub(crate) inner: $crate::causal::Causal<$store, A>,
        }

        impl<$($bound)*> Default for $name<$($gen),*> {
            fn default() -> Self {
                Self { inner: $crate::causal::Causal::default() }
            }
        }

        impl<$($bound)*> Clone for $name<$($gen),*> {
            fn clone(&self) -> Self {
                Self { inner: self.inner.clone() }
            }
        }

        impl<$($bound)*> PartialEq for $name<$($gen),*> {
            fn eq(&self, other: &Self) -> bool {
                self.inner == other.inner
            }
        }

        impl<$($bound)*> Eq for $name<$($gen),*> {}

        impl<$($bound)*> std::hash::Hash for $name<$($gen),*>
        where
            $store: std::hash::Hash,
        {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.inner.hash(state);
            }
        }

        impl<$($bound)*> std::fmt::Debug for $name<$($gen),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($name));
                d.field("store", &self.inner.store).field("ctx", &self.inner.ctx);
                if !self.inner.deferred.is_empty() {
                    d.field("deferred", &self.inner.deferred);
                }
                d.finish()
            }
        }

        impl<$($bound)*> $crate::wrap::Embed<A> for $name<$($gen),*> {
            type Store = $store;
            fn from_causal(c: $crate::causal::Causal<$store, A>) -> Self {
                Self { inner: c }
            }
        }

        impl<$($bound)*> $name<$($gen),*> {
            /// An empty replica. Does not allocate.
            ///
            /// ```
            #[doc = concat!("let x = quorate_crdt::", $ex, "::new();")]
            /// assert!(x.context().is_empty());
            /// ```
            pub fn new() -> Self {
                Self::default()
            }

            /// The underlying causal state (store and context).
            ///
            /// ```
            /// use quorate_crdt::Crdt;
            #[doc = concat!("let x = quorate_crdt::", $ex, "::new();")]
            /// assert!(x.as_causal().validate().is_ok());
            /// ```
            pub fn as_causal(&self) -> &$crate::causal::Causal<$store, A> {
                &self.inner
            }

            /// The causal context: every event this replica has seen.
            ///
            /// ```
            #[doc = concat!("let x = quorate_crdt::", $ex, "::new();")]
            /// assert_eq!(x.context().cloud_len(), 0);
            /// ```
            pub fn context(&self) -> &$crate::context::CausalContext<A> {
                &self.inner.ctx
            }

            /// Retires the departed actor `departed` into `into`, the actor of this replica,
            /// after Akka Distributed Data's pruning: its dots are renamed into a reserved range
            /// of `into`'s counters and the retirement is recorded in the context, so the
            /// version vector stops carrying it. Every replica that joins a value holding the
            /// record applies the same rename, so replicas still converge and removes that
            /// observed an old dot still remove the renamed one.
            ///
            /// Safety precondition (not checkable locally; the caller or a coordinator
            /// collecting acknowledgements asserts it): `departed` has stopped writing and
            /// *every* replica has seen all of its events; `into` is this replica's own actor
            /// (only its owner may reserve its counters); one replica only retires a given
            /// actor. Afterwards, `try_join` and `try_join_delta` reject with
            /// [`ValidationError::RetiredActor`](crate::ValidationError::RetiredActor) any peer
            /// value that still references `departed` without knowing the retirement (a late
            /// message); the plain `join` renames such values instead, which is only correct
            /// under the precondition.
            ///
            /// # Errors
            ///
            /// [`RetireError`](crate::RetireError): same actor, an actor already retired,
            /// `departed` unknown or known with gaps here, counter overflow. The value is then
            /// unchanged.
            ///
            /// ```
            #[doc = concat!("let mut x = quorate_crdt::", $ex, "::new();")]
            /// assert!(x.retire(&9, 1).is_err()); // nothing of actor 9 to retire
            /// ```
            pub fn retire(&mut self, departed: &A, into: A) -> Result<(), $crate::error::RetireError> {
                self.inner.retire(departed, into)
            }

            /// Drops the retirement record of `actor`, once every replica holds it (after that
            /// a late message from `actor` can no longer be recognised).
            ///
            /// # Errors
            ///
            /// [`RetireError::StillNeeded`](crate::RetireError::StillNeeded) when this replica
            /// has not yet seen the surviving actor's events up to the end of the renamed range.
            ///
            /// ```
            #[doc = concat!("let mut x = quorate_crdt::", $ex, "::new();")]
            /// assert!(x.forget_retired(&9).is_ok()); // nothing recorded: nothing to do
            /// ```
            pub fn forget_retired(&mut self, actor: &A) -> Result<(), $crate::error::RetireError> {
                self.inner.forget_retired(actor)
            }
        }

        impl<$($bound)*> $crate::traits::Crdt for $name<$($gen),*> {
            fn join(&mut self, other: &Self) {
                $crate::traits::Crdt::join(&mut self.inner, &other.inner);
            }
            fn join_owned(&mut self, other: Self) {
                $crate::traits::Crdt::join_owned(&mut self.inner, other.inner);
            }
            fn validate(&self) -> Result<(), $crate::error::ValidationError> {
                $crate::traits::Crdt::validate(&self.inner)
            }
            fn validate_peer(&self, other: &Self) -> Result<(), $crate::error::ValidationError> {
                $crate::traits::Crdt::validate_peer(&self.inner, &other.inner)
            }
        }

        impl<$($bound)*> $crate::traits::DeltaCrdt<A> for $name<$($gen),*> {
            type Delta = $crate::causal::CausalDelta<$store, A>;
            fn join_delta(&mut self, delta: &Self::Delta) {
                self.inner.apply_delta(delta);
            }
            fn validate_delta(&self, delta: &Self::Delta) -> Result<(), $crate::error::ValidationError> {
                self.inner.check_delta(delta)
            }
            fn merge_delta(group: &mut Self::Delta, delta: &Self::Delta) {
                $crate::causal::Causal::merge_deltas(group, delta);
            }
            fn summary(&self) -> quorate_clocks::VersionVector<A> {
                self.inner.ctx.version_vector().clone()
            }
            fn delta_since(&self, seen: &quorate_clocks::VersionVector<A>) -> Self::Delta {
                self.inner.since(seen)
            }
            fn to_delta(&self) -> Self::Delta {
                self.inner.full_delta()
            }
        }

        impl<$($bound)*> $name<$($gen),*>
        where
            A: quorate_clocks::Encode,
            $store: $crate::wrap::EncodeStore<A>,
        {
            /// Digest of the canonical encoding: equal states have equal digests.
            ///
            /// ```
            #[doc = concat!("let x = quorate_crdt::", $ex, "::new();")]
            /// assert_eq!(x.digest(), x.clone().digest());
            /// ```
            pub fn digest(&self) -> $crate::codec::Digest {
                self.inner.digest()
            }
        }

        impl<$($bound)*> quorate_clocks::Encode for $name<$($gen),*>
        where
            A: quorate_clocks::Encode,
            $store: $crate::wrap::EncodeStore<A>,
        {
            fn encode<BM: bytes::BufMut>(&self, buf: &mut BM) {
                self.inner.encode(buf);
            }
            fn encoded_len(&self) -> usize {
                self.inner.encoded_len()
            }
        }

        impl<$($bound)*> quorate_clocks::Decode for $name<$($gen),*>
        where
            A: quorate_clocks::Decode,
            $store: $crate::wrap::EncodeStore<A>,
        {
            fn decode<BB: bytes::Buf>(buf: &mut BB) -> Result<Self, quorate_clocks::DecodeError> {
                Ok(Self { inner: $crate::causal::Causal::decode(buf)? })
            }
        }

        $crate::codec::impl_serde_via_codec!([$($bound)*] $name<$($gen),*>);
    };
}
pub(crate) use causal_type;

/// Builds a remove/observe context and a hollow store for a key's current value.
pub(crate) fn observed<S: DotStore<A>, A: Actor>(s: &S) -> crate::context::CausalContext<A> {
    Causal::<S, A>::dots_context(s)
}
