//! Dialogs: opening them for a call, their keys, and their submission.

use crate::console::update::CallAction;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::dialog_parts::{focus_area, still_allowed, ENDED};
use super::{info, set_status, start, Effect, Request};
use crate::console::app::handoff::{self, VoiceOffer};
use crate::console::app::{App, Dialog, Guard, Modal, StatusKind, TextKind};
use crate::console::keys::Action;
use crate::core::action::TakeoverMode;
use crate::core::model::{Call, CallState};

/// The dialog an action on a call opens (`None` for actions without one).
pub(super) fn for_call(action: Action, call: &Call, who: String) -> Option<Dialog> {
    let call_id = call.id.clone();
    let guard = Guard {
        taken_by: holder(call),
        blocked: None,
    };
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
            by_phone: false,
            voice_focused: false,
            error: None,
            guard,
        },
        Action::Transfer => Dialog::Transfer {
            call_id,
            who,
            selected: 0,
            typed: new_area("+15550001111 or sip:desk@pbx.example.com", false),
            warm: false,
            error: None,
            guard,
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
                guard,
            }
        }
        Action::EndCall => Dialog::ConfirmEnd {
            call_id,
            who,
            guard,
        },
        _ => return None,
    })
}

/// Who holds a taken-over call ("" when the gateway did not say); `None` when nobody does.
fn holder(call: &Call) -> Option<String> {
    (call.state == CallState::TakenOver).then(|| {
        call.takeover
            .as_ref()
            .map(|t| t.by.clone())
            .unwrap_or_default()
    })
}

/// After the calls or the queue changed: when the open dialog's call ended or was taken over
/// by someone else (or its queue item stopped waiting), the dialog says so and refuses to
/// submit. It is never closed from here: only the user's Esc closes it.
#[inline]
pub(super) fn recheck(app: &mut App) {
    let Some(Modal::Dialog(d)) = &app.modal else {
        return;
    };
    let reason = match d {
        Dialog::ConfirmCancel { item_id, .. } => {
            (!app.queue.items.iter().any(|q| &q.id == item_id))
                .then(|| "this queued call is no longer waiting".to_string())
        }
        _ => match d.call_id().and_then(|id| app.live.calls.get(id)) {
            None => Some(ENDED.to_string()),
            // A lingering ended call is still in the table, but nothing can be done on it.
            Some(v) if !v.call.state.is_active() => Some(ENDED.to_string()),
            Some(v) => {
                let now = holder(&v.call);
                let me = app.session.actor.as_deref();
                match now {
                    Some(by)
                        if Some(&by) != d.guard().taken_by.as_ref() && Some(by.as_str()) != me =>
                    {
                        Some(if by.is_empty() {
                            "taken over by someone else".to_string()
                        } else {
                            format!("taken over by {by}")
                        })
                    }
                    _ => None,
                }
            }
        },
    };
    // An ended call stays ended: its reason is not replaced.
    let Some(reason) = reason else { return };
    if d.blocked().is_some_and(|b| b == reason || b == ENDED) {
        return;
    }
    let text = match d {
        Dialog::ConfirmCancel { who, .. } => {
            format!("the queued call to {who} is no longer waiting")
        }
        _ if reason == ENDED => format!("the call with {} ended", d.who()),
        _ => format!("the call with {} was {reason}", d.who()),
    };
    if let Some(Modal::Dialog(d)) = &mut app.modal {
        d.guard_mut().blocked = Some(reason);
    }
    set_status(app, StatusKind::Info, text);
    app.dirty = true;
}

