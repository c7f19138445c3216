//! `Idempotency-Key` on action requests. The first answer to a key (status and body) is
//! stored in the database with the org, the token's name and a hash of method, path and
//! body; a retry with the same key and request gets that answer back without the action
//! being performed again, also after a restart. The same key while its first request is
//! still being answered -> 409; the same key with a different request -> 422.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::core::protocol::ApiError;
use crate::gateway::api::body::RawBody;
use crate::gateway::api::error::ApiFailure;
use crate::gateway::auth::Principal;
use crate::gateway::engine::claims::{self, KeyBusy};
use crate::gateway::engine::Gateway;
use crate::gateway::store::StoredAnswer;

pub const HEADER: &str = "idempotency-key";
/// Set on an answer replayed from an earlier request with the same key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long an answer is kept for retries (pruned by maintenance after that).
const RETENTION_HOURS: i64 = crate::gateway::maintenance::IDEMPOTENCY_KEY_HOURS;
const MAX_KEY_LEN: usize = 255;

fn hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// Whether an answer is final for its request. Not stored: "busy" (another action held the
/// call), 429 and 5xx, where nothing, or not everything, was done: a retry should try again.
fn storable(status: StatusCode, body: &[u8]) -> bool {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return false;
    }
    if status == StatusCode::CONFLICT {
        let busy = serde_json::from_slice::<ApiError>(body).is_ok_and(|e| e.error == "busy");
        return !busy;
    }
    true
}

fn replay(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, answer.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        HeaderName::from_static(REPLAYED_HEADER),
        HeaderValue::from_static("true"),
    );
    resp
}

pub async fn layer(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    let Some(raw_key) = req.headers().get(HEADER).cloned() else {
        return next.run(req).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= MAX_KEY_LEN => k.trim().to_string(),
        _ => {
            return ApiFailure::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
            .into_response()
        }
    };
    let (mut parts, body) = req.into_parts();
    // Without a valid token the handler answers 401; nothing is stored for it.
    let Ok(who) = Principal::from_request_parts(&mut parts, &gw).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let bytes = match RawBody::from_request(Request::from_parts(parts.clone(), body), &gw).await {
        Ok(RawBody(b)) => b,
        Err(f) => return f.into_response(),
    };
    let request_hash = hash(&method, &path, &bytes);
    let _in_flight = match gw
        .keys_in_flight
        .begin(&who.org, &who.name, &key, &request_hash)
    {
        Ok(g) => g,
        Err(KeyBusy::SameRequest) => return ApiFailure::conflict(
            "a request with this Idempotency-Key is still in progress; retry once it is answered",
        )
        .into_response(),
        Err(KeyBusy::OtherRequest) => return reused(),
    };
    // Other instances on the same store: the "still running" guard must hold there too.
    let shared = match claims::claim_shared(
        &gw.store,
        claims::KEY_SCOPE,
        format!("{}\n{}\n{}", who.org, who.name, key),
        request_hash.clone(),
    )
    .await
    {
        Ok(Ok(claim)) => claim,
        Ok(Err(running)) if running == request_hash => return ApiFailure::conflict(
            "a request with this Idempotency-Key is still in progress; retry once it is answered",
        )
        .into_response(),
        Ok(Err(_)) => return reused(),
        Err(e) => {
            let mut f =
                ApiFailure::internal("the gateway could not complete the request; see its log");
            f.internal = Some(e.to_string());
            return f.into_response();
        }
    };
    let (org, token, k) = (who.org.clone(), who.name.clone(), key.clone());
    let since = Utc::now() - chrono::Duration::hours(RETENTION_HOURS);
    let stored = gw
        .store
        .write(move |w| w.idempotent_answer(&org, &token, &k, since))
        .await;
    let answered = match stored {
        Ok(Some(answer)) if answer.request_hash == request_hash => Some(replay(answer)),
        Ok(Some(_)) => Some(reused()),
        Ok(None) => None,
        Err(e) => {
            let mut f =
                ApiFailure::internal("the gateway could not complete the request; see its log");
            f.internal = Some(e.to_string());
            Some(f.into_response())
        }
    };
    if let Some(resp) = answered {
        if let Some(claim) = shared {
            claim.release(&gw.store).await;
        }
        return resp;
    }
    // Its own task, holding the key: a client that disconnects mid-action must not leave
    // the action done but its answer unstored (the retry would perform it again).
    let task = tokio::spawn(async move {
        let _in_flight = _in_flight;
        let store = gw.store.clone();
        let resp = perform_and_store(gw, who, key, request_hash, parts, bytes, next).await;
        if let Some(claim) = shared {
            claim.release(&store).await;
        }
        resp
    });
    match task.await {
        Ok(resp) => resp,
        Err(e) => {
            let mut f =
                ApiFailure::internal("the gateway could not complete the request; see its log");
            f.internal = Some(format!("idempotent action task: {e}"));
            f.into_response()
        }
    }
}

/// Runs the request and stores its answer when it is one to replay.
async fn perform_and_store(
    gw: Arc<Gateway>,
    who: Principal,
    key: String,
    request_hash: String,
    parts: axum::http::request::Parts,
    bytes: Bytes,
    next: Next,
) -> Response {
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (head, body) = resp.into_parts();
    // Our own JSON answers: small. One that cannot be read is answered empty, unstored.
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read an action's answer to store it");
            return Response::from_parts(head, Body::empty());
        }
    };
    if storable(head.status, &body) {
        let answer = StoredAnswer {
            request_hash,
            status: head.status.as_u16(),
            body: body.to_vec(),
        };
        let saved = gw
            .store
            .write(move |w| w.store_idempotent_answer(&who.org, &who.name, &key, &answer))
            .await;
        if let Err(e) = saved {
            // The action itself is committed; only a retry's replay is lost.
            tracing::error!(error = %e, "cannot store an idempotent answer");
        }
    }
    Response::from_parts(head, Body::from(body))
}

fn reused() -> Response {
    let mut f = ApiFailure::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was already used for a different request; use a new key",
    );
    f.body.field = Some("Idempotency-Key".into());
    f.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_stored() {
        let busy = br#"{"error":"busy","message":"sam is already ending this call"}"#;
        let conflict = br#"{"error":"conflict","message":"the call has already ended"}"#;
        assert!(storable(StatusCode::OK, b"{}"));
        assert!(storable(StatusCode::CONFLICT, conflict));
        assert!(storable(StatusCode::UNPROCESSABLE_ENTITY, b"{}"));
        assert!(!storable(StatusCode::CONFLICT, busy));
        assert!(!storable(StatusCode::TOO_MANY_REQUESTS, b"{}"));
        assert!(!storable(StatusCode::BAD_GATEWAY, b"{}"));
        assert!(!storable(StatusCode::INTERNAL_SERVER_ERROR, b"{}"));
        assert_ne!(hash("POST", "/a", b"{}"), hash("POST", "/b", b"{}"));
        assert_ne!(hash("POST", "/a", b"{}"), hash("DELETE", "/a", b"{}"));
        assert_ne!(hash("POST", "/a", b"{}"), hash("POST", "/a", b"{ }"));
    }
}
