//! The PostgreSQL queries and transactions behind [`ReadOps`] and [`WriteOps`]: the same
//! meaning as the SQLite ones (`store/read.rs`, `write.rs`, `events.rs`, ...), row for row.
//! History search uses full-text indexes (`tsvector`, `plainto_tsquery('simple', ...)`):
//! whole words, case-insensitive, where SQLite's trigram index also matches inside words.

use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::GenericClient;
use tokio::runtime::Handle;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::schema::MIGRATIONS;
use crate::core::compliance::DncEntry;
use crate::core::model::{AuditEntry, Call, QueueItem, QueueState, TranscriptEntry};
use crate::core::protocol::StreamEvent;
use crate::gateway::credentials::SealedRow;
use crate::gateway::store::contract::{ReadOps, WriteOps};
use crate::gateway::store::{
    batch_events, Batch, CallFilter, Committed, Cursor, LiveCall, LoggedEvent, StoreError,
    StoreResult, StoredAnswer, WebhookLog, WebhookRecord, MAX_LOGGED_PAYLOAD,
};

mod read;

/// Serialises migrations of every callwatch database on this server (instances starting
/// together): `pg_advisory_xact_lock` on this key, released with the transaction.
const MIGRATION_LOCK: i64 = 0x6361_6c6c_7761_7463; // "callwatc"

/// A pooled connection, borrowed for one piece of work. Reads are [`ReadOps`] on it too.
pub struct PgWrites<'a> {
    client: &'a mut deadpool_postgres::Client,
    rt: &'a Handle,
}

/// Reads run on the same type (a connection is a connection).
pub type PgReads<'a> = PgWrites<'a>;

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(v)?)
}

fn parse<T: serde::de::DeserializeOwned>(row: &Row, i: usize) -> StoreResult<T> {
    let text: String = row.try_get(i)?;
    Ok(serde_json::from_str(&text)?)
}

fn parse_all<T: serde::de::DeserializeOwned>(rows: &[Row]) -> StoreResult<Vec<T>> {
    rows.iter().map(|r| parse(r, 0)).collect()
}

fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
    .join(" ")
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

fn audit(row: &Row) -> StoreResult<AuditEntry> {
    let mut e: AuditEntry = parse(row, 1)?;
    e.id = row.try_get(0)?;
    Ok(e)
}

fn dnc(row: &Row) -> StoreResult<DncEntry> {
    Ok(DncEntry {
        number: row.try_get(0)?,
        source: row.try_get(1)?,
        reason: row.try_get(2)?,
        added_by: row.try_get(3)?,
        added_at: at(row.try_get(4)?),
    })
}

/// The audit entry's action as stored in its JSON (for the compliance report's filter).
fn action_of(a: &AuditEntry) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.get("action").and_then(|x| x.as_str()).map(str::to_string))
        .unwrap_or_default()
}

