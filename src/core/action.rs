//! The rule book: the supervisor actions, which role may do what, and which action makes
//! sense in which call state. The gateway enforces it (403, 409, 422); the console asks it
//! before sending, so a key is refused at once with the sentence the gateway would answer.

pub use super::capability::Capability;
use super::model::{Call, CallState, Role};

/// What a request wants to do; checked against the token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    TakeOver,
    Say,
    /// Pause/resume/instruct/end/summary.
    CallControl,
    Queue,
    /// Integration diagnostics (the webhook log).
    Admin,
}

impl Permission {
    /// Roles are ordered viewer < agent < supervisor < admin; each may what the one below may.
    pub fn min_role(self) -> Role {
        match self {
            Permission::Read => Role::Viewer,
            Permission::TakeOver | Permission::Say => Role::Agent,
            Permission::CallControl | Permission::Queue => Role::Supervisor,
            Permission::Admin => Role::Admin,
        }
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Agent, Role::Supervisor, Role::Admin];

    /// The name in config files, the API and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn may(self, p: Permission) -> bool {
        self >= p.min_role()
    }

    /// `Err("the viewer role may not take over calls")` when the role lacks `p`.
    pub fn require(self, p: Permission, what: &str) -> Result<(), String> {
        if self.may(p) {
            Ok(())
        } else {
            Err(format!("the {} role may not {what}", self.as_str()))
        }
    }
}

/// An action without its text: what a key, an endpoint and a capability name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    TakeOver,
    PauseAi,
    ResumeAi,
    Say,
    Instruct,
    End,
}

impl ActionKind {
    pub const ALL: [ActionKind; 6] = [
        ActionKind::TakeOver,
        ActionKind::PauseAi,
        ActionKind::ResumeAi,
        ActionKind::Say,
        ActionKind::Instruct,
        ActionKind::End,
    ];

    /// Name in the audit log and in `ActionResponse::action`.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::TakeOver => "takeover",
            ActionKind::PauseAi => "pause_ai",
            ActionKind::ResumeAi => "resume_ai",
            ActionKind::Say => "say",
            ActionKind::Instruct => "instruct",
            ActionKind::End => "end",
        }
    }

    /// Completes "sam is already ... this call".
    pub fn doing(self) -> &'static str {
        match self {
            ActionKind::TakeOver => "taking over",
            ActionKind::PauseAi => "pausing the AI on",
            ActionKind::ResumeAi => "resuming the AI on",
            ActionKind::Say => "speaking on",
            ActionKind::Instruct => "instructing the AI on",
            ActionKind::End => "ending",
        }
    }

    /// Completes "the agent role may not ...".
    pub fn what(self) -> &'static str {
        match self {
            ActionKind::TakeOver => "take over calls",
            ActionKind::PauseAi => "pause the AI",
            ActionKind::ResumeAi => "resume the AI",
            ActionKind::Say => "speak to callers",
            ActionKind::Instruct => "instruct the AI",
            ActionKind::End => "end calls",
        }
    }

    pub fn permission(self) -> Permission {
        match self {
            ActionKind::TakeOver => Permission::TakeOver,
            ActionKind::Say => Permission::Say,
            ActionKind::PauseAi | ActionKind::ResumeAi | ActionKind::Instruct | ActionKind::End => {
                Permission::CallControl
            }
        }
    }

    pub fn capability(self) -> Capability {
        match self {
            ActionKind::TakeOver => Capability::TakeOver,
            ActionKind::PauseAi => Capability::PauseAi,
            ActionKind::ResumeAi => Capability::ResumeAi,
            ActionKind::Say => Capability::Say,
            ActionKind::Instruct => Capability::Instruct,
            ActionKind::End => Capability::End,
        }
    }

    /// Role first (403), then the call's state (409).
    pub fn check(self, call: &Call, role: Role) -> Result<(), Refusal> {
        role.require(self.permission(), self.what())
            .map_err(Refusal::Role)?;
        self.check_state(call).map_err(Refusal::State)
    }

    /// Whether the action makes sense for the call as it is; otherwise a sentence saying why.
    pub fn check_state(self, call: &Call) -> Result<(), String> {
        use CallState::*;
        let state = call.state;
        if state == Ended {
            return Err(match self {
                ActionKind::TakeOver => "the call has ended, so it cannot be taken over",
                ActionKind::End => "the call has already ended",
                _ => "the call has ended, so nothing can be done on it any more",
            }
            .into());
        }
        let not_started = || {
            format!(
                "the call has not been answered yet, so the {} action is not possible",
                self.name()
            )
        };
        let human = "a human has taken over; the AI is not on the call";
        match (self, state) {
            (ActionKind::TakeOver, Ringing | InProgress | AiPaused) => Ok(()),
            (ActionKind::TakeOver, TakenOver) => Err(match &call.takeover {
                Some(t) => format!("the call is already taken over by {}", t.by),
                None => "a human has already taken over this call".into(),
            }),
            (ActionKind::TakeOver, _) => {
                Err("the call has not started ringing yet, so it cannot be taken over".into())
            }
            (ActionKind::PauseAi, InProgress) => Ok(()),
            (ActionKind::PauseAi, AiPaused) => Err("the AI is already paused".into()),
            (ActionKind::PauseAi, TakenOver) => Err(human.into()),
            (ActionKind::ResumeAi, AiPaused) => Ok(()),
            (ActionKind::ResumeAi, TakenOver) => {
                Err("a human has taken over; the AI cannot be resumed on this call".into())
            }
            (ActionKind::ResumeAi, _) => {
                Err("the AI is not paused, so it cannot be resumed".into())
            }
            (ActionKind::Say, InProgress | AiPaused | TakenOver) => Ok(()),
            (ActionKind::Instruct, InProgress | AiPaused) => Ok(()),
            (ActionKind::Instruct, TakenOver) => Err(human.into()),
            (ActionKind::PauseAi | ActionKind::Say | ActionKind::Instruct, _) => Err(not_started()),
            (ActionKind::End, _) => Ok(()),
        }
    }
}

