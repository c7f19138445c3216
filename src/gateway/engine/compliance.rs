//! Compliance in the engine: the do-not-call list (add, remove, import, export), the
//! dial-time decision every dial path asks, the live transcript watcher and the report.
//! Every decision is an audit entry whose actor is the gateway itself.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::compliance::{decision, locate, normalise, DncEntry};
use crate::core::model::{
    Alert, AuditEntry, Call, Direction, QueueItem, Role, Speaker, TranscriptEntry,
};
use crate::gateway::analytics;
use crate::gateway::auth::Principal;
use crate::gateway::compliance::dial::{decide, dnc_key, Decision};
use crate::gateway::compliance::{numbers, watch, ComplianceRules};
use crate::gateway::engine::actions::audit;
use crate::gateway::engine::{Gateway, OrgState};
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::store::Batch;

/// The actor of the gateway's own compliance decisions in the audit log.
pub const ACTOR: &str = "compliance";

/// An audit entry for a decision the gateway took itself.
pub(super) fn decision_audit(
    org: &str,
    action: &str,
    call_id: Option<&str>,
    item_id: Option<&str>,
    reason: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> AuditEntry {
    let who = Principal {
        name: ACTOR.into(),
        org: org.into(),
        role: Role::Admin,
    };
    audit(
        &who,
        action,
        call_id,
        item_id,
        Some(reason.into()),
        detail,
        now,
    )
}

/// `GET /api/compliance/report`.
#[derive(Debug, Clone, Serialize)]
pub struct ComplianceReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Decisions by audit action ("compliance_blocked", ...).
    pub by_action: BTreeMap<String, u64>,
    /// Decisions by reason.
    pub by_reason: BTreeMap<String, u64>,
    /// The decisions, oldest first (at most 1,000).
    pub decisions: Vec<AuditEntry>,
}

/// One CSV line of an import that could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportResult {
    pub imported: usize,
    pub errors: Vec<ImportError>,
}

impl Gateway {
    pub fn compliance(&self, org: &str) -> &ComplianceRules {
        self.config.compliance.for_org(org)
    }

    /// A number as the DNC list stores it; refused when it is not a phone number.
    pub fn dnc_number(&self, org: &str, raw: &str) -> EngineResult<String> {
        normalise(raw, self.compliance(org).default_region.as_deref())
            .map_err(|e| EngineError::invalid("number", e.to_string()))
    }

    /// Blocking.
    pub fn dnc_list(&self, org: &str) -> EngineResult<Vec<DncEntry>> {
        Ok(self.store.read_blocking(|r| r.dnc_list(org))?)
    }

    /// Adds (or replaces) numbers on the list; audited. Blocking. Written under the org's
    /// lock, like the scheduler's check: a dial either sees the entry or was handed out
    /// before it existed. The entry is committed before its audit entry: if the audit write
    /// fails the request answers an error but the number stays listed (the safe side).
    pub fn dnc_put(
        &self,
        who: &Principal,
        entries: Vec<DncEntry>,
        action: &str,
    ) -> EngineResult<()> {
        let now = Utc::now();
        let org = self.org(&who.org);
        let mut inner = org.lock();
        self.store
            .write_blocking(|w| w.dnc_put(&who.org, &entries))?;
        let numbers: Vec<&str> = entries.iter().map(|e| e.number.as_str()).collect();
        let source = entries.first().map(|e| e.source.clone());
        let entry = audit(
            who,
            action,
            None,
            None,
            source,
            serde_json::json!({ "numbers": numbers }),
            now,
        );
        let batch = Batch {
            audits: vec![entry],
            ..Batch::default()
        };
        self.commit(&mut inner, batch, false)?;
        Ok(())
    }

    /// Removes a number; audited. Blocking.
    pub fn dnc_remove(&self, who: &Principal, number: &str) -> EngineResult<()> {
        let org = self.org(&who.org);
        let mut inner = org.lock();
        if !self
            .store
            .write_blocking(|w| w.dnc_remove(&who.org, number))?
        {
            return Err(EngineError::not_found(
                "this number is not on the do-not-call list",
            ));
        }
        let entry = audit(
            who,
            decision::DNC_REMOVED,
            None,
            None,
            None,
            serde_json::json!({ "number": number }),
            Utc::now(),
        );
        let batch = Batch {
            audits: vec![entry],
            ..Batch::default()
        };
        self.commit(&mut inner, batch, false)?;
        Ok(())
    }