async fn write_batch<C: GenericClient>(tx: &C, batch: &Batch) -> StoreResult<Vec<i64>> {
    if let Some((org, integration, event_id)) = &batch.ingest_id {
        tx.execute(
            "INSERT INTO ingest_event_ids (org, integration, event_id, at_ms) VALUES ($1, $2, $3, $4)",
            &[org, integration, event_id, &ms(Utc::now())],
        )
        .await?;
    }
    for call in &batch.calls {
        tx.execute(
            "INSERT INTO calls (id, org, integration, provider_call_id, state, created_ms, search, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, search = excluded.search,
                 data = excluded.data",
            &[
                &call.id,
                &call.org,
                &call.integration,
                &call.provider_call_id,
                &call.state.as_str(),
                &ms(call.created_at),
                &search_text(call),
                &json(call)?,
            ],
        )
        .await?;
    }
    for w in &batch.transcript {
        let e = &w.entry;
        tx.execute(
            "INSERT INTO transcript_entries (id, call_id, org, position, utterance_id, text, data)
             VALUES ($1, $2, (SELECT org FROM calls WHERE id = $2), $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET text = excluded.text, data = excluded.data",
            &[
                &e.id,
                &e.call_id,
                &i32::try_from(e.position).unwrap_or(i32::MAX),
                &w.utterance_id,
                &e.text,
                &json(e)?,
            ],
        )
        .await?;
    }
    for item in &batch.queue {
        tx.execute(
            "INSERT INTO queue_items (id, org, state, created_ms, data) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, data = excluded.data",
            &[
                &item.id,
                &item.org,
                &queue_state_str(item.state),
                &ms(item.created_at),
                &json(item)?,
            ],
        )
        .await?;
    }
    let mut ids = Vec::with_capacity(batch.audits.len());
    for a in &batch.audits {
        let row = tx
            .query_one(
                "INSERT INTO audit_log (org, call_id, at_ms, action, data) VALUES ($1, $2, $3, $4, $5)
                 RETURNING id",
                &[&a.org, &a.call_id, &ms(a.at), &action_of(a), &json(a)?],
            )
            .await?;
        ids.push(row.try_get(0)?);
    }
    Ok(ids)
}

/// One webhook-log row (alone, or inside the caller's transaction).
async fn insert_webhook_log<C: GenericClient>(client: &C, log: &WebhookLog) -> StoreResult<()> {
    let max = log.payload.len().min(MAX_LOGGED_PAYLOAD);
    let payload = String::from_utf8_lossy(&log.payload[..max]).replace('\0', "");
    client
        .execute(
            "INSERT INTO webhook_log (at_ms, org, integration, provider, event, payload, ok, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &ms(Utc::now()),
                &log.org,
                &log.integration,
                &log.provider,
                &log.event,
                &payload,
                &log.error.is_none(),
                &log.error,
            ],
        )
        .await?;
    Ok(())
}

/// Appends events to the org's log inside the caller's transaction. The counter row is
/// locked until that transaction ends, so instances writing one org take seqs one
/// transaction at a time: gap-free, and in commit order.
async fn append<C: GenericClient>(
    tx: &C,
    org: &str,
    events: Vec<(StreamEvent, Option<String>)>,
) -> StoreResult<Vec<LoggedEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let n = int(events.len());
    let last: i64 = tx
        .query_one(
            "INSERT INTO stream_seq (org, seq) VALUES ($1, $2)
             ON CONFLICT (org) DO UPDATE SET seq = stream_seq.seq + excluded.seq RETURNING seq",
            &[&org, &n],
        )
        .await?
        .try_get(0)?;
    let now = ms(Utc::now());
    let stmt = tx
        .prepare(
            "INSERT INTO events (org, seq, at_ms, utterance, event) VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    let mut out = Vec::with_capacity(events.len());
    for (i, (event, utterance)) in events.into_iter().enumerate() {
        let seq = last - n + 1 + int(i);
        tx.execute(&stmt, &[&org, &seq, &now, &utterance, &json(&event)?])
            .await?;
        out.push(LoggedEvent {
            seq: seq as u64,
            event,
            utterance,
        });
    }
    Ok(out)
}

pub(super) async fn migrate(
    client: &mut deadpool_postgres::Client,
    schema: Option<&str>,
) -> StoreResult<Vec<i64>> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            super::quote_ident(schema)
        ))
        .await?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TEXT NOT NULL
         )",
    )
    .await?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let newest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if let Some(found) = applied.iter().copied().max().filter(|v| *v > newest) {
        return Err(StoreError::NewerSchema {
            found,
            known: newest,
        });
    }
    let mut done = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|m| !applied.contains(&m.0)) {
        tx.batch_execute(sql)
            .await
            .map_err(|source| StoreError::PgMigration {
                version: *version,
                source,
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &Utc::now().to_rfc3339()],
        )
        .await?;
        done.push(*version);
    }
    tx.commit().await?;
    Ok(done)
}

impl<'a> PgWrites<'a> {
    pub fn new(client: &'a mut deadpool_postgres::Client, rt: &'a Handle) -> Self {
        PgWrites { client, rt }
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        Ok(self.rt.block_on(self.client.query(sql, params))?)
    }

    fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Option<Row>> {
        Ok(self.rt.block_on(self.client.query_opt(sql, params))?)
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<usize> {
        Ok(self.rt.block_on(self.client.execute(sql, params))? as usize)
    }
}

impl WriteOps for PgWrites<'_> {
    fn claim(
        &mut self,
        scope: &str,
        key: &str,
        holder: &str,
        detail: &str,
        ttl_ms: i64,
    ) -> StoreResult<Option<String>> {
        // The holder may release between the insert and the read of who holds it: then try
        // again (a few times; a claim this contended is reported as held).
        for _ in 0..3 {
            let now = ms(Utc::now());
            let taken = self.query(
                "INSERT INTO held_claims (scope, key, holder, detail, expires_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (scope, key) DO UPDATE
                   SET holder = excluded.holder, detail = excluded.detail,
                       expires_ms = excluded.expires_ms
                   WHERE held_claims.expires_ms < $6
                 RETURNING holder",
                &[&scope, &key, &holder, &detail, &(now + ttl_ms), &now],
            )?;
            if !taken.is_empty() {
                return Ok(None);
            }
            let current = self.query(
                "SELECT detail FROM held_claims WHERE scope = $1 AND key = $2",
                &[&scope, &key],
            )?;
            if let Some(row) = current.first() {
                return Ok(Some(row.try_get(0)?));
            }
        }
        Ok(Some(detail.to_string()))
    }

    fn release_claim(&mut self, scope: &str, key: &str, holder: &str) -> StoreResult<()> {
        self.execute(
            "DELETE FROM held_claims WHERE scope = $1 AND key = $2 AND holder = $3",
            &[&scope, &key, &holder],
        )?;
        Ok(())
    }

    fn commit_logged(&mut self, org: &str, batch: &Batch) -> StoreResult<Committed> {
        let client = &mut *self.client;
        self.rt.block_on(async move {
            let tx = client.transaction().await?;
            let audit_ids = write_batch(&tx, batch).await?;
            let events = append(&tx, org, batch_events(batch, &audit_ids)).await?;
            tx.commit().await?;
            Ok(Committed { audit_ids, events })
        })
    }

