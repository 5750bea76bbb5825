//! The tower layer on a real axum server on loopback, driven by a real hyper client.
#![cfg(feature = "http")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use quorate_idempotency::{IdempotencyLayer, MemoryStore, StoreConfig};
use tokio::sync::Notify;

#[derive(Clone, Default)]
struct App {
    calls: Arc<AtomicUsize>,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

async fn charge(State(app): State<App>, body: Bytes) -> (StatusCode, HeaderMap, String) {
    let n = app.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let mut headers = HeaderMap::new();
    headers.insert("x-charge-id", n.into());
    headers.append("set-cookie", "a=1".parse().expect("value"));
    headers.append("set-cookie", "b=2".parse().expect("value"));
    (
        StatusCode::CREATED,
        headers,
        format!("{{\"charge\":{n},\"bytes\":{}}}", body.len()),
    )
}

async fn slow(State(app): State<App>) -> &'static str {
    app.calls.fetch_add(1, Ordering::SeqCst);
    app.entered.notify_one();
    app.release.notified().await;
    "slow done"
}

async fn big(State(app): State<App>) -> Vec<u8> {
    app.calls.fetch_add(1, Ordering::SeqCst);
    vec![b'x'; 5000]
}

async fn flaky(State(app): State<App>) -> (StatusCode, &'static str) {
    if app.calls.fetch_add(1, Ordering::SeqCst) == 0 {
        (StatusCode::SERVICE_UNAVAILABLE, "try again")
    } else {
        (StatusCode::OK, "worked")
    }
}

async fn reject(State(app): State<App>) -> (StatusCode, &'static str) {
    app.calls.fetch_add(1, Ordering::SeqCst);
    (StatusCode::PAYMENT_REQUIRED, "card declined")
}

async fn count(State(app): State<App>) -> String {
    app.calls.load(Ordering::SeqCst).to_string()
}

struct Server {
    addr: SocketAddr,
    app: App,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn serve() -> Server {
    let app = App::default();
    let config =
        StoreConfig::new(Duration::from_secs(30), Duration::from_secs(3600), 4096).expect("valid");
    let layer = IdempotencyLayer::new(MemoryStore::with_config(config))
        .require_key(true)
        .max_request_bytes(1024)
        .scope_with(|parts| {
            parts
                .headers
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        });
    let router = Router::new()
        .route("/charges", post(charge).get(count))
        .route("/slow", post(slow))
        .route("/big", post(big))
        .route("/flaky", post(flaky))
        .route("/reject", post(reject))
        .layer(layer)
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = Client::builder(TokioExecutor::new()).build_http();
    Server { addr, app, client }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Server {
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .expect("request");
        let res = self.client.request(req).await.expect("response");
        let (parts, body) = res.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("body").to_bytes(),
        }
    }

    fn calls(&self) -> usize {
        self.app.calls.load(Ordering::SeqCst)
    }
}

