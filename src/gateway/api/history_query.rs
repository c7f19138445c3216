//! The query of `GET /api/calls`: every parameter is known and every value valid, or the
//! request is answered 422 naming the parameter (a filter that is silently ignored lists
//! calls that do not match it).

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::gateway::api::error::{ApiFailure, ApiResult};
use crate::gateway::store::{is_status_filter, CallField, CallFilter};

/// Parameters other than the call fields of [`CallField`].
const OTHER_KEYS: [&str; 8] = [
    "status",
    "state",
    "q",
    "from",
    "to",
    "limit",
    "cursor",
    "taken_over",
];

pub fn encode_cursor(ms: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{ms}|{id}"))
}

fn decode_cursor(s: &str) -> Option<(i64, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (ms, id) = text.split_once('|')?;
    Some((ms.parse().ok()?, id.to_string()))
}

fn known_keys() -> String {
    let mut keys: Vec<&str> = OTHER_KEYS.to_vec();
    keys.extend(CallField::ALL.iter().map(|f| f.name()));
    keys.join(", ")
}

/// The filter a history query asks for.
pub fn parse(q: &HashMap<String, String>) -> ApiResult<CallFilter> {
    if let Some(k) = q
        .keys()
        .filter(|k| !OTHER_KEYS.contains(&k.as_str()) && CallField::from_name(k).is_none())
        .min()
    {
        return Err(ApiFailure::invalid(
            k,
            format!("unknown filter {k:?}; the history takes {}", known_keys()),
        ));
    }
    let given = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    // `state` is the name the console's filters use; `status` the older one.
    let status = match (given("status"), given("state")) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiFailure::invalid(
                "state",
                "state and status name the same filter; give one",
            ))
        }
        (a, b) => a.or(b).map(String::from),
    };
    if let Some(s) = &status {
        if !is_status_filter(s) {
            return Err(ApiFailure::invalid(
                if q.contains_key("state") {
                    "state"
                } else {
                    "status"
                },
                "status must be active, ended, all, or a call state such as in_progress",
            ));
        }
    }
    let limit = match given("limit") {
        None => 50,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return Err(ApiFailure::invalid(
                    "limit",
                    "limit must be a number from 1 to 500",
                ))
            }
        },
    };
    let cursor = match given("cursor") {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiFailure::invalid("cursor", "cursor is not one this gateway handed out")
        })?),
    };
    let taken_over = match given("taken_over") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiFailure::invalid(
                "taken_over",
                "taken_over must be true or false",
            ))
        }
    };
    let mut fields = Vec::new();
    for field in CallField::ALL {
        let Some(v) = given(field.name()) else {
            continue;
        };
        let allowed: &[&str] = match field {
            CallField::Direction => &["inbound", "outbound"],
            CallField::Sentiment => &["positive", "neutral", "negative", "unknown"],
            _ => &[],
        };
        if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
            return Err(ApiFailure::invalid(
                field.name(),
                format!("{} must be one of {}", field.name(), allowed.join(", ")),
            ));
        }
        fields.push((field, v.to_string()));
    }
    let from = parse_time("from", q.get("from"))?;
    let to = parse_time("to", q.get("to"))?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err(ApiFailure::invalid("from", "from must be before to"));
        }
    }
    Ok(CallFilter {
        status,
        q: q.get("q").cloned(),
        from,
        to,
        limit,
        cursor,
        fields,
        taken_over,
    })
}

/// An optional RFC 3339 time parameter.
pub fn parse_time(field: &str, value: Option<&String>) -> ApiResult<Option<DateTime<Utc>>> {
    match value.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiFailure::invalid(
                    field,
                    format!("{field} must be an RFC 3339 time such as 2026-11-20T09:00:00Z"),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_filter_is_read() {
        let f = parse(&query(&[
            ("state", "ended"),
            ("direction", "Inbound"),
            ("intent", "make_offer"),
            ("taken_over", "true"),
        ]))
        .map_err(|e| e.body.message.clone())
        .unwrap_or_else(|m| panic!("{m}"));
        assert_eq!(f.status.as_deref(), Some("ended"));
        assert_eq!(f.taken_over, Some(true));
        assert_eq!(
            f.fields,
            vec![
                (CallField::Direction, "Inbound".to_string()),
                (CallField::Intent, "make_offer".to_string())
            ]
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_parameter() {
        for (pairs, field) in [
            (vec![("colour", "red")], "colour"),
            (vec![("direction", "sideways")], "direction"),
            (vec![("sentiment", "angry")], "sentiment"),
            (vec![("taken_over", "yes")], "taken_over"),
            (vec![("state", "ended"), ("status", "active")], "state"),
            (vec![("state", "gone")], "state"),
        ] {
            let e = parse(&query(&pairs)).err();
            let field_of = e.and_then(|e| e.body.field);
            assert_eq!(field_of.as_deref(), Some(field), "{pairs:?}");
        }
    }
}