    /// What may happen to `item` now. Reads the DNC list on the writer (it sees an entry
    /// added a moment ago). Blocking; called under the org's lock.
    pub(super) fn dial_decision(
        &self,
        item: &QueueItem,
        now: DateTime<Utc>,
    ) -> EngineResult<Decision> {
        let rules = self.compliance(&item.org);
        let key = dnc_key(rules, &item.phone_number);
        let hit = self
            .store
            .read_latest_blocking(|r| r.dnc_get(&item.org, &key))?;
        Ok(decide(rules, item, hit.as_ref(), now))
    }

    /// Applies a decision that is not `Dial` to `item` and returns its audit entry.
    pub(super) fn apply_decision(
        item: &mut QueueItem,
        decision: &Decision,
        now: DateTime<Utc>,
    ) -> Option<AuditEntry> {
        let (action, reason, detail) = match decision {
            Decision::Dial => return None,
            Decision::Block { reason } => {
                item.state = crate::core::model::QueueState::Failed;
                (
                    decision::BLOCKED,
                    reason,
                    serde_json::json!({ "phone_number": item.phone_number }),
                )
            }
            Decision::Reschedule { at, reason } => {
                item.state = crate::core::model::QueueState::Scheduled;
                item.scheduled_at = Some(*at);
                (
                    decision::RESCHEDULED,
                    reason,
                    serde_json::json!({ "phone_number": item.phone_number, "scheduled_at": at }),
                )
            }
        };
        item.last_result = Some(reason.clone());
        item.updated_at = now;
        Some(decision_audit(
            &item.org,
            action,
            None,
            Some(&item.id),
            reason,
            detail,
            now,
        ))
    }

    /// The live watcher: for each call whose final AI turns change in `batch` and whose
    /// deadline has passed, store its compliance status and raise the alerts that are due
    /// (once each), with their audit entries.
    pub(super) fn watch_transcript(
        &self,
        st: &OrgState,
        org: &str,
        batch: &mut Batch,
        now: DateTime<Utc>,
    ) {
        let rules = self.compliance(org);
        if !rules.watches() {
            return;
        }
        let touched: HashSet<String> = batch
            .transcript
            .iter()
            .filter(|w| w.entry.speaker == Speaker::Ai && w.entry.is_final)
            .map(|w| w.entry.call_id.clone())
            .collect();
        for call_id in touched {
            let in_batch = batch.calls.iter().rposition(|c| c.id == call_id);
            let mut call = match (in_batch, st.calls.get(&call_id)) {
                (Some(i), _) => batch.calls[i].clone(),
                (None, Some(ac)) => ac.call.clone(),
                (None, None) => continue,
            };
            if call.compliance.is_some() {
                continue;
            }
            // The transcript as it will be after this batch: memory, then the batch's writes.
            let mut turns: BTreeMap<u32, &TranscriptEntry> = BTreeMap::new();
            if let Some(ac) = st.calls.get(&call_id) {
                for e in &ac.transcript {
                    turns.insert(e.position, e);
                }
            }
            for w in batch
                .transcript
                .iter()
                .filter(|w| w.entry.call_id == call_id)
            {
                turns.insert(w.entry.position, &w.entry);
            }
            let ai = ai_turns(turns.into_values());
            if !judge(rules, org, &mut call, &ai, &mut batch.audits, now) {
                continue;
            }
            match in_batch {
                Some(i) => batch.calls[i] = call,
                None => batch.calls.push(call),
            }
        }
    }

    /// With a deadline in seconds the verdict is due when the time passes, whether or not
    /// the AI speaks: the scheduler loop asks here every poll. Blocking.
    pub fn compliance_deadlines(&self, org_id: &str) -> EngineResult<()> {
        self.replanning(|| self.compliance_deadlines_once(org_id))
    }

    fn compliance_deadlines_once(&self, org_id: &str) -> EngineResult<()> {
        let rules = self.compliance(org_id);
        if !rules.watches() || rules.within_secs.is_none() {
            return Ok(());
        }
        let org = self.org(org_id);
        let mut inner = org.lock();
        let now = Utc::now();
        let mut batch = Batch::default();
        for ac in inner.state.calls.values() {
            if ac.call.compliance.is_some() || ac.call.started_at.is_none() {
                continue;
            }
            let mut call = ac.call.clone();
            let ai = ai_turns(ac.transcript.iter());
            if judge(rules, org_id, &mut call, &ai, &mut batch.audits, now) {
                batch.calls.push(call);
            }
        }
        self.commit(&mut inner, batch, false)?;
        Ok(())
    }

