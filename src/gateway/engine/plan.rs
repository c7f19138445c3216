//! What an ingested event changes, decided without I/O: (org state, what the database
//! knows, envelope, now) -> a [`Batch`] to commit. Pure so that every event type, duplicate
//! and late event can be tested as a table (see `plan_tests.rs`); the caller gathers
//! [`Stored`] and commits the plan under the org lock.

use chrono::{DateTime, Utc};

use crate::core::ingest::{IngestEnvelope, IngestEvent};
use crate::core::model::{
    outcome, Alert, Call, CallState, Lead, QueueState, Sentiment, TranscriptEntry,
};
use crate::gateway::config::QueuePolicy;
use crate::gateway::engine::memory::OrgState;
use crate::gateway::engine::retry::queue_after_end;
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::state::end_call;
use crate::gateway::store::{Batch, TranscriptWrite};

/// Who sent the event.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub org: &'a str,
    pub integration: &'a str,
    /// Provider display name for calls it starts.
    pub display: &'a str,
}

/// What the database knows that the org's memory does not: answers for calls that are no
/// longer live and queue items that are no longer open. Gathered by [`Source`]'s caller.
#[derive(Debug, Default, Clone)]
pub struct Stored {
    /// The call of the event's provider call id, when memory has no live call for it.
    pub call: Option<Call>,
    /// For a transcript event on a call that is not live: its entry with this utterance id...
    pub utterance: Option<TranscriptEntry>,
    /// ...and the length of its transcript.
    pub transcript_len: u32,
    /// For a `call.started` naming a queue item that is not open: whether it exists.
    pub queue_item_exists: bool,
}

/// A planned change.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub batch: Batch,
    /// Whether analytics must be recomputed once committed.
    pub analytics_changed: bool,
}

/// The live call (in memory) for the event's provider call id, if any.
pub fn live_call<'s>(
    st: &'s OrgState,
    integration: &str,
    provider_call_id: &str,
) -> Option<&'s Call> {
    let id = st
        .by_provider
        .get(&(integration.to_string(), provider_call_id.to_string()))?;
    st.calls.get(id).map(|ac| &ac.call)
}

/// Refusals that need no state: the event cannot be applied whatever the calls are.
pub fn validate(env: &IngestEnvelope) -> EngineResult<()> {
    if env.id.trim().is_empty() {
        return Err(refused("the event has an empty id"));
    }
    if env.event.provider_call_id().trim().is_empty() {
        return Err(refused("the event has an empty provider_call_id"));
    }
    Ok(())
}

fn refused(message: impl Into<String>) -> EngineError {
    EngineError::invalid("event", message)
}

/// What a `call.status` event does to a call in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Apply,
    /// Nothing to change (a repeat, or a late status of an ended call).
    Ignore,
    /// Refused with this reason (recorded in the webhook log).
    Refuse(&'static str),
}

/// The transition table for `call.status` (docs/PROTOCOL.md has it as a table). States only
/// move forward: queued -> ringing -> live (in_progress / ai_paused / taken_over) -> ended.
/// Within "live" the AI may be paused and resumed, and a human may join, but a status
/// never undoes a takeover (only a supervisor owns that). A status that would move a call
/// backwards is a late delivery (providers do not promise order): it changes nothing and is
/// answered 200, so redeliveries in any order converge. `ended` comes only from
/// `call.ended`, which carries the outcome; a status saying "ended" would end the call
/// without one, and is refused.
pub fn status_transition(from: CallState, to: CallState) -> Transition {
    use CallState::*;
    fn rank(s: CallState) -> u8 {
        match s {
            Queued => 0,
            Ringing => 1,
            InProgress | AiPaused | TakenOver => 2,
            Ended => 3,
        }
    }
    if from == Ended {
        return Transition::Ignore;
    }
    if to == Ended {
        return Transition::Refuse("a call ends only through a call.ended event");
    }
    if from == to {
        return Transition::Ignore;
    }
    if rank(to) < rank(from) || from == TakenOver {
        return Transition::Ignore;
    }
    Transition::Apply
}

