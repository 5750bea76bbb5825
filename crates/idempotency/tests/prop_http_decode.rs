//! Any bytes stored as an HTTP response replay as a response or as a 500 naming the key,
//! never a panic.
#![cfg(feature = "http")]

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{Request, Response, StatusCode};
use http_body_util::Full;
use proptest::prelude::*;
use quorate_idempotency::{
    Begin, Bytes, Fingerprint, IdempotencyLayer, IdempotencyStore, MemoryStore, Outcome,
};
use tower_layer::Layer;
use tower_service::Service;

#[derive(Clone)]
struct Unreachable;

impl Service<Request<Full<Bytes>>> for Unreachable {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        panic!("a replay never reaches the inner service")
    }
}

fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

proptest! {
    #[test]
    fn stored_bytes_never_panic_the_replay(stored in proptest::collection::vec(any::<u8>(), 0..64)) {
        let store = Arc::new(MemoryStore::new());
        let fp = Fingerprint::http("POST", "/x", b"body");
        let Ok(Begin::Execute(a)) = store.begin("", "k", &fp) else { panic!("execute") };
        store.complete(&a, Outcome::Succeeded(Bytes::from(stored))).expect("complete");
        let mut svc = IdempotencyLayer::from_arc(Arc::clone(&store)).layer(Unreachable);
        let req = Request::post("/x")
            .header("idempotency-key", "k")
            .body(Full::new(Bytes::from_static(b"body")))
            .expect("request");
        let Ok(response) = now(svc.call(req));
        if response.status() == StatusCode::INTERNAL_SERVER_ERROR
            && !response.headers().contains_key("idempotent-replayed")
        {
            let body = now(http_body_util::BodyExt::collect(response.into_body()))
                .expect("body")
                .to_bytes();
            let text = String::from_utf8_lossy(&body);
            prop_assert!(text.contains("\\\"k\\\""), "{}", text);
        } else {
            prop_assert!(response.headers().contains_key("idempotent-replayed"));
        }
    }
}
