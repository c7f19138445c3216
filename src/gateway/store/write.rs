//! The writer's work: batches (one transaction each), the webhook log, pruning, migrations.

use chrono::Utc;
use rusqlite::{params, Connection, Transaction};

use super::read::ms;
use super::{schema, Batch, Reads, StoreError, StoreResult, TranscriptWrite, WebhookLog};
use crate::core::model::{AuditEntry, Call, QueueItem, QueueState};

/// Webhook payloads are kept for debugging; very large ones are cut to this many bytes.
pub const MAX_LOGGED_PAYLOAD: usize = 64 * 1024;

/// One webhook-log row, on `conn` (alone, or inside the caller's transaction).
pub(super) fn insert_webhook_log(conn: &Connection, log: &WebhookLog) -> StoreResult<()> {
    let max = log.payload.len().min(MAX_LOGGED_PAYLOAD);
    let payload = String::from_utf8_lossy(&log.payload[..max]);
    conn.prepare_cached(
        "INSERT INTO webhook_log (at_ms, org, integration, provider, event, payload, ok, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        ms(Utc::now()),
        log.org,
        log.integration,
        log.provider,
        log.event,
        payload,
        log.error.is_none(),
        log.error
    ])?;
    Ok(())
}

/// The writer connection, borrowed for one piece of work.
pub struct Writes<'c> {
    pub(super) conn: &'c mut Connection,
}

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(v)?)
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

impl<'c> Writes<'c> {
    pub(super) fn new(conn: &'c mut Connection) -> Self {
        Writes { conn }
    }

    /// Reads on the writer connection (they see this connection's own writes).
    pub fn reads(&self) -> Reads<'_> {
        Reads::new(self.conn)
    }

    /// Writes a batch atomically; returns the ids given to its audit entries, in order.
    pub fn commit(&mut self, batch: &Batch) -> StoreResult<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let ids = write_batch(&tx, batch)?;
        tx.commit()?;
        Ok(ids)
    }

    pub fn log_webhook(&mut self, log: &WebhookLog) -> StoreResult<()> {
        insert_webhook_log(self.conn, log)
    }

    /// Stores (or replaces) an integration's sealed credentials.
    pub fn put_credentials(
        &mut self,
        org: &str,
        integration: &str,
        nonce: &[u8],
        sealed: &[u8],
    ) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO provider_credentials (org, integration, nonce, sealed, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (org, integration) DO UPDATE
             SET nonce = excluded.nonce, sealed = excluded.sealed, updated_ms = excluded.updated_ms",
            params![org, integration, nonce, sealed, ms(Utc::now())],
        )?;
        Ok(())
    }

    /// Forgets ingest event ids and webhook log rows older than the given ages, and
    /// webhook log rows beyond the newest `webhook_log_max_rows`.
    pub fn prune(
        &mut self,
        ingest_ids_days: i64,
        webhook_log_days: i64,
        webhook_log_max_rows: u64,
    ) -> StoreResult<(usize, usize)> {
        let now = Utc::now();
        let ids = self.conn.execute(
            "DELETE FROM ingest_event_ids WHERE at_ms < ?1",
            [ms(now - chrono::Duration::days(ingest_ids_days))],
        )?;
        let logs = self.conn.execute(
            "DELETE FROM webhook_log WHERE at_ms < ?1",
            [ms(now - chrono::Duration::days(webhook_log_days))],
        )?;
        // Ids only grow, so everything at or below the (max_rows+1)-th newest id goes.
        let extra = self.conn.execute(
            "DELETE FROM webhook_log WHERE id <= (SELECT id FROM webhook_log
                 ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [i64::try_from(webhook_log_max_rows).unwrap_or(i64::MAX)],
        )?;
        Ok((ids, logs + extra))
    }
}

pub(super) fn write_batch(tx: &Transaction<'_>, batch: &Batch) -> StoreResult<Vec<i64>> {
    write_ingest_id(tx, batch)?;
    write_calls(tx, &batch.calls)?;
    let lines: Vec<&TranscriptWrite> = batch.transcript.iter().collect();
    write_transcript(tx, &lines)?;
    write_queue(tx, &batch.queue)?;
    write_audits(tx, &batch.audits)
}

fn write_ingest_id(tx: &Transaction<'_>, batch: &Batch) -> StoreResult<()> {
    if let Some((org, integration, event_id)) = &batch.ingest_id {
        tx.prepare_cached(
            "INSERT INTO ingest_event_ids (org, integration, event_id, at_ms) VALUES (?1, ?2, ?3, ?4)"
        )?
        .execute(params![org, integration, event_id, ms(Utc::now())],
        )?;
    }
    Ok(())
}

