//! `Idempotency-Key` for HTTP services: a tower [`Layer`] over any
//! [`IdempotencyStore`].
//!
//! For each request whose method is covered (`POST` and `PATCH` by default) the service:
//!
//! 1. reads the `Idempotency-Key` header: an sf-string (`"8e03978e-40d5"`, as the IETF
//!    httpapi draft "The Idempotency-Key HTTP Header Field" specifies) or a bare token
//!    (`8e03978e-40d5`, as Stripe accepts). A request without the header passes through
//!    untouched, or gets **400** when [`require_key`](IdempotencyLayer::require_key) is set;
//!    a malformed, empty or over-255-byte key, or two such headers, get **400**;
//! 2. buffers the request body (up to [`max_request_bytes`](IdempotencyLayer::max_request_bytes),
//!    else **413**) and fingerprints method, path (with query) and body;
//! 3. calls [`IdempotencyStore::begin`] with the scope from
//!    [`scope_with`](IdempotencyLayer::scope_with) (the caller's identity; keys of different
//!    scopes never meet):
//!    - execute: runs the inner service once, buffers its response (status, headers, body) up
//!      to the store's response-size limit and stores it, then answers with it. 2xx-4xx
//!      responses are stored (4xx as failed-final), except 408 and 429; those and 5xx release
//!      the key for a retry. An inner-service error also releases the key;
//!    - replay: answers with the stored status, headers and body, byte for byte, plus
//!      `Idempotent-Replayed: true`;
//!    - in progress: **409 Conflict** with `Retry-After`;
//!    - fingerprint mismatch: **422 Unprocessable Content**.
//!
//! Errors the layer produces are `application/problem+json` bodies (RFC 9457).
//!
//! A response larger than the store's limit is **not stored truncated**: the operation ran, so
//! to keep a retry from running it again the key is completed as failed-final with a **500**
//! problem saying the response exceeded the limit, and that is what the client and its retries
//! get. Raise the limit (or return a smaller representation) for such routes.
//!
//! The store is called inline on the request's task. [`MemoryStore`](crate::MemoryStore)
//! calls take microseconds; `SqliteStore` and `PgStore` calls block the worker thread for one
//! statement or transaction, which is usually acceptable on a multi-threaded runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use quorate_clocks::{DecodeError, get_len, get_varint, put_varint};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::StoreError;
use crate::store::IdempotencyStore;
use crate::types::{Attempt, Begin, Fingerprint, Outcome, check_key};

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The response header marking a replayed response (Stripe's name).
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ScopeFn = dyn Fn(&http::request::Parts) -> String + Send + Sync;

/// A tower layer adding `Idempotency-Key` handling to a service; see the [module](self) docs.
///
/// The inner service's request and response bodies must be buildable from [`Bytes`] (as
/// `axum::body::Body` and `http_body_util::Full<Bytes>` are): covered requests reach it with
/// the buffered body, and replays are built from the stored bytes. Requests the layer does not
/// cover keep their original, streaming bodies.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::{BodyExt, Full};
/// use quorate_idempotency::{IdempotencyLayer, MemoryStore};
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// # #[derive(Clone)] struct Echo;
/// # impl Service<Request<Full<Bytes>>> for Echo {
/// #     type Response = Response<Full<Bytes>>;
/// #     type Error = Infallible;
/// #     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
/// #         std::task::Poll::Ready(Ok(()))
/// #     }
/// #     fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
/// #         std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"charged")))))
/// #     }
/// # }
/// let layer = IdempotencyLayer::new(MemoryStore::new())
///     .require_key(true)
///     .scope_with(|parts| {
///         parts.headers.get("x-tenant").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
///     });
/// let mut service = layer.layer(Echo);
/// # let _ = &mut service;
/// ```
pub struct IdempotencyLayer<S> {
    store: Arc<S>,
    settings: Arc<Settings>,
}

impl<S> Clone for IdempotencyLayer<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            settings: Arc::clone(&self.settings),
        }
    }
}

struct Settings {
    require_key: bool,
    max_request_bytes: usize,
    methods: Vec<Method>,
    scope: Box<ScopeFn>,
}

