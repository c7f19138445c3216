//! What every dialog shares: the cursor of the focused field, and the re-check of the rule
//! book at submission (the call may have changed while the dialog was open).

use ratatui_textarea::TextArea;

use super::set_status;
use crate::console::app::{App, StatusKind};
use crate::console::keys::Action;
use crate::console::rules;

/// Why a dialog's call can no longer be acted on when it has ended.
pub(super) const ENDED: &str = "this call has ended";

pub(super) fn focus_area(t: &mut TextArea<'static>, focused: bool) {
    let style = if focused {
        ratatui::style::Style::default().add_modifier(ratatui::style::Modifier::REVERSED)
    } else {
        ratatui::style::Style::default()
    };
    t.set_cursor_style(style);
}

/// The call may have changed while a dialog was open. A refusal is also put in the status
/// line.
pub(super) fn still_allowed(app: &mut App, action: Action, call_id: &str) -> Result<(), String> {
    let verdict = match app.live.calls.get(call_id) {
        None => Err(ENDED.to_string()),
        Some(v) => rules::check(action, &v.call, app.session.role),
    };
    verdict.map_err(|reason| {
        let text = format!("cannot {}: {reason}", action.label());
        set_status(app, StatusKind::Error, text.clone());
        text
    })
}
