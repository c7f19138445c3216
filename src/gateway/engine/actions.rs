//! Supervisors' actions on calls: checked against the call's state and the stack's
//! capabilities, carried out by the provider, then recorded (new state + audit entry, also
//! when refused or failed).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::core::action::{takeover_phone, Action, Capability, TakeoverMode, TransferMode};
use crate::core::model::{outcome, AuditEntry, Call, Speaker, TranscriptEntry};
use crate::core::protocol::ActionResponse;
use crate::core::provider::{Provider, ProviderError};
use crate::gateway::auth::Principal;
use crate::gateway::engine::claims::{self, Holder};
use crate::gateway::engine::retry::queue_after_end;
use crate::gateway::engine::{Gateway, OrgState};
use crate::gateway::error::{EngineError, EngineResult};
use crate::gateway::state::apply_action;
use crate::gateway::store::{Batch, TranscriptWrite};

pub(super) fn not_found_call() -> EngineError {
    EngineError::not_found("no call with this id")
}

pub(super) fn audit(
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

impl Gateway {
    /// Takes one action token for `who`, or says when to try again.
    pub fn rate_limit(&self, who: &Principal) -> EngineResult<()> {
        self.limiter
            .check(&who.name)
            .map_err(|retry_after_secs| EngineError::RateLimited { retry_after_secs })
    }

    /// A call of the org: live from memory, else from the database. Blocking.
    fn find_call(&self, st: &OrgState, org: &str, id: &str) -> EngineResult<Option<Call>> {
        if let Some(ac) = st.calls.get(id) {
            return Ok(Some(ac.call.clone()));
        }
        Ok(self.store.read_latest_blocking(|r| r.get_call(org, id))?)
    }

    /// Records an action refused before any provider was asked (wrong state, no such
    /// capability): the audit log shows who tried what and why it was refused. Returns the
    /// error to answer with; an audit write that fails is logged, not answered instead.
    fn refused(
        &self,
        who: &Principal,
        action: &Action,
        call: &Call,
        failure: EngineError,
    ) -> EngineError {
        let mut entry = audit(
            who,
            action.name(),
            Some(&call.id),
            call.queue_item_id.as_deref(),
            action.reason(),
            action.detail(),
            Utc::now(),
        );
        entry.ok = false;
        entry.error = Some(failure.to_string());
        let org = self.org(&who.org);
        let mut inner = org.lock();
        let batch = Batch {
            audits: vec![entry],
            ..Batch::default()
        };
        if let Err(e) = self.commit(&mut inner, batch, false) {
            tracing::warn!(org = %who.org, call = %call.id, error = %e, "cannot audit a refused action");
        }
        failure
    }

    /// Claims the call, checks state and capability, has the provider carry the action
    /// out, then records the new state and the audit entry (also when the provider failed)
    /// and releases the claim. A call another action holds is refused without asking the
    /// provider.
    pub async fn call_action(
        self: &Arc<Self>,
        who: &Principal,
        call_id: &str,
        action: Action,
    ) -> EngineResult<ActionResponse> {
        let holder = Holder {
            actor: who.name.clone(),
            kind: action.kind(),
        };
        let busy = holder.busy_message();
        // Other instances on the same store: the store decides who holds the call, before
        // any provider is asked (first, so a loser is never named as a holder here).
        let shared = claims::claim_shared(
            &self.store,
            claims::CALL_SCOPE,
            format!("{}/{}", who.org, call_id),
            busy,
        )
        .await?
        .map_err(EngineError::Busy)?;
        let claim = match self.claims.claim(&who.org, call_id, holder) {
            Ok(claim) => claim,
            Err(current) => {
                if let Some(shared) = shared {
                    shared.release(&self.store).await;
                }
                return Err(EngineError::Busy(current.busy_message()));
            }
        };
        // Its own task: a client that disconnects mid-action must not cut the work between
        // the provider's answer and the commit (the claim would be released with the stack
        // changed and the gateway not knowing).
        let gw = self.clone();
        let (who, call_id) = (who.clone(), call_id.to_string());
        tokio::spawn(async move {
            let _claim = claim;
            let (w, id, a) = (who.clone(), call_id.clone(), action.clone());
            let result = async {
                let (call, provider, action) = gw
                    .blocking(move |gw| gw.prepare_action(&w, &id, &a))
                    .await?;
                let performed = provider.perform(&call, &action, &who.name).await;
                gw.blocking(move |gw| gw.record_action(&who, &call_id, &action, performed))
                    .await
            }
            .await;
            if let Some(shared) = shared {
                shared.release(&gw.store).await;
            }
            result
        })
        .await?
    }

    /// The call, the provider to act through and the action as it will be carried out (a
    /// take over with the phone it bridges to), or the (audited) refusal. Blocking.
    fn prepare_action(
        &self,
        who: &Principal,
        call_id: &str,
        action: &Action,
    ) -> EngineResult<(Call, Arc<dyn Provider>, Action)> {
        let org = self.org(&who.org);
        let call = {
            let inner = org.lock();
            self.find_call(&inner.state, &who.org, call_id)?
        }
        .ok_or_else(not_found_call)?;
        if let Err(m) = action.kind().check_state(&call) {
            return Err(self.refused(who, action, &call, EngineError::Conflict(m)));
        }
        if let Err(m) = action.kind().check_holder(&call, &who.name, who.role) {
            return Err(self.refused(who, action, &call, EngineError::Forbidden(m)));
        }
        let capability = action.kind().capability();
        let Some(provider) = self.registry.get(&who.org, &call.integration) else {
            let failure = EngineError::unsupported(format!(
                "the integration `{}` that carries this call is not configured on this gateway, so callwatch cannot act on it",
                call.integration
            ));
            return Err(self.refused(who, action, &call, failure));
        };
        let caps = provider.capabilities();
        if !action.kind().supported_by(&caps) {
            let failure = EngineError::unsupported(format!(
                "{} cannot {}",
                call.provider,
                capability.describe()
            ));
            return Err(self.refused(who, action, &call, failure));
        }
        match self.resolve_action(who, action, &call, &caps) {
            Ok(resolved) => Ok((call, provider, resolved)),
            Err(failure) => Err(self.refused(who, action, &call, failure)),
        }
    }

    /// What only the gateway can fill in: the taker's phone (from the config, never from the
    /// request), and whether the stack can transfer warm.
    fn resolve_action(
        &self,
        who: &Principal,
        action: &Action,
        call: &Call,
        caps: &std::collections::BTreeSet<Capability>,
    ) -> EngineResult<Action> {
        match action {
            Action::TakeOver {
                reason,
                notes,
                mode,
                ..
            } => {
                let mine = self
                    .config
                    .tokens
                    .iter()
                    .find(|t| t.name == who.name && t.org == who.org)
                    .and_then(|t| t.phone.as_deref());
                let phone = takeover_phone(*mode, mine, caps, &call.provider)
                    .map_err(EngineError::unsupported)?;
                Ok(Action::TakeOver {
                    reason: reason.clone(),
                    notes: notes.clone(),
                    mode: Some(if phone.is_some() {
                        TakeoverMode::Phone
                    } else {
                        TakeoverMode::Text
                    }),
                    phone,
                })
            }
            Action::Transfer {
                mode: TransferMode::Warm,
                ..
            } if !caps.contains(&Capability::WarmTransfer) => {
                Err(EngineError::unsupported(format!(
                    "{} cannot {}; transfer cold instead",
                    call.provider,
                    Capability::WarmTransfer.describe()
                )))
            }
            other => Ok(other.clone()),
        }
    }

    /// Commits what the provider's answer means for the call, with the audit entry.
    /// Blocking.
    pub(super) fn record_action(
        &self,
        who: &Principal,
        call_id: &str,
        action: &Action,
        performed: Result<(), ProviderError>,
    ) -> EngineResult<ActionResponse> {
        // The provider has acted: planned again (from the other instance's change) only
        // what it means for the call, never asked again.
        self.replanning(|| self.record_action_once(who, call_id, action, performed.clone()))
    }

    fn record_action_once(
        &self,
        who: &Principal,
        call_id: &str,
        action: &Action,
        performed: Result<(), ProviderError>,
    ) -> EngineResult<ActionResponse> {
        let now = Utc::now();
        let org = self.org(&who.org);
        let mut inner = org.lock();
        let mut current = self
            .find_call(&inner.state, &who.org, call_id)?
            .ok_or_else(not_found_call)?;
        let mut entry = audit(
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
        let result: EngineResult<()> = match performed {
            Err(e) => {
                entry.ok = false;
                entry.error = Some(e.to_string());
                tracing::warn!(org = %who.org, call = call_id, action = action.name(), error = %e, "provider refused an action");
                Err(e.into())
            }
            // The stack reported the hang-up before this answer: providers race their own
            // end-of-call webhook against the API reply. The end happened, by this action.
            Ok(())
                if matches!(action, Action::End | Action::Transfer { .. })
                    && !current.state.is_active() =>
            {
                current.outcome = Some(
                    if matches!(action, Action::End) {
                        outcome::ENDED_BY_SUPERVISOR
                    } else {
                        outcome::TRANSFERRED
                    }
                    .into(),
                );
                current.updated_at = now;
                batch.calls.push(current.clone());
                analytics_changed = true;
                Ok(())
            }
            Ok(()) => match action.kind().check_state(&current) {
                // The call changed while the provider worked (e.g. the caller hung up).
                Err(m) => {
                    entry.ok = false;
                    entry.error = Some(m.clone());
                    Err(EngineError::Conflict(m))
                }
                Ok(()) => {
                    apply_action(action, &mut current, &who.name, now);
                    if !current.state.is_active() {
                        queue_after_end(
                            &inner.state,
                            &current,
                            &mut batch,
                            &self.config.queue,
                            now,
                        );
                        analytics_changed = true;
                    }
                    if matches!(action, Action::TakeOver { .. } | Action::HandBack) {
                        analytics_changed = true;
                    }
                    if action.changes_call() {
                        batch.calls.push(current.clone());
                    }
                    // Who paused, resumed or took over is part of the call's story: a system
                    // line in its transcript (live calls; their transcript is in memory).
                    if let Some(ac) = inner.state.calls.get(call_id) {
                        let position = ac.transcript.len() as u32;
                        if let Some(w) = system_line(action, &who.name, call_id, position, now) {
                            batch.transcript.push(w);
                        }
                    }
                    Ok(())
                }
            },
        };
        batch.audits.push(entry);
        let audits = self.commit(&mut inner, batch, analytics_changed)?;
        result?;
        Ok(ActionResponse {
            action: action.name().into(),
            call: current,
            audit_id: audits.first().map(|a| a.id).unwrap_or_default(),
        })
    }

    /// Sets a call's summary: the given text, or an extractive one from the transcript.
    /// Blocking.
    pub fn set_summary(
        &self,
        who: &Principal,
        call_id: &str,
        text: Option<String>,
    ) -> EngineResult<ActionResponse> {
        self.replanning(|| self.set_summary_once(who, call_id, text.clone()))
    }

    fn set_summary_once(
        &self,
        who: &Principal,
        call_id: &str,
        text: Option<String>,
    ) -> EngineResult<ActionResponse> {
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
                    None => self.store.read_latest_blocking(|r| r.transcript(call_id))?,
                };
                crate::gateway::summary::extractive(&call, &transcript)
            }
        };
        let now = Utc::now();
        call.summary = Some(summary.clone());
        call.updated_at = now;
        let entry = audit(
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
            audits: vec![entry],
            ..Batch::default()
        };
        let audits = self.commit(&mut inner, batch, false)?;
        Ok(ActionResponse {
            action: "summary".into(),
            call,
            audit_id: audits.first().map(|a| a.id).unwrap_or_default(),
        })
    }
}

