//! The rules for supervisors' actions on calls (which state allows what, and the call after).

use chrono::{DateTime, Utc};

use crate::core::model::{outcome, Call, CallState, Takeover};
use crate::gateway::provider::ProviderAction;

/// A supervisor's action on a call, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum CallAction {
    TakeOver {
        reason: String,
        notes: Option<String>,
    },
    PauseAi,
    ResumeAi,
    Say {
        text: String,
    },
    Instruct {
        text: String,
    },
    End,
}

impl CallAction {
    /// Name in the audit log and in `ActionResponse::action`.
    pub fn name(&self) -> &'static str {
        match self {
            CallAction::TakeOver { .. } => "takeover",
            CallAction::PauseAi => "pause_ai",
            CallAction::ResumeAi => "resume_ai",
            CallAction::Say { .. } => "say",
            CallAction::Instruct { .. } => "instruct",
            CallAction::End => "end",
        }
    }

    /// Whether the action makes sense in this state; otherwise a sentence saying why not.
    pub fn check(&self, state: CallState) -> Result<(), String> {
        use CallState::*;
        if state == Ended {
            return Err(match self {
                CallAction::TakeOver { .. } => "the call has ended, so it cannot be taken over",
                CallAction::End => "the call has already ended",
                _ => "the call has ended, so nothing can be done on it any more",
            }
            .into());
        }
        let not_started = "the call has not been answered yet";
        let human = "a human has taken over; the AI is not on the call";
        let result = match (self, state) {
            (CallAction::TakeOver { .. }, Ringing | InProgress | AiPaused) => Ok(()),
            (CallAction::TakeOver { .. }, TakenOver) => {
                Err("a human has already taken over this call")
            }
            (CallAction::TakeOver { .. }, _) => {
                Err("the call has not started ringing yet, so it cannot be taken over")
            }
            (CallAction::PauseAi, InProgress) => Ok(()),
            (CallAction::PauseAi, AiPaused) => Err("the AI is already paused"),
            (CallAction::PauseAi, TakenOver) => Err(human),
            (CallAction::PauseAi, _) => Err(not_started),
            (CallAction::ResumeAi, AiPaused) => Ok(()),
            (CallAction::ResumeAi, InProgress) => {
                Err("the AI is not paused, so it cannot be resumed")
            }
            (CallAction::ResumeAi, TakenOver) => {
                Err("a human has taken over; the AI cannot be resumed on this call")
            }
            (CallAction::ResumeAi, _) => Err("the AI is not paused, so it cannot be resumed"),
            (CallAction::Say { .. }, InProgress | AiPaused | TakenOver) => Ok(()),
            (CallAction::Say { .. }, _) => Err(not_started),
            (CallAction::Instruct { .. }, InProgress | AiPaused) => Ok(()),
            (CallAction::Instruct { .. }, TakenOver) => Err(human),
            (CallAction::Instruct { .. }, _) => Err(not_started),
            (CallAction::End, _) => Ok(()),
        };
        result.map_err(|m| {
            if m == not_started {
                format!(
                    "{not_started}, so the {} action is not possible",
                    self.name()
                )
            } else {
                m.to_string()
            }
        })
    }

    pub fn to_provider(&self, by: &str) -> ProviderAction {
        match self {
            CallAction::TakeOver { reason, notes } => ProviderAction::TakeOver {
                by: by.into(),
                reason: reason.clone(),
                notes: notes.clone(),
            },
            CallAction::PauseAi => ProviderAction::PauseAi,
            CallAction::ResumeAi => ProviderAction::ResumeAi,
            CallAction::Say { text } => ProviderAction::Say { text: text.clone() },
            CallAction::Instruct { text } => ProviderAction::Instruct { text: text.clone() },
            CallAction::End => ProviderAction::End { by: by.into() },
        }
    }

    /// The call after the provider carried the action out.
    pub fn apply(&self, call: &mut Call, by: &str, now: DateTime<Utc>) {
        match self {
            CallAction::TakeOver { reason, notes } => {
                call.state = CallState::TakenOver;
                call.takeover = Some(Takeover {
                    by: by.into(),
                    reason: reason.clone(),
                    notes: notes.clone(),
                    at: now,
                });
            }
            CallAction::PauseAi => call.state = CallState::AiPaused,
            CallAction::ResumeAi => call.state = CallState::InProgress,
            CallAction::Say { .. } | CallAction::Instruct { .. } => {}
            CallAction::End => end_call(call, outcome::ENDED_BY_SUPERVISOR, None, now),
        }
        call.updated_at = now;
    }

    /// The reason recorded in the audit log.
    pub fn reason(&self) -> Option<String> {
        match self {
            CallAction::TakeOver { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    }

    pub fn detail(&self) -> serde_json::Value {
        match self {
            CallAction::TakeOver { notes, .. } => serde_json::json!({ "notes": notes }),
            CallAction::Say { text } | CallAction::Instruct { text } => {
                serde_json::json!({ "text": text })
            }
            _ => serde_json::Value::Null,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_rules() {
        use CallState::*;
        let take = CallAction::TakeOver {
            reason: "r".into(),
            notes: None,
        };
        assert!(take.check(Ringing).is_ok());
        assert!(take.check(AiPaused).is_ok());
        assert!(take.check(Ended).is_err());
        assert!(CallAction::PauseAi.check(InProgress).is_ok());
        assert!(CallAction::PauseAi.check(AiPaused).is_err());
        assert_eq!(
            CallAction::ResumeAi.check(InProgress).unwrap_err(),
            "the AI is not paused, so it cannot be resumed"
        );
        let instruct = CallAction::Instruct { text: "x".into() };
        assert_eq!(
            instruct.check(TakenOver).unwrap_err(),
            "a human has taken over; the AI is not on the call"
        );
        assert!(CallAction::Say { text: "x".into() }
            .check(TakenOver)
            .is_ok());
        assert!(CallAction::End.check(Queued).is_ok());
        assert!(CallAction::End.check(Ended).is_err());
    }
}