    /// Compliance decisions in [from, to). Blocking.
    pub fn compliance_report(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> EngineResult<ComplianceReport> {
        let mut decisions = self
            .store
            .read_blocking(|r| r.compliance_decisions(org, from, to))?;
        let mut by_action = BTreeMap::new();
        let mut by_reason = BTreeMap::new();
        for d in &decisions {
            *by_action.entry(d.action.clone()).or_insert(0) += 1;
            let reason = d.reason.clone().unwrap_or_default();
            *by_reason.entry(reason).or_insert(0) += 1;
        }
        decisions.truncate(1000);
        Ok(ComplianceReport {
            from,
            to,
            by_action,
            by_reason,
            decisions,
        })
    }

    /// Inbound calls first seen in `batch` that reached a managed line outside its business
    /// hours get an `after_hours` alert (once).
    pub(super) fn mark_after_hours(&self, st: &OrgState, org: &str, batch: &mut Batch) {
        let lines = &self.config.phone_numbers;
        if lines.is_empty() {
            return;
        }
        for call in &mut batch.calls {
            let new = !st.calls.contains_key(&call.id);
            let marked = call.alerts.iter().any(|a| a.kind == numbers::AFTER_HOURS);
            if call.direction != Direction::Inbound || !new || marked {
                continue;
            }
            let Some(why) = numbers::find(lines, org, &call.to)
                .and_then(|line| line.after_hours(call.created_at))
            else {
                continue;
            };
            call.alerts.push(Alert {
                kind: numbers::AFTER_HOURS.into(),
                message: why,
                at: call.created_at,
            });
        }
    }

    /// The org's managed lines.
    pub fn phone_numbers(&self, org: &str) -> Vec<numbers::PhoneNumber> {
        self.config
            .phone_numbers
            .iter()
            .filter(|n| n.org == org)
            .cloned()
            .collect()
    }

    /// `GET /api/calls/analytics?group_by=number`: figures per line (the managed line's
    /// name, else the number).
    pub async fn analytics_by_number(
        self: &std::sync::Arc<Self>,
        org: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> EngineResult<crate::core::model::Analytics> {
        let org = org.to_string();
        let gw = self.clone();
        Ok(self
            .store
            .read(move |r| {
                let now = Utc::now();
                let to = to.unwrap_or(now + chrono::Duration::seconds(1));
                let from = from.unwrap_or(to - chrono::Duration::hours(24));
                let series_to = to.min(now);
                let series_from = if from > series_to - chrono::Duration::hours(1) {
                    from
                } else {
                    series_to - chrono::Duration::minutes(59)
                };
                let mut t =
                    analytics::Tally::new(series_from, series_to, now, analytics::GroupBy::None);
                r.each_call_between(&org, from, to, &mut |c| {
                    let line = numbers::line_of(&c);
                    let key = match numbers::find(&gw.config.phone_numbers, &org, line) {
                        Some(n) => format!("{} ({})", n.name, line),
                        None => line.to_string(),
                    };
                    t.add_to_group(key, &c);
                    t.add(&c);
                })?;
                Ok(t.finish())
            })
            .await?)
    }
}

/// The final AI turns of a transcript, in order.
fn ai_turns<'a>(entries: impl Iterator<Item = &'a TranscriptEntry>) -> Vec<watch::AiTurn<'a>> {
    entries
        .filter(|e| e.speaker == Speaker::Ai && e.is_final)
        .map(|e| watch::AiTurn {
            at: e.at,
            text: e.text.as_str(),
        })
        .collect()
}

/// Applies the deadline's verdict to `call` if it is due: stores the status, raises the
/// alerts and audits them. False when the deadline has not passed yet.
fn judge(
    rules: &ComplianceRules,
    org: &str,
    call: &mut Call,
    ai: &[watch::AiTurn<'_>],
    audits: &mut Vec<AuditEntry>,
    now: DateTime<Utc>,
) -> bool {
    let party = match call.direction {
        Direction::Inbound => &call.from,
        Direction::Outbound => &call.to,
    };
    let region = locate(&dnc_key(rules, party)).region;
    let raised: Vec<&str> = call.alerts.iter().map(|a| a.kind.as_str()).collect();
    // A deadline in seconds runs from the start of the conversation, not from ringing.
    let started = match (rules.within_secs, call.started_at) {
        (Some(_), None) => return false,
        (_, s) => s.unwrap_or(call.created_at),
    };
    let Some(verdict) = watch::check(rules, &region, started, ai, &raised, now) else {
        return false;
    };
    for f in &verdict.findings {
        call.alerts.push(Alert {
            kind: f.kind.into(),
            message: f.message.clone(),
            at: now,
        });
        audits.push(decision_audit(
            org,
            decision::FLAGGED,
            Some(&call.id),
            call.queue_item_id.as_deref(),
            &f.message,
            serde_json::json!({ "kind": f.kind, "violation": f.violation, "region": region }),
            now,
        ));
    }
    call.compliance = Some(verdict.status);
    call.updated_at = now;
    true
}