impl<S> std::fmt::Debug for IdempotencyLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyLayer")
            .field("require_key", &self.settings.require_key)
            .field("max_request_bytes", &self.settings.max_request_bytes)
            .field("methods", &self.settings.methods)
            .finish_non_exhaustive()
    }
}

impl<S: IdempotencyStore + 'static> IdempotencyLayer<S> {
    /// A layer over `store`: keys optional, `POST` and `PATCH` covered, request bodies up to
    /// 1 MiB, one scope (`""`) for every caller.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = quorate_idempotency::IdempotencyLayer::new(quorate_idempotency::MemoryStore::new());
    /// # drop(layer);
    /// ```
    pub fn new(store: S) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A layer over a shared store.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let store = Arc::new(quorate_idempotency::MemoryStore::new());
    /// let layer = quorate_idempotency::IdempotencyLayer::from_arc(Arc::clone(&store));
    /// # drop(layer);
    /// ```
    pub fn from_arc(store: Arc<S>) -> Self {
        Self {
            store,
            settings: Arc::new(Settings {
                require_key: false,
                max_request_bytes: 1 << 20,
                methods: vec![Method::POST, Method::PATCH],
                scope: Box::new(|_| String::new()),
            }),
        }
    }

    fn settings_mut(&mut self) -> &mut Settings {
        // Builders run before the layer is cloned into services; if it was cloned already,
        // copy the settings (the closure is shared through a fresh Arc of the old one).
        if Arc::get_mut(&mut self.settings).is_none() {
            let old = Arc::clone(&self.settings);
            self.settings = Arc::new(Settings {
                require_key: old.require_key,
                max_request_bytes: old.max_request_bytes,
                methods: old.methods.clone(),
                scope: Box::new(move |parts| (old.scope)(parts)),
            });
        }
        Arc::get_mut(&mut self.settings).unwrap_or_else(|| unreachable!("fresh Arc is unique"))
    }

    /// Whether a covered request without the header is refused with 400 (default: passed
    /// through).
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = quorate_idempotency::IdempotencyLayer::new(quorate_idempotency::MemoryStore::new())
    ///     .require_key(true);
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn require_key(mut self, required: bool) -> Self {
        self.settings_mut().require_key = required;
        self
    }

    /// The largest request body buffered for fingerprinting (default 1 MiB); larger ones get
    /// 413.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = quorate_idempotency::IdempotencyLayer::new(quorate_idempotency::MemoryStore::new())
    ///     .max_request_bytes(64 * 1024);
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn max_request_bytes(mut self, max: usize) -> Self {
        self.settings_mut().max_request_bytes = max;
        self
    }

    /// The methods the layer covers (default `POST`, `PATCH`); others pass through.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::Method;
    /// let layer = quorate_idempotency::IdempotencyLayer::new(quorate_idempotency::MemoryStore::new())
    ///     .methods([Method::POST, Method::PUT, Method::DELETE]);
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.settings_mut().methods = methods.into_iter().collect();
        self
    }

    /// How a request's scope is derived: the caller's identity (tenant, principal, API key id),
    /// so one caller's key never replays another's response. Scopes over 255 bytes get 400.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = quorate_idempotency::IdempotencyLayer::new(quorate_idempotency::MemoryStore::new())
    ///     .scope_with(|parts| {
    ///         parts.headers.get("x-api-key-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    ///     });
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn scope_with(
        mut self,
        scope: impl Fn(&http::request::Parts) -> String + Send + Sync + 'static,
    ) -> Self {
        self.settings_mut().scope = Box::new(scope);
        self
    }
}

impl<S, I> Layer<I> for IdempotencyLayer<S> {
    type Service = IdempotencyService<I, S>;

    fn layer(&self, inner: I) -> Self::Service {
        IdempotencyService {
            inner,
            store: Arc::clone(&self.store),
            settings: Arc::clone(&self.settings),
        }
    }
}

/// The service [`IdempotencyLayer`] wraps around an inner service.
///
/// # Examples
///
/// See [`IdempotencyLayer`].
pub struct IdempotencyService<I, S> {
    inner: I,
    store: Arc<S>,
    settings: Arc<Settings>,
}

