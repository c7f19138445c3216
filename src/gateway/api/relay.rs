//! Twilio ConversationRelay's routes: the TwiML for an incoming call
//! (`POST /webhooks/{name}/voice`), the websocket Twilio opens (`GET /webhooks/{name}/relay`)
//! and the `<Connect action>` request when a session ends (`POST /webhooks/{name}/handoff`).
//! All three carry `X-Twilio-Signature`; unsigned requests are counted and refused.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::core::provider::WebhookError;
use crate::gateway::api::body::RawBody;
use crate::gateway::api::error::ApiFailure;
use crate::gateway::engine::Gateway;
use crate::gateway::guard::RejectReason;
use crate::gateway::providers::relay::{session, twiml, RelayProvider};

/// The relay integration named `name`, and its org.
fn relay(
    gw: &Gateway,
    name: &str,
) -> Result<(Arc<dyn crate::core::provider::Provider>, String), ApiFailure> {
    let target = gw
        .registry
        .webhook(name)
        .filter(|t| t.provider.as_any().is_some_and(|a| a.is::<RelayProvider>()));
    match target {
        Some(t) => Ok((t.provider, t.org)),
        None => {
            gw.guard.reject(None, RejectReason::UnknownIntegration);
            Err(ApiFailure::unauthorized(
                "no ConversationRelay integration by that name",
            ))
        }
    }
}

fn downcast(p: &Arc<dyn crate::core::provider::Provider>) -> Option<&RelayProvider> {
    p.as_any()?.downcast_ref::<RelayProvider>()
}

fn refuse(gw: &Gateway, name: &str, org: &str, err: WebhookError) -> ApiFailure {
    if let Some(reason) = RejectReason::of(&err) {
        gw.guard.reject(Some((name, org)), reason);
    }
    ApiFailure::unauthorized(err.to_string())
}

fn public_url(gw: &Gateway, path: &str) -> String {
    let base = gw.config.public_url.clone().unwrap_or_default();
    format!("{}{path}", base.trim_end_matches('/'))
}

fn xml(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Verifies a signed form POST and returns its parameters.
fn signed_form(
    gw: &Gateway,
    name: &str,
    org: &str,
    provider: &RelayProvider,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiFailure> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiFailure::bad_request(format!("the body is not form-encoded: {e}")))?;
    provider
        .verify(headers, &public_url(gw, &uri.to_string()), &params)
        .map_err(|e| refuse(gw, name, org, e))?;
    Ok(params)
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub async fn voice(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiFailure> {
    let (provider, org) = relay(&gw, &name)?;
    let Some(relay) = downcast(&provider) else {
        return Err(ApiFailure::not_found("no such integration"));
    };
    let params = signed_form(&gw, &name, &org, relay, &uri, &headers, &body)?;
    let outbound = param(&params, "Direction").is_some_and(|d| d.starts_with("outbound"));
    let ours = param(&params, if outbound { "From" } else { "To" }).unwrap_or_default();
    let twiml = relay
        .connect_twiml(ours, None)
        .map_err(|e| ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, "not_configured", e))?;
    Ok(xml(twiml))
}

pub async fn handoff(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiFailure> {
    let (provider, org) = relay(&gw, &name)?;
    let Some(relay) = downcast(&provider) else {
        return Err(ApiFailure::not_found("no such integration"));
    };
    let params = signed_form(&gw, &name, &org, relay, &uri, &headers, &body)?;
    let sid = param(&params, "CallSid").unwrap_or_default();
    // Only a hand-off callwatch itself asked for dials anyone: the number comes from our
    // config, never from the request.
    Ok(xml(match relay.sessions.take_handoff(sid) {
        Some(phone) => twiml::dial(&phone),
        None => twiml::hangup(),
    }))
}

pub async fn socket(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiFailure> {
    let (provider, org) = relay(&gw, &name)?;
    let Some(relay) = downcast(&provider) else {
        return Err(ApiFailure::not_found("no such integration"));
    };
    // Twilio signs the wss:// URL it connected to, with no parameters.
    let url = relay
        .socket_url()
        .map(|s| {
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{s}{query}")
        })
        .unwrap_or_default();
    relay
        .verify(&headers, &url, &[])
        .map_err(|e| refuse(&gw, &name, &org, e))?;
    let deps = session::SessionDeps {
        display: relay.display.clone(),
        settings: Arc::new(relay.settings.clone()),
        http: relay.http.clone(),
        sessions: relay.sessions.clone(),
        sink: gw.sink(&org, &name),
    };
    // Twilio's messages are small; a larger one closes the socket (and ends the call).
    let max = gw.config.limits.max_ws_frame_bytes;
    Ok(upgrade
        .max_frame_size(max)
        .max_message_size(max)
        .on_upgrade(move |ws| session::run(ws, deps)))
}