    fn commit_group(
        &mut self,
        org: &str,
        batches: &[&Batch],
        logs: &[WebhookLog],
    ) -> StoreResult<Vec<Committed>> {
        let client = &mut *self.client;
        self.rt.block_on(async move {
            let tx = client.transaction().await?;
            let mut out = Vec::with_capacity(batches.len());
            for batch in batches {
                let audit_ids = write_batch(&tx, batch).await?;
                let events = append(&tx, org, batch_events(batch, &audit_ids)).await?;
                out.push(Committed { audit_ids, events });
            }
            for log in logs {
                insert_webhook_log(&tx, log).await?;
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    fn commit_logged_at(
        &mut self,
        org: &str,
        batch: &Batch,
        planned: u64,
    ) -> StoreResult<Committed> {
        let client = &mut *self.client;
        self.rt.block_on(async move {
            let tx = client.transaction().await?;
            // Locks the org's counter row for this transaction: no other instance's commit
            // of this org can slip in between the check and the append.
            let found: i64 = tx
                .query_opt(
                    "SELECT seq FROM stream_seq WHERE org = $1 FOR UPDATE",
                    &[&org],
                )
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .unwrap_or(0);
            let stale = |found: i64| StoreError::Stale {
                org: org.to_string(),
                planned,
                found: found as u64,
            };
            if found as u64 != planned {
                return Err(stale(found));
            }
            let audit_ids = write_batch(&tx, batch).await?;
            let events = append(&tx, org, batch_events(batch, &audit_ids)).await?;
            // No counter row yet when checked (an org's first commit): two first commits
            // could both pass the check; the append's row lock orders them, and this sees it.
            if let Some(first) = events.first() {
                if first.seq != planned + 1 {
                    return Err(stale(first.seq as i64 - 1));
                }
            }
            tx.commit().await?;
            Ok(Committed { audit_ids, events })
        })
    }

    fn append_events(
        &mut self,
        org: &str,
        events: Vec<StreamEvent>,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let client = &mut *self.client;
        self.rt.block_on(async move {
            let tx = client.transaction().await?;
            let logged = append(&tx, org, events.into_iter().map(|e| (e, None)).collect()).await?;
            tx.commit().await?;
            Ok(logged)
        })
    }

    fn log_webhook(&mut self, log: &WebhookLog) -> StoreResult<()> {
        let client = &*self.client;
        self.rt.block_on(insert_webhook_log(client, log))
    }

    fn put_credentials(
        &mut self,
        org: &str,
        integration: &str,
        nonce: &[u8],
        sealed: &[u8],
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO provider_credentials (org, integration, nonce, sealed, updated_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org, integration) DO UPDATE
             SET nonce = excluded.nonce, sealed = excluded.sealed, updated_ms = excluded.updated_ms",
            &[&org, &integration, &nonce, &sealed, &ms(Utc::now())],
        )?;
        Ok(())
    }

    fn prune(
        &mut self,
        ingest_ids_days: i64,
        webhook_log_days: i64,
        webhook_log_max_rows: u64,
    ) -> StoreResult<(usize, usize)> {
        let now = Utc::now();
        let ids = self.execute(
            "DELETE FROM ingest_event_ids WHERE at_ms < $1",
            &[&ms(now - chrono::Duration::days(ingest_ids_days))],
        )?;
        let logs = self.execute(
            "DELETE FROM webhook_log WHERE at_ms < $1",
            &[&ms(now - chrono::Duration::days(webhook_log_days))],
        )?;
        let extra = self.execute(
            "DELETE FROM webhook_log WHERE id <= (SELECT id FROM webhook_log
                 ORDER BY id DESC LIMIT 1 OFFSET $1)",
            &[&i64::try_from(webhook_log_max_rows).unwrap_or(i64::MAX)],
        )?;
        Ok((ids, logs + extra))
    }

    fn prune_events(&mut self, keep_per_org: u64, days: i64) -> StoreResult<usize> {
        let old = self.execute(
            "DELETE FROM events WHERE at_ms < $1",
            &[&ms(Utc::now() - chrono::Duration::days(days))],
        )?;
        let extra = self.execute(
            "DELETE FROM events e USING stream_seq s WHERE e.org = s.org AND e.seq <= s.seq - $1",
            &[&i64::try_from(keep_per_org).unwrap_or(i64::MAX)],
        )?;
        Ok(old + extra)
    }

    fn dnc_put(&mut self, org: &str, entries: &[DncEntry]) -> StoreResult<()> {
        let client = &mut *self.client;
        self.rt.block_on(async move {
            let tx = client.transaction().await?;
            for e in entries {
                tx.execute(
                    "INSERT INTO dnc (org, number, source, reason, added_by, added_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (org, number) DO UPDATE SET source = excluded.source,
                         reason = excluded.reason, added_by = excluded.added_by,
                         added_ms = excluded.added_ms",
                    &[
                        &org,
                        &e.number,
                        &e.source,
                        &e.reason,
                        &e.added_by,
                        &ms(e.added_at),
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn dnc_remove(&mut self, org: &str, number: &str) -> StoreResult<bool> {
        Ok(self.execute(
            "DELETE FROM dnc WHERE org = $1 AND number = $2",
            &[&org, &number],
        )? > 0)
    }

    fn idempotent_answer(
        &self,
        org: &str,
        token: &str,
        key: &str,
        newer_than: DateTime<Utc>,
    ) -> StoreResult<Option<StoredAnswer>> {
        self.query_opt(
            "SELECT request_hash, status, body FROM idempotency_keys
             WHERE org = $1 AND token = $2 AND key = $3 AND at_ms >= $4",
            &[&org, &token, &key, &ms(newer_than)],
        )?
        .map(|r| {
            Ok(StoredAnswer {
                request_hash: r.try_get(0)?,
                status: u16::try_from(r.try_get::<_, i32>(1)?).unwrap_or(500),
                body: r.try_get(2)?,
            })
        })
        .transpose()
    }

    fn store_idempotent_answer(
        &mut self,
        org: &str,
        token: &str,
        key: &str,
        answer: &StoredAnswer,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO idempotency_keys (org, token, key, request_hash, status, body, at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (org, token, key) DO UPDATE SET request_hash = excluded.request_hash,
                 status = excluded.status, body = excluded.body, at_ms = excluded.at_ms",
            &[
                &org,
                &token,
                &key,
                &answer.request_hash,
                &i32::from(answer.status),
                &answer.body,
                &ms(Utc::now()),
            ],
        )?;
        Ok(())
    }

    fn prune_idempotency_keys(&mut self, older_than: DateTime<Utc>) -> StoreResult<usize> {
        self.execute(
            "DELETE FROM idempotency_keys WHERE at_ms < $1",
            &[&ms(older_than)],
        )
    }
}