/// Why the rule book refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The token's role may not (403).
    #[error("{0}")]
    Role(String),
    /// Not in the call's current state (409).
    #[error("{0}")]
    State(String),
}

/// A supervisor's action on a live call, with what it carries. The one spelling of the
/// action set: the REST client sends it, the gateway checks and audits it, providers carry
/// it out.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
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

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::TakeOver { .. } => ActionKind::TakeOver,
            Action::PauseAi => ActionKind::PauseAi,
            Action::ResumeAi => ActionKind::ResumeAi,
            Action::Say { .. } => ActionKind::Say,
            Action::Instruct { .. } => ActionKind::Instruct,
            Action::End => ActionKind::End,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Whether the action changes the call record (say/instruct only get an audit entry).
    pub fn changes_call(&self) -> bool {
        !matches!(self, Action::Say { .. } | Action::Instruct { .. })
    }

    /// The reason recorded in the audit log.
    pub fn reason(&self) -> Option<String> {
        match self {
            Action::TakeOver { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    }

    /// What the audit log records beside the reason.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Action::TakeOver { notes, .. } => serde_json::json!({ "notes": notes }),
            Action::Say { text } | Action::Instruct { text } => serde_json::json!({ "text": text }),
            _ => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::Takeover;

    fn call_in(state: CallState) -> Call {
        let now = chrono::Utc::now();
        let mut call: Call = serde_json::from_value(serde_json::json!({
            "id": "c1", "org": "o", "integration": "i", "provider": "P",
            "provider_call_id": "p1", "direction": "inbound", "from": "+1", "to": "+2",
            "state": "in_progress", "created_at": now, "updated_at": now,
        }))
        .expect("a minimal call");
        call.state = state;
        call
    }

    #[test]
    fn state_rules_table() {
        use ActionKind::*;
        use CallState::*;
        // (action, state, allowed)
        let table = [
            (TakeOver, Ringing, true),
            (TakeOver, InProgress, true),
            (TakeOver, AiPaused, true),
            (TakeOver, TakenOver, false),
            (TakeOver, Queued, false),
            (TakeOver, Ended, false),
            (PauseAi, InProgress, true),
            (PauseAi, AiPaused, false),
            (PauseAi, TakenOver, false),
            (PauseAi, Ringing, false),
            (ResumeAi, AiPaused, true),
            (ResumeAi, InProgress, false),
            (ResumeAi, TakenOver, false),
            (Say, InProgress, true),
            (Say, AiPaused, true),
            (Say, TakenOver, true),
            (Say, Ringing, false),
            (Instruct, InProgress, true),
            (Instruct, AiPaused, true),
            (Instruct, TakenOver, false),
            (End, Queued, true),
            (End, TakenOver, true),
            (End, Ended, false),
        ];
        for (kind, state, allowed) in table {
            assert_eq!(
                kind.check_state(&call_in(state)).is_ok(),
                allowed,
                "{kind:?} in {state:?}"
            );
        }
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            ActionKind::ResumeAi
                .check_state(&call_in(CallState::InProgress))
                .unwrap_err(),
            "the AI is not paused, so it cannot be resumed"
        );
        assert_eq!(
            ActionKind::Instruct
                .check_state(&call_in(CallState::TakenOver))
                .unwrap_err(),
            "a human has taken over; the AI is not on the call"
        );
        let mut taken = call_in(CallState::TakenOver);
        taken.takeover = Some(Takeover {
            by: "dana".into(),
            reason: "r".into(),
            notes: None,
            at: chrono::Utc::now(),
        });
        assert_eq!(
            ActionKind::TakeOver.check_state(&taken).unwrap_err(),
            "the call is already taken over by dana"
        );
        assert_eq!(
            ActionKind::PauseAi
                .check_state(&call_in(CallState::Ringing))
                .unwrap_err(),
            "the call has not been answered yet, so the pause_ai action is not possible"
        );
    }

    #[test]
    fn roles_are_ordered_and_named() {
        use Permission::*;
        assert!(Role::Viewer.may(Read));
        assert!(!Role::Viewer.may(TakeOver));
        assert!(Role::Agent.may(TakeOver) && Role::Agent.may(Say));
        assert!(!Role::Agent.may(CallControl));
        assert!(Role::Supervisor.may(Queue) && !Role::Supervisor.may(Admin));
        assert!(Role::Admin.may(Admin));
        let call = call_in(CallState::InProgress);
        assert_eq!(
            ActionKind::PauseAi.check(&call, Role::Agent),
            Err(Refusal::Role("the agent role may not pause the AI".into()))
        );
        assert_eq!(ActionKind::Say.check(&call, Role::Agent), Ok(()));
        for role in Role::ALL {
            let parsed: Role =
                serde_json::from_value(serde_json::json!(role.as_str())).expect("role name");
            assert_eq!(parsed, role);
        }
    }

    #[test]
    fn capability_list_covers_every_action() {
        for kind in ActionKind::ALL {
            assert!(Capability::ALL.contains(&kind.capability()));
        }
    }
}
