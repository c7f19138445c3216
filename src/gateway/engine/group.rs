//! Group commit of ingest: requests of one org queue their verified events; whichever
//! request finds no drainer running becomes it, and drains the queue in groups: under the
//! org's lock it plans every event of the group against memory (each plan sees the ones
//! before it), commits all of them and their webhook-log rows in ONE transaction, then
//! publishes the events and answers each request. So every answer still follows its
//! change's commit (the kill -9 guarantee), and nothing is visible to a reader before it
//! is durable (readers take the same lock), while a busy org pays one commit for many
//! events instead of one each.
//!
//! Planning needs the database only for calls memory does not hold (ended calls, a call
//! started elsewhere); such an event first commits the group so far, so that its reads see
//! every earlier event. Several instances on one store keep the one-event path with its
//! compare-and-set (`remote.rs`), and so does a group whose commit fails: memory is reloaded
//! from the database and its events are applied one by one, so one bad event fails alone.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::core::ingest::IngestEnvelope;
use crate::gateway::engine::ingest::gather;
use crate::gateway::engine::plan::{self, Source};
use crate::gateway::engine::{Gateway, IngestOutcome, Org, OrgInner};
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::store::{Batch, WebhookLog};

/// At most this many requests are planned into one transaction: bounds the time the org's
/// lock is held and the size of a transaction.
const MAX_GROUP_REQUESTS: usize = 256;

/// Each event's id and what became of it, in the request's order; the first failure stops
/// the request's remaining events.
pub type IngestResults = Vec<(String, EngineResult<IngestOutcome>)>;

/// One request's events, waiting for the org's drainer.
pub struct IngestJob {
    pub integration: String,
    pub display: String,
    pub envelopes: Vec<IngestEnvelope>,
    /// The delivery's webhook-log row, written in the same transaction; its `error` is
    /// filled with the first failure.
    pub log: Option<WebhookLog>,
    reply: oneshot::Sender<IngestResults>,
}

/// How group commit has gone since the gateway started.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Transactions that committed planned events.
    pub transactions: AtomicU64,
    /// Events committed by them.
    pub events: AtomicU64,
    /// Groups whose commit failed and were applied one by one.
    pub fallbacks: AtomicU64,
}

impl GroupStats {
    /// (transactions, events, fallbacks).
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.transactions.load(Ordering::Relaxed),
            self.events.load(Ordering::Relaxed),
            self.fallbacks.load(Ordering::Relaxed),
        )
    }
}

impl IngestJob {
    /// A job and the receiver of its answer (for callers that plan the group themselves).
    pub fn new(
        integration: &str,
        display: &str,
        envelopes: Vec<IngestEnvelope>,
        log: Option<WebhookLog>,
    ) -> (IngestJob, oneshot::Receiver<IngestResults>) {
        let (reply, answer) = oneshot::channel();
        (
            IngestJob {
                integration: integration.to_string(),
                display: display.to_string(),
                envelopes,
                log,
                reply,
            },
            answer,
        )
    }
}

/// An org's waiting requests, and whether a drainer is running for them.
#[derive(Default)]
pub struct IngestQueue {
    jobs: VecDeque<IngestJob>,
    draining: bool,
}

#[cfg(test)]
impl IngestQueue {
    /// Queues a job as a request would while a drainer is running.
    pub(super) fn push_for_test(&mut self, job: IngestJob) {
        self.jobs.push_back(job);
        self.draining = true;
    }
}

/// What the webhook log records for an event that failed (the answer carries the same).
pub fn failure_text(event_id: &str, e: &EngineError) -> String {
    match e {
        EngineError::Invalid { message, .. } => format!("event {event_id:?}: {message}"),
        _ => "internal error".into(),
    }
}

/// What the webhook log records for a delivery: its first failure, if any.
fn first_failure(results: &IngestResults) -> Option<String> {
    results
        .iter()
        .find_map(|(id, r)| r.as_ref().err().map(|e| failure_text(id, e)))
}

/// A job whose events are planned into the group, and their results.
struct Planned {
    job: IngestJob,
    results: IngestResults,
}

/// The group being planned: jobs to answer at the next commit, the batches to write, the
/// event ids planned (not yet in the database), and whether a commit of it failed.
#[derive(Default)]
struct Group {
    pending: Vec<Planned>,
    batches: Vec<(Batch, bool)>,
    seen: HashSet<(String, String)>,
    failed: bool,
}