/// The changes `env` makes. `new_id` names new calls and transcript entries.
pub fn plan_ingest(
    st: &OrgState,
    src: Source<'_>,
    env: &IngestEnvelope,
    stored: &Stored,
    policy: &QueuePolicy,
    new_id: &mut dyn FnMut() -> String,
    now: DateTime<Utc>,
) -> EngineResult<Plan> {
    let pcid = env.event.provider_call_id();
    let at = env.occurred_at.unwrap_or(now);
    let known = st
        .by_provider
        .contains_key(&(src.integration.to_string(), pcid.to_string()));
    let existing = if known {
        live_call(st, src.integration, pcid).cloned()
    } else {
        stored.call.clone()
    };
    if let IngestEvent::CallStarted { .. } = &env.event {
        return Ok(call_started(st, src, env, existing, stored, new_id, now));
    }
    let Some(mut call) = existing else {
        return Err(refused(format!(
            "unknown call: no call.started was received for provider_call_id {pcid:?}"
        )));
    };
    let mut batch = Batch::default();
    let mut analytics_changed = false;
    match &env.event {
        IngestEvent::CallStarted { .. } => {}
        IngestEvent::CallStatus { status, .. } => match status_transition(call.state, *status) {
            Transition::Apply => {
                call.state = *status;
                if *status == CallState::InProgress && call.started_at.is_none() {
                    call.started_at = Some(at);
                }
                call.updated_at = now;
                batch.calls.push(call);
            }
            Transition::Ignore => {}
            Transition::Refuse(why) => {
                return Err(refused(format!(
                    "call.status {} refused for a call that is {}: {why}",
                    status.as_str(),
                    call.state.as_str()
                )))
            }
        },
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
                None => stored.utterance.clone(),
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
                        None => stored.transcript_len,
                    };
                    batch.transcript.push(TranscriptWrite {
                        entry: TranscriptEntry {
                            id: new_id(),
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
        IngestEvent::CallRecording { recording_url, .. } => {
            if call.recording_url.as_deref() != Some(recording_url.as_str()) {
                call.recording_url = Some(recording_url.clone());
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
                queue_after_end(st, &call, &mut batch, policy, now);
            } else {
                // Already ended (e.g. by a supervisor): fill in the provider's figures.
                if !call
                    .outcome
                    .as_deref()
                    .is_some_and(|o| outcome::BY_SUPERVISOR.contains(&o))
                {
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
    Ok(Plan {
        batch,
        analytics_changed,
    })
}

/// `call.started`: creates the call, or updates a known one's details.
fn call_started(
    st: &OrgState,
    src: Source<'_>,
    env: &IngestEnvelope,
    existing: Option<Call>,
    stored: &Stored,
    new_id: &mut dyn FnMut() -> String,
    now: DateTime<Utc>,
) -> Plan {
    let IngestEvent::CallStarted {
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
    else {
        return Plan::default();
    };
    let at = env.occurred_at.unwrap_or(now);
    let mut batch = Batch::default();
    let is_new = existing.is_none();
    let mut call = existing.unwrap_or_else(|| Call {
        id: new_id(),
        org: src.org.to_string(),
        integration: src.integration.to_string(),
        provider: src.display.to_string(),
        provider_call_id: env.event.provider_call_id().to_string(),
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
        capabilities: None,
        compliance: None,
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
        let forward = status_transition(call.state, *s) == Transition::Apply;
        if *s != CallState::Ended
            && (is_new || (forward && matches!(call.state, CallState::Queued | CallState::Ringing)))
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
            if call.campaign.is_none() {
                call.campaign = item.campaign.clone();
            }
            batch.queue.push(item);
            call.queue_item_id = Some(qid.clone());
        } else if stored.queue_item_exists {
            call.queue_item_id = Some(qid.clone());
        }
    }
    call.updated_at = now;
    batch.calls.push(call);
    Plan {
        batch,
        analytics_changed: is_new,
    }
}
