//! Dotted version vectors: one version's causal history as a context plus its own dot.

use bytes::{Buf, BufMut};

use crate::codec::{Decode, DecodeError, Encode, get_version};
use crate::dot::{Actor, CounterOverflow, Dot};
use crate::vv::{Causality, VersionVector};

const DVV_VERSION: u8 = 1;

/// A dotted version vector (Preguiça, Baquero, Almeida, Fonte, Gonçalves 2012): the causal
/// history of one version of a value, as the context the writer had seen plus the version's
/// own dot.
///
/// Unlike a plain version vector, the dot need not be contiguous with the context: server `a`
/// can register a write from a client that had seen only `{a: 1}` as dot `(a, 3)` with context
/// `{a: 1}`, which is concurrent with the version `(a, 2)` the client never saw. With plain
/// version vectors the server would have to give the new version `{a: 3}` and wrongly make it
/// overwrite `(a, 2)`. Use a `Vec<Dvv>` of siblings per key ([`Dvv::sync`]), or the more compact
/// [`DvvSet`](crate::DvvSet).
///
/// ```
/// use quorate_clocks::{Causality, Dvv, VersionVector};
/// # fn main() -> Result<(), quorate_clocks::CounterOverflow> {
/// let first = Dvv::update(&VersionVector::new(), &[], 'a')?;      // (a,1)
/// let ctx = first.join();                                          // a client reads {a:1}
/// let second = Dvv::update(&ctx, std::slice::from_ref(&first), 'a')?; // (a,2) ctx {a:1}
/// let third = Dvv::update(&ctx, &[first.clone(), second.clone()], 'a')?; // (a,3) ctx {a:1}
/// assert_eq!(second.compare(&third), Causality::Concurrent);
/// assert_eq!(first.compare(&third), Causality::Before);
/// assert_eq!(Dvv::sync(&[first], &[second.clone(), third.clone()]), vec![second, third]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(bound(
        serialize = "A: Actor + serde::Serialize",
        deserialize = "A: Actor + serde::Deserialize<'de>"
    ))
)]
pub struct Dvv<A> {
    #[cfg_attr(feature = "serde", serde(deserialize_with = "de_dot"))]
    dot: Option<Dot<A>>,
    context: VersionVector<A>,
}

impl<A: Actor> Dvv<A> {
    /// A version with dot `dot` and context `context`.
    ///
    /// ```
    /// use quorate_clocks::{Dot, Dvv, VersionVector};
    /// let d = Dvv::new(Dot::new('a', 2), VersionVector::new());
    /// assert!(d.contains(&Dot::new('a', 2)) && !d.contains(&Dot::new('a', 1)));
    /// ```
    pub fn new(dot: Dot<A>, context: VersionVector<A>) -> Self {
        Self {
            dot: (dot.counter > 0).then_some(dot),
            context,
        }
    }

    /// A history with no dot of its own (for example a client context).
    ///
    /// ```
    /// use quorate_clocks::{Dvv, VersionVector};
    /// assert_eq!(Dvv::<u8>::from_context(VersionVector::new()).dot(), None);
    /// ```
    pub fn from_context(context: VersionVector<A>) -> Self {
        Self { dot: None, context }
    }

    /// The version's own dot.
    ///
    /// ```
    /// use quorate_clocks::{Dot, Dvv, VersionVector};
    /// assert_eq!(Dvv::new(Dot::new(1u8, 1), VersionVector::new()).dot(), Some(&Dot::new(1, 1)));
    /// ```
    pub fn dot(&self) -> Option<&Dot<A>> {
        self.dot.as_ref()
    }

    /// The context (what the writer had seen).
    ///
    /// ```
    /// use quorate_clocks::{Dvv, VersionVector};
    /// assert!(Dvv::<u8>::default().context().is_empty());
    /// ```
    pub fn context(&self) -> &VersionVector<A> {
        &self.context
    }

    /// The server-side write (the paper's `update`): a new version at server `actor` for a
    /// client that had read `context`, given the versions the server currently stores for the
    /// key. Its dot is one past every event of `actor` the server or the client knows.
    ///
    /// ```
    /// use quorate_clocks::{Dot, Dvv, VersionVector};
    /// let v = Dvv::update(&VersionVector::new(), &[], 'a')?;
    /// assert_eq!(v.dot(), Some(&Dot::new('a', 1)));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is already `u64::MAX`.
    pub fn update(
        context: &VersionVector<A>,
        stored: &[Dvv<A>],
        actor: A,
    ) -> Result<Self, CounterOverflow> {
        let max = stored
            .iter()
            .map(|d| d.max_counter(&actor))
            .fold(context.get(&actor), u64::max);
        let counter = max.checked_add(1).ok_or(CounterOverflow)?;
        Ok(Self {
            dot: Some(Dot::new(actor, counter)),
            context: context.clone(),
        })
    }

