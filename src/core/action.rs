//! The rule book: the supervisor actions, which role may do what, and which action makes
//! sense in which call state. The gateway enforces it (403, 409, 422); the console asks it
//! before sending, so a key is refused at once with the sentence the gateway would answer.

pub use super::capability::Capability;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

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
    Transfer,
    HandBack,
}

impl ActionKind {
    pub const ALL: [ActionKind; 8] = [
        ActionKind::TakeOver,
        ActionKind::PauseAi,
        ActionKind::ResumeAi,
        ActionKind::Say,
        ActionKind::Instruct,
        ActionKind::End,
        ActionKind::Transfer,
        ActionKind::HandBack,
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
            ActionKind::Transfer => "transfer",
            ActionKind::HandBack => "hand_back",
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
            ActionKind::Transfer => "transferring",
            ActionKind::HandBack => "handing back",
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
            ActionKind::Transfer => "transfer calls",
            ActionKind::HandBack => "hand calls back to the AI",
        }
    }

    pub fn permission(self) -> Permission {
        match self {
            // The holder hands back their own call; others need call control (check_holder).
            ActionKind::TakeOver | ActionKind::HandBack => Permission::TakeOver,
            ActionKind::Say => Permission::Say,
            ActionKind::PauseAi
            | ActionKind::ResumeAi
            | ActionKind::Instruct
            | ActionKind::End
            | ActionKind::Transfer => Permission::CallControl,
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
            ActionKind::Transfer => Capability::Transfer,
            ActionKind::HandBack => Capability::HandBack,
        }
    }

    /// Whether a stack with `caps` can do this at all. Take over needs either of its two
    /// ways (type-to-talk, or the taker's phone); [`takeover_phone`] picks between them.
    pub fn supported_by(self, caps: &BTreeSet<Capability>) -> bool {
        match self {
            ActionKind::TakeOver => {
                caps.contains(&Capability::TakeOver) || caps.contains(&Capability::PhoneTakeOver)
            }
            kind => caps.contains(&kind.capability()),
        }
    }

    /// The 422 sentence when [`ActionKind::supported_by`] says no.
    pub fn unsupported_by(self, provider: &str) -> String {
        format!("{provider} cannot {}", self.capability().describe())
    }

    /// Who may act on a call someone holds: only the person who took it over, or a role with
    /// call control, hands it back (403 otherwise). Other actions have no such rule.
    pub fn check_holder(self, call: &Call, actor: &str, role: Role) -> Result<(), String> {
        match (self, &call.takeover) {
            (ActionKind::HandBack, Some(t))
                if t.by != actor && !role.may(Permission::CallControl) =>
            {
                Err(format!(
                    "only {}, who took the call over, or a supervisor may hand it back to the AI",
                    t.by
                ))
            }
            _ => Ok(()),
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
                ActionKind::Transfer => "the call has ended, so it cannot be transferred",
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
            (ActionKind::Transfer, InProgress | AiPaused | TakenOver) => Ok(()),
            (ActionKind::Transfer, _) => Err(not_started()),
            (ActionKind::HandBack, TakenOver) => match &call.takeover {
                Some(t) if t.phone.is_some() => Err(format!(
                    "the caller is on {}'s phone, so the AI cannot take the call back",
                    t.by
                )),
                _ => Ok(()),
            },
            (ActionKind::HandBack, _) => {
                Err("nobody has taken the call over, so there is nothing to hand back".into())
            }
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

/// How a human taking over speaks to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TakeoverMode {
    /// The human types; the AI's voice speaks their lines (say).
    Text,
    /// The caller is bridged to the taker's own phone (`phone` of their token).
    Phone,
}

/// Cold: the AI leaves as the destination rings. Warm: the receiving person first hears a
/// summary of the call, then the caller joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    #[default]
    Cold,
    Warm,
}

/// `+` and 7 to 15 digits (E.164), or a `sip:`/`sips:` URI with a user and a host. The one
/// check for transfer destinations and people's phones.
pub fn valid_destination(to: &str) -> bool {
    let to = to.trim();
    if let Some(digits) = to.strip_prefix('+') {
        return (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    }
    let lower = to.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("sip:")
        .or_else(|| lower.strip_prefix("sips:"));
    match rest.and_then(|r| r.split_once('@')) {
        Some((user, host)) => {
            !user.is_empty()
                && !host.is_empty()
                && !to
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '&'))
        }
        None => false,
    }
}

/// How a take over will speak: `Ok(Some(phone))` bridges the caller to `my_phone`,
/// `Ok(None)` is type-to-talk, `Err` says why neither the asked `mode` nor a fallback works.
/// The gateway decides with it; the console's take over dialog shows the same answer before
/// the supervisor confirms.
pub fn takeover_phone(
    mode: Option<TakeoverMode>,
    my_phone: Option<&str>,
    caps: &BTreeSet<Capability>,
    provider: &str,
) -> Result<Option<String>, String> {
    let text = caps.contains(&Capability::TakeOver);
    let bridge = caps.contains(&Capability::PhoneTakeOver);
    let no_phone = "your token has no phone in the gateway's config, so the caller cannot be put through to you";
    match (mode, my_phone) {
        (Some(TakeoverMode::Phone), None) => Err(no_phone.into()),
        (Some(TakeoverMode::Phone), Some(_)) if !bridge => Err(format!(
            "{provider} cannot {}; take over by text instead",
            Capability::PhoneTakeOver.describe()
        )),
        (Some(TakeoverMode::Phone), Some(p)) => Ok(Some(p.to_string())),
        (None, Some(p)) if bridge => Ok(Some(p.to_string())),
        (_, _) if text => Ok(None),
        (Some(TakeoverMode::Text), _) if bridge => Err(format!(
            "{provider} cannot take over by text: the caller can only be put through to the taker's phone"
        )),
        (None, None) if bridge => Err(format!(
            "{provider} can only take over by putting the caller through to a phone, and {no_phone}"
        )),
        _ => Err(ActionKind::TakeOver.unsupported_by(provider)),
    }
}