impl<I: Clone, S> Clone for IdempotencyService<I, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            store: Arc::clone(&self.store),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<I: std::fmt::Debug, S> std::fmt::Debug for IdempotencyService<I, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<I, S, B, RB> Service<Request<B>> for IdempotencyService<I, S>
where
    I: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
    S: IdempotencyStore + 'static,
    B: Body + From<Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    RB: Body + From<Bytes> + Send + 'static,
    RB::Data: Send,
    RB::Error: Into<BoxError>,
{
    type Response = Response<RB>;
    type Error = I::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, I::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; a fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !self.settings.methods.contains(req.method()) {
            return Box::pin(inner.call(req));
        }
        let key = match parse_key(req.headers()) {
            Ok(Some(key)) => key,
            Ok(None) if !self.settings.require_key => return Box::pin(inner.call(req)),
            Ok(None) => {
                return ready(problem(
                    StatusCode::BAD_REQUEST,
                    "Idempotency-Key is missing",
                    "this operation requires an Idempotency-Key header",
                ));
            }
            Err(detail) => {
                return ready(problem(
                    StatusCode::BAD_REQUEST,
                    "Idempotency-Key is malformed",
                    detail,
                ));
            }
        };
        let store = Arc::clone(&self.store);
        let settings = Arc::clone(&self.settings);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, settings.max_request_bytes)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<LengthLimitError>() => {
                    return Ok(problem(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Request body too large",
                        "the request body exceeds the limit for idempotent requests",
                    ));
                }
                Err(_) => {
                    return Ok(problem(
                        StatusCode::BAD_REQUEST,
                        "Request body unreadable",
                        "the request body could not be read",
                    ));
                }
            };
            let scope = (settings.scope)(&parts);
            let path = parts
                .uri
                .path_and_query()
                .map_or(parts.uri.path(), |p| p.as_str());
            let fingerprint = Fingerprint::http(parts.method.as_str(), path, &body);
            let attempt = match store.begin(&scope, &key, &fingerprint) {
                Ok(Begin::Execute(attempt)) => attempt,
                Ok(Begin::Replay(stored)) => {
                    return Ok(match decode_response::<RB>(&stored.response) {
                        Ok(response) => response,
                        Err(e) => store_problem(&StoreError::Corrupt {
                            scope,
                            key,
                            reason: format!("stored HTTP response: {e}"),
                        }),
                    });
                }
                Ok(Begin::InProgress { retry_after }) => {
                    let mut response = problem(
                        StatusCode::CONFLICT,
                        "A request with this Idempotency-Key is being processed",
                        "retry after the time given in Retry-After",
                    );
                    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                    response
                        .headers_mut()
                        .insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                    return Ok(response);
                }
                Ok(Begin::FingerprintMismatch) => {
                    return Ok(problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Idempotency-Key is already used",
                        "this Idempotency-Key was used with a different request",
                    ));
                }
                Err(e) => return Ok(store_problem(&e)),
            };
            let req = Request::from_parts(parts, B::from(body));
            let response = match inner.call(req).await {
                Ok(response) => response,
                Err(e) => {
                    // Nothing to replay: free the key for the client's retry. A failure to
                    // release leaves the lock to expire.
                    let _ = store.complete(&attempt, Outcome::FailedRetryable);
                    return Err(e);
                }
            };
            Ok(finish(&*store, &attempt, response).await)
        })
    }
}

/// Buffers, classifies and stores the inner service's response.
async fn finish<S, RB>(store: &S, attempt: &Attempt, response: Response<RB>) -> Response<RB>
where
    S: IdempotencyStore + ?Sized,
    RB: Body + From<Bytes>,
    RB::Error: Into<BoxError>,
{
    let max = store.config().max_response_bytes();
    let (parts, body) = response.into_parts();
    let body = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e.is::<LengthLimitError>();
            return refuse(store, attempt, too_large, max);
        }
    };
    let status = parts.status;
    let retryable = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    let outcome = if retryable {
        Outcome::FailedRetryable
    } else {
        let encoded = encode_response(status, &parts.headers, &body);
        if status.is_client_error() {
            Outcome::FailedFinal(encoded)
        } else {
            Outcome::Succeeded(encoded)
        }
    };
    match store.complete(attempt, outcome) {
        Ok(()) => Response::from_parts(parts, RB::from(body)),
        Err(StoreError::ResponseTooLarge { .. }) => refuse(store, attempt, true, max),
        Err(e) => store_problem(&e),
    }
}