impl Gateway {
    /// Applies a request's verified events to `org` through the org's group commit and
    /// answers once they (and `log`) are durable and announced.
    pub async fn ingest_grouped(
        self: &Arc<Self>,
        org: &str,
        integration: &str,
        display: &str,
        envelopes: Vec<IngestEnvelope>,
        log: Option<WebhookLog>,
    ) -> EngineResult<IngestResults> {
        let (job, answer) = IngestJob::new(integration, display, envelopes, log);
        let handle = self.org(org);
        let start = {
            let mut q = lock(&handle.ingest);
            q.jobs.push_back(job);
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            let gw = self.clone();
            let drained = handle.clone();
            tokio::task::spawn_blocking(move || gw.drain(&drained));
        }
        answer.await.map_err(|_| {
            EngineError::Internal("the ingest drainer stopped before answering".into())
        })
    }

    /// Runs groups until the org's queue is empty. Blocking.
    pub(super) fn drain(&self, handle: &Org) {
        let _unwinding = DrainerGone(handle);
        loop {
            let jobs: Vec<IngestJob> = {
                let mut q = lock(&handle.ingest);
                if q.jobs.is_empty() {
                    q.draining = false;
                    return;
                }
                let n = q.jobs.len().min(MAX_GROUP_REQUESTS);
                q.jobs.drain(..n).collect()
            };
            let mut inner = handle.lock();
            if self.commit_hook.get().is_some() {
                for job in jobs {
                    self.one_by_one(&mut inner, job);
                }
            } else {
                self.run_group(&mut inner, jobs);
            }
        }
    }

    /// Plans the jobs in order, committing in as few transactions as the database reads
    /// allow, then answers them.
    pub(super) fn run_group(&self, inner: &mut OrgInner, jobs: Vec<IngestJob>) {
        let org = inner.org.clone();
        let mut group = Group::default();
        for job in jobs {
            if group.failed {
                self.one_by_one(inner, job);
                continue;
            }
            let mut results = Vec::with_capacity(job.envelopes.len());
            let mut redo = false;
            for env in &job.envelopes {
                let src = Source {
                    org: &org,
                    integration: &job.integration,
                    display: &job.display,
                };
                // Its reads must see every earlier event of the group: commit those first.
                if needs_database(inner, src, env)
                    && !group.batches.is_empty()
                    && !self.flush(inner, &mut group)
                {
                    // This job's earlier events were in the failed transaction: all again.
                    redo = true;
                    break;
                }
                let r = self.plan_into(inner, src, env, &mut group);
                let stop = r.is_err();
                results.push((env.id.clone(), r));
                if stop {
                    break;
                }
            }
            if redo {
                self.one_by_one(inner, job);
            } else {
                group.pending.push(Planned { job, results });
            }
        }
        self.flush(inner, &mut group);
    }

    /// Plans one event and applies it to memory (not yet visible: the lock is held until
    /// the group is committed and published).
    fn plan_into(
        &self,
        inner: &mut OrgInner,
        src: Source<'_>,
        env: &IngestEnvelope,
        group: &mut Group,
    ) -> EngineResult<IngestOutcome> {
        plan::validate(env)?;
        let key = (src.integration.to_string(), env.id.clone());
        if group.seen.contains(&key) {
            return Ok(IngestOutcome::Duplicate);
        }
        let stored = self.store.read_latest_blocking(|r| {
            if r.ingest_seen(src.org, src.integration, &env.id)? {
                return Ok(None);
            }
            gather(r, &inner.state, src, env).map(Some)
        })?;
        let Some(stored) = stored else {
            return Ok(IngestOutcome::Duplicate);
        };
        let plan = self.plan_event(&inner.state, src, env, &stored)?;
        group.seen.insert(key);
        for call in &plan.batch.calls {
            inner.state.upsert_call(call);
        }
        for w in &plan.batch.transcript {
            inner
                .state
                .upsert_entry(&w.entry, w.utterance_id.as_deref());
        }
        for item in &plan.batch.queue {
            inner.state.upsert_queue(item);
        }
        group.batches.push((plan.batch, plan.analytics_changed));
        Ok(IngestOutcome::Applied)
    }

