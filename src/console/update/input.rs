//! The one-line text inputs at the bottom: the calls filter (live while typing), the
//! transcript search and the history search; and pasted text.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{calls, command, dialog, history, transcript, Effect};
use crate::console::app::{App, InputKind, LineInput, Modal};
use crate::console::clean;

/// Longest text an input takes, in characters.
const MAX_CHARS: usize = 200;

pub(super) fn open(app: &mut App, kind: InputKind) {
    let current = match kind {
        InputKind::Filter => app.live.filter.clone(),
        InputKind::Search => transcript::view_mut(app)
            .map(|v| v.search.clone())
            .unwrap_or_default(),
        InputKind::History => app.history.query.clone(),
        InputKind::Command => String::new(),
    };
    let hint = if kind == InputKind::Command {
        command::hint(app, "")
    } else {
        String::new()
    };
    app.modal = Some(Modal::Input(LineInput {
        kind,
        text: current.clone(),
        before: current,
        hint,
    }));
}

pub(super) fn key(app: &mut App, ev: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(Modal::Input(input)) = app.modal.as_mut() else {
        return;
    };
    let kind = input.kind;
    match ev.code {
        KeyCode::Esc => {
            let before = input.before.clone();
            app.modal = None;
            if kind == InputKind::Filter {
                app.live.filter = before;
                calls::reorder(app);
            }
            return;
        }
        KeyCode::Enter => {
            let text = input.text.trim().to_string();
            app.modal = None;
            apply(app, kind, text, fx);
            return;
        }
        KeyCode::Tab if kind == InputKind::Command => {
            let text = input.text.clone();
            let done = command::complete(app, &text);
            if let Some(Modal::Input(input)) = app.modal.as_mut() {
                input.text = done;
            }
        }
        KeyCode::Backspace => {
            input.text.pop();
        }
        KeyCode::Char('u') if ev.modifiers.contains(KeyModifiers::CONTROL) => input.text.clear(),
        KeyCode::Char(c)
            if !ev
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            if input.text.chars().count() < MAX_CHARS {
                input.text.push_str(&clean::text(&c.to_string()));
            }
        }
        _ => return,
    }
    match kind {
        InputKind::Filter => {
            // Live filtering while typing.
            if let Some(Modal::Input(input)) = app.modal.as_ref() {
                app.live.filter = input.text.clone();
            }
            calls::reorder(app);
        }
        InputKind::Command => {
            let text = match app.modal.as_ref() {
                Some(Modal::Input(input)) => input.text.clone(),
                _ => return,
            };
            let hint = command::hint(app, &text);
            if let Some(Modal::Input(input)) = app.modal.as_mut() {
                input.hint = hint;
            }
        }
        _ => {}
    }
}

/// Enter in an input.
fn apply(app: &mut App, kind: InputKind, text: String, fx: &mut Vec<Effect>) {
    match kind {
        InputKind::Filter => {
            app.live.filter = text;
            calls::reorder(app);
        }
        InputKind::Search => {
            if let Some(view) = transcript::view_mut(app) {
                view.search = text.clone();
                view.current_match = None;
            }
            if !text.is_empty() {
                transcript::jump_match(app, true);
            }
        }
        InputKind::History => {
            app.history.query = text;
            app.history.detail = None;
            history::search(app, fx);
        }
        InputKind::Command => command::run(app, &text, fx),
    }
}

/// Pasted text goes to the open dialog or input, cleaned; elsewhere it is ignored.
pub(super) fn paste(app: &mut App, text: &str) {
    let text = clean::text(text);
    match app.modal.as_mut() {
        Some(Modal::Dialog(d)) => dialog::paste(d, &text),
        Some(Modal::Input(input)) => {
            input.text.push_str(&text);
            if input.kind == InputKind::Filter {
                app.live.filter = input.text.clone();
                calls::reorder(app);
            }
        }
        Some(Modal::Form(f)) => super::form::paste(f, &text),
        Some(Modal::Help) | None => {}
    }
}
