//! What an action the provider carried out does to the call record. Whether an action is
//! allowed at all is the rule book's (`core::action`).

use chrono::{DateTime, Utc};

use crate::core::action::Action;
use crate::core::model::{outcome, Call, CallState, Takeover};

/// The call after the provider carried the action out.
pub fn apply_action(action: &Action, call: &mut Call, by: &str, now: DateTime<Utc>) {
    match action {
        Action::TakeOver {
            reason,
            notes,
            phone,
            ..
        } => {
            call.state = CallState::TakenOver;
            call.takeover = Some(Takeover {
                by: by.into(),
                reason: reason.clone(),
                notes: notes.clone(),
                at: now,
                phone: phone.clone(),
            });
        }
        // The AI speaks again; who held the call stays in the audit log and the transcript.
        Action::HandBack => {
            call.state = CallState::InProgress;
            call.takeover = None;
        }
        Action::Transfer { .. } => end_call(call, outcome::TRANSFERRED, None, now),
        Action::PauseAi => call.state = CallState::AiPaused,
        Action::ResumeAi => call.state = CallState::InProgress,
        Action::Say { .. } | Action::Instruct { .. } => {}
        Action::End => end_call(call, outcome::ENDED_BY_SUPERVISOR, None, now),
    }
    call.updated_at = now;
}

/// Marks a call ended. `duration` wins over the computed started->now time.
pub fn end_call(call: &mut Call, result: &str, duration: Option<f64>, now: DateTime<Utc>) {
    call.state = CallState::Ended;
    call.outcome = Some(result.to_string());
    call.ended_at = Some(now);
    call.duration_secs = duration.or_else(|| {
        call.started_at
            .map(|s| ((now - s).num_milliseconds().max(0) as f64) / 1000.0)
            .or(Some(0.0))
    });
    call.updated_at = now;
}