    fn max_counter(&self, actor: &A) -> u64 {
        let c = self.context.get(actor);
        match &self.dot {
            Some(d) if d.actor == *actor => c.max(d.counter),
            _ => c,
        }
    }

    /// Whether the history contains event `dot`.
    ///
    /// ```
    /// use quorate_clocks::{Dot, Dvv, VersionVector};
    /// let ctx: VersionVector<char> = [('a', 1)].into_iter().collect();
    /// let d = Dvv::new(Dot::new('a', 3), ctx);
    /// assert!(d.contains(&Dot::new('a', 1)) && !d.contains(&Dot::new('a', 2)));
    /// ```
    pub fn contains(&self, dot: &Dot<A>) -> bool {
        self.context.contains(dot) || self.dot.as_ref() == Some(dot)
    }

    /// Whether this history includes all of `other`'s (equal histories descend each other).
    ///
    /// ```
    /// use quorate_clocks::{Dvv, VersionVector};
    /// let a = Dvv::update(&VersionVector::new(), &[], 'a')?;
    /// let b = Dvv::update(&a.join(), &[], 'a')?;
    /// assert!(b.descends(&a) && !a.descends(&b));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn descends(&self, other: &Self) -> bool {
        if let Some(d) = &other.dot
            && !self.contains(d)
        {
            return false;
        }
        other.context.iter().all(|(actor, n)| {
            let mine = self.context.get(actor);
            n <= mine
                || (n == mine + 1
                    && self
                        .dot
                        .as_ref()
                        .is_some_and(|d| d.actor == *actor && d.counter == n))
        })
    }

    /// How two histories relate.
    ///
    /// ```
    /// use quorate_clocks::{Causality, Dvv, VersionVector};
    /// let a = Dvv::update(&VersionVector::new(), &[], 'a')?;
    /// assert_eq!(a.compare(&a), Causality::Equal);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn compare(&self, other: &Self) -> Causality {
        match (self.descends(other), other.descends(self)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (false, false) => Causality::Concurrent,
        }
    }

    /// The smallest version vector containing the whole history (context plus dot): the
    /// context a client should send after reading this version.
    ///
    /// ```
    /// use quorate_clocks::{Dot, Dvv, VersionVector};
    /// let d = Dvv::new(Dot::new('a', 3), VersionVector::new());
    /// assert_eq!(d.join().get(&'a'), 3);
    /// ```
    pub fn join(&self) -> VersionVector<A> {
        let mut vv = self.context.clone();
        if let Some(d) = &self.dot {
            vv.observe(d);
        }
        vv
    }

    /// Merges two sibling lists, dropping every version whose history another version strictly
    /// includes (and duplicates): the paper's `sync`.
    ///
    /// ```
    /// use quorate_clocks::{Dvv, VersionVector};
    /// let a = Dvv::update(&VersionVector::new(), &[], 'a')?;
    /// let b = Dvv::update(&a.join(), &[], 'a')?;
    /// assert_eq!(Dvv::sync(&[a], &[b.clone()]), vec![b]);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn sync(a: &[Self], b: &[Self]) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::with_capacity(a.len() + b.len());
        for x in a.iter().chain(b) {
            if out.iter().any(|y| y.descends(x)) {
                continue;
            }
            out.retain(|y| !x.descends(y));
            out.push(x.clone());
        }
        out
    }
}

/// Format: version byte `1`, a flag byte (0 = no dot, 1 = dot follows), the dot, then the
/// context's entries (as in [`VersionVector`] without its version byte).
impl<A: Actor + Encode> Encode for Dvv<A> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(DVV_VERSION);
        match &self.dot {
            Some(d) => {
                buf.put_u8(1);
                d.encode(buf);
            }
            None => buf.put_u8(0),
        }
        self.context.encode_body(buf);
    }
    fn encoded_len(&self) -> usize {
        2 + self.dot.as_ref().map_or(0, Encode::encoded_len) + self.context.body_len()
    }
}

impl<A: Actor + Decode> Decode for Dvv<A> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        get_version(buf, DVV_VERSION)?;
        let dot = match u8::decode(buf)? {
            0 => None,
            1 => {
                let d = Dot::<A>::decode(buf)?;
                if d.counter == 0 {
                    return Err(DecodeError::Invalid("dvv dot with counter 0"));
                }
                Some(d)
            }
            _ => return Err(DecodeError::Invalid("dvv dot flag must be 0 or 1")),
        };
        let context = VersionVector::decode_body(buf)?;
        Ok(Self { dot, context })
    }
}

/// Deserializes the dot, rejecting counter 0.
#[cfg(feature = "serde")]
fn de_dot<'de, A, D>(d: D) -> Result<Option<Dot<A>>, D::Error>
where
    A: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    let dot: Option<Dot<A>> = serde::Deserialize::deserialize(d)?;
    if dot.as_ref().is_some_and(|d| d.counter == 0) {
        return Err(serde::de::Error::custom("dvv dot with counter 0"));
    }
    Ok(dot)
}
