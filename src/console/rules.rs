//! Which actions make sense for a call's state and the token's role. The gateway enforces the
//! same rules (409/403); checking here refuses a key at once with a reason instead of a
//! round trip, and greys out keys in the footer.

use super::keys::Action;
use crate::core::model::{Call, CallState, Role};

/// `Err(reason)` when `action` cannot be done on `call` by `role`.
pub fn check(action: Action, call: &Call, role: Option<Role>) -> Result<(), String> {
    check_role(action, role)?;
    use CallState::*;
    let state = call.state;
    if state == Ended {
        return Err("the call has ended".into());
    }
    let taken_by = || {
        call.takeover
            .as_ref()
            .map(|t| format!(" by {}", t.by))
            .unwrap_or_default()
    };
    match action {
        Action::TakeOver => match state {
            Ringing | InProgress | AiPaused => Ok(()),
            TakenOver => Err(format!("the call is already taken over{}", taken_by())),
            _ => Err("the call has not started yet".into()),
        },
        Action::PauseAi => match state {
            InProgress => Ok(()),
            AiPaused => Err("the AI is already paused".into()),
            TakenOver => Err(format!(
                "a human has the call{}; the AI is not talking",
                taken_by()
            )),
            _ => Err("the AI can only be paused while it is talking".into()),
        },
        Action::ResumeAi => match state {
            AiPaused => Ok(()),
            TakenOver => Err(format!(
                "the call was taken over{}; the AI cannot be resumed",
                taken_by()
            )),
            _ => Err("the AI is not paused, so it cannot be resumed".into()),
        },
        Action::Say => match state {
            InProgress | AiPaused | TakenOver => Ok(()),
            _ => Err("nobody is on the line yet".into()),
        },
        Action::Instruct => match state {
            InProgress | AiPaused => Ok(()),
            TakenOver => Err(format!(
                "a human took over{}; the AI no longer takes instructions",
                taken_by()
            )),
            _ => Err("the AI is not on the call yet".into()),
        },
        Action::EndCall => Ok(()),
        _ => Ok(()),
    }
}

/// Role rules: viewers watch; agents take over and speak; supervisors and admins do all.
pub fn check_role(action: Action, role: Option<Role>) -> Result<(), String> {
    let Some(role) = role else {
        return Err("not connected to the gateway yet".into());
    };
    let needed = match action {
        Action::TakeOver | Action::Say => Role::Agent,
        Action::PauseAi
        | Action::ResumeAi
        | Action::Instruct
        | Action::EndCall
        | Action::Summarize
        | Action::DialNow
        | Action::CancelQueued => Role::Supervisor,
        _ => return Ok(()),
    };
    if role >= needed {
        Ok(())
    } else {
        Err(format!(
            "your token's role ({}) cannot {}; it needs {}",
            role_name(role),
            action.label(),
            role_name(needed)
        ))
    }
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Viewer => "viewer",
        Role::Agent => "agent",
        Role::Supervisor => "supervisor",
        Role::Admin => "admin",
    }
}
