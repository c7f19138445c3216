//! `update(&mut App, Msg) -> Vec<Effect>`: the only place the state changes. Pure: no I/O,
//! no clock reads (time comes in with `Msg::Tick`), effects are returned for the runtime.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;

use super::app::{
    customer_number, App, CallView, Conn, Dialog, HistoryDetail, InputKind, LineInput, Screen,
    SortKey, Status, StatusKind, TextKind, TranscriptView,
};
use super::keys::Action;
use super::transcript::{find_all, Transcript};
use super::{clean, layout, rules};
use crate::client::StreamMsg;
use crate::core::model::{Call, CallState, QueueItem, TranscriptEntry};
use crate::core::protocol::{ActionResponse, ResyncReason, StreamEvent};

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Stream(StreamMsg),
    Done {
        id: u64,
        result: Result<Reply, String>,
    },
    Tick(DateTime<Utc>),
    Resize(u16, u16),
}

#[derive(Debug)]
pub enum Reply {
    Action(Box<ActionResponse>),
    QueueItem(Option<Box<QueueItem>>),
    History {
        calls: Vec<Call>,
        next_cursor: Option<String>,
    },
    Detail {
        call: Box<Call>,
        transcript: Vec<TranscriptEntry>,
    },
}

/// What the runtime must do (REST calls), identified so the answer comes back as `Done`.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    TakeOver {
        call_id: String,
        reason: String,
        notes: Option<String>,
    },
    PauseAi {
        call_id: String,
    },
    ResumeAi {
        call_id: String,
    },
    Say {
        call_id: String,
        text: String,
    },
    Instruct {
        call_id: String,
        text: String,
    },
    End {
        call_id: String,
    },
    Summarize {
        call_id: String,
    },
    DialNow {
        item_id: String,
    },
    CancelQueued {
        item_id: String,
    },
    /// History search; `cursor` asks for the page after a previous answer.
    History {
        q: String,
        cursor: Option<String>,
    },
    Open {
        call_id: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Request { id: u64, request: Request },
    Quit,
}

const SCROLL_STEP: isize = 3;
/// Statuses other than errors and pending ones fade after this long.
pub const STATUS_SECS: i64 = 8;
pub const RESYNCED_SECS: i64 = 10;

pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    app.dirty = true;
    match msg {
        Msg::Key(ev) => key(app, ev, &mut fx),
        Msg::Paste(text) => paste(app, &text),
        Msg::Mouse(ev) => mouse(app, ev),
        Msg::Stream(m) => stream(app, m),
        Msg::Done { id, result } => done(app, id, result),
        Msg::Tick(now) => {
            app.now = now;
            if app.sort == SortKey::Duration {
                reorder(app);
            }
        }
        Msg::Resize(w, h) => {
            app.size = (w, h);
            keep_visible(app);
        }
    }
    fx
}

// ---------------------------------------------------------------- keys

fn key(app: &mut App, ev: KeyEvent, fx: &mut Vec<Effect>) {
    if ev.kind == KeyEventKind::Release {
        app.dirty = false;
        return;
    }
    if ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL) {
        app.quit = true;
        fx.push(Effect::Quit);
        return;
    }
    if app.dialog.is_some() {
        dialog_key(app, ev, fx);
        return;
    }
    if app.input.is_some() {
        input_key(app, ev, fx);
        return;
    }
    let Some(action) = app.keymap.action(&ev) else {
        app.dirty = false;
        return;
    };
    if app.help {
        match action {
            Action::Quit => act(app, action, fx),
            _ => app.help = false,
        }
        return;
    }
    act(app, action, fx);
}

