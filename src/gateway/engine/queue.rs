//! The dialing queue, engine side: queue, cancel, dial now, hand due items to the
//! scheduler, and record failed dials (the scheduler task itself is `gateway/queue.rs`).

use chrono::{Duration, Utc};

use crate::core::compliance::decision;
use crate::core::model::{Lead, QueueItem, QueueState};
use crate::core::protocol::InitiateRequest;
use crate::gateway::auth::Principal;
use crate::gateway::compliance::dial::Decision;
use crate::gateway::engine::actions::audit;
use crate::gateway::engine::compliance::decision_audit;
use crate::gateway::engine::retry::retry_or_give_up;
use crate::gateway::engine::Gateway;
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::store::Batch;

impl Gateway {
    /// Queues a call to make (now, or at `scheduled_at`). Blocking.
    pub fn initiate(
        &self,
        who: &Principal,
        req: InitiateRequest,
        phone: String,
    ) -> EngineResult<QueueItem> {
        self.replanning(|| self.initiate_once(who, req.clone(), phone.clone()))
    }

    fn initiate_once(
        &self,
        who: &Principal,
        req: InitiateRequest,
        phone: String,
    ) -> EngineResult<QueueItem> {
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
            time_zone: req.time_zone.clone(),
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
        let entry = audit(
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
        // A DNC number is refused outright; calling hours are the scheduler's to apply at
        // dial time (the window may open before the item is due).
        if let Decision::Block { reason } = self.dial_decision(&item, now)? {
            if reason.starts_with("blocked: DNC") {
                let mut refused = decision_audit(
                    &who.org,
                    decision::BLOCKED,
                    None,
                    None,
                    &reason,
                    serde_json::json!({ "phone_number": item.phone_number, "requested_by": who.name }),
                    now,
                );
                refused.ok = false;
                let batch = Batch {
                    audits: vec![refused],
                    ..Batch::default()
                };
                self.commit(&mut inner, batch, false)?;
                return Err(EngineError::conflict(format!(
                    "{} is on the do-not-call list {}, so it will not be called",
                    item.phone_number,
                    reason.trim_start_matches("blocked: DNC ")
                )));
            }
        }
        let batch = Batch {
            queue: vec![item.clone()],
            audits: vec![entry],
            ..Batch::default()
        };
        self.commit(&mut inner, batch, false)?;
        drop(inner);
        self.queue_wakeup.notify_one();
        Ok(item)
    }

    /// Cancel (`dial_now == false`) or move to the front (`true`) a waiting queue item.
    /// Blocking.
    pub fn queue_action(
        &self,
        who: &Principal,
        id: &str,
        dial_now: bool,
    ) -> EngineResult<QueueItem> {
        self.replanning(|| self.queue_action_once(who, id, dial_now))
    }

    fn queue_action_once(
        &self,
        who: &Principal,
        id: &str,
        dial_now: bool,
    ) -> EngineResult<QueueItem> {
        let org = self.org(&who.org);
        let mut inner = org.lock();
        let mut item = match inner.state.queue.get(id) {
            Some(i) => i.clone(),
            None => self
                .store
                .read_latest_blocking(|r| r.get_queue_item(&who.org, id))?
                .ok_or_else(|| EngineError::not_found("no queued call with this id"))?,
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
            return Err(EngineError::conflict(format!(
                "{why}, so it cannot be {what}"
            )));
        }
        let now = Utc::now();
        if dial_now {
            let decision = self.dial_decision(&item, now)?;
            if let Some(entry) = Self::apply_decision(&mut item, &decision, now) {
                let why = item.last_result.clone().unwrap_or_default();
                let batch = Batch {
                    queue: vec![item],
                    audits: vec![entry],
                    ..Batch::default()
                };
                self.commit(&mut inner, batch, false)?;
                return Err(EngineError::conflict(format!(
                    "the queued call cannot be dialed now: {why}"
                )));
            }
            item.state = QueueState::Pending;
            item.scheduled_at = None;
        } else {
            item.state = QueueState::Cancelled;
        }
        item.updated_at = now;
        let entry = audit(
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
            audits: vec![entry],
            ..Batch::default()
        };
        self.commit(&mut inner, batch, false)?;
        drop(inner);
        if dial_now {
            self.queue_wakeup.notify_one();
        }
        Ok(item)
    }

    /// Marks every due queue item of `org` dialing and returns them, for the scheduler to
    /// hand to the org's dialing provider. Blocking.
    pub fn take_due(&self, org: &str) -> EngineResult<Vec<QueueItem>> {
        self.replanning(|| self.take_due_once(org))
    }

    fn take_due_once(&self, org: &str) -> EngineResult<Vec<QueueItem>> {
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
        // Every dial (first, dial-now, retry) passes here: blocked and rescheduled items
        // are committed with their reason and never handed to the dialer.
        let mut held = Vec::new();
        let mut audits = Vec::new();
        let mut dialable = Vec::with_capacity(due.len());
        for mut item in due {
            let decision = self.dial_decision(&item, now)?;
            match Self::apply_decision(&mut item, &decision, now) {
                Some(entry) => {
                    audits.push(entry);
                    held.push(item);
                }
                None => dialable.push(item),
            }
        }
        let mut due = dialable;
        for item in &mut due {
            item.state = QueueState::Dialing;
            item.attempts += 1;
            // A new attempt: its call is not known yet (the previous one is in the history).
            item.call_id = None;
            item.updated_at = now;
        }
        let mut queue = due.clone();
        queue.extend(held);
        let batch = Batch {
            queue,
            audits,
            ..Batch::default()
        };
        self.commit(&mut inner, batch, false)?;
        Ok(due)
    }

    /// Dials the integration never reported within `dial_timeout_secs`. Memory only.
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

    /// A dial attempt failed at the provider: retry later or give up. Blocking.
    pub fn dial_failed(&self, org: &str, id: &str, error: &str) -> EngineResult<()> {
        self.replanning(|| self.dial_failed_once(org, id, error))
    }

    fn dial_failed_once(&self, org: &str, id: &str, error: &str) -> EngineResult<()> {
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
        retry_or_give_up(&mut item, &self.config.queue, now);
        item.last_result = Some(error.to_string());
        item.updated_at = now;
        let batch = Batch {
            queue: vec![item],
            ..Batch::default()
        };
        self.commit(&mut inner, batch, false)?;
        Ok(())
    }
}