/// A key while a dialog is open.
pub(super) fn key(app: &mut App, ev: KeyEvent, fx: &mut Vec<Effect>) {
    let mut dialog = match app.modal.take() {
        Some(Modal::Dialog(d)) => d,
        other => {
            app.modal = other;
            return;
        }
    };
    if ev.code == KeyCode::Esc {
        info(app, "cancelled");
        return;
    }
    let submit = ev.code == KeyCode::Enter
        && !ev
            .modifiers
            .intersects(KeyModifiers::SHIFT | KeyModifiers::ALT);
    if let Some(reason) = dialog.blocked().map(str::to_string) {
        // Its call is gone or someone else's: refuse to submit and keep the dialog (and the
        // keys) until Esc. Text fields still take keys; a confirmation takes none, not even n.
        let confirm = matches!(
            dialog,
            Dialog::ConfirmEnd { .. } | Dialog::ConfirmCancel { .. } | Dialog::ConfirmRecent { .. }
        );
        let yes = submit || (confirm && matches!(ev.code, KeyCode::Char('y' | 'Y')));
        if yes {
            let label = dialog_action(&dialog).label();
            set_status(app, StatusKind::Error, format!("cannot {label}: {reason}"));
        }
        if yes || confirm {
            app.modal = Some(Modal::Dialog(dialog));
            return;
        }
    }
    match &mut dialog {
        Dialog::Transfer { .. } => {
            if super::transfer::key(app, &mut dialog, ev, submit, fx) {
                return;
            }
        }
        Dialog::TakeOver {
            call_id,
            who,
            reason,
            notes,
            notes_focused,
            by_phone,
            voice_focused,
            error,
            ..
        } => {
            let offer = app
                .live
                .calls
                .get(call_id.as_str())
                .map(|v| handoff::voice_offer(app, &v.call));
            let choice = matches!(offer, Some(VoiceOffer::Choice { .. }));
            if submit {
                let r = reason.lines().join(" ").trim().to_string();
                if r.is_empty() {
                    *error = Some("a reason is required".into());
                    *notes_focused = false;
                    focus_area(reason, true);
                    focus_area(notes, false);
                } else if let Some(VoiceOffer::Refused { why }) = &offer {
                    *error = Some(why.clone());
                } else {
                    let n = notes.lines().join("\n").trim().to_string();
                    let (id, who) = (call_id.clone(), who.clone());
                    let mode = offer.as_ref().and_then(|o| o.mode(*by_phone));
                    let doing = match mode {
                        Some(TakeoverMode::Phone) => {
                            format!("putting the call with {who} through to your phone")
                        }
                        _ => format!("taking over the call with {who}"),
                    };
                    match still_allowed(app, Action::TakeOver, &id) {
                        Ok(()) => {
                            start(
                                app,
                                doing,
                                Request::Act {
                                    call_id: id,
                                    action: CallAction::TakeOver {
                                        reason: r,
                                        notes: (!n.is_empty()).then_some(n),
                                        mode,
                                        phone: None,
                                    },
                                },
                                fx,
                            );
                            return;
                        }
                        // Refused: the dialog stays open with the reason.
                        Err(e) => *error = Some(e),
                    }
                }
            } else if matches!(ev.code, KeyCode::Tab | KeyCode::BackTab) {
                // reason -> notes -> the voice choice (when there is one) -> reason.
                let forward = ev.code == KeyCode::Tab;
                let at = usize::from(*notes_focused) + 2 * usize::from(*voice_focused);
                let stops = if choice { 3 } else { 2 };
                let next = (if forward { at + 1 } else { at + stops - 1 }) % stops;
                *notes_focused = next == 1;
                *voice_focused = next == 2;
                focus_area(reason, next == 0);
                focus_area(notes, next == 1);
            } else if *voice_focused {
                if matches!(
                    ev.code,
                    KeyCode::Left | KeyCode::Right | KeyCode::Char(' ' | 'h' | 'l')
                ) {
                    *by_phone = !*by_phone;
                }
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
            ..
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
                            Request::Act {
                                call_id: id.clone(),
                                action: CallAction::Say { text: t },
                            },
                        ),
                        TextKind::Instruct => (
                            Action::Instruct,
                            format!("instructing the AI on the call with {who}"),
                            Request::Act {
                                call_id: id.clone(),
                                action: CallAction::Instruct { text: t },
                            },
                        ),
                    };
                    match still_allowed(app, action, &id) {
                        Ok(()) => {
                            start(app, doing, request, fx);
                            return;
                        }
                        Err(e) => *error = Some(e),
                    }
                }
            } else if ev.code != KeyCode::Tab {
                text.input(ev);
                *error = None;
            }
        }
        Dialog::ConfirmEnd { call_id, who, .. } => {
            if submit || matches!(ev.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                let (id, who) = (call_id.clone(), who.clone());
                if still_allowed(app, Action::EndCall, &id).is_ok() {
                    start(
                        app,
                        format!("ending the call with {who}"),
                        Request::Act {
                            call_id: id,
                            action: CallAction::End,
                        },
                        fx,
                    );
                    return;
                }
            }
            if matches!(ev.code, KeyCode::Char('n') | KeyCode::Char('N')) {
                info(app, "cancelled");
                return;
            }
        }
        Dialog::ConfirmRecent {
            call_id,
            who,
            action,
            ..
        } => {
            if submit || matches!(ev.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                let (id, who, action) = (call_id.clone(), who.clone(), *action);
                if still_allowed(app, action, &id).is_ok() {
                    super::perform::perform(app, action, id, who, fx);
                    return;
                }
            }
            if matches!(ev.code, KeyCode::Char('n') | KeyCode::Char('N')) {
                info(app, "cancelled");
                return;
            }
        }
        Dialog::ConfirmCancel { item_id, who, .. } => {
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
        // A paste is a typed address: past the last named row (the key handler clamps it).
        Dialog::Transfer {
            typed, selected, ..
        } => {
            *selected = usize::MAX;
            typed.insert_str(text);
        }
        _ => {}
    }
}

/// Only the focused text area shows a cursor.
/// The action a dialog carries out.
fn dialog_action(d: &Dialog) -> Action {
    match d {
        Dialog::TakeOver { .. } => Action::TakeOver,
        Dialog::Transfer { .. } => Action::Transfer,
        Dialog::Text {
            kind: TextKind::Say,
            ..
        } => Action::Say,
        Dialog::Text {
            kind: TextKind::Instruct,
            ..
        } => Action::Instruct,
        Dialog::ConfirmEnd { .. } => Action::EndCall,
        Dialog::ConfirmCancel { .. } => Action::CancelQueued,
        Dialog::ConfirmRecent { action, .. } => *action,
    }
}

fn short(t: &str) -> String {
    if t.chars().count() > 40 {
        format!("{}…", t.chars().take(40).collect::<String>())
    } else {
        t.to_string()
    }
}
