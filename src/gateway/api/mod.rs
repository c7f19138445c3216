//! The HTTP surface: routes, body limit, JSON errors for everything, request logging
//! (method, path and status only: query strings can carry a token).

mod actions;
mod body;
mod calls;
mod compliance;
mod credentials;
pub mod error;
mod extract;
mod history_query;
mod idempotency;
mod ingest;
mod relay;
mod sse;
mod stream;
mod subscription;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::gateway::api::error::ApiFailure;
use crate::gateway::engine::Gateway;

pub use actions::normalise_phone;

pub fn router(gw: Arc<Gateway>) -> Router {
    let limit = gw.config.limits.max_body_bytes;
    // Actions take an Idempotency-Key.
    let actions = Router::new()
        .route("/api/calls/initiate", post(actions::initiate))
        .route("/api/calls/queue/{id}", delete(actions::cancel))
        .route("/api/calls/queue/{id}/dial-now", post(actions::dial_now))
        .route("/api/calls/{id}/takeover", post(actions::takeover))
        .route(
            "/api/calls/{id}/pause-ai",
            post(actions::pause).delete(actions::resume),
        )
        .route("/api/calls/{id}/say", post(actions::say))
        .route("/api/calls/{id}/instruct", post(actions::instruct))
        .route("/api/calls/{id}/end", post(actions::end))
        .route("/api/calls/{id}/transfer", post(actions::transfer))
        .route("/api/calls/{id}/handback", post(actions::hand_back))
        .route("/api/calls/{id}/summary", post(actions::summary))
        .route_layer(middleware::from_fn_with_state(
            gw.clone(),
            idempotency::layer,
        ));
    let api = Router::new()
        .route("/healthz", get(calls::healthz))
        .route("/api/calls", get(calls::history))
        .route("/api/calls/active", get(calls::active))
        .route("/api/debug/live", get(calls::live_stats))
        .route("/api/calls/analytics", get(calls::analytics))
        .route("/api/calls/queue", get(calls::queue))
        .route("/api/calls/{id}", get(calls::get_call))
        .route("/api/calls/{id}/transcript", get(calls::transcript))
        .route(
            "/api/compliance/dnc",
            get(compliance::list).post(compliance::add),
        )
        .route("/api/compliance/dnc.csv", get(compliance::export))
        .route("/api/compliance/dnc/import", post(compliance::import))
        .route("/api/compliance/dnc/{number}", delete(compliance::remove))
        .route("/api/compliance/report", get(compliance::report))
        .route("/api/phone-numbers", get(compliance::phone_numbers))
        .route("/api/destinations", get(actions::destinations))
        .route("/api/audit", get(calls::audit))
        .route("/api/webhook-log", get(calls::webhook_log))
        .route("/api/stream", get(stream::stream))
        .route("/api/webhook-log/rejected", get(calls::webhook_rejected))
        .route("/api/ingest", post(ingest::ingest))
        .route("/webhooks/{integration}", post(ingest::webhook))
        .route("/webhooks/{integration}/voice", post(relay::voice))
        .route("/webhooks/{integration}/handoff", post(relay::handoff))
        .route("/webhooks/{integration}/relay", get(relay::socket))
        .route(
            "/webhooks/{integration}/{callback}",
            post(ingest::webhook_callback),
        )
        .route(
            "/api/integrations/{name}/credentials",
            put(credentials::put),
        )
        .route("/api/calls/status", post(ingest::twilio_callback))
        .route("/api/calls/recording", post(ingest::twilio_callback))
        .merge(actions)
        .fallback(|| async { ApiFailure::not_found("no such endpoint; see docs/PROTOCOL.md") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(limit, declared_length))
        // Outermost after logging: a flood of deliveries from one address is told to back
        // off before anything else is looked at, the declared size included.
        .layer(middleware::from_fn_with_state(gw.clone(), ingest::admit))
        .layer(middleware::from_fn(json_errors))
        .with_state(gw.clone());
    // Outermost, so Socket.IO's own paths never reach the call routes.
    crate::gateway::socketio::layer(api, &gw)
}

/// A declared body over the limit is refused on every route, also those that never read a
/// body (the extractors enforce the limit on bodies without a length as they read them).
async fn declared_length(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiFailure::too_large(limit).into_response();
    }
    next.run(req).await
}

/// Errors produced outside our handlers (405, extractor rejections without a body) get the
/// same JSON shape as ours. Also the access log.
async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status();
    tracing::info!(%method, %path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    if (status.is_client_error() || status.is_server_error())
        && resp.headers().get(header::CONTENT_TYPE).is_none_or(|v| {
            !v.to_str()
                .unwrap_or_default()
                .starts_with("application/json")
        })
    {
        let (error, message) = match status {
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this endpoint does not accept that method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("invalid", "send the body as application/json"),
            s if s.is_server_error() => ("internal", "the gateway could not complete the request"),
            _ => ("invalid", "the request is not valid for this endpoint"),
        };
        let mut f = ApiFailure::new(status, error, message);
        // Keep the upgrade rejection's explanation (e.g. "Connection header did not include 'upgrade'").
        if status == StatusCode::BAD_REQUEST || status == StatusCode::UPGRADE_REQUIRED {
            if let Ok(bytes) = axum::body::to_bytes(resp.into_body(), 4096).await {
                let text = String::from_utf8_lossy(&bytes).trim().to_string();
                if !text.is_empty() {
                    f.body.message = text;
                }
            }
        }
        return f.into_response();
    }
    resp
}
