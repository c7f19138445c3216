//! The console's side of the rule book in `core::action`: a key is refused at once, with
//! the sentence the gateway would answer (403/409), instead of after a round trip; the
//! footer greys out keys the same way.

use super::keys::Action;
use crate::client::{Backend, Feature};
use crate::core::action::{ActionKind, Permission};
use crate::core::model::{Call, Role};

/// The call action a key stands for, if it is one.
pub fn call_action(action: Action) -> Option<ActionKind> {
    Some(match action {
        Action::TakeOver => ActionKind::TakeOver,
        Action::PauseAi => ActionKind::PauseAi,
        Action::ResumeAi => ActionKind::ResumeAi,
        Action::Say => ActionKind::Say,
        Action::Instruct => ActionKind::Instruct,
        Action::EndCall => ActionKind::End,
        Action::Transfer => ActionKind::Transfer,
        Action::HandBack => ActionKind::HandBack,
        _ => return None,
    })
}

/// `Err(reason)` when the backend has no way to do `action` at all (a seed Socket.IO server
/// cannot say, instruct, end, summarise or work the queue).
pub fn supported(backend: Backend, action: Action) -> Result<(), String> {
    match (call_action(action), action) {
        (Some(kind), _) => backend.call_action(kind),
        (None, Action::Summarize) => backend.feature(Feature::Summary),
        (None, Action::DialNow | Action::CancelQueued | Action::AddToDnc | Action::AddToQueue) => {
            backend.feature(Feature::Queue)
        }
        _ => Ok(()),
    }
}

/// `Err(reason)` when `action` cannot be done on `call` by `role`.
pub fn check(action: Action, call: &Call, role: Option<Role>) -> Result<(), String> {
    let role = connected(role)?;
    match call_action(action) {
        Some(kind) => {
            kind.check(call, role).map_err(|r| r.to_string())?;
            // The gateway's 422 sentence, before any dialog opens.
            match &call.capabilities {
                Some(caps) if !kind.supported_by(caps) => Err(kind.unsupported_by(&call.provider)),
                _ => Ok(()),
            }
        }
        None => check_role(action, Some(role)),
    }
}

/// The rule book's holder rule (hand back is the taker's, or a supervisor's): the gateway's
/// 403 sentence before the request is sent.
pub fn check_holder(
    action: Action,
    call: &Call,
    actor: Option<&str>,
    role: Option<Role>,
) -> Result<(), String> {
    match (call_action(action), actor, role) {
        (Some(kind), Some(actor), Some(role)) => kind.check_holder(call, actor, role),
        _ => Ok(()),
    }
}

/// The role part alone, for actions that are not on a live call (queue, summaries).
pub fn check_role(action: Action, role: Option<Role>) -> Result<(), String> {
    let role = connected(role)?;
    let (permission, what) = match (call_action(action), action) {
        (Some(kind), _) => (kind.permission(), kind.what()),
        (None, Action::Summarize) => (Permission::CallControl, "write call summaries"),
        (None, Action::DialNow) => (Permission::Queue, "dial queued calls"),
        (None, Action::AddToDnc) => (Permission::Queue, "change the do-not-call list"),
        (None, Action::CancelQueued) => (Permission::Queue, "cancel queued calls"),
        (None, Action::AddToQueue) => (Permission::Queue, "add calls to the queue"),
        _ => return Ok(()),
    };
    role.require(permission, what)
}

fn connected(role: Option<Role>) -> Result<Role, String> {
    role.ok_or_else(|| "not connected to the gateway yet".to_string())
}
