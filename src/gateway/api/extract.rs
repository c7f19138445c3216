//! Who is asking: the bearer token (header, or `?token=` on the websocket stream and the
//! SSE transcript only, for clients that cannot set headers) resolved to a [`Principal`]
//! through the gateway's token table.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::gateway::api::error::ApiFailure;
use crate::gateway::auth::Principal;
use crate::gateway::engine::Gateway;

enum Found {
    Token(String),
    None,
    /// `?token=` where only the header is accepted.
    QueryNotAllowed,
}

/// Where a browser cannot set headers: the websocket stream and the SSE transcript. A
/// token in any other URL would end up in proxies' and browsers' histories.
fn query_token_allowed(parts: &Parts) -> bool {
    let path = parts.uri.path();
    if path == "/api/stream" {
        return true;
    }
    let sse = parts
        .headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    sse && path.starts_with("/api/calls/") && path.ends_with("/transcript")
}

fn token_from_parts(parts: &Parts) -> Found {
    if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let bearer = value.to_str().ok().and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
        return bearer.map_or(Found::None, Found::Token);
    }
    // Never logged.
    let Some(query) = parts.uri.query() else {
        return Found::None;
    };
    let token = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "token"))
        .map(|(_, v)| v);
    match token {
        None => Found::None,
        Some(_) if !query_token_allowed(parts) => Found::QueryNotAllowed,
        Some(t) => Found::Token(t),
    }
}

impl FromRequestParts<Arc<Gateway>> for Principal {
    type Rejection = ApiFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let token = match token_from_parts(parts) {
            Found::Token(t) => t,
            Found::None => {
                return Err(ApiFailure::unauthorized(
                    "missing API token: send `Authorization: Bearer <token>`",
                ))
            }
            Found::QueryNotAllowed => {
                return Err(ApiFailure::unauthorized(
                    "?token= is accepted only on /api/stream and the SSE transcript; \
                     send `Authorization: Bearer <token>`",
                ))
            }
        };
        gw.tokens
            .lookup(&token)
            .ok_or_else(|| ApiFailure::unauthorized("the API token is not valid"))
    }
}
