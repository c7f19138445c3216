//! SQLite persistence (WAL). One connection behind a mutex: writes are small transactions
//! and the gateway commits before it answers 2xx, so an acknowledged write survives a crash
//! (WAL with synchronous=NORMAL loses nothing on a process kill).

mod schema;

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::core::model::{AuditEntry, Call, QueueItem, QueueState, TranscriptEntry};

/// Everything one state change writes, committed in a single transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub calls: Vec<Call>,
    pub transcript: Vec<TranscriptWrite>,
    pub queue: Vec<QueueItem>,
    /// Audit entries; their ids are assigned by the database.
    pub audits: Vec<AuditEntry>,
    /// (org, integration, event id) of the ingest event being applied.
    pub ingest_id: Option<(String, String, String)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
            && self.transcript.is_empty()
            && self.queue.is_empty()
            && self.audits.is_empty()
            && self.ingest_id.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct TranscriptWrite {
    pub entry: TranscriptEntry,
    /// The provider's utterance id (for later revisions).
    pub utterance_id: Option<String>,
    /// New entry (announced as appended) or a revision of an existing one.
    pub appended: bool,
}

#[derive(Debug, Default, Clone)]
pub struct CallFilter {
    /// "active", "ended" or a call state.
    pub status: Option<String>,
    pub q: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    /// (created_ms, id) of the last call of the previous page.
    pub cursor: Option<(i64, String)>,
}

/// A row of the webhook log, as `GET /api/webhook-log` returns it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebhookRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub integration: String,
    pub provider: String,
    /// Event types in the delivery, comma-separated, when it could be parsed.
    pub event: Option<String>,
    pub payload: String,
    pub ok: bool,
    pub error: Option<String>,
}

pub struct WebhookLog<'a> {
    pub org: Option<&'a str>,
    pub integration: &'a str,
    pub provider: &'a str,
    pub event: Option<&'a str>,
    pub payload: &'a [u8],
    pub error: Option<&'a str>,
}

/// A live call and its transcript entries with their utterance ids.
pub type LiveCall = (Call, Vec<(TranscriptEntry, Option<String>)>);

/// (created_ms, id) of the last call of a history page.
pub type Cursor = (i64, String);

pub struct Store {
    conn: Mutex<Connection>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string(v)?)
}