/// Completes `attempt` with a stored 500 problem instead of the response that could not be
/// buffered (too large) or read, so retries do not run the operation again.
fn refuse<S, RB>(store: &S, attempt: &Attempt, too_large: bool, max: usize) -> Response<RB>
where
    S: IdempotencyStore + ?Sized,
    RB: From<Bytes>,
{
    let detail = if too_large {
        format!(
            "the operation ran, but its response exceeds the idempotency store's limit of {max} bytes and was not stored"
        )
    } else {
        "the operation ran, but its response body could not be read".to_owned()
    };
    let (status, headers, body) = problem_parts(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Response not stored",
        &detail,
    );
    let encoded = encode_response(status, &headers, &body);
    // If even the problem does not fit, release the key rather than leave it locked.
    if store
        .complete(attempt, Outcome::FailedFinal(encoded))
        .is_err()
    {
        let _ = store.complete(attempt, Outcome::FailedRetryable);
    }
    build(status, headers, body)
}

fn ready<RB, E: Send + 'static>(
    response: Response<RB>,
) -> Pin<Box<dyn Future<Output = Result<Response<RB>, E>> + Send>>
where
    RB: Send + 'static,
{
    Box::pin(std::future::ready(Ok(response)))
}

fn store_problem<RB: From<Bytes>>(e: &StoreError) -> Response<RB> {
    match e {
        StoreError::InvalidKey(k) => problem(
            StatusCode::BAD_REQUEST,
            "Idempotency-Key is malformed",
            &k.to_string(),
        ),
        _ => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Idempotency store failed",
            &e.to_string(),
        ),
    }
}

/// Parses the `Idempotency-Key` header: `Ok(None)` when absent, `Err` with a reason when
/// malformed.
fn parse_key(headers: &HeaderMap) -> Result<Option<String>, &'static str> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Idempotency-Key header");
    }
    let raw = value.as_bytes();
    let key = if let Some(rest) = raw.strip_prefix(b"\"") {
        // An sf-string: printable ASCII, `\"` and `\\` the only escapes, closing quote last.
        let mut key = String::with_capacity(rest.len());
        let mut chars = rest.iter();
        let mut closed = false;
        while let Some(&c) = chars.next() {
            match c {
                b'\\' => match chars.next() {
                    Some(&e @ (b'"' | b'\\')) => key.push(char::from(e)),
                    _ => return Err("invalid escape in the Idempotency-Key string"),
                },
                b'"' => {
                    closed = true;
                    break;
                }
                0x20..=0x7e => key.push(char::from(c)),
                _ => return Err("Idempotency-Key must be printable ASCII"),
            }
        }
        if !closed || chars.next().is_some() {
            return Err("Idempotency-Key string is not terminated by its closing quote");
        }
        key
    } else {
        // A bare token, as Stripe accepts: visible ASCII, no spaces or quotes.
        if !raw.iter().all(|&c| (0x21..=0x7e).contains(&c) && c != b'"') {
            return Err("Idempotency-Key must be an sf-string or visible ASCII");
        }
        String::from_utf8(raw.to_vec()).map_err(|_| "Idempotency-Key must be ASCII")?
    };
    if check_key("", &key).is_err() {
        return Err("Idempotency-Key must be 1 to 255 characters");
    }
    Ok(Some(key))
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const FORMAT_VERSION: u8 = 1;

/// The stored form of a response: version, status, headers (minus hop-by-hop), body.
fn encode_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(16 + body.len() + headers.len() * 32);
    out.put_u8(FORMAT_VERSION);
    put_varint(&mut out, u64::from(status.as_u16()));
    let kept: Vec<_> = headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .collect();
    put_varint(&mut out, kept.len() as u64);
    for (name, value) in kept {
        put_varint(&mut out, name.as_str().len() as u64);
        out.put_slice(name.as_str().as_bytes());
        put_varint(&mut out, value.as_bytes().len() as u64);
        out.put_slice(value.as_bytes());
    }
    put_varint(&mut out, body.len() as u64);
    out.put_slice(body);
    Bytes::from(out)
}

fn get_bytes<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = get_len(buf, 1)?;
    let (head, tail) = buf.split_at(len);
    *buf = tail;
    Ok(head)
}

