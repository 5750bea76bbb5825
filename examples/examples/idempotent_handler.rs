//! An idempotent HTTP handler: `Idempotency-Key` makes a retried POST safe.
//!
//! The handler runs the operation once per key and stores the response; a retry (the client
//! timed out, the answer was lost) gets the stored bytes, a concurrent retry gets 409, and the
//! same key with a different body gets 422. Plain `http` types, no framework: put the same
//! logic in any server (or use the crate's tower layer, feature `http`).
//!
//! Run: `cargo run -p quorate-examples --example idempotent_handler`

use http::{Request, Response, StatusCode};
use quorate_idempotency::{Begin, Bytes, Fingerprint, IdempotencyStore, MemoryStore, Outcome};

/// Runs the example.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::new(); // SqliteStore or PgStore to survive restarts
    let mut charges = 0;
    let post = |key: &str, body: &str| {
        Request::post("/v1/charges")
            .header("idempotency-key", key)
            .body(body.as_bytes().to_vec())
    };

    let first = handle(&store, &post("k-1", "amount=100")?, &mut charges)?;
    let retry = handle(&store, &post("k-1", "amount=100")?, &mut charges)?;
    let misuse = handle(&store, &post("k-1", "amount=999")?, &mut charges)?;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(
        (retry.status(), retry.body()),
        (first.status(), first.body())
    ); // replayed
    assert_eq!(misuse.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(charges, 1); // charged once
    println!(
        "{} {}",
        retry.status(),
        String::from_utf8_lossy(retry.body())
    );
    Ok(())
}

fn handle(
    store: &dyn IdempotencyStore,
    req: &Request<Vec<u8>>,
    charges: &mut u32,
) -> Result<Response<Vec<u8>>, Box<dyn std::error::Error>> {
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Response::builder()
            .status(400)
            .body(b"missing Idempotency-Key".to_vec())?);
    };
    let fingerprint = Fingerprint::http(req.method().as_str(), req.uri().path(), req.body());
    // Scope keys by caller (the authenticated account), so callers never share responses.
    Ok(match store.begin("account-42", key, &fingerprint)? {
        Begin::Execute(attempt) => {
            *charges += 1; // the side effect, once per key
            let body = format!("{{\"charge\":\"ch_{charges}\"}}");
            store.complete(&attempt, Outcome::Succeeded(Bytes::from(body.clone())))?;
            Response::builder()
                .status(StatusCode::CREATED)
                .body(body.into_bytes())?
        }
        Begin::Replay(stored) => Response::builder()
            .status(StatusCode::CREATED)
            .body(stored.response.to_vec())?,
        Begin::InProgress { retry_after } => Response::builder()
            .status(StatusCode::CONFLICT)
            .header("retry-after", retry_after.as_secs().max(1))
            .body(Vec::new())?,
        Begin::FingerprintMismatch => Response::builder()
            .status(StatusCode::UNPROCESSABLE_ENTITY)
            .body(b"key reused with another request".to_vec())?,
    })
}
