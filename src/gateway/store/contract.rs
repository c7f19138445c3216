//! The storage contract the engine and the API use, whichever database holds the data:
//! [`ReadOps`] (queries) and [`WriteOps`] (transactions), both blocking and object-safe,
//! implemented by both stores ([`super::Db`] picks one).
//!
//! Why a trait object inside an enum: the engine hands the store closures
//! (`|r| r.get_call(org, id)`) that must run under an org's std lock, and a closure cannot
//! be generic over two connection types; `&dyn ReadOps` lets one closure serve both stores.
//! The enum ([`Db`]) picks the backend once per call and keeps each backend's own
//! connection handling (SQLite's writer mutex and reader pool, PostgreSQL's pool on its own
//! runtime) where it belongs, without boxing every store behind another trait.

use chrono::{DateTime, Utc};

use super::{
    CallFilter, Committed, Cursor, LiveCall, LoggedEvent, Reads, StoreResult, StoredAnswer,
    WebhookLog, WebhookRecord, Writes,
};
use crate::core::compliance::DncEntry;
use crate::core::model::{AuditEntry, Call, QueueItem, TranscriptEntry};
use crate::core::protocol::StreamEvent;
use crate::gateway::credentials::SealedRow;
use crate::gateway::store::Batch;

/// Queries, the same on every store.
pub trait ReadOps {
    fn ingest_seen(&self, org: &str, integration: &str, event_id: &str) -> StoreResult<bool>;
    /// Every stored sealed credential: (org, integration, nonce, sealed).
    fn sealed_credentials(&self) -> StoreResult<Vec<SealedRow>>;
    /// Webhook deliveries of an org, newest first.
    fn list_webhooks(&self, org: &str, limit: usize) -> StoreResult<Vec<WebhookRecord>>;
    /// (ok, error) counts of the webhook log.
    fn webhook_counts(&self) -> StoreResult<(u64, u64)>;
    /// Every call not yet ended, with its transcript (loaded at start).
    fn load_active(&self) -> StoreResult<Vec<LiveCall>>;
    /// Queue items still waiting or dialing (loaded at start).
    fn load_open_queue(&self) -> StoreResult<Vec<QueueItem>>;
    fn get_call(&self, org: &str, id: &str) -> StoreResult<Option<Call>>;
    fn find_call_by_provider(
        &self,
        org: &str,
        integration: &str,
        provider_call_id: &str,
    ) -> StoreResult<Option<Call>>;
    fn transcript(&self, call_id: &str) -> StoreResult<Vec<TranscriptEntry>>;
    fn find_utterance(
        &self,
        call_id: &str,
        utterance_id: &str,
    ) -> StoreResult<Option<TranscriptEntry>>;
    fn transcript_len(&self, call_id: &str) -> StoreResult<u32>;
    /// History, newest first, and the cursor of the next page.
    fn list_calls(
        &self,
        org: &str,
        filter: &CallFilter,
    ) -> StoreResult<(Vec<Call>, Option<Cursor>)>;
    /// Calls created in [from, to).
    fn calls_between(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Call>>;
    /// Calls created in [from, to), handed to `f` one at a time: what analytics reads, so
    /// that a day of calls is never in memory at once. The default collects them first
    /// (PostgreSQL); SQLite streams its rows.
    fn each_call_between(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        f: &mut dyn FnMut(Call),
    ) -> StoreResult<()> {
        self.calls_between(org, from, to)?.into_iter().for_each(f);
        Ok(())
    }
    fn get_queue_item(&self, org: &str, id: &str) -> StoreResult<Option<QueueItem>>;
    /// Queue items, newest first; finished ones only when `all`.
    fn list_queue(&self, org: &str, all: bool, limit: usize) -> StoreResult<Vec<QueueItem>>;
    /// Audit entries, newest first.
    fn list_audit(
        &self,
        org: &str,
        call_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>>;
    fn dnc_get(&self, org: &str, number: &str) -> StoreResult<Option<DncEntry>>;
    fn dnc_list(&self, org: &str) -> StoreResult<Vec<DncEntry>>;
    /// Audit entries whose action starts with "compliance_", oldest first, in [from, to).
    fn compliance_decisions(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// The stream's epoch, drawn once when the log was created.
    fn epoch(&self) -> StoreResult<String>;
    /// Every org's last logged seq.
    fn stream_seqs(&self) -> StoreResult<Vec<(String, u64)>>;
    /// At most `limit` logged events of `org` after `since`, in seq order.
    fn events_after(&self, org: &str, since: u64, limit: usize) -> StoreResult<Vec<LoggedEvent>>;
}

/// Transactions, the same on every store.
pub trait WriteOps {
    /// Writes a batch and logs the events it announces (with the org's next seqs), in one
    /// transaction.
    fn commit_logged(&mut self, org: &str, batch: &Batch) -> StoreResult<Committed>;
    /// Group commit: several batches of one org, in order, plus webhook-log rows, in one
    /// transaction; each batch's events take the org's next seqs. All or nothing.
    fn commit_group(
        &mut self,
        org: &str,
        batches: &[&Batch],
        logs: &[WebhookLog],
    ) -> StoreResult<Vec<Committed>>;
    /// The same, only if the org's logged seq is still `planned` (what the planner saw):
    /// else [`StoreError::Stale`] and nothing written (compare-and-set on the org's log).
    fn commit_logged_at(
        &mut self,
        org: &str,
        batch: &Batch,
        planned: u64,
    ) -> StoreResult<Committed>;
    /// Logs events that change no stored record (analytics).
    fn append_events(
        &mut self,
        org: &str,
        events: Vec<StreamEvent>,
    ) -> StoreResult<Vec<LoggedEvent>>;
    fn log_webhook(&mut self, log: &WebhookLog) -> StoreResult<()>;
    fn put_credentials(
        &mut self,
        org: &str,
        integration: &str,
        nonce: &[u8],
        sealed: &[u8],
    ) -> StoreResult<()>;
    /// Forgets old ingest ids and webhook log rows; returns (ids, webhook rows) removed.
    fn prune(
        &mut self,
        ingest_ids_days: i64,
        webhook_log_days: i64,
        webhook_log_max_rows: u64,
    ) -> StoreResult<(usize, usize)>;
    /// Drops stream log events older than `days` or beyond the newest `keep_per_org`.
    fn prune_events(&mut self, keep_per_org: u64, days: i64) -> StoreResult<usize>;
    fn dnc_put(&mut self, org: &str, entries: &[DncEntry]) -> StoreResult<()>;
    fn dnc_remove(&mut self, org: &str, number: &str) -> StoreResult<bool>;
    fn idempotent_answer(
        &self,
        org: &str,
        token: &str,
        key: &str,
        newer_than: DateTime<Utc>,
    ) -> StoreResult<Option<StoredAnswer>>;
    fn store_idempotent_answer(
        &mut self,
        org: &str,
        token: &str,
        key: &str,
        answer: &StoredAnswer,
    ) -> StoreResult<()>;
    fn prune_idempotency_keys(&mut self, older_than: DateTime<Utc>) -> StoreResult<usize>;
    /// Takes the claim `(scope, key)` for `holder` (a unique token) until released or
    /// `ttl_ms` passes, or returns the current holder's `detail`. Only a store shared by
    /// several instances holds claims; one gateway owns a SQLite file and claims in its
    /// memory, so this default takes nothing and always succeeds.
    fn claim(
        &mut self,
        _scope: &str,
        _key: &str,
        _holder: &str,
        _detail: &str,
        _ttl_ms: i64,
    ) -> StoreResult<Option<String>> {
        Ok(None)
    }
    /// Releases a claim taken by `holder` (one taken over after expiry is left alone).
    fn release_claim(&mut self, _scope: &str, _key: &str, _holder: &str) -> StoreResult<()> {
        Ok(())
    }
}

impl ReadOps for Reads<'_> {
    fn ingest_seen(&self, org: &str, integration: &str, event_id: &str) -> StoreResult<bool> {
        Reads::ingest_seen(self, org, integration, event_id)
    }
    fn sealed_credentials(&self) -> StoreResult<Vec<SealedRow>> {
        Reads::sealed_credentials(self)
    }
    fn list_webhooks(&self, org: &str, limit: usize) -> StoreResult<Vec<WebhookRecord>> {
        Reads::list_webhooks(self, org, limit)
    }
    fn webhook_counts(&self) -> StoreResult<(u64, u64)> {
        Reads::webhook_counts(self)
    }
    fn load_active(&self) -> StoreResult<Vec<LiveCall>> {
        Reads::load_active(self)
    }
    fn load_open_queue(&self) -> StoreResult<Vec<QueueItem>> {
        Reads::load_open_queue(self)
    }
    fn get_call(&self, org: &str, id: &str) -> StoreResult<Option<Call>> {
        Reads::get_call(self, org, id)
    }
    fn find_call_by_provider(
        &self,
        org: &str,
        integration: &str,
        provider_call_id: &str,
    ) -> StoreResult<Option<Call>> {
        Reads::find_call_by_provider(self, org, integration, provider_call_id)
    }
    fn transcript(&self, call_id: &str) -> StoreResult<Vec<TranscriptEntry>> {
        Reads::transcript(self, call_id)
    }
    fn find_utterance(
        &self,
        call_id: &str,
        utterance_id: &str,
    ) -> StoreResult<Option<TranscriptEntry>> {
        Reads::find_utterance(self, call_id, utterance_id)
    }
    fn transcript_len(&self, call_id: &str) -> StoreResult<u32> {
        Reads::transcript_len(self, call_id)
    }
    fn list_calls(
        &self,
        org: &str,
        filter: &CallFilter,
    ) -> StoreResult<(Vec<Call>, Option<Cursor>)> {
        Reads::list_calls(self, org, filter)
    }
    fn calls_between(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Call>> {
        Reads::calls_between(self, org, from, to)
    }
    fn each_call_between(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        f: &mut dyn FnMut(Call),
    ) -> StoreResult<()> {
        Reads::each_call_between(self, org, from, to, f)
    }
    fn get_queue_item(&self, org: &str, id: &str) -> StoreResult<Option<QueueItem>> {
        Reads::get_queue_item(self, org, id)
    }
    fn list_queue(&self, org: &str, all: bool, limit: usize) -> StoreResult<Vec<QueueItem>> {
        Reads::list_queue(self, org, all, limit)
    }
    fn list_audit(
        &self,
        org: &str,
        call_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        Reads::list_audit(self, org, call_id, limit)
    }
    fn dnc_get(&self, org: &str, number: &str) -> StoreResult<Option<DncEntry>> {
        Reads::dnc_get(self, org, number)
    }
    fn dnc_list(&self, org: &str) -> StoreResult<Vec<DncEntry>> {
        Reads::dnc_list(self, org)
    }
    fn compliance_decisions(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<AuditEntry>> {
        Reads::compliance_decisions(self, org, from, to)
    }
    fn epoch(&self) -> StoreResult<String> {
        Reads::epoch(self)
    }
    fn stream_seqs(&self) -> StoreResult<Vec<(String, u64)>> {
        Reads::stream_seqs(self)
    }
    fn events_after(&self, org: &str, since: u64, limit: usize) -> StoreResult<Vec<LoggedEvent>> {
        Reads::events_after(self, org, since, limit)
    }
}

impl WriteOps for Writes<'_> {
    fn commit_logged(&mut self, org: &str, batch: &Batch) -> StoreResult<Committed> {
        Writes::commit_logged(self, org, batch)
    }
    fn commit_logged_at(
        &mut self,
        org: &str,
        batch: &Batch,
        planned: u64,
    ) -> StoreResult<Committed> {
        Writes::commit_logged_at(self, org, batch, planned)
    }
    fn append_events(
        &mut self,
        org: &str,
        events: Vec<StreamEvent>,
    ) -> StoreResult<Vec<LoggedEvent>> {
        Writes::append_events(self, org, events)
    }
    fn commit_group(
        &mut self,
        org: &str,
        batches: &[&Batch],
        logs: &[WebhookLog],
    ) -> StoreResult<Vec<Committed>> {
        Writes::commit_group(self, org, batches, logs)
    }
    fn log_webhook(&mut self, log: &WebhookLog) -> StoreResult<()> {
        Writes::log_webhook(self, log)
    }
    fn put_credentials(
        &mut self,
        org: &str,
        integration: &str,
        nonce: &[u8],
        sealed: &[u8],
    ) -> StoreResult<()> {
        Writes::put_credentials(self, org, integration, nonce, sealed)
    }
    fn prune(
        &mut self,
        ingest_ids_days: i64,
        webhook_log_days: i64,
        webhook_log_max_rows: u64,
    ) -> StoreResult<(usize, usize)> {
        Writes::prune(
            self,
            ingest_ids_days,
            webhook_log_days,
            webhook_log_max_rows,
        )
    }
    fn prune_events(&mut self, keep_per_org: u64, days: i64) -> StoreResult<usize> {
        Writes::prune_events(self, keep_per_org, days)
    }
    fn dnc_put(&mut self, org: &str, entries: &[DncEntry]) -> StoreResult<()> {
        Writes::dnc_put(self, org, entries)
    }
    fn dnc_remove(&mut self, org: &str, number: &str) -> StoreResult<bool> {
        Writes::dnc_remove(self, org, number)
    }
    fn idempotent_answer(
        &self,
        org: &str,
        token: &str,
        key: &str,
        newer_than: DateTime<Utc>,
    ) -> StoreResult<Option<StoredAnswer>> {
        Writes::idempotent_answer(self, org, token, key, newer_than)
    }
    fn store_idempotent_answer(
        &mut self,
        org: &str,
        token: &str,
        key: &str,
        answer: &StoredAnswer,
    ) -> StoreResult<()> {
        Writes::store_idempotent_answer(self, org, token, key, answer)
    }
    fn prune_idempotency_keys(&mut self, older_than: DateTime<Utc>) -> StoreResult<usize> {
        Writes::prune_idempotency_keys(self, older_than)
    }
}