fn parse<T: serde::de::DeserializeOwned>(text: String) -> rusqlite::Result<T> {
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn search_text(call: &Call) -> String {
    [
        Some(call.from.as_str()),
        Some(call.to.as_str()),
        call.lead.name.as_deref(),
        call.lead.id.as_deref(),
        call.campaign.as_deref(),
        call.assistant.as_deref(),
        call.intent.as_deref(),
        Some(call.provider_call_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\u{1f}")
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

fn queue_state_str(s: QueueState) -> &'static str {
    match s {
        QueueState::Pending => "pending",
        QueueState::Scheduled => "scheduled",
        QueueState::Dialing => "dialing",
        QueueState::Done => "done",
        QueueState::Cancelled => "cancelled",
        QueueState::Failed => "failed",
    }
}

impl Store {
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create directory {}", dir.display()))?;
            }
        }
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "database {} cannot use WAL mode (got {mode})",
            path.display()
        );
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| anyhow::anyhow!("database lock poisoned"))?;
        f(&mut guard)
    }

    /// Writes a batch atomically; returns the ids given to its audit entries, in order.
    pub fn commit(&self, batch: &Batch) -> anyhow::Result<Vec<i64>> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let ids = write_batch(&tx, batch)?;
            tx.commit()?;
            Ok(ids)
        })
    }

    pub fn ingest_seen(
        &self,
        org: &str,
        integration: &str,
        event_id: &str,
    ) -> anyhow::Result<bool> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM ingest_event_ids WHERE org = ?1 AND integration = ?2 AND event_id = ?3",
                    params![org, integration, event_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
    }

    pub fn log_webhook(&self, log: &WebhookLog<'_>) -> anyhow::Result<()> {
        // Payloads are kept for debugging; very large ones are cut.
        const MAX: usize = 64 * 1024;
        let payload = String::from_utf8_lossy(&log.payload[..log.payload.len().min(MAX)]);
        self.with(|conn| {
            conn.execute(
                "INSERT INTO webhook_log (at_ms, org, integration, provider, event, payload, ok, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    ms(Utc::now()),
                    log.org,
                    log.integration,
                    log.provider,
                    log.event,
                    payload,
                    log.error.is_none(),
                    log.error
                ],
            )?;
            Ok(())
        })
    }

    /// Forgets ingest event ids and webhook log rows older than the given ages.
    pub fn prune(
        &self,
        ingest_ids_days: i64,
        webhook_log_days: i64,
    ) -> anyhow::Result<(usize, usize)> {
        let now = Utc::now();
        self.with(|conn| {
            let ids = conn.execute(
                "DELETE FROM ingest_event_ids WHERE at_ms < ?1",
                [ms(now - chrono::Duration::days(ingest_ids_days))],
            )?;
            let logs = conn.execute(
                "DELETE FROM webhook_log WHERE at_ms < ?1",
                [ms(now - chrono::Duration::days(webhook_log_days))],
            )?;
            Ok((ids, logs))
        })
    }

    /// Webhook deliveries of an org, newest first.
    pub fn list_webhooks(&self, org: &str, limit: usize) -> anyhow::Result<Vec<WebhookRecord>> {
        self.with(|conn| {
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
        })
    }

    /// (ok, error) counts of the webhook log, for health and tests.
    pub fn webhook_counts(&self) -> anyhow::Result<(u64, u64)> {
        self.with(|conn| {
            Ok(conn.query_row(
                "SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(1 - ok), 0) FROM webhook_log",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )?)
        })
    }

    /// Every call not yet ended, with its transcript (loaded at start).
    pub fn load_active(&self) -> anyhow::Result<Vec<LiveCall>> {
        self.with(|conn| {
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
        })
    }

    /// Queue items still waiting or dialing (loaded at start).
    pub fn load_open_queue(&self) -> anyhow::Result<Vec<QueueItem>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT data FROM queue_items WHERE state IN ('pending', 'scheduled', 'dialing')
                 ORDER BY created_ms",
            )?;
            let rows = stmt.query_map([], |r| parse(r.get(0)?))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn get_call(&self, org: &str, id: &str) -> anyhow::Result<Option<Call>> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT data FROM calls WHERE org = ?1 AND id = ?2",
                    params![org, id],
                    |r| parse(r.get(0)?),
                )
                .optional()?)
        })
    }

    pub fn find_call_by_provider(
        &self,
        org: &str,
        integration: &str,
        provider_call_id: &str,
    ) -> anyhow::Result<Option<Call>> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT data FROM calls WHERE org = ?1 AND integration = ?2 AND provider_call_id = ?3",
                    params![org, integration, provider_call_id],
                    |r| parse(r.get(0)?),
                )
                .optional()?)
        })
    }

    pub fn transcript(&self, call_id: &str) -> anyhow::Result<Vec<TranscriptEntry>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT data FROM transcript_entries WHERE call_id = ?1 ORDER BY position",
            )?;
            let rows = stmt.query_map([call_id], |r| parse(r.get(0)?))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn find_utterance(
        &self,
        call_id: &str,
        utterance_id: &str,
    ) -> anyhow::Result<Option<TranscriptEntry>> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT data FROM transcript_entries WHERE call_id = ?1 AND utterance_id = ?2",
                    params![call_id, utterance_id],
                    |r| parse(r.get(0)?),
                )
                .optional()?)
        })
    }

    pub fn transcript_len(&self, call_id: &str) -> anyhow::Result<u32> {
        self.with(|conn| {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM transcript_entries WHERE call_id = ?1",
                [call_id],
                |r| r.get::<_, u32>(0),
            )?)
        })
    }

    /// History, newest first. Returns the page and the cursor of the next one.
    pub fn list_calls(
        &self,
        org: &str,
        filter: &CallFilter,
    ) -> anyhow::Result<(Vec<Call>, Option<Cursor>)> {
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
            let pat = like_pattern(q.trim());
            sql.push_str(
                " AND (search LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM transcript_entries t
                   WHERE t.call_id = calls.id AND t.text LIKE ? ESCAPE '\\'))",
            );
            args.push(pat.clone().into());
            args.push(pat.into());
        }
        if let Some(from) = filter.from {
            sql.push_str(" AND created_ms >= ?");
            args.push(ms(from).into());
        }
        if let Some(to) = filter.to {
            sql.push_str(" AND created_ms < ?");
            args.push(ms(to).into());
        }
        if let Some((c_ms, c_id)) = &filter.cursor {
            sql.push_str(" AND (created_ms < ? OR (created_ms = ? AND id < ?))");
            args.push((*c_ms).into());
            args.push((*c_ms).into());
            args.push(c_id.clone().into());
        }
        sql.push_str(" ORDER BY created_ms DESC, id DESC LIMIT ?");
        args.push(((filter.limit + 1) as i64).into());
        self.with(|conn| {
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
        })
    }

    /// Calls created in [from, to), for analytics.
    pub fn calls_between(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Call>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT data FROM calls WHERE org = ?1 AND created_ms >= ?2 AND created_ms < ?3",
            )?;
            let rows = stmt.query_map(params![org, ms(from), ms(to)], |r| parse(r.get(0)?))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn get_queue_item(&self, org: &str, id: &str) -> anyhow::Result<Option<QueueItem>> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT data FROM queue_items WHERE org = ?1 AND id = ?2",
                    params![org, id],
                    |r| parse(r.get(0)?),
                )
                .optional()?)
        })
    }

    /// Queue items, newest first; finished ones only when `all`.
    pub fn list_queue(&self, org: &str, all: bool, limit: usize) -> anyhow::Result<Vec<QueueItem>> {
        let sql = if all {
            "SELECT data FROM queue_items WHERE org = ?1 ORDER BY created_ms DESC LIMIT ?2"
        } else {
            "SELECT data FROM queue_items WHERE org = ?1 AND state IN ('pending', 'scheduled', 'dialing')
             ORDER BY created_ms DESC LIMIT ?2"
        };
        self.with(|conn| {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map(params![org, limit as i64], |r| parse(r.get(0)?))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Audit entries, newest first.
    pub fn list_audit(
        &self,
        org: &str,
        call_id: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        self.with(|conn| {
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
        })
    }
}

fn write_batch(tx: &Transaction<'_>, batch: &Batch) -> anyhow::Result<Vec<i64>> {
    if let Some((org, integration, event_id)) = &batch.ingest_id {
        tx.execute(
            "INSERT INTO ingest_event_ids (org, integration, event_id, at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![org, integration, event_id, ms(Utc::now())],
        )?;
    }
    for call in &batch.calls {
        tx.execute(
            "INSERT INTO calls (id, org, integration, provider_call_id, state, created_ms, search, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, search = excluded.search,
                 data = excluded.data",
            params![
                call.id,
                call.org,
                call.integration,
                call.provider_call_id,
                call.state.as_str(),
                ms(call.created_at),
                search_text(call),
                json(call)?
            ],
        )?;
    }
    for TranscriptWrite {
        entry,
        utterance_id: utterance,
        ..
    } in &batch.transcript
    {
        tx.execute(
            "INSERT INTO transcript_entries (id, call_id, org, position, utterance_id, text, data)
             VALUES (?1, ?2, (SELECT org FROM calls WHERE id = ?2), ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET text = excluded.text, data = excluded.data",
            params![
                entry.id,
                entry.call_id,
                entry.position,
                utterance,
                entry.text,
                json(entry)?
            ],
        )?;
    }
    for item in &batch.queue {
        tx.execute(
            "INSERT INTO queue_items (id, org, state, created_ms, data) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, data = excluded.data",
            params![
                item.id,
                item.org,
                queue_state_str(item.state),
                ms(item.created_at),
                json(item)?
            ],
        )?;
    }
    let mut ids = Vec::with_capacity(batch.audits.len());
    for audit in &batch.audits {
        tx.execute(
            "INSERT INTO audit_log (org, call_id, at_ms, data) VALUES (?1, ?2, ?3, ?4)",
            params![audit.org, audit.call_id, ms(audit.at), json(audit)?],
        )?;
        ids.push(tx.last_insert_rowid());
    }
    Ok(ids)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             applied_at TEXT NOT NULL
         )",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let newest = schema::MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    anyhow::ensure!(
        current <= newest,
        "the database was written by a newer callwatch (schema {current}, this build knows {newest})"
    );
    for (version, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("schema migration {version} failed"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, Utc::now().to_rfc3339()],
        )?;
        tx.commit()?;
    }
    Ok(())
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
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_a"), "%50\\%\\_a%");
    }
}
