//! `POST /api/ingest` (custom integrations, named by `Callwatch-Integration`) and
//! `POST /webhooks/{integration}` (any integration's own webhook format). Both verify the
//! raw body through the integration's provider, log the delivery, and apply the events.
//! Deliveries that fail verification are only counted (see `gateway::guard`): an
//! unauthenticated caller cannot make the gateway store anything.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::core::provider::{WebhookError, WebhookRequest};
use crate::gateway::api::body::RawBody;
use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::config::IntegrationKind;
use crate::gateway::engine::{Gateway, IngestOutcome};
use crate::gateway::error::EngineError;
use crate::gateway::guard::RejectReason;
use crate::gateway::ingest::INTEGRATION_HEADER;
use crate::gateway::store::{WebhookLog, MAX_LOGGED_PAYLOAD};

pub async fn ingest(
    State(gw): State<Arc<Gateway>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let Some(name) = headers
        .get(INTEGRATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
    else {
        gw.guard.reject(None, RejectReason::UnknownIntegration);
        return Err(ApiFailure::unauthorized(
            "missing Callwatch-Integration header naming the sending integration",
        ));
    };
    handle(gw, name, uri.to_string(), headers, body).await
}

pub async fn webhook(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    handle(gw, name, uri.to_string(), headers, body).await
}

/// Where providers deliver: the paths the per-address ingest limit applies to.
fn is_delivery(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == axum::http::Method::POST
        && (path == "/api/ingest"
            || path.starts_with("/webhooks/")
            || path == "/api/calls/status"
            || path == "/api/calls/recording")
}

/// Before the body is read: the per-address ingest rate limit (429 + Retry-After) on the
/// delivery paths; every other request passes untouched.
pub async fn admit(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    if !is_delivery(&req) {
        return next.run(req).await;
    }
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        if let Err(wait) = gw.guard.admit_address(peer.ip()) {
            gw.guard.reject(None, RejectReason::RateLimited);
            return too_many("ingest requests from this address", wait).into_response();
        }
    }
    next.run(req).await
}

fn too_many(what: &str, wait: u64) -> ApiFailure {
    let mut f = ApiFailure::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many {what}; try again in {wait} s"),
    );
    f.retry_after_secs = Some(wait);
    f
}

/// `POST /webhooks/{integration}/{callback}`: the same, for providers that send several
/// kinds of callback (Twilio's status and recording callbacks).
pub async fn webhook_callback(
    State(gw): State<Arc<Gateway>>,
    Path((name, _callback)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    handle(gw, name, uri.to_string(), headers, body).await
}

/// `POST /api/calls/status` and `/api/calls/recording`: Twilio callbacks at the paths
/// earlier versions documented. The integration is named by `?integration=`, or is the
/// only Twilio integration configured.
pub async fn twilio_callback(
    State(gw): State<Arc<Gateway>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let named = uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "integration")
            .map(|(_, v)| v)
    });
    let name = match named {
        Some(n) => n,
        None => {
            let twilio: Vec<&str> = gw
                .config
                .integrations
                .iter()
                .filter(|i| i.kind == IntegrationKind::Twilio)
                .map(|i| i.name.as_str())
                .collect();
            match twilio.as_slice() {
                [one] => one.to_string(),
                [] => {
                    // Unauthenticated: counted, never stored.
                    gw.guard.reject(None, RejectReason::UnknownIntegration);
                    return Err(ApiFailure::unauthorized(
                        "no Twilio integration is configured on this gateway",
                    ));
                }
                _ => {
                    gw.guard.reject(None, RejectReason::UnknownIntegration);
                    return Err(ApiFailure::unauthorized(
                        "several Twilio integrations are configured: add ?integration=NAME to the callback URL",
                    ));
                }
            }
        }
    };
    handle(gw, name, uri.to_string(), headers, body).await
}