    /// Commits the planned batches and the planned jobs' log rows in one transaction,
    /// publishes, and answers those jobs. On a failed commit, memory is reloaded from the
    /// database, those jobs are applied one by one, and the rest of the group will be too:
    /// returns false then.
    fn flush(&self, inner: &mut OrgInner, group: &mut Group) -> bool {
        let mut logs: Vec<(usize, WebhookLog)> = Vec::new();
        for (i, p) in group.pending.iter_mut().enumerate() {
            if let Some(mut log) = p.job.log.take() {
                log.error = first_failure(&p.results);
                logs.push((i, log));
            }
        }
        if group.batches.is_empty() && logs.is_empty() {
            for p in group.pending.drain(..) {
                let _ = p.job.reply.send(p.results);
            }
            return true;
        }
        let org = inner.org.clone();
        let batches: Vec<&Batch> = group.batches.iter().map(|(b, _)| b).collect();
        let rows: Vec<WebhookLog> = logs.iter().map(|(_, l)| l.clone()).collect();
        let committed = self
            .store
            .write_blocking(|w| w.commit_group(&org, &batches, &rows));
        match committed {
            Ok(committed) => {
                if !group.batches.is_empty() {
                    let stats = &self.ingest_groups;
                    stats.transactions.fetch_add(1, Ordering::Relaxed);
                    stats
                        .events
                        .fetch_add(group.batches.len() as u64, Ordering::Relaxed);
                }
                for c in &committed {
                    if let Some(first) = c.events.first() {
                        if let Err(e) = self.catch_up(inner, first.seq.saturating_sub(1)) {
                            tracing::warn!(error = %e, "catching up before a group's events");
                        }
                    }
                    self.publish(inner, &c.events);
                }
                if group.batches.iter().any(|(_, changed)| *changed) {
                    // Recomputed by the maintenance task, debounced (as `commit` does).
                    inner.analytics_dirty = true;
                    self.analytics_wakeup.notify_one();
                }
                group.batches.clear();
                for p in group.pending.drain(..) {
                    let _ = p.job.reply.send(p.results);
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, events = group.batches.len(), "group commit failed; reloading the org and applying its events one by one");
                group.batches.clear();
                group.failed = true;
                self.ingest_groups.fallbacks.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = self.reload_org(inner) {
                    tracing::error!(error = %e, "reloading the org after a failed group commit");
                }
                for (i, log) in logs {
                    if let Some(p) = group.pending.get_mut(i) {
                        p.job.log = Some(log);
                    }
                }
                for p in std::mem::take(&mut group.pending) {
                    self.one_by_one(inner, p.job);
                }
                false
            }
        }
    }

    /// The one-event path for a whole job, and its log row on its own. Blocking.
    fn one_by_one(&self, inner: &mut OrgInner, job: IngestJob) {
        let org = inner.org.clone();
        let mut results: IngestResults = Vec::with_capacity(job.envelopes.len());
        for env in &job.envelopes {
            let r = self.apply_ingest_locked(inner, &org, &job.integration, &job.display, env);
            let stop = r.is_err();
            results.push((env.id.clone(), r));
            if stop {
                break;
            }
        }
        if let Some(mut log) = job.log {
            log.error = first_failure(&results);
            if let Err(e) = self.store.write_blocking(|w| w.log_webhook(&log)) {
                tracing::error!(error = %e, "webhook log not written");
            }
        }
        let _ = job.reply.send(results);
    }

    /// Replaces the org's live calls and open queue with what the database holds (after a
    /// failed group commit left memory ahead of it). Blocking.
    fn reload_org(&self, inner: &mut OrgInner) -> EngineResult<()> {
        let org = inner.org.clone();
        let (active, queue) = self
            .store
            .read_latest_blocking(|r| Ok((r.load_active()?, r.load_open_queue()?)))?;
        let analytics = std::mem::take(&mut inner.state.analytics);
        inner.state = Default::default();
        inner.state.analytics = analytics;
        for (call, entries) in active.into_iter().filter(|(c, _)| *c.org == *org) {
            inner.state.upsert_call(&call);
            for (entry, utterance) in entries {
                inner.state.upsert_entry(&entry, utterance.as_deref());
            }
        }
        for item in queue.into_iter().filter(|i| *i.org == *org) {
            inner.state.upsert_queue(&item);
        }
        Ok(())
    }
}

/// Whether planning `env` reads the database for more than its id (see `gather`).
fn needs_database(inner: &OrgInner, src: Source<'_>, env: &IngestEnvelope) -> bool {
    use crate::core::ingest::IngestEvent;
    let pcid = env.event.provider_call_id();
    let known = inner
        .state
        .by_provider
        .contains_key(&(src.integration.to_string(), pcid.to_string()));
    let unknown_queue_item = matches!(
        &env.event,
        IngestEvent::CallStarted { queue_item_id: Some(qid), .. } if !inner.state.queue.contains_key(qid)
    );
    !known || unknown_queue_item
}

/// If a drainer panics, its waiting requests are answered with an error (their replies
/// are dropped) and the next request starts a new drainer, instead of the org's ingest
/// waiting forever.
struct DrainerGone<'a>(&'a Org);

impl Drop for DrainerGone<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut q = lock(&self.0.ingest);
            q.jobs.clear();
            q.draining = false;
        }
    }
}

fn lock(m: &Mutex<IngestQueue>) -> std::sync::MutexGuard<'_, IngestQueue> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
