//! What clients read: live calls from memory; history, queue, audit, webhook log and
//! analytics from the reader pool (async, off the runtime); and the debounced analytics
//! refresh the maintenance task runs.

use chrono::{DateTime, Duration, Utc};

use crate::core::model::{Analytics, AuditEntry, Call, QueueItem, TranscriptEntry};
use crate::core::protocol::StreamEvent;
use crate::gateway::analytics;
use crate::gateway::engine::Gateway;
use crate::gateway::error::EngineResult;
use crate::gateway::store::{CallFilter, Cursor, ReadOps, StoreResult, WebhookRecord};

/// A call with its transcript.
pub type CallAndTranscript = (Call, Vec<TranscriptEntry>);

fn stored_call(r: &dyn ReadOps, org: &str, id: &str) -> StoreResult<Option<CallAndTranscript>> {
    match r.get_call(org, id)? {
        Some(call) => {
            let t = r.transcript(id)?;
            Ok(Some((call, t)))
        }
        None => Ok(None),
    }
}

/// Analytics of the last 24 hours with a one-hour per-minute series.
fn last_day(r: &dyn ReadOps, org: &str) -> StoreResult<Analytics> {
    let now = Utc::now();
    let mut t = analytics::Tally::new(
        now - Duration::minutes(59),
        now,
        now,
        analytics::GroupBy::None,
    );
    let (from, to) = (now - Duration::hours(24), now + Duration::seconds(1));
    r.each_call_between(org, from, to, &mut |c| t.add(&c))?;
    Ok(t.finish())
}

impl Gateway {
    /// Live calls of the org, oldest first. Memory only.
    pub fn active_calls(&self, org: &str) -> Vec<Call> {
        let org_handle = self.org(org);
        let inner = org_handle.lock();
        let mut calls: Vec<Call> = inner
            .state
            .calls
            .values()
            .map(|ac| ac.call.clone())
            .collect();
        calls.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        calls
    }

    /// A call of the org (live from memory, else from the database) with its transcript.
    pub async fn call_with_transcript(
        &self,
        org: &str,
        id: &str,
    ) -> EngineResult<Option<CallAndTranscript>> {
        {
            let org_handle = self.org(org);
            let inner = org_handle.lock();
            if let Some(ac) = inner.state.calls.get(id) {
                return Ok(Some((ac.call.clone(), ac.transcript.clone())));
            }
        }
        let (org, id) = (org.to_string(), id.to_string());
        Ok(self.store.read(move |r| stored_call(r, &org, &id)).await?)
    }

    /// A page of the org's history, newest first, and the cursor of the next page, handed
    /// to `finish` on the search thread: a caller that encodes the answer there keeps that
    /// work at the searches' low priority, off the async workers that also serve ingest.
    pub async fn history_with<T, F>(
        &self,
        org: &str,
        filter: CallFilter,
        finish: F,
    ) -> EngineResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Vec<Call>, Option<Cursor>) -> T + Send + 'static,
    {
        let org = org.to_string();
        Ok(self
            .store
            .search(move |r| {
                let (calls, next) = r.list_calls(&org, &filter)?;
                Ok(finish(calls, next))
            })
            .await?)
    }

    /// Queue items, newest first; finished ones only when `all`.
    pub async fn queue_items(
        &self,
        org: &str,
        all: bool,
        limit: usize,
    ) -> EngineResult<Vec<QueueItem>> {
        let org = org.to_string();
        Ok(self
            .store
            .read(move |r| r.list_queue(&org, all, limit))
            .await?)
    }

    /// Audit entries, newest first.
    pub async fn audit_log(
        &self,
        org: &str,
        call_id: Option<String>,
        limit: usize,
    ) -> EngineResult<Vec<AuditEntry>> {
        let org = org.to_string();
        Ok(self
            .store
            .read(move |r| r.list_audit(&org, call_id.as_deref(), limit))
            .await?)
    }

    /// Webhook deliveries of the org, newest first.
    pub async fn webhook_log(&self, org: &str, limit: usize) -> EngineResult<Vec<WebhookRecord>> {
        let org = org.to_string();
        Ok(self
            .store
            .read(move |r| r.list_webhooks(&org, limit))
            .await?)
    }

    /// Figures for `GET /api/calls/analytics` (computed on the blocking pool too: a day of
    /// calls can be many).
    pub async fn analytics(
        &self,
        org: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        group_by: analytics::GroupBy,
    ) -> EngineResult<Analytics> {
        let org = org.to_string();
        Ok(self
            .store
            .read(move |r| {
                let now = Utc::now();
                let to = to.unwrap_or(now + Duration::seconds(1));
                let from = from.unwrap_or(to - Duration::hours(24));
                let series_to = to.min(now);
                let series_from = if from > series_to - Duration::hours(1) {
                    from
                } else {
                    series_to - Duration::minutes(59)
                };
                let mut t = analytics::Tally::new(series_from, series_to, now, group_by);
                r.each_call_between(&org, from, to, &mut |c| t.add(&c))?;
                Ok(t.finish())
            })
            .await?)
    }

    /// Analytics of the last 24 hours (stream and snapshot). Blocking.
    pub fn live_analytics(&self, org: &str) -> EngineResult<Analytics> {
        Ok(self.store.read_blocking(|r| last_day(r, org))?)
    }

    /// Recomputes and announces analytics of every org whose calls changed. Run by the
    /// maintenance task; the figures are read outside the org lock. Blocking.
    pub fn refresh_analytics(&self) {
        for org in self.org_ids() {
            let handle = self.org(&org);
            {
                let mut inner = handle.lock();
                if !inner.analytics_dirty {
                    continue;
                }
                // Cleared before reading: a change committed meanwhile sets it again.
                inner.analytics_dirty = false;
            }
            match self.live_analytics(&org) {
                Ok(a) => {
                    let mut inner = handle.lock();
                    // Memory has them even if logging fails: snapshots stay current.
                    inner.state.analytics = a.clone();
                    let event = StreamEvent::AnalyticsUpdated { analytics: a };
                    if let Err(e) = self.announce(&mut inner, vec![event]) {
                        tracing::warn!(error = %e, org, "analytics not announced");
                    }
                }
                Err(e) => tracing::warn!(error = %e, org, "analytics not refreshed"),
            }
        }
    }
}
