//! `PUT /api/integrations/{name}/credentials` (admin): an org's own provider keys, sealed
//! at rest (see `gateway/credentials.rs`). The answer names the fields stored, never their
//! values; nothing reads them back.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::json;

use crate::gateway::api::body::RawBody;
use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::auth::{Permission, Principal};
use crate::gateway::credentials::{Credentials, Vault, VaultError};
use crate::gateway::engine::Gateway;
use crate::gateway::error::EngineError;
use crate::gateway::providers;

pub async fn put(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<serde_json::Value>> {
    who.require(Permission::Admin, "set provider credentials")?;
    let Some(config) = gw
        .config
        .integrations
        .iter()
        .find(|i| i.name == name && i.org == who.org)
        .cloned()
    else {
        return Err(ApiFailure::not_found(
            "no integration with this name in your org",
        ));
    };
    let given: Credentials = serde_json::from_slice(&body).map_err(|e| {
        ApiFailure::bad_request(format!(
            "the body must be {{\"api_key\": \"...\", \"secret\": \"...\"}} (either or both): {e}"
        ))
    })?;
    if given.fields().is_empty()
        || [&given.api_key, &given.secret]
            .iter()
            .any(|v| v.as_deref().is_some_and(|s| s.trim().is_empty()))
    {
        return Err(ApiFailure::invalid(
            "credentials",
            "give a non-empty api_key, secret, or both",
        ));
    }
    let vault = match Vault::from_env() {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err(ApiFailure::invalid(
                "credentials",
                VaultError::NoKey.to_string(),
            ))
        }
        Err(e) => return Err(ApiFailure::invalid("credentials", e.to_string())),
    };
    // Fields not given keep their stored value.
    let (org, integration) = (who.org.clone(), name.clone());
    let rows = gw
        .store
        .read(|r| r.sealed_credentials())
        .await
        .map_err(EngineError::from)?;
    let mut merged = rows
        .iter()
        .find(|(o, i, _, _)| *o == org && *i == integration)
        .map(|(o, i, n, s)| vault.open(o, i, n, s))
        .transpose()
        .map_err(|e| ApiFailure::invalid("credentials", e.to_string()))?
        .unwrap_or_default();
    if given.api_key.is_some() {
        merged.api_key = given.api_key.clone();
    }
    if given.secret.is_some() {
        merged.secret = given.secret.clone();
    }
    let (nonce, sealed) = vault.seal(&org, &integration, &merged);
    gw.store
        .write(move |w| w.put_credentials(&org, &integration, &nonce, &sealed))
        .await
        .map_err(EngineError::from)?;
    // The adapter is rebuilt with the new keys; calls in flight keep their integration.
    let (provider, display) = providers::build(
        &merged.apply(&config),
        gw.config.public_url.as_deref(),
        gw.http.clone(),
    );
    gw.registry
        .register_webhook(&config.org, &display, provider);
    tracing::info!(org = %who.org, integration = %name, by = %who.name, fields = ?given.fields(), "provider credentials stored");
    Ok(Json(
        json!({ "integration": name, "stored": given.fields() }),
    ))
}
