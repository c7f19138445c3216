//! The gateway's core: per-org state + stream under one lock, persisted before anything is
//! announced or acknowledged. Every change goes through [`Gateway::commit`]: write to SQLite
//! (one transaction), update memory, number and publish the events. Because all of that
//! happens under the org's lock, a snapshot taken under the same lock is consistent with its
//! seq, and a subscriber registered under it misses and doubles nothing.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{mpsc, watch, Notify};

use crate::core::action::Action;
use crate::core::ingest::{EventSink, IngestEnvelope, IngestEvent, SinkError};
use crate::core::model::{
    outcome, Alert, AuditEntry, Call, CallState, Lead, QueueItem, QueueState, Sentiment,
    TranscriptEntry,
};
use crate::core::protocol::{
    ActionResponse, CallWithTranscript, InitiateRequest, ResyncReason, Snapshot, StreamEvent,
};
use crate::gateway::analytics;
use crate::gateway::auth::{Principal, TokenTable};
use crate::gateway::config::GatewayConfig;
use crate::gateway::error::{ApiFailure, ApiResult};
use crate::gateway::hub::{Hub, Item, ReplayGap};
use crate::gateway::providers::Registry;
use crate::gateway::ratelimit::RateLimiter;
use crate::gateway::state::{apply_action, end_call, OrgState};
use crate::gateway::store::{Batch, Store, TranscriptWrite};
use crate::gateway::summary;

pub struct OrgInner {
    pub state: OrgState,
    pub hub: Hub,
    /// Calls changed in a way analytics show; the analytics task recomputes and announces.
    pub analytics_dirty: bool,
}

pub struct Org {
    pub id: String,
    inner: Mutex<OrgInner>,
}

impl Org {
    pub fn lock(&self) -> MutexGuard<'_, OrgInner> {
        // A panic while holding the lock cannot leave SQLite inconsistent (memory is only
        // updated after a commit), so keep serving rather than poisoning the org forever.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Gateway {
    pub config: GatewayConfig,
    pub epoch: Arc<str>,
    pub store: Store,
    pub tokens: TokenTable,
    pub registry: Registry,
    pub limiter: RateLimiter,
    pub http: reqwest::Client,
    pub queue_wakeup: Notify,
    pub analytics_wakeup: Notify,
    pub shutdown: watch::Receiver<bool>,
    orgs: Mutex<HashMap<String, Arc<Org>>>,
    /// In-process providers (the simulator) kept alive for the gateway's lifetime.
    keepalive: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
}

/// How a stream (re)connection starts.
pub enum StreamStart {
    /// Exactly the events after the client's position.
    Resumed(Vec<Item>),
    /// A full snapshot, and why the client could not be resumed.
    Snapshot(Box<Snapshot>, ResyncReason),
}

