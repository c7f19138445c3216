//! The requests for keys that need no dialog (pause, resume, hand back, summarize, add to
//! DNC), once allowed and, where asked, confirmed.

use super::{start, CallAction, Effect, Request};
use crate::console::app::App;
use crate::console::keys::Action;

/// Pause, resume or summarize, once allowed (and confirmed).
pub(super) fn perform(
    app: &mut App,
    action: Action,
    call_id: String,
    who: String,
    fx: &mut Vec<Effect>,
) {
    match action {
        Action::PauseAi => {
            start(
                app,
                format!("pausing the AI on the call with {who}"),
                Request::Act {
                    call_id,
                    action: CallAction::PauseAi,
                },
                fx,
            );
        }
        Action::ResumeAi => {
            start(
                app,
                format!("resuming the AI on the call with {who}"),
                Request::Act {
                    call_id,
                    action: CallAction::ResumeAi,
                },
                fx,
            );
        }
        Action::HandBack => {
            start(
                app,
                format!("handing the call with {who} back to the AI"),
                Request::Act {
                    call_id,
                    action: CallAction::HandBack,
                },
                fx,
            );
        }
        Action::Summarize => {
            start(
                app,
                format!("asking for a summary of the call with {who}"),
                Request::Summarize { call_id },
                fx,
            );
        }
        Action::AddToDnc => {
            let Some(number) = app
                .call(&call_id)
                .map(|v| crate::console::app::customer_number(&v.call).to_string())
            else {
                return;
            };
            start(
                app,
                format!("adding {who} to the do-not-call list"),
                Request::AddToDnc { number, call_id },
                fx,
            );
        }
        _ => {}
    }
}
