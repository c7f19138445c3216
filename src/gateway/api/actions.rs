//! Supervisor actions on calls and on the queue. Each is rate limited per token, checked
//! against the role, and recorded in the audit log.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::core::action::{valid_destination, Action};
use crate::core::model::QueueItem;
use crate::core::protocol::{
    ActionResponse, DestinationList, InitiateRequest, TakeoverRequest, TextRequest, TransferRequest,
};
use crate::gateway::api::body::{parse, parse_optional, RawBody};
use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::auth::{Permission, Principal};
use crate::gateway::config::destinations;
use crate::gateway::engine::Gateway;

/// Longest text a supervisor can say or instruct in one action.
const MAX_TEXT: usize = 2000;

fn limit(gw: &Gateway, who: &Principal) -> ApiResult<()> {
    Ok(gw.rate_limit(who)?)
}

fn required_text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let t = value.trim();
    if t.is_empty() {
        return Err(ApiFailure::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if t.chars().count() > max {
        return Err(ApiFailure::invalid(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(t.to_string())
}

async fn act(
    gw: &Arc<Gateway>,
    who: &Principal,
    id: &str,
    action: Action,
) -> ApiResult<Json<ActionResponse>> {
    who.require(action.kind().permission(), action.kind().what())?;
    limit(gw, who)?;
    Ok(Json(gw.call_action(who, id, action).await?))
}

pub async fn takeover(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    who.require(Permission::TakeOver, "take over calls")?;
    let req: TakeoverRequest = parse(&body)?;
    let reason = required_text("reason", &req.reason, 500)?;
    let notes = req
        .notes
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let action = Action::TakeOver {
        reason,
        notes,
        mode: req.mode,
        phone: None,
    };
    act(&gw, &who, &id, action).await
}

/// Longest summary a warm transfer speaks to the receiving person.
const MAX_SUMMARY: usize = 1000;

pub async fn transfer(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    who.require(Permission::CallControl, "transfer calls")?;
    let req: TransferRequest = parse(&body)?;
    let (to, name) = match (req.to.as_deref(), req.destination.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiFailure::invalid(
                "to",
                "give either to or destination, not both",
            ))
        }
        (Some(to), None) => {
            let to = to.trim();
            if !valid_destination(to) {
                return Err(ApiFailure::invalid(
                    "to",
                    "to must be an E.164 number such as +15550001111 or a sip: URI",
                ));
            }
            (to.to_string(), None)
        }
        (None, Some(name)) => {
            let d = destinations::find(&gw.config.destinations, &who.org, name).ok_or_else(
                || {
                    ApiFailure::invalid(
                        "destination",
                        format!("the org has no transfer destination named {name:?} (GET /api/destinations lists them)"),
                    )
                },
            )?;
            (d.to, Some(d.name))
        }
        (None, None) => {
            return Err(ApiFailure::invalid(
                "to",
                "say where to: to (a number or sip: URI) or destination (a name)",
            ))
        }
    };
    let summary = match req.summary {
        Some(t) if !t.trim().is_empty() => Some(required_text("summary", &t, MAX_SUMMARY)?),
        _ => None,
    };
    let action = Action::Transfer {
        to,
        name,
        mode: req.mode,
        summary,
    };
    act(&gw, &who, &id, action).await
}

pub async fn hand_back(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    // Read (and ignored) so that the body limit holds here too: 413, nothing performed.
    RawBody(_): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    act(&gw, &who, &id, Action::HandBack).await
}

/// The org's named transfer destinations and the asker's own phone.
pub async fn destinations(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
) -> ApiResult<Json<DestinationList>> {
    let my_phone = gw
        .config
        .tokens
        .iter()
        .find(|t| t.name == who.name && t.org == who.org)
        .and_then(|t| t.phone.clone());
    Ok(Json(DestinationList {
        destinations: destinations::for_org(&gw.config.destinations, &who.org),
        my_phone,
    }))
}

pub async fn pause(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    // Read (and ignored) so that the body limit holds here too: 413, nothing performed.
    RawBody(_): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    act(&gw, &who, &id, Action::PauseAi).await
}

pub async fn resume(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    // Read (and ignored) so that the body limit holds here too: 413, nothing performed.
    RawBody(_): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    act(&gw, &who, &id, Action::ResumeAi).await
}

pub async fn say(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    who.require(Permission::Say, "speak to callers")?;
    let req: TextRequest = parse(&body)?;
    let text = required_text("text", &req.text, MAX_TEXT)?;
    act(&gw, &who, &id, Action::Say { text }).await
}

pub async fn instruct(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    who.require(Permission::CallControl, "instruct the AI")?;
    let req: TextRequest = parse(&body)?;
    let text = required_text("text", &req.text, MAX_TEXT)?;
    act(&gw, &who, &id, Action::Instruct { text }).await
}

pub async fn end(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    // Read (and ignored) so that the body limit holds here too: 413, nothing performed.
    RawBody(_): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    act(&gw, &who, &id, Action::End).await
}

#[derive(serde::Deserialize)]
struct SummaryRequest {
    #[serde(default)]
    text: Option<String>,
}

pub async fn summary(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<ActionResponse>> {
    who.require(Permission::CallControl, "write call summaries")?;
    let req: Option<SummaryRequest> = parse_optional(&body)?;
    let text = match req.and_then(|r| r.text) {
        Some(t) => Some(required_text("text", &t, 4000)?),
        None => None,
    };
    limit(&gw, &who)?;
    Ok(Json(
        gw.blocking(move |gw| gw.set_summary(&who, &id, text))
            .await?,
    ))
}

/// Normalises a phone number: spaces, dashes, dots and brackets are dropped; what is left
/// must be an optional `+` and 6 to 15 digits (E.164 length).
pub fn normalise_phone(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if (6..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Some(cleaned)
    } else {
        None
    }
}

pub async fn initiate(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<QueueItem>)> {
    who.require(Permission::Queue, "queue calls")?;
    let req: InitiateRequest = parse(&body)?;
    let phone = normalise_phone(&req.phone_number).ok_or_else(|| {
        ApiFailure::invalid(
            "phoneNumber",
            "phoneNumber must be a phone number such as +15551234567",
        )
    })?;
    if !(req.agent_settings.is_null() || req.agent_settings.is_object()) {
        return Err(ApiFailure::invalid(
            "agentSettings",
            "agentSettings must be a JSON object",
        ));
    }
    limit(&gw, &who)?;
    let item = gw.blocking(move |gw| gw.initiate(&who, req, phone)).await?;
    Ok((StatusCode::CREATED, Json(item)))
}

pub async fn cancel(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    RawBody(_): RawBody,
) -> ApiResult<Json<QueueItem>> {
    who.require(Permission::Queue, "cancel queued calls")?;
    limit(&gw, &who)?;
    Ok(Json(
        gw.blocking(move |gw| gw.queue_action(&who, &id, false))
            .await?,
    ))
}

pub async fn dial_now(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    RawBody(_): RawBody,
) -> ApiResult<Json<QueueItem>> {
    who.require(Permission::Queue, "dial queued calls")?;
    limit(&gw, &who)?;
    Ok(Json(
        gw.blocking(move |gw| gw.queue_action(&who, &id, true))
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::normalise_phone;

    #[test]
    fn phone_numbers() {
        assert_eq!(
            normalise_phone("+1 (555) 123-4567").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(normalise_phone("0201234567").as_deref(), Some("0201234567"));
        assert_eq!(normalise_phone("call me"), None);
        assert_eq!(normalise_phone("+12"), None);
        assert_eq!(normalise_phone("+1234567890123456"), None);
    }
}