/// The transcript's record of a state change by a supervisor, if the action is one.
fn system_line(
    action: &Action,
    by: &str,
    call_id: &str,
    position: u32,
    at: DateTime<Utc>,
) -> Option<TranscriptWrite> {
    let text = match action {
        Action::PauseAi => format!("{by} paused the AI"),
        Action::ResumeAi => format!("{by} resumed the AI"),
        Action::TakeOver {
            reason,
            phone: Some(_),
            ..
        } => format!("{by} took over the call on their phone: {reason}"),
        Action::TakeOver { reason, .. } => format!("{by} took over the call: {reason}"),
        Action::HandBack => format!("{by} handed the call back to the AI"),
        Action::Transfer { to, name, mode, .. } => {
            let place = match name {
                Some(n) => format!("{n} ({to})"),
                None => to.clone(),
            };
            let warm = if *mode == TransferMode::Warm {
                " (warm)"
            } else {
                ""
            };
            format!("transferred to {place} by {by}{warm}")
        }
        _ => return None,
    };
    Some(TranscriptWrite {
        entry: TranscriptEntry {
            id: uuid::Uuid::new_v4().to_string(),
            call_id: call_id.to_string(),
            position,
            speaker: Speaker::System,
            text,
            is_final: true,
            at,
        },
        utterance_id: None,
        appended: true,
    })
}
