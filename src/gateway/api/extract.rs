//! Who is asking: the bearer token (header, or `?token=` for websocket/SSE clients that
//! cannot set headers) resolved to a [`Principal`] through the gateway's token table.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::gateway::api::error::ApiFailure;
use crate::gateway::auth::Principal;
use crate::gateway::engine::Gateway;

fn token_from_parts(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?.trim();
        let (scheme, rest) = value.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(rest.trim().to_string());
        }
        return None;
    }
    // For websocket/SSE clients that cannot set headers. Never logged.
    let query = parts.uri.query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

impl FromRequestParts<Arc<Gateway>> for Principal {
    type Rejection = ApiFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = token_from_parts(parts) else {
            return Err(ApiFailure::unauthorized(
                "missing API token: send `Authorization: Bearer <token>`",
            ));
        };
        gw.tokens
            .lookup(&token)
            .ok_or_else(|| ApiFailure::unauthorized("the API token is not valid"))
    }
}