/// A supervisor's action on a live call, with what it carries. The one spelling of the
/// action set: the REST client sends it, the gateway checks and audits it, providers carry
/// it out.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    TakeOver {
        reason: String,
        notes: Option<String>,
        /// What the taker asked for; `None`: their phone when they have one and the
        /// provider can bridge it, else text.
        mode: Option<TakeoverMode>,
        /// The number the caller is bridged to, filled in by the gateway from the taker's
        /// token (never from a request). `None`: text.
        phone: Option<String>,
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
    Transfer {
        /// E.164 number or SIP URI.
        to: String,
        /// The named destination it came from ("Sales desk"), for the record.
        name: Option<String>,
        mode: TransferMode,
        /// What a warm transfer's receiving person hears first.
        summary: Option<String>,
    },
    /// The human who took over gives the call back to the AI.
    HandBack,
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
            Action::Transfer { .. } => ActionKind::Transfer,
            Action::HandBack => ActionKind::HandBack,
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
            Action::TakeOver { notes, phone, .. } => {
                serde_json::json!({ "notes": notes, "phone": phone })
            }
            Action::Transfer {
                to,
                name,
                mode,
                summary,
            } => serde_json::json!({ "to": to, "name": name, "mode": mode, "summary": summary }),
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
            (Transfer, InProgress, true),
            (Transfer, AiPaused, true),
            (Transfer, TakenOver, true),
            (Transfer, Ringing, false),
            (Transfer, Ended, false),
            (HandBack, TakenOver, true),
            (HandBack, InProgress, false),
            (HandBack, AiPaused, false),
            (HandBack, Ended, false),
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
            phone: None,
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
    fn only_the_holder_or_a_supervisor_hands_back() {
        let mut taken = call_in(CallState::TakenOver);
        taken.takeover = Some(Takeover {
            by: "sam".into(),
            reason: "r".into(),
            notes: None,
            at: chrono::Utc::now(),
            phone: None,
        });
        let hb = ActionKind::HandBack;
        assert_eq!(hb.check_holder(&taken, "sam", Role::Agent), Ok(()));
        assert_eq!(hb.check_holder(&taken, "dana", Role::Supervisor), Ok(()));
        assert_eq!(
            hb.check_holder(&taken, "lee", Role::Agent).unwrap_err(),
            "only sam, who took the call over, or a supervisor may hand it back to the AI"
        );
        assert_eq!(
            ActionKind::End.check_holder(&taken, "lee", Role::Agent),
            Ok(())
        );
        assert!(hb.check(&taken, Role::Agent).is_ok());
        assert!(ActionKind::Transfer.check(&taken, Role::Agent).is_err());
    }

    #[test]
    fn takeover_speaks_by_phone_when_it_can_and_says_why_not() {
        use Capability as C;
        let all: BTreeSet<_> = [C::TakeOver, C::PhoneTakeOver].into();
        let text: BTreeSet<_> = [C::TakeOver].into();
        let phone_only: BTreeSet<_> = [C::PhoneTakeOver].into();
        let me = Some("+15550001111");
        assert_eq!(
            takeover_phone(None, me, &all, "Vapi"),
            Ok(me.map(String::from))
        );
        assert_eq!(takeover_phone(None, None, &all, "Vapi"), Ok(None));
        assert_eq!(
            takeover_phone(Some(TakeoverMode::Text), me, &all, "Vapi"),
            Ok(None)
        );
        assert_eq!(takeover_phone(None, me, &text, "Retell"), Ok(None));
        assert!(
            takeover_phone(Some(TakeoverMode::Phone), me, &text, "Retell")
                .unwrap_err()
                .starts_with("Retell cannot bridge")
        );
        assert!(
            takeover_phone(Some(TakeoverMode::Phone), None, &all, "Vapi")
                .unwrap_err()
                .contains("no phone")
        );
        assert!(
            takeover_phone(Some(TakeoverMode::Text), me, &phone_only, "Twilio")
                .unwrap_err()
                .contains("cannot take over by text")
        );
        assert!(takeover_phone(None, None, &phone_only, "Twilio").is_err());
        assert!(ActionKind::TakeOver.supported_by(&phone_only));
        assert!(!ActionKind::HandBack.supported_by(&phone_only));
    }

    #[test]
    fn destinations_are_e164_or_sip() {
        for ok in ["+15550001111", "sip:desk@pbx.example.com", "SIPS:a@b"] {
            assert!(valid_destination(ok), "{ok}");
        }
        for bad in [
            "15550001111",
            "+1",
            "+1555abc",
            "sip:",
            "sip:@host",
            "sip:a@",
            "sip:a b@c",
            "tel:+1555",
        ] {
            assert!(!valid_destination(bad), "{bad}");
        }
    }

    #[test]
    fn capability_list_covers_every_action() {
        for kind in ActionKind::ALL {
            assert!(Capability::ALL.contains(&kind.capability()));
        }
    }
}
