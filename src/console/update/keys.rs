//! Key routing: an open modal (dialog, text input, help) takes every key; otherwise the
//! keymap turns the key into an [`Action`] for the current screen.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::screens::switch;
use super::{
    alerts, calls, dialog, form, history, info, input, keep_visible, queue, set_status, transcript,
    Effect,
};
use crate::console::app::{App, InputKind, Modal, Screen, StatusKind};
use crate::console::keys::Action;
use crate::console::layout;
use crate::console::rules;

pub(super) fn key(app: &mut App, ev: KeyEvent, fx: &mut Vec<Effect>) {
    if ev.kind == KeyEventKind::Release {
        app.dirty = false;
        return;
    }
    if ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL) {
        fx.push(Effect::Quit);
        return;
    }
    match &app.modal {
        Some(Modal::Dialog(_)) => return dialog::key(app, ev, fx),
        Some(Modal::Input(_)) => return input::key(app, ev, fx),
        Some(Modal::Form(_)) => return form::key(app, ev, fx),
        Some(Modal::Help) | None => {}
    }
    let Some(action) = app.keymap.action(&ev) else {
        app.dirty = false;
        return;
    };
    if matches!(app.modal, Some(Modal::Help)) {
        // Any action closes the help; only quitting goes through to the screen.
        match action {
            Action::Quit => act(app, action, fx),
            _ => app.modal = None,
        }
        return;
    }
    act(app, action, fx);
}

fn act(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    use Action::*;
    if let Err(reason) = rules::supported(app.session.backend, action) {
        let text = format!("cannot {}: {reason}", action.label());
        return set_status(app, StatusKind::Error, text);
    }
    match action {
        Quit => fx.push(Effect::Quit),
        Help => app.modal = Some(Modal::Help),
        ScreenCalls => switch(app, Screen::Calls, fx),
        ScreenQueue => switch(app, Screen::Queue, fx),
        ScreenAnalytics => switch(app, Screen::Analytics, fx),
        ScreenHistory => switch(app, Screen::History, fx),
        ScreenAlerts => switch(app, Screen::Alerts, fx),
        NextScreen | PrevScreen => {
            let i = Screen::ALL
                .iter()
                .position(|s| *s == app.screen)
                .unwrap_or(0);
            let n = Screen::ALL.len();
            let j = if action == NextScreen {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            switch(app, Screen::ALL[j], fx);
        }
        Up => move_selection(app, -1),
        Down => {
            move_selection(app, 1);
            if app.screen == Screen::History {
                history::more(app, fx);
            }
        }
        PageUp => {
            let page = page_rows(app) as isize;
            move_selection(app, -page)
        }
        PageDown => {
            let page = page_rows(app) as isize;
            move_selection(app, page);
            if app.screen == Screen::History {
                history::more(app, fx);
            }
        }
        Top => move_selection(app, isize::MIN / 2),
        Bottom => {
            move_selection(app, isize::MAX / 2);
            if app.screen == Screen::History {
                history::more(app, fx);
            }
        }
        Filter => match app.screen {
            Screen::Calls => input::open(app, InputKind::Filter),
            Screen::History => input::open(app, InputKind::History),
            _ => info(app, "filter works on the Calls and History screens"),
        },
        Sort | ReverseSort => calls::sort(app, action == Sort),
        Open => match app.screen {
            Screen::History => history::open(app, fx),
            Screen::Alerts => alerts::open(app, fx),
            _ => {}
        },
        Back => back(app),
        Summarize if app.screen == Screen::History => history::summarize(app, fx),
        TakeOver | PauseAi | ResumeAi | Say | Instruct | EndCall | Transfer | HandBack
        | Summarize | AddToDnc => calls::action(app, action, fx),
        Details => calls::toggle_detail(app, fx),
        Wall => calls::toggle_wall(app),
        Command => input::open(app, InputKind::Command),
        DialNow | CancelQueued => queue::action(app, action, fx),
        AddToQueue => form::open(app),
        ScrollUp => transcript::scroll(app, -transcript::SCROLL_STEP),
        ScrollDown => transcript::scroll(app, transcript::SCROLL_STEP),
        Follow => {
            if let Some(view) = transcript::view_mut(app) {
                view.follow = true;
                view.current_match = None;
            }
        }
        Search => {
            if transcript::view_mut(app).is_some() {
                input::open(app, InputKind::Search);
            } else {
                info(
                    app,
                    "search works on a transcript (Calls, or an open History call)",
                );
            }
        }
        NextMatch => transcript::jump_match(app, true),
        PrevMatch => transcript::jump_match(app, false),
        Timestamps => {
            if let Some(view) = transcript::view_mut(app) {
                view.timestamps = !view.timestamps;
            }
        }
        MaskNumbers => {
            app.mask_numbers = !app.mask_numbers;
            let text = if app.mask_numbers {
                "phone numbers masked"
            } else {
                "phone numbers shown"
            };
            info(app, text);
        }
    }
}

fn back(app: &mut App) {
    match app.screen {
        Screen::History if app.history.detail.is_some() => app.history.detail = None,
        Screen::Calls if !app.live.view.search.is_empty() => {
            app.live.view.search.clear();
            app.live.view.current_match = None;
        }
        Screen::Calls if !app.live.filter.is_empty() => {
            app.live.filter.clear();
            calls::reorder(app);
        }
        _ => app.status = None,
    }
}

fn page_rows(app: &App) -> usize {
    match app.screen {
        Screen::Calls => app.calls_table_rows(),
        _ => (layout::body(app.area()).height as usize).saturating_sub(3),
    }
    .max(1)
}

fn move_selection(app: &mut App, delta: isize) {
    match app.screen {
        Screen::Calls => {
            if app.live.order.is_empty() {
                return;
            }
            calls::move_selection(app, delta);
        }
        Screen::Queue => app.queue.move_selection(delta),
        Screen::History => {
            if app.history.detail.is_some() {
                transcript::scroll(app, delta.clamp(-1000, 1000) * transcript::SCROLL_STEP);
                return;
            }
            history::move_selection(&mut app.history, delta);
        }
        Screen::Alerts => app.alerts.move_selection(delta),
        Screen::Audit => app.logs.audit.move_selection(delta),
        Screen::Webhooks => app.logs.webhooks.move_selection(delta),
        Screen::Analytics => {}
    }
    keep_visible(app);
}
