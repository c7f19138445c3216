//! `/api/compliance/...`: the do-not-call list (JSON and CSV) and the report of compliance
//! decisions. Changing the list needs the queue permission (supervisors); reading it and
//! the report needs read access.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::core::compliance::{decision, DncEntry};
use crate::gateway::api::body::{parse, RawBody};
use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::auth::{Permission, Principal};
use crate::gateway::engine::compliance::{ComplianceReport, ImportError, ImportResult};
use crate::gateway::engine::Gateway;

/// Longest source or reason kept with an entry.
const MAX_TEXT: usize = 200;
/// Most lines one import may carry.
const MAX_IMPORT_LINES: usize = 100_000;

#[derive(Debug, Serialize)]
pub struct DncList {
    pub entries: Vec<DncEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DncRequest {
    pub number: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

fn text(field: &'static str, v: Option<String>) -> ApiResult<Option<String>> {
    let v = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if v.as_ref().is_some_and(|s| s.chars().count() > MAX_TEXT) {
        return Err(ApiFailure::invalid(
            field,
            format!("{field} is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(v)
}

pub async fn list(State(gw): State<Arc<Gateway>>, who: Principal) -> ApiResult<Json<DncList>> {
    who.require(Permission::Read, "read the do-not-call list")?;
    let org = who.org.clone();
    let entries = gw.blocking(move |gw| gw.dnc_list(&org)).await?;
    Ok(Json(DncList { entries }))
}

pub async fn add(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<DncEntry>)> {
    who.require(Permission::Queue, "change the do-not-call list")?;
    let req: DncRequest = parse(&body)?;
    let number = gw.dnc_number(&who.org, &req.number)?;
    let entry = DncEntry {
        number,
        source: text("source", req.source)?.unwrap_or_else(|| "manual".into()),
        reason: text("reason", req.reason)?,
        added_by: who.name.clone(),
        added_at: Utc::now(),
    };
    let e = entry.clone();
    gw.blocking(move |gw| gw.dnc_put(&who, vec![e], decision::DNC_ADDED))
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

pub async fn remove(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Path(number): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(Permission::Queue, "change the do-not-call list")?;
    let number = gw.dnc_number(&who.org, &number)?;
    gw.blocking(move |gw| gw.dnc_remove(&who, &number)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `number,source,reason,added_by,added_at`, one line per entry.
pub async fn export(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
) -> ApiResult<impl IntoResponse> {
    who.require(Permission::Read, "read the do-not-call list")?;
    let org = who.org.clone();
    let entries = gw.blocking(move |gw| gw.dnc_list(&org)).await?;
    let mut out = String::from("number,source,reason,added_by,added_at\n");
    for e in entries {
        let fields = [
            e.number,
            e.source,
            e.reason.unwrap_or_default(),
            e.added_by,
            e.added_at.to_rfc3339(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out))
}

/// A CSV body: `number[,source[,reason]]` per line, an optional header line. Lines that
/// cannot be read are reported with their line number; the others are imported.
pub async fn import(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    RawBody(body): RawBody,
) -> ApiResult<Json<ImportResult>> {
    who.require(Permission::Queue, "change the do-not-call list")?;
    let csv = std::str::from_utf8(&body)
        .map_err(|_| ApiFailure::invalid("body", "the CSV must be UTF-8 text"))?;
    if csv.lines().count() > MAX_IMPORT_LINES {
        return Err(ApiFailure::invalid(
            "body",
            format!("import at most {MAX_IMPORT_LINES} lines at a time"),
        ));
    }
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let now = Utc::now();
    for (i, line) in csv.lines().enumerate() {
        let fields = split_csv(line);
        let first = fields.first().map(|s| s.trim()).unwrap_or_default();
        if first.is_empty() || (i == 0 && first.eq_ignore_ascii_case("number")) {
            continue;
        }
        let source = fields.get(1).cloned().filter(|s| !s.trim().is_empty());
        let reason = fields.get(2).cloned();
        let checked = gw
            .dnc_number(&who.org, first)
            .map_err(|e| e.to_string())
            .and_then(|n| {
                Ok(DncEntry {
                    number: n,
                    source: text("source", source)
                        .map_err(|e| e.body.message)?
                        .unwrap_or_else(|| "import".into()),
                    reason: text("reason", reason).map_err(|e| e.body.message)?,
                    added_by: who.name.clone(),
                    added_at: now,
                })
            });
        match checked {
            Ok(e) => entries.push(e),
            Err(message) => errors.push(ImportError {
                line: i + 1,
                message,
            }),
        }
    }
    let imported = entries.len();
    if imported > 0 {
        gw.blocking(move |gw| gw.dnc_put(&who, entries, decision::DNC_IMPORTED))
            .await?;
    }
    Ok(Json(ImportResult { imported, errors }))
}

#[derive(Debug, Serialize)]
pub struct PhoneNumberList {
    pub numbers: Vec<crate::gateway::compliance::numbers::PhoneNumber>,
}

/// The org's managed lines (`[[gateway.phone_numbers]]`).
pub async fn phone_numbers(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
) -> ApiResult<Json<PhoneNumberList>> {
    who.require(Permission::Read, "read the phone numbers")?;
    Ok(Json(PhoneNumberList {
        numbers: gw.phone_numbers(&who.org),
    }))
}

/// `from` / `to` (RFC 3339), default the last 24 hours.
pub async fn report(
    State(gw): State<Arc<Gateway>>,
    who: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<ComplianceReport>> {
    who.require(Permission::Read, "read the compliance report")?;
    let time = |field: &'static str| -> ApiResult<Option<DateTime<Utc>>> {
        q.get(field)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        ApiFailure::invalid(
                            field,
                            format!("{field} must be a time such as 2026-01-31T00:00:00Z"),
                        )
                    })
            })
            .transpose()
    };
    let to = time("to")?.unwrap_or_else(Utc::now);
    let from = time("from")?.unwrap_or(to - Duration::days(1));
    if from > to {
        return Err(ApiFailure::invalid("from", "from must not be after to"));
    }
    let org = who.org.clone();
    Ok(Json(
        gw.blocking(move |gw| gw.compliance_report(&org, from, to))
            .await?,
    ))
}

fn csv_field(s: &str) -> String {
    // A cell starting with = - @ would run as a formula in a spreadsheet: neutralise it.
    // "+" stays (every E.164 number starts with it; spreadsheets read it as a number).
    let s = if s.starts_with(['=', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains(['"', ',', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One CSV line into fields (RFC 4180 quoting; no quoted line breaks).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[cfg(test)]
mod tests {
    use super::{csv_field, split_csv};

    #[test]
    fn csv_lines() {
        assert_eq!(
            split_csv("+14155550100,caller_request,\"said \"\"stop\"\", twice\""),
            vec!["+14155550100", "caller_request", "said \"stop\", twice"]
        );
        assert_eq!(split_csv("4155550100"), vec!["4155550100"]);
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("+14155550100"), "+14155550100");
    }
}
