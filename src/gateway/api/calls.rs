//! Read endpoints: active calls, one call, history, transcript (JSON), analytics, audit.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::core::model::{Analytics, AuditEntry, Call};
use crate::core::protocol::{CallList, Health, QueueList, Transcript};
use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::api::history_query::parse_time;
use crate::gateway::auth::{Permission, Principal};
use crate::gateway::engine::Gateway;
use crate::gateway::guard::RejectedCount;
use crate::gateway::store::WebhookRecord;

pub async fn healthz(State(gw): State<Arc<Gateway>>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        epoch: gw.epoch.to_string(),
    })
}

/// `GET /api/debug/live`: the sizes of the gateway's in-memory state (admin).
pub async fn live_stats(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
) -> ApiResult<Json<crate::gateway::engine::live::LiveStats>> {
    who.require(Permission::Admin, "read the gateway's live state")?;
    Ok(Json(gw.live_stats_of(Some(&who.org))))
}

pub async fn active(State(gw): State<Arc<Gateway>>, who: Principal) -> ApiResult<Json<CallList>> {
    who.require(Permission::Read, "read calls")?;
    Ok(Json(CallList {
        calls: gw.active_calls(&who.org),
        next_cursor: None,
    }))
}

pub async fn get_call(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Call>> {
    who.require(Permission::Read, "read calls")?;
    let (call, _) = gw
        .call_with_transcript(&who.org, &id)
        .await?
        .ok_or_else(|| ApiFailure::not_found("no call with this id"))?;
    Ok(Json(call))
}

pub async fn history(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.require(Permission::Read, "read calls")?;
    let filter = super::history_query::parse(&q)?;
    // Searches run on a pooled reader, off the async workers and the writer; the cap keeps
    // one token from taking every reader.
    let Some(_slot) = gw.guard.search_slot_waiting(&who.name).await else {
        let mut f = ApiFailure::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this token already runs {} history searches and others wait; try again in 1 s",
                gw.config.limits.max_concurrent_searches
            ),
        );
        f.retry_after_secs = Some(1);
        return Err(f);
    };
    // Encoded on the search thread (low priority): a page of 100 calls is real work.
    let body = gw
        .history_with(&who.org, filter, |calls, next| {
            serde_json::to_vec(&CallList {
                calls,
                next_cursor: next.map(|(ms, id)| super::history_query::encode_cursor(ms, &id)),
            })
        })
        .await?
        .map_err(|e| ApiFailure::internal(format!("cannot encode the answer: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub async fn transcript(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    who.require(Permission::Read, "read calls")?;
    let wants_sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if wants_sse {
        return super::sse::transcript_stream(gw, who, id, &headers).await;
    }
    let (_, entries) = gw
        .call_with_transcript(&who.org, &id)
        .await?
        .ok_or_else(|| ApiFailure::not_found("no call with this id"))?;
    Ok(Json(Transcript {
        call_id: id,
        entries,
    })
    .into_response())
}

pub async fn analytics(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Analytics>> {
    who.require(Permission::Read, "read analytics")?;
    use crate::gateway::analytics::GroupBy;
    let (group_by, by_number) = match q.get("group_by").map(String::as_str) {
        None | Some("") => (GroupBy::None, false),
        Some("campaign") => (GroupBy::Campaign, false),
        Some("provider") => (GroupBy::Provider, false),
        Some("number") => (GroupBy::None, true),
        Some(_) => {
            return Err(ApiFailure::invalid(
                "group_by",
                "group_by can only be campaign, provider or number",
            ))
        }
    };
    let mut from = parse_time("from", q.get("from"))?;
    let mut to = parse_time("to", q.get("to"))?;
    if let Some(range) = q.get("range").map(|r| r.trim()).filter(|r| !r.is_empty()) {
        if from.is_some() || to.is_some() {
            return Err(ApiFailure::invalid(
                "range",
                "give range or from/to, not both",
            ));
        }
        let now = chrono::Utc::now();
        from = Some(match range {
            // Since midnight UTC.
            "today" => now
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
                .unwrap_or(now),
            "7d" => now - chrono::Duration::days(7),
            "30d" => now - chrono::Duration::days(30),
            _ => {
                return Err(ApiFailure::invalid(
                    "range",
                    "range can only be today, 7d or 30d",
                ))
            }
        });
        to = Some(now + chrono::Duration::seconds(1));
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(ApiFailure::invalid("from", "from must be before to"));
        }
    }
    if by_number {
        return Ok(Json(gw.analytics_by_number(&who.org, from, to).await?));
    }
    Ok(Json(gw.analytics(&who.org, from, to, group_by).await?))
}

pub async fn queue(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<QueueList>> {
    who.require(Permission::Read, "read the queue")?;
    let all = matches!(q.get("all").map(String::as_str), Some("true" | "1"));
    Ok(Json(QueueList {
        items: gw.queue_items(&who.org, all, 500).await?,
    }))
}

#[derive(serde::Serialize)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
}

pub async fn audit(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<AuditList>> {
    who.require(Permission::Read, "read the audit log")?;
    let limit = q
        .get("limit")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    Ok(Json(AuditList {
        entries: gw
            .audit_log(&who.org, q.get("call_id").cloned(), limit)
            .await?,
    }))
}

#[derive(serde::Serialize)]
pub struct WebhookList {
    pub entries: Vec<WebhookRecord>,
}

pub async fn webhook_log(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<WebhookList>> {
    who.require(Permission::Admin, "read the webhook log")?;
    let limit = q
        .get("limit")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    Ok(Json(WebhookList {
        entries: gw.webhook_log(&who.org, limit).await?,
    }))
}

#[derive(serde::Serialize)]
pub struct RejectedList {
    pub rejected: Vec<RejectedCount>,
}

/// Counters of deliveries refused before verification (since the gateway started).
pub async fn webhook_rejected(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
) -> ApiResult<Json<RejectedList>> {
    who.require(Permission::Admin, "read the webhook log")?;
    Ok(Json(RejectedList {
        rejected: gw.guard.rejected_for(&who.org),
    }))
}