async fn handle(
    gw: Arc<Gateway>,
    name: String,
    path: String,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let Some(target) = gw.registry.webhook(&name) else {
        // Answer exactly as a known integration with a wrong secret would (same checks,
        // same words), so the answer does not tell whether the name exists.
        let now = chrono::Utc::now().timestamp();
        let err = crate::gateway::ingest::verify(gw.guard.decoy_secret(), &headers, &body, now)
            .err()
            .unwrap_or(WebhookError::BadSignature);
        gw.guard.reject(None, RejectReason::UnknownIntegration);
        return Err(ApiFailure::unauthorized(err.to_string()));
    };
    let base = gw
        .config
        .public_url
        .clone()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    let request = WebhookRequest {
        url: format!("{base}{path}"),
        headers,
        body: body.clone(),
    };
    let envelopes = match target.provider.parse_webhook(&request) {
        Ok(e) => e,
        Err(err) => {
            if let Some(reason) = RejectReason::of(&err) {
                // Unverified: counted, never stored (docs/PROTOCOL.md, "Refused deliveries").
                gw.guard.reject(Some((&name, &target.org)), reason);
                tracing::debug!(integration = %name, error = %err, "webhook refused");
                return Err(ApiFailure::unauthorized(err.to_string()));
            }
            log(
                &gw,
                Some(&target.org),
                &name,
                None,
                &body,
                Some(&err.to_string()),
            )
            .await;
            tracing::warn!(integration = %name, error = %err, "webhook refused");
            return Err(match err {
                WebhookError::Malformed(m) => ApiFailure::bad_request(m),
                unknown @ WebhookError::UnknownEvent(_) => {
                    ApiFailure::invalid("event", format!("{}: {unknown}", target.display))
                }
                other => ApiFailure::unauthorized(other.to_string()),
            });
        }
    };
    if let Err(wait) = gw.guard.admit_integration(&name) {
        gw.guard
            .reject(Some((&name, &target.org)), RejectReason::RateLimited);
        return Err(too_many("deliveries for this integration", wait));
    }
    let events: Vec<&str> = envelopes.iter().map(|e| e.event.type_name()).collect();
    let event_names = events.join(",");
    // Applied through the org's group commit; the delivery's log row is written in the
    // same transaction, with the first failure.
    let entry = log_entry(
        &gw,
        Some(&target.org),
        &name,
        Some(&event_names),
        &body,
        None,
    );
    let results = gw
        .ingest_grouped(&target.org, &name, &target.display, envelopes, Some(entry))
        .await?;

    let mut applied = 0;
    let mut duplicates = 0;
    // The first failing event stops the batch.
    let mut failure: Option<ApiFailure> = None;
    for (id, r) in results {
        match r {
            Ok(IngestOutcome::Applied) => applied += 1,
            Ok(IngestOutcome::Duplicate) => duplicates += 1,
            Err(EngineError::Invalid { message, .. }) => {
                failure = Some(ApiFailure::invalid(
                    "event",
                    format!("event {id:?}: {message}"),
                ));
            }
            Err(e) => {
                failure = Some(e.into());
            }
        }
    }
    if let Some(answer) = failure {
        return Err(answer);
    }
    let all_duplicate = applied == 0 && duplicates > 0;
    Ok((
        StatusCode::OK,
        Json(json!({ "accepted": applied, "duplicates": duplicates, "duplicate": all_duplicate })),
    ))
}

/// Records the delivery; a failure to do so is logged, never answered instead.
async fn log(
    gw: &Gateway,
    org: Option<&str>,
    integration: &str,
    event: Option<&str>,
    payload: &[u8],
    error: Option<&str>,
) {
    let entry = log_entry(gw, org, integration, event, payload, error);
    if let Err(e) = gw.log_webhook(entry).await {
        tracing::error!(error = %e, "webhook log not written");
    }
}

/// The webhook-log row of a delivery.
fn log_entry(
    gw: &Gateway,
    org: Option<&str>,
    integration: &str,
    event: Option<&str>,
    payload: &[u8],
    error: Option<&str>,
) -> WebhookLog {
    let provider = gw
        .config
        .integrations
        .iter()
        .find(|i| i.name == integration)
        .map(|i| i.kind.as_str())
        .unwrap_or("unknown");
    WebhookLog {
        org: org.map(String::from),
        integration: integration.to_string(),
        provider: provider.to_string(),
        event: event.map(String::from),
        payload: payload[..payload.len().min(MAX_LOGGED_PAYLOAD)].to_vec(),
        error: error.map(String::from),
    }
}