fn replayed(r: &Reply) -> bool {
    r.headers.get("idempotent-replayed").map(|v| v.as_bytes()) == Some(b"true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_is_replayed_byte_for_byte_and_runs_once() {
    let s = serve().await;
    let key = [("idempotency-key", "\"8e03978e-40d5-43e8\"")];
    let first = s.send("POST", "/charges", &key, "{\"amount\":100}").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!replayed(&first));
    let second = s.send("POST", "/charges", &key, "{\"amount\":100}").await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert!(replayed(&second));
    assert_eq!(second.body, first.body);
    assert_eq!(
        second.headers.get("x-charge-id"),
        first.headers.get("x-charge-id")
    );
    assert_eq!(second.headers.get_all("set-cookie").iter().count(), 2);
    assert_eq!(s.calls(), 1);
    // The bare-token form of the same key is the same key.
    let third = s
        .send(
            "POST",
            "/charges",
            &[("idempotency-key", "8e03978e-40d5-43e8")],
            "{\"amount\":100}",
        )
        .await;
    assert!(replayed(&third));
    assert_eq!(s.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_key_with_another_request_is_422() {
    let s = serve().await;
    let key = [("idempotency-key", "k1")];
    assert_eq!(
        s.send("POST", "/charges", &key, "{\"amount\":100}")
            .await
            .status,
        StatusCode::CREATED
    );
    let other = s.send("POST", "/charges", &key, "{\"amount\":999}").await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        other.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..])
    );
    // Same body, another path: another request too.
    let path = s
        .send("POST", "/charges?currency=usd", &key, "{\"amount\":100}")
        .await;
    assert_eq!(path.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_scoped_per_tenant() {
    let s = serve().await;
    let a = s
        .send(
            "POST",
            "/charges",
            &[("idempotency-key", "k"), ("x-tenant", "a")],
            "x",
        )
        .await;
    let b = s
        .send(
            "POST",
            "/charges",
            &[("idempotency-key", "k"), ("x-tenant", "b")],
            "x",
        )
        .await;
    assert!(!replayed(&b));
    assert_ne!(a.body, b.body);
    assert_eq!(s.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_malformed_keys_are_400_and_reads_pass_through() {
    let s = serve().await;
    let missing = s.send("POST", "/charges", &[], "x").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&missing.body).contains("missing"));
    for bad in ["\"\"", "\"unterminated", "two words"] {
        let r = s
            .send("POST", "/charges", &[("idempotency-key", bad)], "x")
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let long = "k".repeat(256);
    let r = s
        .send(
            "POST",
            "/charges",
            &[("idempotency-key", long.as_str())],
            "x",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let twice = s
        .send(
            "POST",
            "/charges",
            &[("idempotency-key", "a"), ("idempotency-key", "b")],
            "x",
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.calls(), 0);
    let get = s.send("GET", "/charges", &[], "").await;
    assert_eq!((get.status, &get.body[..]), (StatusCode::OK, &b"0"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_retry_is_409_with_retry_after() {
    let s = Arc::new(serve().await);
    let key = [("idempotency-key", "slow-1")];
    let entered = s.app.entered.notified();
    let first = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            s.send("POST", "/slow", &[("idempotency-key", "slow-1")], "")
                .await
        })
    };
    entered.await;
    let busy = s.send("POST", "/slow", &key, "").await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    let retry_after: u64 = std::str::from_utf8(
        busy.headers
            .get("retry-after")
            .expect("retry-after")
            .as_bytes(),
    )
    .expect("ascii")
    .parse()
    .expect("seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    s.app.release.notify_one();
    let first = first.await.expect("join");
    assert_eq!(
        (first.status, &first.body[..]),
        (StatusCode::OK, &b"slow done"[..])
    );
    let again = s.send("POST", "/slow", &key, "").await;
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    assert_eq!(s.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_response_is_refused_not_truncated_and_not_rerun() {
    let s = serve().await;
    let key = [("idempotency-key", "big-1")];
    let first = s.send("POST", "/big", &key, "").await;
    assert_eq!(first.status, StatusCode::INTERNAL_SERVER_ERROR);
    let text = String::from_utf8_lossy(&first.body).into_owned();
    assert!(
        text.contains("exceeds the idempotency store's limit of 4096 bytes"),
        "{text}"
    );
    let retry = s.send("POST", "/big", &key, "").await;
    assert_eq!(retry.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(replayed(&retry));
    assert_eq!(retry.body, first.body);
    assert_eq!(s.calls(), 1, "the operation ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_release_the_key_and_client_errors_are_final() {
    let s = serve().await;
    let key = [("idempotency-key", "flaky-1")];
    assert_eq!(
        s.send("POST", "/flaky", &key, "").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let ok = s.send("POST", "/flaky", &key, "").await;
    assert_eq!((ok.status, replayed(&ok)), (StatusCode::OK, false));
    let again = s.send("POST", "/flaky", &key, "").await;
    assert_eq!((again.status, replayed(&again)), (StatusCode::OK, true));
    assert_eq!(s.calls(), 2);

    let key = [("idempotency-key", "reject-1")];
    assert_eq!(
        s.send("POST", "/reject", &key, "").await.status,
        StatusCode::PAYMENT_REQUIRED
    );
    let again = s.send("POST", "/reject", &key, "").await;
    assert_eq!(
        (again.status, replayed(&again)),
        (StatusCode::PAYMENT_REQUIRED, true)
    );
    assert_eq!(&again.body[..], b"card declined");
    assert_eq!(s.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_is_413() {
    let s = serve().await;
    let body = "x".repeat(2000);
    let r = s
        .send("POST", "/charges", &[("idempotency-key", "k")], &body)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(s.calls(), 0);
}
