//! Bearer tokens -> principals (name, org, role), and what each role may do.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::core::action::Permission;
use crate::core::model::Role;
use crate::gateway::config::TokenConfig;
use crate::gateway::engine::Gateway;
use crate::gateway::error::ApiFailure;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token name: the actor in the audit log.
    pub name: String,
    pub org: String,
    pub role: Role,
}

impl Principal {
    pub fn may(&self, p: Permission) -> bool {
        self.role.may(p)
    }

    pub fn require(&self, p: Permission, what: &str) -> Result<(), ApiFailure> {
        self.role.require(p, what).map_err(ApiFailure::forbidden)
    }
}

/// Tokens are compared by their SHA-256 digests in constant time, so neither a token's
/// content nor its length leaks through timing.
pub struct TokenTable {
    entries: Vec<([u8; 32], Principal)>,
}

impl TokenTable {
    pub fn new(tokens: &[TokenConfig]) -> Self {
        TokenTable {
            entries: tokens
                .iter()
                .map(|t| {
                    (
                        Sha256::digest(t.token.as_bytes()).into(),
                        Principal {
                            name: t.name.clone(),
                            org: t.org.clone(),
                            role: t.role,
                        },
                    )
                })
                .collect(),
        }
    }

    pub fn lookup(&self, token: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        // No early exit: every entry is compared.
        for (d, p) in &self.entries {
            if bool::from(d.ct_eq(&digest)) {
                found = Some(p.clone());
            }
        }
        found
    }
}

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
