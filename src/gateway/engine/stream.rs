//! Subscribing to an org's stream (resume or snapshot, atomically with publishing), and
//! the [`EventSink`] through which in-process providers deliver their events.

use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use crate::core::ingest::{EventSink, IngestEnvelope, SinkError};
use crate::core::model::QueueItem;
use crate::core::protocol::{CallWithTranscript, ResyncReason, Snapshot, Transcript};
use crate::gateway::delta::Held;
use crate::gateway::engine::{Gateway, OrgInner};
use crate::gateway::error::EngineError;
use crate::gateway::hub::{Item, ReplayGap};

/// A client further behind than this many events gets a snapshot instead of a replay
/// from the log.
pub const MAX_LOG_REPLAY: u64 = 20_000;

/// How a stream (re)connection starts.
pub enum StreamStart {
    /// Exactly the events after the client's position.
    Resumed(Vec<Item>),
    /// A full snapshot, why the client could not be resumed, and the versions of calls
    /// and analytics it gives the client (later events may be sent as deltas on them).
    Snapshot(Box<Snapshot>, ResyncReason, Held),
}

impl Gateway {
    /// A snapshot start: the org's state now, and the versions it holds. Under the lock.
    fn start_from_snapshot(
        &self,
        inner: &OrgInner,
        org: &str,
        reason: ResyncReason,
    ) -> StreamStart {
        let snapshot = self.snapshot(inner, org);
        let held = inner.hub.held_by(&snapshot);
        StreamStart::Snapshot(Box::new(snapshot), reason, held)
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
    /// history allows, else a snapshot. Atomic with respect to publishing. Memory only.
    pub fn attach(
        &self,
        org: &str,
        position: Option<(&str, u64)>,
        force_snapshot: Option<ResyncReason>,
    ) -> (StreamStart, u64, mpsc::Receiver<Item>) {
        let org_handle = self.org(org);
        let mut inner = org_handle.lock();
        if let (None, Some((epoch, since))) = (&force_snapshot, position) {
            self.catch_up_to_client(&mut inner, epoch, since);
        }
        let start = match (force_snapshot, position) {
            (Some(reason), _) => self.start_from_snapshot(&inner, org, reason),
            (None, None) => self.start_from_snapshot(&inner, org, ResyncReason::NewClient),
            (None, Some((epoch, since))) => match inner.hub.replay_after(epoch, since) {
                Ok(items) => StreamStart::Resumed(items),
                Err(ReplayGap::TooFarBehind) if since < inner.hub.seq() => {
                    match self.replay_from_log(&inner, since) {
                        Some(items) => StreamStart::Resumed(items),
                        None => self.start_from_snapshot(&inner, org, ResyncReason::TooFarBehind),
                    }
                }
                Err(gap) => self.start_from_snapshot(
                    &inner,
                    org,
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

    /// [`Gateway::attach`] for a client that says where it was: run on the blocking pool,
    /// because resuming from before the in-memory history reads the durable log.
    pub async fn resume(
        self: &Arc<Self>,
        org: &str,
        position: Option<(String, u64)>,
    ) -> (StreamStart, u64, mpsc::Receiver<Item>) {
        if position.is_none() {
            return self.attach(org, None, None);
        }
        let owned = org.to_string();
        let resumed = self
            .blocking(move |gw| {
                Ok(gw.attach(
                    &owned,
                    position.as_ref().map(|(e, s)| (e.as_str(), *s)),
                    None,
                ))
            })
            .await;
        match resumed {
            Ok(start) => start,
            Err(e) => {
                tracing::warn!(error = %e, org, "cannot resume a stream client; sending a snapshot");
                self.attach(org, None, None)
            }
        }
    }

    /// The events after `since` up to the hub's seq, from the log, when all of them are
    /// still there (retention) and there are not too many (a snapshot is cheaper then).
    /// Blocking: called under the org's lock, so nothing is published meanwhile.
    fn replay_from_log(&self, inner: &OrgInner, since: u64) -> Option<Vec<Item>> {
        let missing = inner.hub.seq() - since;
        if missing > MAX_LOG_REPLAY {
            return None;
        }
        let org = inner.org.clone();
        let logged = self
            .store
            .read_latest_blocking(|r| r.events_after(&org, since, missing as usize));
        let logged = match logged {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, org = %org, "cannot read the stream log to resume a client");
                return None;
            }
        };
        // Complete and contiguous, or not at all.
        let contiguous = logged.len() as u64 == missing
            && logged
                .iter()
                .zip(since + 1..)
                .all(|(e, want)| e.seq == want);
        if !contiguous {
            return None;
        }
        Some(
            logged
                .into_iter()
                .map(|e| inner.hub.item(e.seq, e.event))
                .collect(),
        )
    }

    /// The transcripts of those of `ids` that are live calls of the org, the seq they are
    /// complete up to (atomic with publishing), and the ids that are not live. Memory only.
    pub fn live_transcripts(
        &self,
        org: &str,
        ids: &[String],
    ) -> (u64, Vec<Transcript>, Vec<String>) {
        let org_handle = self.org(org);
        let inner = org_handle.lock();
        let mut live = Vec::new();
        let mut other = Vec::new();
        for id in ids {
            match inner.state.calls.get(id) {
                Some(ac) => live.push(Transcript {
                    call_id: id.clone(),
                    entries: ac.transcript.clone(),
                }),
                None => other.push(id.clone()),
            }
        }
        (inner.hub.seq(), live, other)
    }

    /// A sink bound to (org, integration) for an in-process provider.
    pub fn sink(self: &Arc<Self>, org: &str, integration: &str) -> Arc<dyn EventSink> {
        Arc::new(BoundSink {
            gw: Arc::downgrade(self),
            org: org.to_string(),
            integration: integration.to_string(),
        })
    }
}

/// Holds the gateway weakly: a provider outliving the gateway gets `Closed`, and does not
/// keep it alive.
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
        let id = event.id.clone();
        let result = gw
            .ingest_grouped(
                &self.org,
                &self.integration,
                &self.integration,
                vec![event],
                None,
            )
            .await
            .and_then(|results| {
                results
                    .into_iter()
                    .next()
                    .map(|(_, r)| r)
                    .unwrap_or_else(|| {
                        Err(EngineError::Internal(format!(
                            "event {id:?} was not applied"
                        )))
                    })
            });
        match result {
            Ok(_) => Ok(()),
            Err(EngineError::Invalid { message, .. }) => Err(SinkError::Refused(message)),
            Err(e) => {
                // This is the in-process edge: the one place this failure is logged.
                tracing::error!(error = %e, "in-process event not stored");
                Err(SinkError::Closed(format!(
                    "the event could not be stored: {e}"
                )))
            }
        }
    }
}
