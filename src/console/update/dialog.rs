//! Dialogs: opening them for a call, their keys, and their submission.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::{info, set_status, start, Effect, Request};
use crate::console::app::{App, Dialog, Modal, StatusKind, TextKind};
use crate::console::keys::Action;
use crate::console::rules;
use crate::core::model::Call;

/// The dialog an action on a call opens (`None` for actions without one).
pub(super) fn for_call(action: Action, call_id: String, who: String) -> Option<Dialog> {
    let new_area = |placeholder: &str, focused: bool| {
        let mut t = TextArea::default();
        t.set_placeholder_text(placeholder);
        t.set_cursor_line_style(ratatui::style::Style::default());
        focus_area(&mut t, focused);
        Box::new(t)
    };
    Some(match action {
        Action::TakeOver => Dialog::TakeOver {
            call_id,
            who,
            reason: new_area("why you are taking over (required)", true),
            notes: new_area("notes for the record (optional)", false),
            notes_focused: false,
            error: None,
        },
        Action::Say | Action::Instruct => {
            let (kind, ph) = if action == Action::Say {
                (TextKind::Say, "what the caller will hear")
            } else {
                (TextKind::Instruct, "a private instruction to the AI")
            };
            Dialog::Text {
                kind,
                call_id,
                who,
                text: new_area(ph, true),
                error: None,
            }
        }
        Action::EndCall => Dialog::ConfirmEnd { call_id, who },
        _ => return None,
    })
}

/// The call of the open dialog ended.
pub(super) fn call_ended(app: &mut App, call: &Call) {
    let dialog_on_it = match app.dialog() {
        Some(Dialog::TakeOver { call_id, .. })
        | Some(Dialog::Text { call_id, .. })
        | Some(Dialog::ConfirmEnd { call_id, .. }) => call_id == &call.id,
        _ => false,
    };
    if dialog_on_it {
        app.modal = None;
        let who = app.who(call);
        set_status(app, StatusKind::Info, format!("the call with {who} ended"));
    }
}

/// A key while a dialog is open.
pub(super) fn key(app: &mut App, ev: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(Modal::Dialog(mut dialog)) = app.modal.take() else {
        return;
    };
    if ev.code == KeyCode::Esc {
        info(app, "cancelled");
        return;
    }
    let submit = ev.code == KeyCode::Enter
        && !ev
            .modifiers
            .intersects(KeyModifiers::SHIFT | KeyModifiers::ALT);
    match &mut dialog {
        Dialog::TakeOver {
            call_id,
            who,
            reason,
            notes,
            notes_focused,
            error,
        } => {
            if submit {
                let r = reason.lines().join(" ").trim().to_string();
                if r.is_empty() {
                    *error = Some("a reason is required".into());
                    *notes_focused = false;
                    focus_area(reason, true);
                    focus_area(notes, false);
                } else {
                    let n = notes.lines().join("\n").trim().to_string();
                    let (id, who) = (call_id.clone(), who.clone());
                    if still_allowed(app, Action::TakeOver, &id) {
                        start(
                            app,
                            format!("taking over the call with {who}"),
                            Request::TakeOver {
                                call_id: id,
                                reason: r,
                                notes: (!n.is_empty()).then_some(n),
                            },
                            fx,
                        );
                    }
                    return;
                }
            } else if matches!(ev.code, KeyCode::Tab | KeyCode::BackTab) {
                *notes_focused = !*notes_focused;
                focus_area(reason, !*notes_focused);
                focus_area(notes, *notes_focused);
            } else {
                let area = if *notes_focused { notes } else { reason };
                area.input(ev);
                *error = None;
            }
        }
        Dialog::Text {
            kind,
            call_id,
            who,
            text,
            error,
        } => {
            if submit {
                let t = text.lines().join(" ").trim().to_string();
                if t.is_empty() {
                    *error = Some("type something first".into());
                } else {
                    let (id, who) = (call_id.clone(), who.clone());
                    let (action, doing, request) = match kind {
                        TextKind::Say => (
                            Action::Say,
                            format!("saying to {who}: \"{}\"", short(&t)),
                            Request::Say {
                                call_id: id.clone(),
                                text: t,
                            },
                        ),
                        TextKind::Instruct => (
                            Action::Instruct,
                            format!("instructing the AI on the call with {who}"),
                            Request::Instruct {
                                call_id: id.clone(),
                                text: t,
                            },
                        ),
                    };
                    if still_allowed(app, action, &id) {
                        start(app, doing, request, fx);
                    }
                    return;
                }
            } else if ev.code != KeyCode::Tab {
                text.input(ev);
                *error = None;
            }
        }
        Dialog::ConfirmEnd { call_id, who } => {
            if submit || matches!(ev.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                let (id, who) = (call_id.clone(), who.clone());
                if still_allowed(app, Action::EndCall, &id) {
                    start(
                        app,
                        format!("ending the call with {who}"),
                        Request::End { call_id: id },
                        fx,
                    );
                }
                return;
            }
            if matches!(ev.code, KeyCode::Char('n') | KeyCode::Char('N')) {
                info(app, "cancelled");
                return;
            }
        }
        Dialog::ConfirmCancel { item_id, who } => {
            if submit || matches!(ev.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                let (id, who) = (item_id.clone(), who.clone());
                start(
                    app,
                    format!("cancelling the queued call to {who}"),
                    Request::CancelQueued { item_id: id },
                    fx,
                );
                return;
            }
            if matches!(ev.code, KeyCode::Char('n') | KeyCode::Char('N')) {
                info(app, "cancelled");
                return;
            }
        }
    }
    app.modal = Some(Modal::Dialog(dialog));
}

/// Text typed or pasted into the focused field of the open dialog.
pub(super) fn paste(dialog: &mut Dialog, text: &str) {
    match dialog {
        Dialog::TakeOver {
            reason,
            notes,
            notes_focused,
            ..
        } => {
            let area = if *notes_focused { notes } else { reason };
            area.insert_str(text);
        }
        Dialog::Text { text: area, .. } => {
            area.insert_str(text);
        }
        _ => {}
    }
}

/// Only the focused text area shows a cursor.
fn focus_area(t: &mut TextArea<'static>, focused: bool) {
    let style = if focused {
        ratatui::style::Style::default().add_modifier(ratatui::style::Modifier::REVERSED)
    } else {
        ratatui::style::Style::default()
    };
    t.set_cursor_style(style);
}

/// The call may have changed while a dialog was open.
fn still_allowed(app: &mut App, action: Action, call_id: &str) -> bool {
    let verdict = match app.live.calls.get(call_id) {
        None => Err("the call has ended".to_string()),
        Some(v) => rules::check(action, &v.call, app.session.role),
    };
    match verdict {
        Ok(()) => true,
        Err(reason) => {
            set_status(
                app,
                StatusKind::Error,
                format!("cannot {}: {reason}", action.label()),
            );
            false
        }
    }
}

fn short(t: &str) -> String {
    if t.chars().count() > 40 {
        format!("{}…", t.chars().take(40).collect::<String>())
    } else {
        t.to_string()
    }
}