fn write_calls(tx: &Transaction<'_>, calls: &[Call]) -> StoreResult<()> {
    for call in calls {
        tx.prepare_cached(
            "INSERT INTO calls (id, org, integration, provider_call_id, state, created_ms, search, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, search = excluded.search,
                 data = excluded.data"
        )?
        .execute(params![
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
    Ok(())
}

fn write_queue(tx: &Transaction<'_>, items: &[QueueItem]) -> StoreResult<()> {
    for item in items {
        tx.prepare_cached(
            "INSERT INTO queue_items (id, org, state, created_ms, data) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, data = excluded.data",
        )?
        .execute(params![
            item.id,
            item.org,
            queue_state_str(item.state),
            ms(item.created_at),
            json(item)?
        ])?;
    }
    Ok(())
}

fn write_audits(tx: &Transaction<'_>, audits: &[AuditEntry]) -> StoreResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(audits.len());
    for audit in audits {
        tx.prepare_cached(
            "INSERT INTO audit_log (org, call_id, at_ms, data) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            audit.org,
            audit.call_id,
            ms(audit.at),
            json(audit)?
        ])?;
        ids.push(tx.last_insert_rowid());
    }
    Ok(ids)
}

/// Rows per multi-row transcript statement: the search index (FTS5) writes a new segment
/// at each statement inside a transaction, so a group's lines go in a few statements rather
/// than one each. Each row binds 6 parameters.
const TRANSCRIPT_CHUNK: usize = 32;

/// Inserts (or revises, by entry id) transcript lines in order, several per statement. A
/// later row revising an earlier one of the same statement is applied after it.
pub(super) fn write_transcript(
    tx: &Transaction<'_>,
    lines: &[&TranscriptWrite],
) -> StoreResult<()> {
    let mut rest = lines;
    while !rest.is_empty() {
        // Three statement shapes only, so that each stays prepared.
        let n = [TRANSCRIPT_CHUNK, 8, 1]
            .into_iter()
            .find(|n| *n <= rest.len())
            .unwrap_or(1);
        let (chunk, tail) = rest.split_at(n);
        let rows: Vec<String> = (0..n)
            .map(|i| {
                let p = i * 6;
                format!(
                    "(?{}, ?{}, (SELECT org FROM calls WHERE id = ?{}), ?{}, ?{}, ?{}, ?{})",
                    p + 1,
                    p + 2,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO transcript_entries (id, call_id, org, position, utterance_id, text, data)
             VALUES {}
             ON CONFLICT(id) DO UPDATE SET text = excluded.text, data = excluded.data",
            rows.join(", ")
        );
        let mut values: Vec<Box<dyn rusqlite::ToSql>> = Vec::with_capacity(n * 6);
        for w in chunk {
            values.push(Box::new(w.entry.id.clone()));
            values.push(Box::new(w.entry.call_id.clone()));
            values.push(Box::new(w.entry.position));
            values.push(Box::new(w.utterance_id.clone()));
            values.push(Box::new(w.entry.text.clone()));
            values.push(Box::new(json(&w.entry)?));
        }
        tx.prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(values.iter()))?;
        rest = tail;
    }
    Ok(())
}

/// Several batches in order, inside the caller's transaction, with the rows of one kind
/// written together (the result is the same as writing the batches one after another:
/// calls before the lines that refer to them, later rows over earlier ones). Returns each
/// batch's audit ids.
pub(super) fn write_batches(
    tx: &Transaction<'_>,
    batches: &[&Batch],
) -> StoreResult<Vec<Vec<i64>>> {
    for batch in batches {
        write_ingest_id(tx, batch)?;
        write_calls(tx, &batch.calls)?;
    }
    let lines: Vec<&TranscriptWrite> = batches.iter().flat_map(|b| b.transcript.iter()).collect();
    write_transcript(tx, &lines)?;
    let mut ids = Vec::with_capacity(batches.len());
    for batch in batches {
        write_queue(tx, &batch.queue)?;
        ids.push(write_audits(tx, &batch.audits)?);
    }
    Ok(ids)
}

pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
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
    if current > newest {
        return Err(StoreError::NewerSchema {
            found: current,
            known: newest,
        });
    }
    // Every known migration not yet recorded runs, in order: not only those above the
    // highest recorded, so a database never misses one numbered below another it has.
    let applied: std::collections::HashSet<i64> = {
        let mut stmt = conn.prepare("SELECT version FROM schema_migrations")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for (version, sql) in schema::MIGRATIONS
        .iter()
        .filter(|m| !applied.contains(&m.0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migration {
                version: *version,
                source,
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, Utc::now().to_rfc3339()],
        )?;
        tx.commit()?;
    }
    Ok(())
}