#[derive(Debug)]
pub enum IngestError {
    Refused(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for IngestError {
    fn from(e: anyhow::Error) -> Self {
        IngestError::Internal(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Applied,
    Duplicate,
}

fn not_found_call() -> ApiFailure {
    ApiFailure::not_found("no call with this id")
}

fn not_found_item() -> ApiFailure {
    ApiFailure::not_found("no queued call with this id")
}

impl Gateway {
    pub fn new(
        config: GatewayConfig,
        store: Store,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Gateway>> {
        let gw = Gateway {
            epoch: uuid::Uuid::new_v4().to_string().into(),
            tokens: TokenTable::new(&config.tokens),
            limiter: RateLimiter::new(config.limits.actions_per_minute),
            registry: Registry::default(),
            http: reqwest::Client::builder()
                .user_agent(concat!("callwatch/", env!("CARGO_PKG_VERSION")))
                .build()?,
            queue_wakeup: Notify::new(),
            analytics_wakeup: Notify::new(),
            shutdown,
            orgs: Mutex::new(HashMap::new()),
            keepalive: Mutex::new(Vec::new()),
            store,
            config,
        };
        // Live calls and open queue items come back from the database.
        for (call, entries) in gw.store.load_active()? {
            let org = gw.org(&call.org);
            let mut inner = org.lock();
            inner.state.upsert_call(&call);
            for (entry, utterance) in entries {
                inner.state.upsert_entry(&entry, utterance.as_deref());
            }
        }
        for item in gw.store.load_open_queue()? {
            gw.org(&item.org).lock().state.upsert_queue(&item);
        }
        for org in gw.config.orgs() {
            gw.org(&org);
        }
        for org in gw.org_ids() {
            let a = gw.live_analytics(&org)?;
            gw.org(&org).lock().state.analytics = a;
        }
        Ok(Arc::new(gw))
    }

    pub fn org(&self, id: &str) -> Arc<Org> {
        let mut map = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(Org {
                    id: id.to_string(),
                    inner: Mutex::new(OrgInner {
                        state: OrgState::default(),
                        hub: Hub::new(self.epoch.clone(), self.config.stream.history),
                        analytics_dirty: false,
                    }),
                })
            })
            .clone()
    }

    pub fn org_ids(&self) -> Vec<String> {
        let map = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }

    pub fn keep_alive(&self, thing: Arc<dyn Any + Send + Sync>) {
        self.keepalive
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(thing);
    }

    /// A sink bound to (org, integration) for an in-process provider.
    pub fn sink(self: &Arc<Self>, org: &str, integration: &str) -> Arc<dyn EventSink> {
        Arc::new(BoundSink {
            gw: Arc::downgrade(self),
            org: org.to_string(),
            integration: integration.to_string(),
        })
    }

    /// Analytics of the last 24 hours with a one-hour per-minute series (stream and snapshot).
    pub fn live_analytics(&self, org: &str) -> anyhow::Result<crate::core::model::Analytics> {
        let now = Utc::now();
        let calls =
            self.store
                .calls_between(org, now - Duration::hours(24), now + Duration::seconds(1))?;
        Ok(analytics::compute(
            &calls,
            now - Duration::minutes(59),
            now,
            now,
            false,
        ))
    }

    /// Persists `batch`, applies it to memory and announces it. Returns the audit entries
    /// with their ids.
    fn commit(
        &self,
        inner: &mut OrgInner,
        org: &str,
        batch: Batch,
        analytics_changed: bool,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.store.commit(&batch)?;
        for call in &batch.calls {
            inner.state.upsert_call(call);
        }
        for w in &batch.transcript {
            inner
                .state
                .upsert_entry(&w.entry, w.utterance_id.as_deref());
        }
        for item in &batch.queue {
            inner.state.upsert_queue(item);
        }
        for call in batch.calls {
            inner.hub.publish(if call.state.is_active() {
                StreamEvent::CallUpdated { call }
            } else {
                StreamEvent::CallEnded { call }
            });
        }
        for w in batch.transcript {
            inner.hub.publish(if w.appended {
                StreamEvent::TranscriptAppended { entry: w.entry }
            } else {
                StreamEvent::TranscriptRevised { entry: w.entry }
            });
        }
        for item in batch.queue {
            inner.hub.publish(StreamEvent::QueueUpdated { item });
        }
        let audits: Vec<AuditEntry> = batch
            .audits
            .into_iter()
            .zip(ids)
            .map(|(mut a, id)| {
                a.id = id;
                a
            })
            .collect();
        for audit in &audits {
            inner.hub.publish(StreamEvent::ActionAudited {
                audit: audit.clone(),
            });
        }
        if analytics_changed {
            // Recomputing scans a day of calls: done by the maintenance task, debounced,
            // not on every event under this lock.
            inner.analytics_dirty = true;
            self.analytics_wakeup.notify_one();
        }
        let _ = org;
        Ok(audits)
    }

    /// Recomputes and announces analytics of every org whose calls changed. Run by the
    /// maintenance task; the figures are read outside the org lock.
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
                    inner.state.analytics = a.clone();
                    inner
                        .hub
                        .publish(StreamEvent::AnalyticsUpdated { analytics: a });
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), org, "analytics not refreshed"),
            }
        }
    }

    pub fn snapshot(&self, inner: &OrgInner, org: &str) -> Snapshot {
        let mut calls: Vec<CallWithTranscript> = inner
            .state
            .calls
            .values()
            .map(|ac| CallWithTranscript {
                call: ac.call.clone(),
                transcript: ac.transcript.clone(),
            })
            .collect();
        calls.sort_by(|a, b| {
            a.call
                .created_at
                .cmp(&b.call.created_at)
                .then(a.call.id.cmp(&b.call.id))
        });
        let mut queue: Vec<QueueItem> = inner.state.queue.values().cloned().collect();
        queue.sort_by_key(|i| i.created_at);
        Snapshot {
            epoch: self.epoch.to_string(),
            seq: inner.hub.seq(),
            org: org.to_string(),
            calls,
            queue,
            analytics: inner.state.analytics.clone(),
        }
    }

    /// Starts (or restarts) a stream subscription: resumes from (epoch, since) when the
    /// history allows, else a snapshot. Atomic with respect to publishing.
    pub fn attach(
        &self,
        org: &str,
        position: Option<(&str, u64)>,
        force_snapshot: Option<ResyncReason>,
    ) -> (StreamStart, u64, mpsc::Receiver<Item>) {
        let org_handle = self.org(org);
        let mut inner = org_handle.lock();
        let start = match (force_snapshot, position) {
            (Some(reason), _) => {
                StreamStart::Snapshot(Box::new(self.snapshot(&inner, org)), reason)
            }
            (None, None) => StreamStart::Snapshot(
                Box::new(self.snapshot(&inner, org)),
                ResyncReason::NewClient,
            ),
            (None, Some((epoch, since))) => match inner.hub.replay_after(epoch, since) {
                Ok(items) => StreamStart::Resumed(items),
                Err(gap) => StreamStart::Snapshot(
                    Box::new(self.snapshot(&inner, org)),
                    match gap {
                        ReplayGap::EpochChanged => ResyncReason::EpochChanged,
                        ReplayGap::TooFarBehind => ResyncReason::TooFarBehind,
                    },
                ),
            },
        };
        let seq = inner.hub.seq();
        let rx = inner.hub.subscribe(self.config.stream.client_buffer);
        (start, seq, rx)
    }

    /// A call of the org (live from memory, else from the database) with its transcript.
    pub fn call_with_transcript(
        &self,
        org: &str,
        id: &str,
    ) -> anyhow::Result<Option<(Call, Vec<TranscriptEntry>)>> {
        let org_handle = self.org(org);
        let inner = org_handle.lock();
        if let Some(ac) = inner.state.calls.get(id) {
            return Ok(Some((ac.call.clone(), ac.transcript.clone())));
        }
        drop(inner);
        match self.store.get_call(org, id)? {
            Some(call) => {
                let t = self.store.transcript(id)?;
                Ok(Some((call, t)))
            }
            None => Ok(None),
        }
    }

    fn find_call(&self, st: &OrgState, org: &str, id: &str) -> anyhow::Result<Option<Call>> {
        if let Some(ac) = st.calls.get(id) {
            return Ok(Some(ac.call.clone()));
        }
        self.store.get_call(org, id)
    }

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

    // ---------------------------------------------------------------- ingest ----

    /// Applies one normalised event from `integration` (already verified) to `org`.
    pub fn apply_ingest(
        &self,
        org: &str,
        integration: &str,
        display: &str,
        env: &IngestEnvelope,
    ) -> Result<IngestOutcome, IngestError> {
        if env.id.trim().is_empty() {
            return Err(IngestError::Refused("the event has an empty id".into()));
        }
        if env.event.provider_call_id().trim().is_empty() {
            return Err(IngestError::Refused(
                "the event has an empty provider_call_id".into(),
            ));
        }
        let org_handle = self.org(org);
        let mut inner = org_handle.lock();
        if self.store.ingest_seen(org, integration, &env.id)? {
            return Ok(IngestOutcome::Duplicate);
        }
        let now = Utc::now();
        let (mut batch, analytics_changed) =
            self.plan_ingest(&inner.state, org, integration, display, env, now)?;
        batch.ingest_id = Some((org.to_string(), integration.to_string(), env.id.clone()));
        self.commit(&mut inner, org, batch, analytics_changed)?;
        Ok(IngestOutcome::Applied)
    }

    fn plan_ingest(
        &self,
        st: &OrgState,
        org: &str,
        integration: &str,
        display: &str,
        env: &IngestEnvelope,
        now: DateTime<Utc>,
    ) -> Result<(Batch, bool), IngestError> {
        let mut batch = Batch::default();
        let pcid = env.event.provider_call_id();
        let at = env.occurred_at.unwrap_or(now);
        let existing = match st
            .by_provider
            .get(&(integration.to_string(), pcid.to_string()))
        {
            Some(id) => st.calls.get(id).map(|ac| ac.call.clone()),
            None => self.store.find_call_by_provider(org, integration, pcid)?,
        };
        if let IngestEvent::CallStarted {
            direction,
            from,
            to,
            provider,
            lead,
            campaign,
            assistant,
            queue_item_id,
            state,
            ..
        } = &env.event
        {
            let is_new = existing.is_none();
            let mut call = existing.unwrap_or_else(|| Call {
                id: uuid::Uuid::new_v4().to_string(),
                org: org.to_string(),
                integration: integration.to_string(),
                provider: display.to_string(),
                provider_call_id: pcid.to_string(),
                direction: *direction,
                from: String::new(),
                to: String::new(),
                lead: Lead::default(),
                campaign: None,
                assistant: None,
                state: CallState::Ringing,
                created_at: at,
                started_at: None,
                ended_at: None,
                duration_secs: None,
                intent: None,
                sentiment: Sentiment::Unknown,
                outcome: None,
                cost: None,
                recording_url: None,
                summary: None,
                takeover: None,
                alerts: Vec::new(),
                queue_item_id: None,
                updated_at: at,
            });
            call.direction = *direction;
            call.from = from.clone();
            call.to = to.clone();
            if let Some(p) = provider {
                call.provider = p.clone();
            }
            if let Some(l) = lead {
                call.lead = l.clone();
            }
            if campaign.is_some() {
                call.campaign = campaign.clone();
            }
            if assistant.is_some() {
                call.assistant = assistant.clone();
            }
            // A repeat may advance a ringing call but never undoes a supervisor's change.
            if let Some(s) = state {
                if matches!(call.state, CallState::Queued | CallState::Ringing)
                    && *s != CallState::Ended
                {
                    call.state = *s;
                }
            }
            if call.state == CallState::InProgress && call.started_at.is_none() {
                call.started_at = Some(at);
            }
            if let Some(qid) = queue_item_id {
                if let Some(item) = st.queue.get(qid) {
                    let mut item = item.clone();
                    if item.state.is_waiting() {
                        // The stack dialed on its own: still an attempt.
                        item.attempts += 1;
                    }
                    item.call_id = Some(call.id.clone());
                    item.state = QueueState::Dialing;
                    item.updated_at = now;
                    batch.queue.push(item);
                    call.queue_item_id = Some(qid.clone());
                    if call.campaign.is_none() {
                        call.campaign = st.queue.get(qid).and_then(|i| i.campaign.clone());
                    }
                } else if self.store.get_queue_item(org, qid)?.is_some() {
                    call.queue_item_id = Some(qid.clone());
                }
            }
            call.updated_at = now;
            batch.calls.push(call);
            return Ok((batch, is_new));
        }

        let Some(mut call) = existing else {
            return Err(IngestError::Refused(format!(
                "unknown call: no call.started was received for provider_call_id {pcid:?}"
            )));
        };
        let mut analytics_changed = false;
        match &env.event {
            IngestEvent::CallStarted { .. } => {}
            IngestEvent::CallStatus { status, .. } => {
                if call.state.is_active() && call.state != *status {
                    if *status == CallState::Ended {
                        end_call(&mut call, outcome::COMPLETED, None, at);
                        self.queue_after_end(st, &call, &mut batch, now);
                        analytics_changed = true;
                    } else {
                        call.state = *status;
                        if *status == CallState::InProgress && call.started_at.is_none() {
                            call.started_at = Some(at);
                        }
                    }
                    call.updated_at = now;
                    batch.calls.push(call);
                }
            }
            IngestEvent::TranscriptPartial {
                utterance_id,
                speaker,
                text,
                ..
            }
            | IngestEvent::TranscriptFinal {
                utterance_id,
                speaker,
                text,
                ..
            } => {
                let is_final = matches!(env.event, IngestEvent::TranscriptFinal { .. });
                let live = st.calls.get(&call.id);
                let previous = match live {
                    Some(ac) => ac
                        .utterances
                        .get(utterance_id)
                        .and_then(|p| ac.transcript.get(*p as usize))
                        .cloned(),
                    None => self.store.find_utterance(&call.id, utterance_id)?,
                };
                match previous {
                    // A late partial never overwrites the final text.
                    Some(prev) if prev.is_final && !is_final => {}
                    Some(mut entry) => {
                        if entry.text != *text || entry.is_final != is_final {
                            entry.text = text.clone();
                            entry.is_final = is_final;
                            batch.transcript.push(TranscriptWrite {
                                entry,
                                utterance_id: Some(utterance_id.clone()),
                                appended: false,
                            });
                        }
                    }
                    None => {
                        let position = match live {
                            Some(ac) => ac.transcript.len() as u32,
                            None => self.store.transcript_len(&call.id)?,
                        };
                        batch.transcript.push(TranscriptWrite {
                            entry: TranscriptEntry {
                                id: uuid::Uuid::new_v4().to_string(),
                                call_id: call.id.clone(),
                                position,
                                speaker: *speaker,
                                text: text.clone(),
                                is_final,
                                at,
                            },
                            utterance_id: Some(utterance_id.clone()),
                            appended: true,
                        });
                    }
                }
            }
            IngestEvent::CallAnalysis {
                intent,
                sentiment,
                summary,
                ..
            } => {
                if intent.is_some() {
                    call.intent = intent.clone();
                    analytics_changed = true;
                }
                if let Some(s) = sentiment {
                    call.sentiment = *s;
                }
                if summary.is_some() {
                    call.summary = summary.clone();
                }
                call.updated_at = now;
                batch.calls.push(call);
            }
            IngestEvent::CallAlert { kind, message, .. } => {
                call.alerts.retain(|a| a.kind != *kind);
                call.alerts.push(Alert {
                    kind: kind.clone(),
                    message: message.clone(),
                    at,
                });
                call.updated_at = now;
                batch.calls.push(call);
            }
            IngestEvent::CallAlertCleared { kind, .. } => {
                let before = call.alerts.len();
                call.alerts.retain(|a| a.kind != *kind);
                if call.alerts.len() != before {
                    call.updated_at = now;
                    batch.calls.push(call);
                }
            }
            IngestEvent::CallEnded {
                outcome: result,
                cost,
                duration_secs,
                summary,
                recording_url,
                ..
            } => {
                if call.state.is_active() {
                    end_call(&mut call, result, *duration_secs, at);
                    self.queue_after_end(st, &call, &mut batch, now);
                } else {
                    // Already ended (e.g. by a supervisor): fill in the provider's figures.
                    if call.outcome.as_deref() != Some(outcome::ENDED_BY_SUPERVISOR) {
                        call.outcome = Some(result.clone());
                    }
                    if duration_secs.is_some() {
                        call.duration_secs = *duration_secs;
                    }
                }
                if cost.is_some() {
                    call.cost = *cost;
                }
                if summary.is_some() {
                    call.summary = summary.clone();
                }
                if recording_url.is_some() {
                    call.recording_url = recording_url.clone();
                }
                call.updated_at = now;
                batch.calls.push(call);
                analytics_changed = true;
            }
        }
        Ok((batch, analytics_changed))
    }

    /// After a call from the queue ended: done, retried later, or failed (see
    /// `QueuePolicy` and docs/PROTOCOL.md).
    fn queue_after_end(&self, st: &OrgState, call: &Call, batch: &mut Batch, now: DateTime<Utc>) {
        let Some(qid) = &call.queue_item_id else {
            return;
        };
        let Some(item) = st.queue.get(qid) else {
            return;
        };
        let mut item = item.clone();
        let result = call
            .outcome
            .clone()
            .unwrap_or_else(|| outcome::COMPLETED.into());
        let policy = &self.config.queue;
        item.call_id = Some(call.id.clone());
        item.state = if outcome::RETRYABLE.contains(&result.as_str()) {
            if item.attempts < policy.max_attempts {
                item.scheduled_at =
                    Some(now + Duration::seconds(policy.backoff_secs(item.attempts) as i64));
                QueueState::Scheduled
            } else {
                QueueState::Failed
            }
        } else if result == outcome::FAILED {
            QueueState::Failed
        } else {
            QueueState::Done
        };
        item.last_result = Some(result);
        item.updated_at = now;
        batch.queue.push(item);
    }

    // --------------------------------------------------------------- actions ----

    fn audit(
        who: &Principal,
        action: &str,
        call_id: Option<&str>,
        queue_item_id: Option<&str>,
        reason: Option<String>,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> AuditEntry {
        AuditEntry {
            id: 0,
            org: who.org.clone(),
            call_id: call_id.map(Into::into),
            queue_item_id: queue_item_id.map(Into::into),
            actor: who.name.clone(),
            role: who.role,
            action: action.into(),
            reason,
            detail,
            ok: true,
            error: None,
            at: now,
        }
    }

    /// Records an action refused before any provider was asked (wrong state, no such
    /// capability): the audit log shows who tried what and why it was refused. Returns the
    /// failure to answer with; an audit write that fails is logged, not answered instead.
    fn refused(
        &self,
        who: &Principal,
        action: &Action,
        call: &Call,
        failure: ApiFailure,
    ) -> ApiFailure {
        let mut audit = Self::audit(
            who,
            action.name(),
            Some(&call.id),
            call.queue_item_id.as_deref(),
            action.reason(),
            action.detail(),
            Utc::now(),
        );
        audit.ok = false;
        audit.error = Some(failure.body.message.clone());
        let org = self.org(&who.org);
        let mut inner = org.lock();
        let batch = Batch {
            audits: vec![audit],
            ..Batch::default()
        };
        if let Err(e) = self.commit(&mut inner, &who.org, batch, false) {
            tracing::warn!(org = %who.org, call = %call.id, error = ?e, "cannot audit a refused action");
        }
        failure
    }

    /// Checks state and capability, has the provider carry the action out, then records
    /// the new state and the audit entry (also when the provider failed).
    pub async fn call_action(
        &self,
        who: &Principal,
        call_id: &str,
        action: Action,
    ) -> ApiResult<ActionResponse> {
        let org = self.org(&who.org);
        let call = {
            let inner = org.lock();
            self.find_call(&inner.state, &who.org, call_id)?
        }
        .ok_or_else(not_found_call)?;
        if let Err(m) = action.kind().check_state(&call) {
            return Err(self.refused(who, &action, &call, ApiFailure::conflict(m)));
        }
        let capability = action.kind().capability();
        let Some(provider) = self.registry.get(&who.org, &call.integration) else {
            let failure = ApiFailure::unsupported(format!(
                "the integration `{}` that carries this call is not configured on this gateway, so callwatch cannot act on it",
                call.integration
            ));
            return Err(self.refused(who, &action, &call, failure));
        };
        if !provider.capabilities().contains(&capability) {
            let failure = ApiFailure::unsupported(format!(
                "{} cannot {}",
                call.provider,
                capability.describe()
            ));
            return Err(self.refused(who, &action, &call, failure));
        }
        let performed = provider.perform(&call, &action, &who.name).await;

        let now = Utc::now();
        let mut inner = org.lock();
        let mut current = self
            .find_call(&inner.state, &who.org, call_id)?
            .ok_or_else(not_found_call)?;
        let mut audit = Self::audit(
            who,
            action.name(),
            Some(call_id),
            current.queue_item_id.as_deref(),
            action.reason(),
            action.detail(),
            now,
        );
        let mut batch = Batch::default();
        let mut analytics_changed = false;
        let result: ApiResult<()> = match performed {
            Err(e) => {
                audit.ok = false;
                audit.error = Some(e.to_string());
                tracing::warn!(org = %who.org, call = call_id, action = action.name(), error = %e, "provider refused an action");
                Err(e.into())
            }
            // The stack reported the hang-up before this answer: providers race their own
            // end-of-call webhook against the API reply. The end happened, by this action.
            Ok(()) if matches!(action, Action::End) && !current.state.is_active() => {
                current.outcome = Some(crate::core::model::outcome::ENDED_BY_SUPERVISOR.into());
                current.updated_at = now;
                batch.calls.push(current.clone());
                analytics_changed = true;
                Ok(())
            }
            Ok(()) => match action.kind().check_state(&current) {
                // The call changed while the provider worked (e.g. the caller hung up).
                Err(m) => {
                    audit.ok = false;
                    audit.error = Some(m.clone());
                    Err(ApiFailure::conflict(m))
                }
                Ok(()) => {
                    apply_action(&action, &mut current, &who.name, now);
                    if !current.state.is_active() {
                        self.queue_after_end(&inner.state, &current, &mut batch, now);
                        analytics_changed = true;
                    }
                    if matches!(action, Action::TakeOver { .. }) {
                        analytics_changed = true;
                    }
                    if action.changes_call() {
                        batch.calls.push(current.clone());
                    }
                    Ok(())
                }
            },
        };
        batch.audits.push(audit);
        let audits = self.commit(&mut inner, &who.org, batch, analytics_changed)?;
        result?;
        Ok(ActionResponse {
            action: action.name().into(),
            call: current,
            audit_id: audits.first().map(|a| a.id).unwrap_or_default(),
        })
    }

    /// Sets a call's summary: the given text, or an extractive one from the transcript.
    pub fn set_summary(
        &self,
        who: &Principal,
        call_id: &str,
        text: Option<String>,
    ) -> ApiResult<ActionResponse> {
        let org = self.org(&who.org);
        let mut inner = org.lock();
        let mut call = self
            .find_call(&inner.state, &who.org, call_id)?
            .ok_or_else(not_found_call)?;
        let generated = text.is_none();
        let summary = match text {
            Some(t) => t,
            None => {
                let transcript = match inner.state.calls.get(call_id) {
                    Some(ac) => ac.transcript.clone(),
                    None => self.store.transcript(call_id)?,
                };
                summary::extractive(&call, &transcript)
            }
        };
        let now = Utc::now();
        call.summary = Some(summary.clone());
        call.updated_at = now;
        let audit = Self::audit(
            who,
            "summary",
            Some(call_id),
            None,
            None,
            serde_json::json!({ "generated": generated, "text": summary }),
            now,
        );
        let batch = Batch {
            calls: vec![call.clone()],
            audits: vec![audit],
            ..Batch::default()
        };
        let audits = self.commit(&mut inner, &who.org, batch, false)?;
        Ok(ActionResponse {
            action: "summary".into(),
            call,
            audit_id: audits.first().map(|a| a.id).unwrap_or_default(),
        })
    }

    // ----------------------------------------------------------------- queue ----

    pub fn initiate(
        &self,
        who: &Principal,
        req: InitiateRequest,
        phone: String,
    ) -> ApiResult<QueueItem> {
        let now = Utc::now();
        let future = req.scheduled_at.filter(|t| *t > now);
        let item = QueueItem {
            id: uuid::Uuid::new_v4().to_string(),
            org: who.org.clone(),
            lead: Lead {
                id: req.lead_id,
                name: req.lead_name,
            },
            phone_number: phone,
            campaign: req.campaign_id,
            script: req.script,
            agent_settings: req.agent_settings,
            scheduled_at: future,
            state: if future.is_some() {
                QueueState::Scheduled
            } else {
                QueueState::Pending
            },
            attempts: 0,
            call_id: None,
            last_result: None,
            created_at: now,
            updated_at: now,
        };
        let audit = Self::audit(
            who,
            "initiate",
            None,
            Some(&item.id),
            None,
            serde_json::json!({ "phone_number": item.phone_number, "campaign": item.campaign }),
            now,
        );
        let org = self.org(&who.org);
        let mut inner = org.lock();
        let batch = Batch {
            queue: vec![item.clone()],
            audits: vec![audit],
            ..Batch::default()
        };
        self.commit(&mut inner, &who.org, batch, false)?;
        drop(inner);
        self.queue_wakeup.notify_one();
        Ok(item)
    }

    /// Cancel (`dial_now == false`) or move to the front (`true`) a waiting queue item.
    pub fn queue_action(&self, who: &Principal, id: &str, dial_now: bool) -> ApiResult<QueueItem> {
        let org = self.org(&who.org);
        let mut inner = org.lock();
        let mut item = match inner.state.queue.get(id) {
            Some(i) => i.clone(),
            None => self
                .store
                .get_queue_item(&who.org, id)?
                .ok_or_else(not_found_item)?,
        };
        if !item.state.is_waiting() {
            let why = match item.state {
                QueueState::Dialing => "the call is being dialed right now",
                QueueState::Done => "the queued call has already been made",
                QueueState::Cancelled => "the queued call was already cancelled",
                QueueState::Failed => "the queued call has failed and is no longer waiting",
                QueueState::Pending | QueueState::Scheduled => "",
            };
            let what = if dial_now { "dialed now" } else { "cancelled" };
            return Err(ApiFailure::conflict(format!(
                "{why}, so it cannot be {what}"
            )));
        }
        let now = Utc::now();
        if dial_now {
            item.state = QueueState::Pending;
            item.scheduled_at = None;
        } else {
            item.state = QueueState::Cancelled;
        }
        item.updated_at = now;
        let audit = Self::audit(
            who,
            if dial_now { "dial_now" } else { "cancel" },
            None,
            Some(id),
            None,
            serde_json::Value::Null,
            now,
        );
        let batch = Batch {
            queue: vec![item.clone()],
            audits: vec![audit],
            ..Batch::default()
        };
        self.commit(&mut inner, &who.org, batch, false)?;
        drop(inner);
        if dial_now {
            self.queue_wakeup.notify_one();
        }
        Ok(item)
    }

    /// Hands every due queue item of `org` to the org's dialing provider.
    pub fn take_due(&self, org: &str) -> anyhow::Result<Vec<QueueItem>> {
        let org_handle = self.org(org);
        let mut inner = org_handle.lock();
        let now = Utc::now();
        let mut due: Vec<QueueItem> = inner
            .state
            .queue
            .values()
            .filter(|i| i.state.is_waiting() && i.scheduled_at.is_none_or(|t| t <= now))
            .cloned()
            .collect();
        if due.is_empty() {
            return Ok(due);
        }
        due.sort_by_key(|i| i.created_at);
        for item in &mut due {
            item.state = QueueState::Dialing;
            item.attempts += 1;
            // A new attempt: its call is not known yet (the previous one is in the history).
            item.call_id = None;
            item.updated_at = now;
        }
        let batch = Batch {
            queue: due.clone(),
            ..Batch::default()
        };
        self.commit(&mut inner, org, batch, false)?;
        Ok(due)
    }

    /// Dials the integration never reported within `dial_timeout_secs`.
    pub fn stale_dials(&self, org: &str) -> Vec<String> {
        let org_handle = self.org(org);
        let inner = org_handle.lock();
        let cutoff = Utc::now() - Duration::seconds(self.config.queue.dial_timeout_secs as i64);
        inner
            .state
            .queue
            .values()
            .filter(|i| {
                i.state == QueueState::Dialing && i.call_id.is_none() && i.updated_at < cutoff
            })
            .map(|i| i.id.clone())
            .collect()
    }

    /// A dial attempt failed at the provider: retry later or give up.
    pub fn dial_failed(&self, org: &str, id: &str, error: &str) -> anyhow::Result<()> {
        let org_handle = self.org(org);
        let mut inner = org_handle.lock();
        let Some(item) = inner.state.queue.get(id) else {
            return Ok(());
        };
        if item.state != QueueState::Dialing || item.call_id.is_some() {
            return Ok(());
        }
        let mut item = item.clone();
        let now = Utc::now();
        let policy = &self.config.queue;
        if item.attempts < policy.max_attempts {
            item.state = QueueState::Scheduled;
            item.scheduled_at =
                Some(now + Duration::seconds(policy.backoff_secs(item.attempts) as i64));
        } else {
            item.state = QueueState::Failed;
        }
        item.last_result = Some(error.to_string());
        item.updated_at = now;
        let batch = Batch {
            queue: vec![item],
            ..Batch::default()
        };
        self.commit(&mut inner, org, batch, false)?;
        Ok(())
    }

    /// Figures for `GET /api/calls/analytics`.
    pub fn analytics(
        &self,
        org: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        by_campaign: bool,
    ) -> anyhow::Result<crate::core::model::Analytics> {
        let now = Utc::now();
        let to = to.unwrap_or(now + Duration::seconds(1));
        let from = from.unwrap_or(to - Duration::hours(24));
        let calls = self.store.calls_between(org, from, to)?;
        let series_to = to.min(now);
        let series_from = if from > series_to - Duration::hours(1) {
            from
        } else {
            series_to - Duration::minutes(59)
        };
        Ok(analytics::compute(
            &calls,
            series_from,
            series_to,
            now,
            by_campaign,
        ))
    }
}

struct BoundSink {
    gw: Weak<Gateway>,
    org: String,
    integration: String,
}

#[async_trait::async_trait]
impl EventSink for BoundSink {
    async fn submit(&self, event: IngestEnvelope) -> Result<(), SinkError> {
        let Some(gw) = self.gw.upgrade() else {
            return Err(SinkError::Closed("the gateway has stopped".into()));
        };
        if *gw.shutdown.borrow() {
            return Err(SinkError::Closed("the gateway is shutting down".into()));
        }
        let org = self.org.clone();
        let integration = self.integration.clone();
        // SQLite work off the async executor.
        let result = tokio::task::spawn_blocking(move || {
            gw.apply_ingest(&org, &integration, &integration, &event)
        })
        .await
        .map_err(|e| SinkError::Closed(e.to_string()))?;
        match result {
            Ok(_) => Ok(()),
            Err(IngestError::Refused(m)) => Err(SinkError::Refused(m)),
            Err(IngestError::Internal(e)) => {
                tracing::error!(error = %format!("{e:#}"), "in-process event not stored");
                Err(SinkError::Closed(format!(
                    "the event could not be stored: {e}"
                )))
            }
        }
    }
}
