//! The durable per-org event log (SQLite side): every announced event gets its org's next
//! seq inside the transaction that commits the change it describes, so the numbering
//! survives restarts and a resuming client is replayed from here when the in-memory ring
//! no longer covers its position. The PostgreSQL store mirrors this (see `pg/`).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::read::{ms, parse};
use super::{Batch, Reads, StoreError, StoreResult, WebhookLog, Writes};
use crate::core::protocol::StreamEvent;

/// One event of the log, as committed.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub seq: u64,
    pub event: StreamEvent,
    /// The provider's utterance id of a transcript event: lets an instance that did not
    /// commit the event apply it to memory (later partials revise by utterance id).
    pub utterance: Option<String>,
}

/// What one commit wrote: the ids given to the batch's audit entries (in order) and the
/// events it logged (in seq order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Committed {
    pub audit_ids: Vec<i64>,
    pub events: Vec<LoggedEvent>,
}

/// The events a batch announces, in announcement order: calls, transcript lines, queue
/// items, audit entries (with the ids the database gave them). Shared by both stores.
pub fn batch_events(batch: &Batch, audit_ids: &[i64]) -> Vec<(StreamEvent, Option<String>)> {
    let mut out = Vec::with_capacity(
        batch.calls.len() + batch.transcript.len() + batch.queue.len() + batch.audits.len(),
    );
    for call in &batch.calls {
        let call = call.clone();
        out.push((
            if call.state.is_active() {
                StreamEvent::CallUpdated { call }
            } else {
                StreamEvent::CallEnded { call }
            },
            None,
        ));
    }
    for w in &batch.transcript {
        let entry = w.entry.clone();
        out.push((
            if w.appended {
                StreamEvent::TranscriptAppended { entry }
            } else {
                StreamEvent::TranscriptRevised { entry }
            },
            w.utterance_id.clone(),
        ));
    }
    for item in &batch.queue {
        out.push((StreamEvent::QueueUpdated { item: item.clone() }, None));
    }
    for (audit, id) in batch.audits.iter().zip(audit_ids) {
        let mut audit = audit.clone();
        audit.id = *id;
        out.push((StreamEvent::ActionAudited { audit }, None));
    }
    out
}

/// Appends `events` to `org`'s log on `conn` (inside the caller's transaction): the org's
/// counter moves first, so two writers can never take the same seq.
fn append(
    conn: &Connection,
    org: &str,
    events: Vec<(StreamEvent, Option<String>)>,
    at: DateTime<Utc>,
) -> StoreResult<Vec<LoggedEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let n = events.len() as i64;
    let last: i64 = conn.query_row(
        "INSERT INTO stream_seq (org, seq) VALUES (?1, ?2)
         ON CONFLICT (org) DO UPDATE SET seq = seq + excluded.seq RETURNING seq",
        params![org, n],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events (org, seq, at_ms, utterance, event) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut out = Vec::with_capacity(events.len());
    for (i, (event, utterance)) in events.into_iter().enumerate() {
        let seq = last - n + 1 + i as i64;
        stmt.execute(params![
            org,
            seq,
            ms(at),
            utterance,
            serde_json::to_string(&event)?
        ])?;
        out.push(LoggedEvent {
            seq: seq as u64,
            event,
            utterance,
        });
    }
    Ok(out)
}

impl Writes<'_> {
    /// Writes a batch and logs the events it announces, in one transaction.
    pub fn commit_logged(&mut self, org: &str, batch: &Batch) -> StoreResult<Committed> {
        let tx = self.conn.transaction()?;
        let audit_ids = super::write::write_batch(&tx, batch)?;
        let events = append(&tx, org, batch_events(batch, &audit_ids), Utc::now())?;
        tx.commit()?;
        Ok(Committed { audit_ids, events })
    }

    /// Group commit: several batches of one org, in order, and webhook-log rows, in one
    /// transaction; each batch's events take the org's next seqs. All or nothing.
    pub fn commit_group(
        &mut self,
        org: &str,
        batches: &[&Batch],
        logs: &[WebhookLog],
    ) -> StoreResult<Vec<Committed>> {
        let tx = self.conn.transaction()?;
        let at = Utc::now();
        let mut out = Vec::with_capacity(batches.len());
        let audit_ids = super::write::write_batches(&tx, batches)?;
        for (batch, audit_ids) in batches.iter().zip(audit_ids) {
            let events = append(&tx, org, batch_events(batch, &audit_ids), at)?;
            out.push(Committed { audit_ids, events });
        }
        for log in logs {
            super::write::insert_webhook_log(&tx, log)?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// As [`Self::commit_logged`], only if the org's log is still at `planned` (the seq the
    /// change was planned at), else [`StoreError::Stale`] and nothing written. One row read
    /// in the transaction; the writer is exclusive, so nothing moves between check and write.
    pub fn commit_logged_at(
        &mut self,
        org: &str,
        batch: &Batch,
        planned: u64,
    ) -> StoreResult<Committed> {
        let tx = self.conn.transaction()?;
        let found: i64 = tx
            .prepare_cached("SELECT seq FROM stream_seq WHERE org = ?1")?
            .query_row([org], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        if found as u64 != planned {
            return Err(StoreError::Stale {
                org: org.to_string(),
                planned,
                found: found as u64,
            });
        }
        let audit_ids = super::write::write_batch(&tx, batch)?;
        let events = append(&tx, org, batch_events(batch, &audit_ids), Utc::now())?;
        tx.commit()?;
        Ok(Committed { audit_ids, events })
    }

    /// Logs events that change no stored record (analytics), in one transaction.
    pub fn append_events(
        &mut self,
        org: &str,
        events: Vec<StreamEvent>,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let tx = self.conn.transaction()?;
        let logged = append(
            &tx,
            org,
            events.into_iter().map(|e| (e, None)).collect(),
            Utc::now(),
        )?;
        tx.commit()?;
        Ok(logged)
    }

    /// Drops log rows older than `days`, and beyond the newest `keep_per_org` of each org.
    /// The counters stay: numbering continues after a prune.
    pub fn prune_events(&mut self, keep_per_org: u64, days: i64) -> StoreResult<usize> {
        let old = self.conn.execute(
            "DELETE FROM events WHERE at_ms < ?1",
            [ms(Utc::now() - chrono::Duration::days(days))],
        )?;
        let extra = self.conn.execute(
            "DELETE FROM events WHERE seq <= (SELECT s.seq FROM stream_seq s WHERE s.org = events.org) - ?1",
            [i64::try_from(keep_per_org).unwrap_or(i64::MAX)],
        )?;
        Ok(old + extra)
    }
}

impl Reads<'_> {
    /// The stream's epoch, drawn once when the log was created.
    pub fn epoch(&self) -> StoreResult<String> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM stream_meta WHERE key = 'epoch'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Every org's last seq.
    pub fn stream_seqs(&self) -> StoreResult<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare("SELECT org, seq FROM stream_seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// At most `limit` events of `org` after `since`, in seq order. Fewer than asked for
    /// when the log ends, or when retention removed the oldest (the caller checks the
    /// first seq).
    pub fn events_after(
        &self,
        org: &str,
        since: u64,
        limit: usize,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, utterance, event FROM events WHERE org = ?1 AND seq > ?2
             ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                org,
                i64::try_from(since).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(LoggedEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    utterance: r.get(1)?,
                    event: parse(r.get(2)?)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