fn act(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    use Action::*;
    match action {
        Quit => {
            app.quit = true;
            fx.push(Effect::Quit);
        }
        Help => app.help = true,
        ScreenCalls => switch(app, Screen::Calls, fx),
        ScreenQueue => switch(app, Screen::Queue, fx),
        ScreenAnalytics => switch(app, Screen::Analytics, fx),
        ScreenHistory => switch(app, Screen::History, fx),
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
                more_history(app, fx);
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
                more_history(app, fx);
            }
        }
        Top => move_selection(app, isize::MIN / 2),
        Bottom => {
            move_selection(app, isize::MAX / 2);
            if app.screen == Screen::History {
                more_history(app, fx);
            }
        }
        Filter => match app.screen {
            Screen::Calls => open_input(app, InputKind::Filter),
            Screen::History => open_input(app, InputKind::History),
            _ => info(app, "filter works on the Calls and History screens"),
        },
        Sort | ReverseSort => {
            if app.screen != Screen::Calls {
                return info(app, "sorting works on the Calls screen");
            }
            if action == Sort {
                app.sort = app.sort.next();
                app.sort_desc = app.sort == SortKey::Duration;
            } else {
                app.sort_desc = !app.sort_desc;
            }
            reorder(app);
            let dir = if app.sort_desc {
                "descending"
            } else {
                "ascending"
            };
            let text = format!("sorted by {} ({dir})", app.sort.title());
            info(app, &text);
        }
        Open => match app.screen {
            Screen::History => open_history(app, fx),
            Screen::Calls => {}
            _ => {}
        },
        Back => back(app),
        TakeOver | PauseAi | ResumeAi | Say | Instruct | EndCall | Summarize => {
            call_action(app, action, fx)
        }
        DialNow | CancelQueued => queue_action(app, action, fx),
        ScrollUp => scroll(app, -SCROLL_STEP),
        ScrollDown => scroll(app, SCROLL_STEP),
        Follow => {
            if let Some(view) = view_mut(app) {
                view.follow = true;
                view.current_match = None;
            }
        }
        Search => {
            if view_mut(app).is_some() {
                open_input(app, InputKind::Search);
            } else {
                info(
                    app,
                    "search works on a transcript (Calls, or an open History call)",
                );
            }
        }
        NextMatch => jump_match(app, true),
        PrevMatch => jump_match(app, false),
        Timestamps => {
            if let Some(view) = view_mut(app) {
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

fn switch(app: &mut App, screen: Screen, fx: &mut Vec<Effect>) {
    app.screen = screen;
    if screen == Screen::History && !app.history.loaded && !app.history.loading {
        search_history(app, fx);
    }
}

fn info(app: &mut App, text: &str) {
    set_status(app, StatusKind::Info, text.to_string());
}

fn set_status(app: &mut App, kind: StatusKind, text: String) {
    app.status = Some(Status {
        kind,
        text,
        at: app.now,
    });
}

fn back(app: &mut App) {
    match app.screen {
        Screen::History if app.history.detail.is_some() => app.history.detail = None,
        Screen::Calls if !app.view.search.is_empty() => {
            app.view.search.clear();
            app.view.current_match = None;
        }
        Screen::Calls if !app.filter.is_empty() => {
            app.filter.clear();
            reorder(app);
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
            if app.order.is_empty() {
                return;
            }
            let cur = app.selected_index().unwrap_or(0) as isize;
            let next = (cur + delta).clamp(0, app.order.len() as isize - 1) as usize;
            select_call(app, Some(app.order[next].clone()));
        }
        Screen::Queue => {
            let n = app.waiting_queue().len();
            if n > 0 {
                let cur = app.queue_selected as isize;
                app.queue_selected = (cur + delta).clamp(0, n as isize - 1) as usize;
            }
        }
        Screen::History => {
            if app.history.detail.is_some() {
                scroll(app, delta.clamp(-1000, 1000) * SCROLL_STEP);
                return;
            }
            let n = app.history.results.len();
            if n > 0 {
                let cur = app.history.selected as isize;
                app.history.selected = (cur + delta).clamp(0, n as isize - 1) as usize;
            }
        }
        Screen::Analytics => {}
    }
    keep_visible(app);
}

fn select_call(app: &mut App, id: Option<String>) {
    if app.selected != id {
        app.selected = id;
        app.view = TranscriptView {
            timestamps: app.view.timestamps,
            search: app.view.search.clone(),
            ..TranscriptView::default()
        };
    }
}

/// Scroll offsets that keep the selected row on screen.
fn keep_visible(app: &mut App) {
    let rows = app.calls_table_rows().max(1);
    if let Some(i) = app.selected_index() {
        app.calls_top = fit(app.calls_top, i, rows, app.order.len());
    }
    let body_rows = (layout::body(app.area()).height as usize)
        .saturating_sub(4)
        .max(1);
    let n = app.waiting_queue().len();
    app.queue_selected = app.queue_selected.min(n.saturating_sub(1));
    app.queue_top = fit(app.queue_top, app.queue_selected, body_rows, n);
    let n = app.history.results.len();
    app.history.selected = app.history.selected.min(n.saturating_sub(1));
    app.history.top = fit(app.history.top, app.history.selected, body_rows, n);
}

fn fit(top: usize, index: usize, rows: usize, len: usize) -> usize {
    let mut top = top.min(len.saturating_sub(rows));
    if index < top {
        top = index;
    } else if index >= top + rows {
        top = index + 1 - rows;
    }
    top
}

// ---------------------------------------------------------------- text inputs

fn open_input(app: &mut App, kind: InputKind) {
    let current = match kind {
        InputKind::Filter => app.filter.clone(),
        InputKind::Search => view_mut(app).map(|v| v.search.clone()).unwrap_or_default(),
        InputKind::History => app.history.query.clone(),
    };
    app.input = Some(LineInput {
        kind,
        text: current.clone(),
        before: current,
    });
}

fn input_key(app: &mut App, ev: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(input) = app.input.as_mut() else {
        return;
    };
    let kind = input.kind;
    match ev.code {
        KeyCode::Esc => {
            let before = input.before.clone();
            app.input = None;
            if kind == InputKind::Filter {
                app.filter = before;
                reorder(app);
            }
            return;
        }
        KeyCode::Enter => {
            let text = input.text.trim().to_string();
            app.input = None;
            match kind {
                InputKind::Filter => {
                    app.filter = text;
                    reorder(app);
                }
                InputKind::Search => {
                    if let Some(view) = view_mut(app) {
                        view.search = text.clone();
                        view.current_match = None;
                    }
                    if !text.is_empty() {
                        jump_match(app, true);
                    }
                }
                InputKind::History => {
                    app.history.query = text;
                    app.history.detail = None;
                    search_history(app, fx);
                }
            }
            return;
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
            if input.text.chars().count() < 200 {
                input.text.push_str(&clean::text(&c.to_string()));
            }
        }
        _ => return,
    }
    if kind == InputKind::Filter {
        // Live filtering while typing.
        app.filter = app
            .input
            .as_ref()
            .map(|i| i.text.clone())
            .unwrap_or_default();
        reorder(app);
    }
}

fn paste(app: &mut App, text: &str) {
    let text = clean::text(text);
    if let Some(d) = app.dialog.as_mut() {
        match d {
            Dialog::TakeOver {
                reason,
                notes,
                notes_focused,
                ..
            } => {
                let area = if *notes_focused { notes } else { reason };
                area.insert_str(&text);
            }
            Dialog::Text { text: area, .. } => {
                area.insert_str(&text);
            }
            _ => {}
        }
    } else if let Some(input) = app.input.as_mut() {
        input.text.push_str(&text);
        if input.kind == InputKind::Filter {
            app.filter = input.text.clone();
            reorder(app);
        }
    }
}

fn mouse(app: &mut App, ev: MouseEvent) {
    match ev.kind {
        MouseEventKind::ScrollUp => scroll(app, -SCROLL_STEP),
        MouseEventKind::ScrollDown => scroll(app, SCROLL_STEP),
        _ => app.dirty = false,
    }
}

// ---------------------------------------------------------------- transcript view

/// The transcript in focus and its view: the selected call, or an open history call.
fn view_mut(app: &mut App) -> Option<&mut TranscriptView> {
    match app.screen {
        Screen::Calls => app.selected.as_ref().map(|_| &mut app.view),
        Screen::History => app.history.detail.as_mut().map(|d| &mut d.view),
        _ => None,
    }
}

fn focused_transcript(app: &mut App) -> Option<(&Transcript, &mut TranscriptView, Rect)> {
    let body = layout::body(app.area());
    match app.screen {
        Screen::Calls => {
            let id = app.selected.as_ref()?;
            let t = &app.calls.get(id)?.transcript;
            Some((t, &mut app.view, layout::calls(body).transcript))
        }
        Screen::History => {
            let d = app.history.detail.as_mut()?;
            Some((
                &d.transcript,
                &mut d.view,
                layout::history_detail(body).transcript,
            ))
        }
        _ => None,
    }
}

fn scroll(app: &mut App, delta: isize) {
    let Some((t, view, pane)) = focused_transcript(app) else {
        return;
    };
    let inner = layout::inner(pane);
    let mut cache = t.cache.borrow_mut();
    cache.ensure(&t.entries, inner.width as usize, view.timestamps);
    let total = cache.rows.len();
    let h = inner.height as usize;
    let max_top = total.saturating_sub(h);
    let cur = view.visible_top(total, h);
    let next = (cur as isize + delta).clamp(0, max_top as isize) as usize;
    view.top = next;
    if delta < 0 && max_top > 0 {
        view.follow = false;
    } else if delta > 0 && next >= max_top {
        view.follow = true;
    }
}

fn jump_match(app: &mut App, forward: bool) {
    let mut note = None;
    if let Some((t, view, pane)) = focused_transcript(app) {
        if view.search.is_empty() {
            note = Some("no search yet".to_string());
        } else {
            let inner = layout::inner(pane);
            let mut cache = t.cache.borrow_mut();
            cache.ensure(&t.entries, inner.width as usize, view.timestamps);
            let matches: Vec<usize> = cache
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| !find_all(&r.text, &view.search).is_empty())
                .map(|(i, _)| i)
                .collect();
            if matches.is_empty() {
                note = Some(format!("no match for \"{}\"", view.search));
            } else {
                let h = inner.height as usize;
                let max_top = cache.rows.len().saturating_sub(h);
                let pick = match view.current_match {
                    Some(cur) if forward => matches.iter().copied().find(|&m| m > cur),
                    Some(cur) => matches.iter().rev().copied().find(|&m| m < cur),
                    None => {
                        let top = view.visible_top(cache.rows.len(), h);
                        matches.iter().copied().find(|&m| m >= top)
                    }
                };
                let wrapped = pick.is_none();
                let row = pick.unwrap_or(if forward {
                    matches[0]
                } else {
                    matches[matches.len() - 1]
                });
                view.current_match = Some(row);
                view.follow = false;
                view.top = row.saturating_sub(h / 3).min(max_top);
                let n = matches.iter().position(|&m| m == row).unwrap_or(0) + 1;
                note = Some(format!(
                    "match {n} of {}{}",
                    matches.len(),
                    if wrapped && matches.len() > 1 {
                        " (wrapped)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    if let Some(n) = note {
        info(app, &n);
    }
}

// ---------------------------------------------------------------- actions

fn start(app: &mut App, doing: String, request: Request, fx: &mut Vec<Effect>) -> u64 {
    let id = app.next_request;
    app.next_request += 1;
    set_status(app, StatusKind::Pending, format!("{doing}…"));
    app.pending.insert(id, doing);
    fx.push(Effect::Request { id, request });
    id
}

fn call_action(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    if app.screen != Screen::Calls {
        return info(
            app,
            &format!("{} works on the Calls screen", action.label()),
        );
    }
    let Some(view) = app.selected_call() else {
        return set_status(app, StatusKind::Error, "no call selected".into());
    };
    let call = &view.call;
    if let Err(reason) = rules::check(action, call, app.role) {
        let text = format!("cannot {}: {reason}", action.label());
        return set_status(app, StatusKind::Error, text);
    }
    let call_id = call.id.clone();
    let who = app.who(call);
    let new_area = |placeholder: &str, focused: bool| {
        let mut t = TextArea::default();
        t.set_placeholder_text(placeholder);
        t.set_cursor_line_style(ratatui::style::Style::default());
        focus_area(&mut t, focused);
        Box::new(t)
    };
    match action {
        Action::TakeOver => {
            app.dialog = Some(Dialog::TakeOver {
                call_id,
                who,
                reason: new_area("why you are taking over (required)", true),
                notes: new_area("notes for the record (optional)", false),
                notes_focused: false,
                error: None,
            })
        }
        Action::Say | Action::Instruct => {
            let (kind, ph) = if action == Action::Say {
                (TextKind::Say, "what the caller will hear")
            } else {
                (TextKind::Instruct, "a private instruction to the AI")
            };
            app.dialog = Some(Dialog::Text {
                kind,
                call_id,
                who,
                text: new_area(ph, true),
                error: None,
            })
        }
        Action::EndCall => app.dialog = Some(Dialog::ConfirmEnd { call_id, who }),
        Action::PauseAi => {
            start(
                app,
                format!("pausing the AI on the call with {who}"),
                Request::PauseAi { call_id },
                fx,
            );
        }
        Action::ResumeAi => {
            start(
                app,
                format!("resuming the AI on the call with {who}"),
                Request::ResumeAi { call_id },
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
        _ => {}
    }
}

fn queue_action(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    if app.screen != Screen::Queue {
        return info(
            app,
            &format!("{} works on the Queue screen", action.label()),
        );
    }
    if let Err(reason) = rules::check_role(action, app.role) {
        return set_status(
            app,
            StatusKind::Error,
            format!("cannot {}: {reason}", action.label()),
        );
    }
    let Some(item) = app
        .waiting_queue()
        .get(app.queue_selected)
        .map(|q| (*q).clone())
    else {
        return set_status(app, StatusKind::Error, "no queued call selected".into());
    };
    let who = item
        .lead
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| app.number(&item.phone_number));
    match action {
        Action::DialNow => {
            start(
                app,
                format!("dialing {who} now"),
                Request::DialNow { item_id: item.id },
                fx,
            );
        }
        _ => {
            app.dialog = Some(Dialog::ConfirmCancel {
                item_id: item.id,
                who,
            })
        }
    }
}

fn dialog_key(app: &mut App, ev: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(mut dialog) = app.dialog.take() else {
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
    app.dialog = Some(dialog);
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
    let verdict = match app.calls.get(call_id) {
        None => Err("the call has ended".to_string()),
        Some(v) => rules::check(action, &v.call, app.role),
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

// ---------------------------------------------------------------- history

fn search_history(app: &mut App, fx: &mut Vec<Effect>) {
    app.history.next_cursor = None;
    app.history.appending = false;
    history_page(app, None, fx);
}

/// Loads the next page when the selection reaches the end of what is loaded.
fn more_history(app: &mut App, fx: &mut Vec<Effect>) {
    let h = &app.history;
    let at_end = h.selected + 1 >= h.results.len();
    if at_end && !h.loading && h.detail.is_none() {
        if let Some(cursor) = h.next_cursor.clone() {
            app.history.appending = true;
            history_page(app, Some(cursor), fx);
        }
    }
}

fn history_page(app: &mut App, cursor: Option<String>, fx: &mut Vec<Effect>) {
    app.history.loading = true;
    app.history.error = None;
    let q = app.history.query.clone();
    let id = app.next_request;
    app.next_request += 1;
    app.history.request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::History { q, cursor },
    });
}

fn open_history(app: &mut App, fx: &mut Vec<Effect>) {
    if app.history.detail.is_some() {
        return;
    }
    let Some(call) = app.history.results.get(app.history.selected).cloned() else {
        return;
    };
    let call_id = call.id.clone();
    app.history.detail = Some(HistoryDetail {
        call,
        transcript: Transcript::default(),
        view: TranscriptView {
            follow: false,
            ..TranscriptView::default()
        },
        loading: true,
        error: None,
    });
    let id = app.next_request;
    app.next_request += 1;
    app.history.request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::Open { call_id },
    });
}

// ---------------------------------------------------------------- results

fn done(app: &mut App, id: u64, result: Result<Reply, String>) {
    let result = result.map_err(|e| clean::text(&e));
    if let Some(doing) = app.pending.remove(&id) {
        match result {
            Ok(reply) => {
                if let Reply::Action(resp) = &reply {
                    let mut call = resp.call.clone();
                    clean::call(&mut call);
                    upsert_call(app, call);
                }
                if let Reply::QueueItem(Some(item)) = reply {
                    let mut item = *item;
                    clean::queue_item(&mut item);
                    upsert_queue(app, item);
                }
                set_status(app, StatusKind::Ok, format!("done: {doing}"));
            }
            Err(e) => set_status(app, StatusKind::Error, format!("{doing} failed: {e}")),
        }
        return;
    }
    if app.history.request != Some(id) {
        app.dirty = false;
        return; // an answer nobody waits for any more
    }
    app.history.request = None;
    match result {
        Ok(Reply::History {
            mut calls,
            next_cursor,
        }) => {
            calls.iter_mut().for_each(clean::call);
            if app.history.appending {
                // Calls that ended meanwhile may already be listed: no duplicates.
                calls.retain(|c| !app.history.results.iter().any(|r| r.id == c.id));
                app.history.results.extend(calls);
            } else {
                app.history.results = calls;
                app.history.selected = 0;
                app.history.top = 0;
            }
            app.history.appending = false;
            app.history.next_cursor = next_cursor;
            app.history.loading = false;
            app.history.loaded = true;
            app.history.error = None;
        }
        Ok(Reply::Detail {
            call,
            mut transcript,
        }) => {
            if let Some(d) = app.history.detail.as_mut() {
                let mut call = *call;
                clean::call(&mut call);
                transcript.iter_mut().for_each(clean::entry);
                d.call = call;
                d.transcript = Transcript::new(transcript);
                d.loading = false;
            }
        }
        Ok(_) => {}
        Err(e) => {
            app.history.loading = false;
            app.history.appending = false;
            if let Some(d) = app.history.detail.as_mut() {
                d.loading = false;
                d.error = Some(e);
            } else {
                app.history.error = Some(e);
            }
        }
    }
}

// ---------------------------------------------------------------- stream

fn stream(app: &mut App, m: StreamMsg) {
    match m {
        StreamMsg::Connecting { attempt } => {
            if !matches!(app.conn, Conn::AuthFailed(_)) {
                app.conn = Conn::Connecting { attempt };
            }
        }
        StreamMsg::Connected {
            org,
            actor,
            role,
            resumed,
            reason,
        } => {
            app.org = Some(clean::text(&org));
            app.actor = Some(clean::text(&actor));
            app.role = Some(role);
            let resynced = !resumed && reason.is_some_and(|r| r != ResyncReason::NewClient);
            app.conn = Conn::Connected {
                resynced_at: resynced.then_some(app.now),
            };
        }
        StreamMsg::Snapshot(mut snap) => {
            clean::snapshot(&mut snap);
            let snap = *snap;
            app.org = Some(snap.org);
            // Rebuild in one step (no empty intermediate frame): same selection, no duplicates.
            app.calls = snap
                .calls
                .into_iter()
                .filter(|c| c.call.state.is_active())
                .map(|c| {
                    (
                        c.call.id.clone(),
                        CallView {
                            call: c.call,
                            transcript: Transcript::new(c.transcript),
                        },
                    )
                })
                .collect();
            app.queue = snap
                .queue
                .into_iter()
                .filter(|q| q.state.is_waiting())
                .collect();
            app.analytics = snap.analytics;
            reorder(app);
        }
        StreamMsg::Event { event, .. } => apply_event(app, *event),
        StreamMsg::Resync { reason } => {
            app.conn = Conn::Connected {
                resynced_at: Some(app.now),
            };
            let why = match reason {
                ResyncReason::Lagged => "this console fell behind",
                ResyncReason::TooFarBehind => "too many events were missed",
                ResyncReason::EpochChanged => "the gateway restarted",
                ResyncReason::NewClient => "new connection",
            };
            info(app, &format!("resynced with the gateway ({why})"));
        }
        StreamMsg::ServerError { message } => set_status(
            app,
            StatusKind::Error,
            format!("gateway: {}", clean::text(&message)),
        ),
        StreamMsg::Disconnected { error, retry_in } => {
            let at = app.now + chrono::Duration::from_std(retry_in).unwrap_or_default();
            app.conn = Conn::Reconnecting {
                at,
                error: clean::text(&error),
            };
        }
        StreamMsg::AuthFailed { message } => app.conn = Conn::AuthFailed(clean::text(&message)),
    }
}

fn apply_event(app: &mut App, event: StreamEvent) {
    match event {
        StreamEvent::CallUpdated { mut call } => {
            clean::call(&mut call);
            if call.state == CallState::Ended {
                end_call(app, call);
            } else {
                upsert_call(app, call);
            }
        }
        StreamEvent::CallEnded { mut call } => {
            clean::call(&mut call);
            end_call(app, call);
        }
        StreamEvent::TranscriptAppended { mut entry }
        | StreamEvent::TranscriptRevised { mut entry } => {
            clean::entry(&mut entry);
            if let Some(v) = app.calls.get_mut(&entry.call_id) {
                let visible = app.selected.as_deref() == Some(entry.call_id.as_str());
                v.transcript.upsert(entry);
                app.dirty = visible && app.screen == Screen::Calls;
            } else {
                app.dirty = false;
            }
        }
        StreamEvent::QueueUpdated { mut item } => {
            clean::queue_item(&mut item);
            upsert_queue(app, item);
        }
        StreamEvent::AnalyticsUpdated { mut analytics } => {
            clean::analytics(&mut analytics);
            app.analytics = analytics;
        }
        StreamEvent::ActionAudited { audit } => {
            // Our own actions are reported by their results; show what others do.
            let mine = app.actor.as_deref() == Some(audit.actor.as_str());
            if !mine && audit.ok {
                let who = audit
                    .call_id
                    .as_ref()
                    .and_then(|id| app.calls.get(id))
                    .map(|v| app.who(&v.call))
                    .unwrap_or_else(|| "a call".into());
                let text = format!(
                    "{} did {} on {}",
                    clean::text(&audit.actor),
                    clean::text(&audit.action),
                    who
                );
                info(app, &text);
            }
        }
    }
}

fn upsert_call(app: &mut App, call: Call) {
    if !call.state.is_active() {
        return end_call(app, call);
    }
    let filter = app.filter.clone();
    let (key, now) = (app.sort, app.now);
    let placed = |c: &Call| (matches_filter(c, &filter), sort_value(c, key, now));
    let new_place = placed(&call);
    match app.calls.get_mut(&call.id) {
        Some(v) => {
            // Most updates (sentiment, alerts, intent...) do not move the row: no re-sort.
            let same = placed(&v.call) == new_place && v.call.created_at == call.created_at;
            v.call = call;
            if same {
                return;
            }
        }
        None => {
            app.calls.insert(
                call.id.clone(),
                CallView {
                    call,
                    transcript: Transcript::default(),
                },
            );
        }
    }
    reorder(app);
}

fn end_call(app: &mut App, call: Call) {
    let id = call.id.clone();
    let was = app.calls.remove(&id).is_some();
    let dialog_on_it = match &app.dialog {
        Some(Dialog::TakeOver { call_id, .. })
        | Some(Dialog::Text { call_id, .. })
        | Some(Dialog::ConfirmEnd { call_id, .. }) => call_id == &id,
        _ => false,
    };
    if dialog_on_it {
        app.dialog = None;
        let who = app.who(&call);
        set_status(app, StatusKind::Info, format!("the call with {who} ended"));
    }
    if app.history.loaded
        && app.history.query.is_empty()
        && !app.history.results.iter().any(|c| c.id == id)
    {
        app.history.results.insert(0, call);
        if app.history.selected > 0 || app.history.detail.is_some() {
            app.history.selected += 1;
        }
    }
    if was {
        // Keep the cursor in place: select the neighbour of the removed row.
        let idx = app.order.iter().position(|o| o == &id);
        app.order.retain(|o| o != &id);
        if app.selected.as_deref() == Some(id.as_str()) {
            let next = idx.and_then(|i| {
                app.order
                    .get(i.min(app.order.len().saturating_sub(1)))
                    .cloned()
            });
            select_call(app, next);
        }
        reorder(app);
    }
}

fn upsert_queue(app: &mut App, item: QueueItem) {
    let waiting = item.state.is_waiting();
    match app.queue.iter().position(|q| q.id == item.id) {
        Some(i) if waiting => app.queue[i] = item,
        Some(i) => {
            app.queue.remove(i);
        }
        None if waiting => app.queue.push(item),
        None => {}
    }
    keep_visible(app);
}

// ---------------------------------------------------------------- order

fn matches_filter(call: &Call, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let fields = [
        call.lead.name.as_deref().unwrap_or(""),
        customer_number(call),
        call.campaign.as_deref().unwrap_or(""),
        call.provider.as_str(),
        call.intent.as_deref().unwrap_or(""),
        call.assistant.as_deref().unwrap_or(""),
        call.state.as_str(),
    ];
    fields.iter().any(|f| !find_all(f, needle).is_empty())
}

fn sentiment_rank(s: crate::core::model::Sentiment) -> u8 {
    use crate::core::model::Sentiment::*;
    match s {
        Negative => 0,
        Neutral => 1,
        Positive => 2,
        Unknown => 3,
    }
}

fn state_rank(s: CallState) -> u8 {
    // Calls that need a human's eyes first.
    match s {
        CallState::TakenOver => 0,
        CallState::AiPaused => 1,
        CallState::InProgress => 2,
        CallState::Ringing => 3,
        CallState::Queued => 4,
        CallState::Ended => 5,
    }
}

/// Recomputes the filtered, sorted order and keeps the selection valid.
/// What a call is sorted by, computed once per call and re-sort.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Num(i64),
    Text(Option<String>),
}

fn sort_value(c: &Call, key: SortKey, now: DateTime<Utc>) -> SortValue {
    match key {
        SortKey::Duration => SortValue::Num((c.duration_at(now).unwrap_or(0.0) * 1000.0) as i64),
        SortKey::State => SortValue::Num(i64::from(state_rank(c.state))),
        SortKey::Sentiment => SortValue::Num(i64::from(sentiment_rank(c.sentiment))),
        SortKey::Who => SortValue::Text(c.lead.name.clone()),
        SortKey::Campaign => SortValue::Text(c.campaign.clone()),
        SortKey::Provider => SortValue::Text(Some(c.provider.clone())),
    }
}

/// Recomputes the filtered, sorted order and keeps the selection valid.
pub fn reorder(app: &mut App) {
    let now = app.now;
    let key = app.sort;
    let desc = app.sort_desc;
    let mut rows: Vec<(SortValue, DateTime<Utc>, &str)> = app
        .calls
        .values()
        .filter(|v| matches_filter(&v.call, &app.filter))
        .map(|v| {
            (
                sort_value(&v.call, key, now),
                v.call.created_at,
                v.call.id.as_str(),
            )
        })
        .collect();
    rows.sort_unstable_by(|a, b| {
        let ord = if desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) };
        ord.then_with(|| a.1.cmp(&b.1)).then_with(|| a.2.cmp(b.2))
    });
    let order: Vec<String> = rows.into_iter().map(|r| r.2.to_string()).collect();
    app.order = order;
    let keep = app
        .selected
        .as_ref()
        .is_some_and(|id| app.calls.contains_key(id) && app.order.contains(id));
    if !keep {
        let first = app.order.first().cloned();
        select_call(app, first);
    }
    keep_visible(app);
}

#[cfg(test)]
mod tests;
