//! Queries. [`Reads`] runs on any connection: a pooled reader for what clients ask, the
//! writer for what the engine decides a commit on.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{CallFilter, Cursor, LiveCall, StoreResult, WebhookRecord};
use crate::core::model::{AuditEntry, Call, QueueItem, TranscriptEntry};

pub struct Reads<'c> {
    pub(super) conn: &'c Connection,
}

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(text: String) -> rusqlite::Result<T> {
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The user's text as one FTS5 phrase: quoted, with `"` doubled, so operators (`OR`,
/// `NEAR`, `*`, `^`, `col:`) and quotes are searched for literally. `None` when the text is
/// too short for the trigram index (fewer than three characters).
fn fts_phrase(q: &str) -> Option<String> {
    if q.chars().count() < 3 {
        return None;
    }
    Some(format!("\"{}\"", q.replace('"', "\"\"")))
}

impl<'c> Reads<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Reads { conn }
    }

    pub fn ingest_seen(&self, org: &str, integration: &str, event_id: &str) -> StoreResult<bool> {
        let conn = self.conn;
        Ok(conn
            .query_row(
                "SELECT 1 FROM ingest_event_ids WHERE org = ?1 AND integration = ?2 AND event_id = ?3",
                params![org, integration, event_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Every stored sealed credential: (org, integration, nonce, sealed).
    pub fn sealed_credentials(&self) -> StoreResult<Vec<crate::gateway::credentials::SealedRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT org, integration, nonce, sealed FROM provider_credentials")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Webhook deliveries of an org, newest first.
    pub fn list_webhooks(&self, org: &str, limit: usize) -> StoreResult<Vec<WebhookRecord>> {
        let conn = self.conn;
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, integration, provider, event, payload, ok, error FROM webhook_log
             WHERE org = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![org, limit as i64], |r| {
            let at_ms: i64 = r.get(1)?;
            Ok(WebhookRecord {
                id: r.get(0)?,
                at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
                integration: r.get(2)?,
                provider: r.get(3)?,
                event: r.get(4)?,
                payload: r.get(5)?,
                ok: r.get(6)?,
                error: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// (ok, error) counts of the webhook log, for health and tests.
    pub fn webhook_counts(&self) -> StoreResult<(u64, u64)> {
        let conn = self.conn;
        Ok(conn.query_row(
            "SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(1 - ok), 0) FROM webhook_log",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Every call not yet ended, with its transcript (loaded at start).
    pub fn load_active(&self) -> StoreResult<Vec<LiveCall>> {
        let conn = self.conn;
        let calls: Vec<Call> = {
            let mut stmt = conn.prepare("SELECT data FROM calls WHERE state != 'ended'")?;
            let rows = stmt.query_map([], |r| parse(r.get(0)?))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::with_capacity(calls.len());
        let mut stmt = conn.prepare(
            "SELECT data, utterance_id FROM transcript_entries WHERE call_id = ?1 ORDER BY position",
        )?;
        for call in calls {
            let entries = stmt
                .query_map([&call.id], |r| Ok((parse(r.get(0)?)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            out.push((call, entries));
        }
        Ok(out)
    }

    /// Queue items still waiting or dialing (loaded at start).
    pub fn load_open_queue(&self) -> StoreResult<Vec<QueueItem>> {
        let conn = self.conn;
        let mut stmt = conn.prepare(
            "SELECT data FROM queue_items WHERE state IN ('pending', 'scheduled', 'dialing')
             ORDER BY created_ms",
        )?;
        let rows = stmt.query_map([], |r| parse(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn get_call(&self, org: &str, id: &str) -> StoreResult<Option<Call>> {
        let conn = self.conn;
        Ok(conn
            .query_row(
                "SELECT data FROM calls WHERE org = ?1 AND id = ?2",
                params![org, id],
                |r| parse(r.get(0)?),
            )
            .optional()?)
    }

    pub fn find_call_by_provider(
        &self,
        org: &str,
        integration: &str,
        provider_call_id: &str,
    ) -> StoreResult<Option<Call>> {
        let conn = self.conn;
        Ok(conn
            .query_row(
                "SELECT data FROM calls WHERE org = ?1 AND integration = ?2 AND provider_call_id = ?3",
                params![org, integration, provider_call_id],
                |r| parse(r.get(0)?),
            )
            .optional()?)
    }

    pub fn transcript(&self, call_id: &str) -> StoreResult<Vec<TranscriptEntry>> {
        let conn = self.conn;
        let mut stmt = conn
            .prepare("SELECT data FROM transcript_entries WHERE call_id = ?1 ORDER BY position")?;
        let rows = stmt.query_map([call_id], |r| parse(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn find_utterance(
        &self,
        call_id: &str,
        utterance_id: &str,
    ) -> StoreResult<Option<TranscriptEntry>> {
        let conn = self.conn;
        Ok(conn
            .query_row(
                "SELECT data FROM transcript_entries WHERE call_id = ?1 AND utterance_id = ?2",
                params![call_id, utterance_id],
                |r| parse(r.get(0)?),
            )
            .optional()?)
    }

    pub fn transcript_len(&self, call_id: &str) -> StoreResult<u32> {
        let conn = self.conn;
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM transcript_entries WHERE call_id = ?1",
            [call_id],
            |r| r.get::<_, u32>(0),
        )?)
    }

    /// History, newest first. Returns the page and the cursor of the next one.
    pub fn list_calls(
        &self,
        org: &str,
        filter: &CallFilter,
    ) -> StoreResult<(Vec<Call>, Option<Cursor>)> {
        let mut sql = String::from("SELECT data, created_ms, id FROM calls WHERE org = ?");
        let mut args: Vec<rusqlite::types::Value> = vec![org.to_string().into()];
        match filter.status.as_deref() {
            None | Some("") | Some("all") => {}
            Some("active") => sql.push_str(" AND state != 'ended'"),
            Some(state) => {
                sql.push_str(" AND state = ?");
                args.push(state.to_string().into());
            }
        }
        if let Some(q) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
            let q = q.trim();
            if let Some(phrase) = fts_phrase(q) {
                // Both indexes answer "which rows contain this substring" without a scan.
                sql.push_str(
                    " AND (calls.rowid IN (SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?)
                       OR calls.id IN (SELECT t.call_id FROM transcript_entries t
                         WHERE t.rowid IN (SELECT rowid FROM transcript_fts
                                           WHERE transcript_fts MATCH ?)))",
                );
                args.push(phrase.clone().into());
                args.push(phrase.into());
            } else {
                // Trigrams cannot find one or two characters: those still scan.
                let pat = like_pattern(q);
                sql.push_str(
                    " AND (search LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM transcript_entries t
                       WHERE t.call_id = calls.id AND t.text LIKE ? ESCAPE '\\'))",
                );
                args.push(pat.clone().into());
                args.push(pat.into());
            }
        }
        if let Some(from) = filter.from {
            sql.push_str(" AND created_ms >= ?");
            args.push(ms(from).into());
        }
        if let Some(to) = filter.to {
            sql.push_str(" AND created_ms < ?");
            args.push(ms(to).into());
        }
        for (field, value) in &filter.fields {
            // The names are a closed set (CallField), never user text, so formatting them
            // into the SQL is safe; the value is a parameter.
            sql.push_str(&format!(
                " AND lower(json_extract(data, '$.{}')) = lower(?)",
                field.name()
            ));
            args.push(value.clone().into());
        }
        match filter.taken_over {
            Some(true) => sql.push_str(" AND json_extract(data, '$.takeover') IS NOT NULL"),
            Some(false) => sql.push_str(" AND json_extract(data, '$.takeover') IS NULL"),
            None => {}
        }
        if let Some((c_ms, c_id)) = &filter.cursor {
            sql.push_str(" AND (created_ms < ? OR (created_ms = ? AND id < ?))");
            args.push((*c_ms).into());
            args.push((*c_ms).into());
            args.push(c_id.clone().into());
        }
        sql.push_str(" ORDER BY created_ms DESC, id DESC LIMIT ?");
        args.push(((filter.limit + 1) as i64).into());
        let conn = self.conn;
        let mut stmt = conn.prepare(&sql)?;
        let mut rows: Vec<(Call, i64, String)> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((parse(r.get(0)?)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let next = if rows.len() > filter.limit {
            rows.truncate(filter.limit);
            rows.last().map(|(_, m, id)| (*m, id.clone()))
        } else {
            None
        };
        Ok((rows.into_iter().map(|(c, _, _)| c).collect(), next))
    }

    /// Calls created in [from, to), for analytics.
    pub fn calls_between(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Call>> {
        let conn = self.conn;
        let mut stmt = conn.prepare(
            "SELECT data FROM calls WHERE org = ?1 AND created_ms >= ?2 AND created_ms < ?3",
        )?;
        let rows = stmt.query_map(params![org, ms(from), ms(to)], |r| parse(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// [`Reads::calls_between`] one row at a time: nothing but the current call is held.
    pub fn each_call_between(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        f: &mut dyn FnMut(Call),
    ) -> StoreResult<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT data FROM calls WHERE org = ?1 AND created_ms >= ?2 AND created_ms < ?3",
        )?;
        let mut rows = stmt.query(params![org, ms(from), ms(to)])?;
        while let Some(row) = rows.next()? {
            // Parsed from the borrowed text: no owned copy of each row.
            let bad = |e: Box<dyn std::error::Error + Send + Sync>| {
                rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e)
            };
            let text = row.get_ref(0)?.as_str().map_err(|e| bad(Box::new(e)))?;
            let call: Call = serde_json::from_str(text).map_err(|e| bad(Box::new(e)))?;
            f(call);
        }
        Ok(())
    }

    pub fn get_queue_item(&self, org: &str, id: &str) -> StoreResult<Option<QueueItem>> {
        let conn = self.conn;
        Ok(conn
            .query_row(
                "SELECT data FROM queue_items WHERE org = ?1 AND id = ?2",
                params![org, id],
                |r| parse(r.get(0)?),
            )
            .optional()?)
    }

    /// Queue items, newest first; finished ones only when `all`.
    pub fn list_queue(&self, org: &str, all: bool, limit: usize) -> StoreResult<Vec<QueueItem>> {
        let sql = if all {
            "SELECT data FROM queue_items WHERE org = ?1 ORDER BY created_ms DESC LIMIT ?2"
        } else {
            "SELECT data FROM queue_items WHERE org = ?1 AND state IN ('pending', 'scheduled', 'dialing')
             ORDER BY created_ms DESC LIMIT ?2"
        };
        let conn = self.conn;
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params![org, limit as i64], |r| parse(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Audit entries, newest first.
    pub fn list_audit(
        &self,
        org: &str,
        call_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let conn = self.conn;
        let mut stmt = conn.prepare(
            "SELECT id, data FROM audit_log WHERE org = ?1 AND (?2 IS NULL OR call_id = ?2)
             ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![org, call_id, limit as i64], |r| {
            let id: i64 = r.get(0)?;
            let mut e: AuditEntry = parse(r.get(1)?)?;
            e.id = id;
            Ok(e)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Whether a call state string is one the history filter accepts.
pub fn is_status_filter(s: &str) -> bool {
    matches!(
        s,
        "" | "all"
            | "active"
            | "queued"
            | "ringing"
            | "in_progress"
            | "ai_paused"
            | "taken_over"
            | "ended"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::CallState;

    #[test]
    fn every_call_state_is_a_status_filter() {
        for s in [
            CallState::Queued,
            CallState::Ringing,
            CallState::InProgress,
            CallState::AiPaused,
            CallState::TakenOver,
            CallState::Ended,
        ] {
            assert!(is_status_filter(s.as_str()));
        }
        assert!(!is_status_filter("bogus"));
    }

    #[test]
    fn fts_phrase_quotes_user_text() {
        assert_eq!(fts_phrase("hi"), None);
        assert_eq!(fts_phrase("a OR b").as_deref(), Some("\"a OR b\""));
        assert_eq!(
            fts_phrase(r#"say "x"*"#).as_deref(),
            Some(r#""say ""x""*""#)
        );
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_a"), "%50\\%\\_a%");
    }
}
