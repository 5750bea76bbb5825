//! NATS JetStream sink (feature `nats`).
//!
//! [`JetStreamSink`] publishes each message to `<prefix>.<type>` (or `<prefix>.<key>`) with the
//! header `Nats-Msg-Id` set to the outbox message id, so a message the relay publishes again
//! after a crash is dropped by the stream's duplicate window, and counts a publish as done only
//! when JetStream acknowledges it (the message is stored). A batch is pipelined: every
//! message of the wave (distinct keys) is sent, then the acknowledgements are awaited.
//!
//! The stream's `duplicate_window` must cover the longest republish delay: the claim timeout
//! plus the retry backoff cap is a safe lower bound. Past it, a consumer-side
//! [`Inbox`](crate::Inbox) still drops the duplicate.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind};

use crate::error::PublishError;
use crate::message::OutboxMessage;
use crate::sink::AsyncSink;

/// Which message field names the subject.
///
/// ```
/// assert_eq!(quorate_outbox::nats::SubjectFrom::default(), quorate_outbox::nats::SubjectFrom::Type);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SubjectFrom {
    /// `<prefix>.<type>`; dots in the type become subject levels (`payment.captured`).
    #[default]
    Type,
    /// `<prefix>.<key>`, the key encoded as one token (bytes outside `[A-Za-z0-9_-]` as `%XX`).
    Key,
}

/// Publishes outbox messages to JetStream.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use quorate_outbox::nats::JetStreamSink;
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let js = async_nats::jetstream::new(client);
/// let sink = JetStreamSink::new(js, "outbox");
/// sink.ensure_stream("OUTBOX", std::time::Duration::from_secs(120)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamSink {
    js: jetstream::Context,
    prefix: String,
    from: SubjectFrom,
}

impl JetStreamSink {
    /// A sink publishing under `prefix` (subjects from the message type).
    pub fn new(js: jetstream::Context, prefix: impl Into<String>) -> Self {
        Self {
            js,
            prefix: prefix.into(),
            from: SubjectFrom::Type,
        }
    }

    /// Derives subjects from `from`.
    #[must_use]
    pub fn subject_from(mut self, from: SubjectFrom) -> Self {
        self.from = from;
        self
    }

    /// The subject of `message`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Permanent`] when the type holds a wildcard (`*`, `>`) or an empty level.
    pub fn subject(&self, message: &OutboxMessage) -> Result<String, PublishError> {
        match self.from {
            SubjectFrom::Type => {
                let t = message.msg_type();
                if t.split('.').any(|tok| {
                    tok.is_empty() || tok == "*" || tok.contains('>') || tok.contains('*')
                }) {
                    return Err(PublishError::permanent(format!(
                        "message type {t:?} is not a valid subject"
                    )));
                }
                Ok(format!("{}.{t}", self.prefix))
            }
            SubjectFrom::Key => {
                let mut s = String::with_capacity(self.prefix.len() + 1 + message.key().len());
                s.push_str(&self.prefix);
                s.push('.');
                for b in message.key().bytes() {
                    if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                        s.push(char::from(b));
                    } else {
                        s.push_str(&format!("%{b:02X}"));
                    }
                }
                Ok(s)
            }
        }
    }

    /// Creates (or checks) a file-backed stream `name` on `<prefix>.>` with `duplicate_window`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Transient`] when JetStream cannot be reached or refuses.
    pub async fn ensure_stream(
        &self,
        name: &str,
        duplicate_window: Duration,
    ) -> Result<(), PublishError> {
        self.js
            .get_or_create_stream(jetstream::stream::Config {
                name: name.to_owned(),
                subjects: vec![format!("{}.>", self.prefix)],
                duplicate_window,
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| PublishError::transient(format!("create stream: {e}")))
    }

    /// Connects to `url` on a private current-thread runtime, makes sure a stream `stream`
    /// with `duplicate_window` covers `<prefix>.>`, and returns a synchronous sink for a
    /// [`Relay`](crate::Relay).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let sink = quorate_outbox::nats::JetStreamSink::connect_blocking(
    ///     "nats://127.0.0.1:4222", "outbox", "OUTBOX", Duration::from_secs(120))?;
    /// # let _ = sink;
    /// # Ok::<(), quorate_outbox::PublishError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PublishError::Transient`] when the runtime cannot start, the server cannot be reached
    /// or the stream cannot be created.
    pub fn connect_blocking(
        url: &str,
        prefix: &str,
        stream: &str,
        duplicate_window: Duration,
    ) -> Result<crate::BlockingSink<Self>, PublishError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PublishError::transient(format!("start runtime: {e}")))?;
        let sink = runtime.block_on(async {
            let client = async_nats::connect(url)
                .await
                .map_err(|e| PublishError::transient(format!("connect: {e}")))?;
            let sink = Self::new(jetstream::new(client), prefix);
            sink.ensure_stream(stream, duplicate_window).await?;
            Ok::<_, PublishError>(sink)
        })?;
        Ok(crate::BlockingSink::with_runtime(sink, runtime))
    }

    fn headers(message: &OutboxMessage) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("Nats-Msg-Id", message.id().as_str());
        h.insert("Quorate-Key", message.key());
        h.insert("Quorate-Type", message.msg_type());
        for (n, v) in message.headers().iter() {
            h.append(n, v);
        }
        h
    }

    async fn send(
        &self,
        message: &OutboxMessage,
    ) -> Result<jetstream::context::PublishAckFuture, PublishError> {
        let subject = self.subject(message)?;
        self.js
            .publish_with_headers(subject, Self::headers(message), message.payload().clone())
            .await
            .map_err(classify)
    }
}

fn classify(e: jetstream::context::PublishError) -> PublishError {
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => PublishError::permanent(e.to_string()),
        _ => PublishError::transient(e.to_string()),
    }
}

#[async_trait::async_trait]
impl AsyncSink for JetStreamSink {
    async fn publish(&self, message: &OutboxMessage) -> Result<(), PublishError> {
        let ack = self.send(message).await?;
        ack.await.map(|_| ()).map_err(classify)
    }

    async fn publish_batch(&self, messages: &[&OutboxMessage]) -> Vec<Result<(), PublishError>> {
        let mut pending = Vec::with_capacity(messages.len());
        for m in messages {
            pending.push(self.send(m).await);
        }
        let mut out = Vec::with_capacity(messages.len());
        for p in pending {
            out.push(match p {
                Ok(ack) => ack.await.map(|_| ()).map_err(classify),
                Err(e) => Err(e),
            });
        }
        out
    }
}