/// Decodes [`encode_response`]'s form into a replay, marked with `Idempotent-Replayed`.
fn decode_response<RB: From<Bytes>>(stored: &Bytes) -> Result<Response<RB>, DecodeError> {
    let mut buf: &[u8] = stored;
    if !buf.has_remaining() {
        return Err(DecodeError::UnexpectedEnd {
            needed: 1,
            remaining: 0,
        });
    }
    let version = buf.get_u8();
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let status = u16::try_from(get_varint(&mut buf)?)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or(DecodeError::Invalid("status code"))?;
    // Each header takes at least two bytes (two empty lengths).
    let count = get_len(&mut buf, 2)?;
    let mut headers = HeaderMap::with_capacity(count);
    for _ in 0..count {
        let name = HeaderName::from_bytes(get_bytes(&mut buf)?)
            .map_err(|_| DecodeError::Invalid("header name"))?;
        let value = HeaderValue::from_bytes(get_bytes(&mut buf)?)
            .map_err(|_| DecodeError::Invalid("header value"))?;
        headers.append(name, value);
    }
    let body = get_bytes(&mut buf)?;
    if !buf.is_empty() {
        return Err(DecodeError::TrailingBytes(buf.len()));
    }
    let body = stored.slice_ref(body);
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    Ok(build(status, headers, body))
}

fn build<RB: From<Bytes>>(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<RB> {
    let mut response = Response::new(RB::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// An RFC 9457 problem response. `title` and `detail` are the layer's own text.
fn problem<RB: From<Bytes>>(status: StatusCode, title: &str, detail: &str) -> Response<RB> {
    let (status, headers, body) = problem_parts(status, title, detail);
    build(status, headers, body)
}

fn problem_parts(status: StatusCode, title: &str, detail: &str) -> (StatusCode, HeaderMap, Bytes) {
    let mut body = String::with_capacity(64 + title.len() + detail.len());
    body.push_str("{\"status\":");
    body.push_str(&status.as_u16().to_string());
    body.push_str(",\"title\":");
    push_json_string(&mut body, title);
    body.push_str(",\"detail\":");
    push_json_string(&mut body, detail);
    body.push('}');
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    (status, headers, Bytes::from(body))
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(IDEMPOTENCY_KEY, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn keys_parse_as_sf_strings_or_tokens() {
        assert_eq!(parse_key(&headers(&[])), Ok(None));
        assert_eq!(parse_key(&headers(&["\"abc\""])), Ok(Some("abc".into())));
        assert_eq!(
            parse_key(&headers(&["\"a\\\"b\""])),
            Ok(Some("a\"b".into()))
        );
        assert_eq!(
            parse_key(&headers(&["abc-123"])),
            Ok(Some("abc-123".into()))
        );
        assert_eq!(parse_key(&headers(&["\"a b\""])), Ok(Some("a b".into())));
        for bad in ["\"\"", "\"abc", "\"a\"b", "\"a\\x\"", "a b", ""] {
            assert!(parse_key(&headers(&[bad])).is_err(), "{bad:?}");
        }
        assert!(parse_key(&headers(&["a", "b"])).is_err());
        assert!(parse_key(&headers(&[&"k".repeat(256)])).is_err());
        assert!(parse_key(&headers(&[&"k".repeat(255)])).is_ok());
    }

    #[test]
    fn responses_round_trip_and_damage_is_an_error() {
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        let stored = encode_response(StatusCode::CREATED, &h, b"\x00body");
        let r: Response<Bytes> = decode_response(&stored).expect("decode");
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers().get_all("x-a").iter().count(), 2);
        assert!(r.headers().get("transfer-encoding").is_none());
        assert_eq!(
            r.headers().get(IDEMPOTENT_REPLAYED).map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        assert_eq!(r.body(), &Bytes::from_static(b"\x00body"));
        for cut in 0..stored.len() {
            assert!(
                decode_response::<Bytes>(&stored.slice(..cut)).is_err(),
                "cut {cut}"
            );
        }
        let mut extra = stored.to_vec();
        extra.push(0);
        assert!(decode_response::<Bytes>(&Bytes::from(extra)).is_err());
    }
}
