//! Applying verified provider events: de-duplicate by event id, gather what the database
//! knows, plan (pure, see `plan.rs`), commit. Plus the webhook log.

use chrono::Utc;

use crate::core::ingest::{IngestEnvelope, IngestEvent};
use crate::gateway::engine::plan::{self, Source, Stored};
use crate::gateway::engine::{remote, Gateway, OrgInner, OrgState};
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::store::{ReadOps, StoreResult, WebhookLog};

/// Commits tried when other instances share the store (see `apply_ingest`).
const SHARED_ATTEMPTS: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Applied,
    Duplicate,
}

impl Gateway {
    /// Applies one normalised event from `integration` (already verified) to `org`.
    /// Blocking. A refused event is `EngineError::Invalid` (field "event").
    pub fn apply_ingest(
        &self,
        org: &str,
        integration: &str,
        display: &str,
        env: &IngestEnvelope,
    ) -> EngineResult<IngestOutcome> {
        let org_handle = self.org(org);
        let mut inner = org_handle.lock();
        self.apply_ingest_locked(&mut inner, org, integration, display, env)
    }

    /// [`Self::apply_ingest`] under the org's lock (the caller's `inner`). Blocking.
    pub(super) fn apply_ingest_locked(
        &self,
        inner: &mut OrgInner,
        org: &str,
        integration: &str,
        display: &str,
        env: &IngestEnvelope,
    ) -> EngineResult<IngestOutcome> {
        plan::validate(env)?;
        let src = Source {
            org,
            integration,
            display,
        };
        // Several instances: plan from the log's latest state, not from what the bus has
        // brought so far.
        let shared = self.commit_hook.get().is_some();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if shared {
                self.catch_up_org(inner)?;
            }
            let stored = self.store.read_latest_blocking(|r| {
                if r.ingest_seen(org, integration, &env.id)? {
                    return Ok(None);
                }
                gather(r, &inner.state, src, env).map(Some)
            })?;
            let Some(stored) = stored else {
                return Ok(IngestOutcome::Duplicate);
            };
            let plan = self.plan_event(&inner.state, src, env, &stored)?;
            match self.commit(inner, plan.batch, plan.analytics_changed) {
                Ok(_) => return Ok(IngestOutcome::Applied),
                // Another instance changed this org since this one caught up (the store's
                // unique keys refused the commit, nothing was written): plan again.
                // A stale refusal (the org's log moved on) is the same race, on any store.
                Err(e) if remote::is_stale(&e) && attempt < remote::REPLAN_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "ingest commit raced another instance; planning again");
                }
                Err(EngineError::Store(e)) if shared && attempt < SHARED_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "ingest commit raced another instance; planning again");
                }
                Err(e) => return Err(remote::contended(e)),
            }
        }
    }

    /// Plans one verified event against the org's memory and what the database knew
    /// (`stored`): the pure plan, plus the capabilities, the ingest id and the compliance
    /// watcher's additions. Shared by the one-event and the grouped paths.
    pub(super) fn plan_event(
        &self,
        st: &OrgState,
        src: Source<'_>,
        env: &IngestEnvelope,
        stored: &Stored,
    ) -> EngineResult<plan::Plan> {
        let mut plan = plan::plan_ingest(
            st,
            src,
            env,
            stored,
            &self.config.queue,
            &mut || uuid::Uuid::new_v4().to_string(),
            Utc::now(),
        )?;
        // The console refuses keys the call's stack cannot carry out before any dialog opens.
        if let Some(provider) = self.registry.get(src.org, src.integration) {
            let caps = provider.capabilities();
            for call in &mut plan.batch.calls {
                call.capabilities = Some(caps.clone());
            }
        }
        plan.batch.ingest_id = Some((
            src.org.to_string(),
            src.integration.to_string(),
            env.id.clone(),
        ));
        self.watch_transcript(st, src.org, &mut plan.batch, Utc::now());
        self.mark_after_hours(st, src.org, &mut plan.batch);
        Ok(plan)
    }

    /// Records a webhook delivery (whatever its result) on the writer, off the runtime.
    pub async fn log_webhook(&self, entry: WebhookLog) -> EngineResult<()> {
        Ok(self.store.write(move |w| w.log_webhook(&entry)).await?)
    }
}

/// Looks up, in the database, only what the org's memory cannot answer for this event.
pub(super) fn gather(
    r: &dyn ReadOps,
    st: &OrgState,
    src: Source<'_>,
    env: &IngestEnvelope,
) -> StoreResult<Stored> {
    let pcid = env.event.provider_call_id();
    let mut stored = Stored::default();
    let known = st
        .by_provider
        .contains_key(&(src.integration.to_string(), pcid.to_string()));
    if !known {
        stored.call = r.find_call_by_provider(src.org, src.integration, pcid)?;
    }
    match &env.event {
        IngestEvent::CallStarted {
            queue_item_id: Some(qid),
            ..
        } if !st.queue.contains_key(qid) => {
            stored.queue_item_exists = r.get_queue_item(src.org, qid)?.is_some();
        }
        IngestEvent::TranscriptPartial { utterance_id, .. }
        | IngestEvent::TranscriptFinal { utterance_id, .. } => {
            if let Some(call) = stored
                .call
                .as_ref()
                .filter(|c| !st.calls.contains_key(&c.id))
            {
                stored.utterance = r.find_utterance(&call.id, utterance_id)?;
                if stored.utterance.is_none() {
                    stored.transcript_len = r.transcript_len(&call.id)?;
                }
            }
        }
        _ => {}
    }
    Ok(stored)
}
