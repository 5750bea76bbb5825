//! Sinks: where the relay publishes.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::PublishError;
use crate::message::OutboxMessage;

/// Where the relay publishes messages (synchronously).
///
/// A publish returns only once the destination has durably accepted the message (for a
/// broker: its acknowledgement). [`Sink::publish_batch`] receives messages of distinct keys
/// and may publish them concurrently; the relay never hands it two messages of one key at once.
///
/// ```
/// use quorate_outbox::{OutboxMessage, PublishError, Sink};
/// struct Stdout;
/// impl Sink for Stdout {
///     fn publish(&mut self, m: &OutboxMessage) -> Result<(), PublishError> {
///         println!("{} {}", m.key(), m.msg_type());
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send {
    /// Publishes one message.
    ///
    /// # Errors
    ///
    /// [`PublishError::Transient`] to retry later, [`PublishError::Permanent`] to dead-letter.
    fn publish(&mut self, message: &OutboxMessage) -> Result<(), PublishError>;

    /// Publishes messages of distinct keys; one result per message, in order.
    fn publish_batch(&mut self, messages: &[&OutboxMessage]) -> Vec<Result<(), PublishError>> {
        messages.iter().map(|m| self.publish(m)).collect()
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn publish(&mut self, message: &OutboxMessage) -> Result<(), PublishError> {
        (**self).publish(message)
    }
    fn publish_batch(&mut self, messages: &[&OutboxMessage]) -> Vec<Result<(), PublishError>> {
        (**self).publish_batch(messages)
    }
}

/// A sink that keeps every published message in memory; clones share the list.
///
/// ```
/// use quorate_outbox::{MemorySink, Sink};
/// let sink = MemorySink::new();
/// assert!(sink.messages().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    messages: Arc<Mutex<Vec<OutboxMessage>>>,
}

impl MemorySink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Everything published so far, in publish order (duplicates included).
    #[must_use]
    pub fn messages(&self) -> Vec<OutboxMessage> {
        self.messages.lock().clone()
    }
    /// How many publishes so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.messages.lock().len()
    }
    /// No publishes so far.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.messages.lock().is_empty()
    }
    /// Forgets what was published.
    pub fn clear(&self) {
        self.messages.lock().clear();
    }
}

impl Sink for MemorySink {
    fn publish(&mut self, message: &OutboxMessage) -> Result<(), PublishError> {
        self.messages.lock().push(message.clone());
        Ok(())
    }
}

/// A sink calling a function for each message.
///
/// ```
/// use quorate_outbox::{CallbackSink, PublishError};
/// let sink = CallbackSink::new(|m: &quorate_outbox::OutboxMessage| {
///     if m.payload().is_empty() { Err(PublishError::permanent("empty")) } else { Ok(()) }
/// });
/// # let _ = sink;
/// ```
pub struct CallbackSink<F> {
    f: F,
}

impl<F> CallbackSink<F>
where
    F: FnMut(&OutboxMessage) -> Result<(), PublishError> + Send,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Self { f }
    }
}

impl<F> fmt::Debug for CallbackSink<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackSink")
    }
}

impl<F> Sink for CallbackSink<F>
where
    F: FnMut(&OutboxMessage) -> Result<(), PublishError> + Send,
{
    fn publish(&mut self, message: &OutboxMessage) -> Result<(), PublishError> {
        (self.f)(message)
    }
}

/// An asynchronous sink (feature `tokio`), for brokers with async clients.
///
/// Use it from a synchronous [`Relay`](crate::Relay) through [`BlockingSink`].
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[async_trait::async_trait]
pub trait AsyncSink: Send + Sync {
    /// Publishes one message; completes on the destination's acknowledgement.
    ///
    /// # Errors
    ///
    /// [`PublishError::Transient`] to retry later, [`PublishError::Permanent`] to dead-letter.
    async fn publish(&self, message: &OutboxMessage) -> Result<(), PublishError>;

    /// Publishes messages of distinct keys, possibly concurrently; one result per message.
    async fn publish_batch(&self, messages: &[&OutboxMessage]) -> Vec<Result<(), PublishError>> {
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            out.push(self.publish(m).await);
        }
        out
    }
}

/// Drives an [`AsyncSink`] from a synchronous relay thread on a tokio runtime (feature `tokio`).
///
/// Call it from a thread that is not a runtime worker (for example `std::thread::spawn` or
/// `tokio::task::spawn_blocking`).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug)]
pub struct BlockingSink<S> {
    sink: S,
    handle: tokio::runtime::Handle,
    /// A runtime this sink owns (from [`BlockingSink::with_own_runtime`]).
    _runtime: Option<tokio::runtime::Runtime>,
}

#[cfg(feature = "tokio")]
impl<S: AsyncSink> BlockingSink<S> {
    /// Wraps `sink`, running its futures on `handle` (of a multi-thread runtime: a
    /// current-thread runtime's handle cannot drive IO; use [`BlockingSink::with_runtime`]).
    pub fn new(sink: S, handle: tokio::runtime::Handle) -> Self {
        Self {
            sink,
            handle,
            _runtime: None,
        }
    }

    /// Wraps `sink` with a private current-thread runtime that drives it (and whatever the
    /// sink's client spawned on `runtime`) inside each publish.
    pub fn with_runtime(sink: S, runtime: tokio::runtime::Runtime) -> Self {
        Self {
            sink,
            handle: runtime.handle().clone(),
            _runtime: Some(runtime),
        }
    }
    /// The wrapped sink.
    pub fn get_ref(&self) -> &S {
        &self.sink
    }
}

#[cfg(feature = "tokio")]
impl<S: AsyncSink> BlockingSink<S> {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        // `Handle::block_on` cannot drive the IO and timer drivers of a current-thread
        // runtime; the owned runtime's own `block_on` can.
        match &self._runtime {
            Some(rt) => rt.block_on(f),
            None => self.handle.block_on(f),
        }
    }
}

#[cfg(feature = "tokio")]
impl<S: AsyncSink> Sink for BlockingSink<S> {
    fn publish(&mut self, message: &OutboxMessage) -> Result<(), PublishError> {
        self.block_on(self.sink.publish(message))
    }
    fn publish_batch(&mut self, messages: &[&OutboxMessage]) -> Vec<Result<(), PublishError>> {
        self.block_on(self.sink.publish_batch(messages))
    }
}
