//! `update(&mut App, Msg) -> Vec<Effect>`: the only place the state changes. Pure: no I/O,
//! no clock reads (time comes in with `Msg::Tick`), effects are returned for the runtime.
//!
//! By concern: [`keys`] routes keys (a modal first, then the screen's actions), [`input`]
//! the one-line inputs, [`dialog`] the dialogs, [`transcript`] scrolling and search,
//! [`calls`], [`queue`] and [`history`] their screens, [`stream`] the gateway's events and
//! [`results`] the answers to requests.

mod alerts;
mod calls;
mod command;
mod dialog;
mod dialog_parts;
mod export;
mod form;
mod history;
mod input;
mod keys;
mod logs;
mod perform;
mod queue;
mod results;
mod screens;
mod stream;
mod subscribe;
mod transcript;
mod transfer;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};

use super::app::{App, SortKey, Status, StatusKind};
use crate::client::StreamMsg;
pub use crate::core::action::Action as CallAction;
use crate::core::model::{AuditEntry, Call, QueueItem, TranscriptEntry};
use crate::core::protocol::ActionResponse;

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
    /// A frame was drawn: nothing new to show until the next change.
    Drawn,
    /// Leave: a signal, or the terminal is gone. Answered with `Effect::Quit`.
    Quit,
}

#[derive(Debug)]
pub enum Reply {
    Action(Box<ActionResponse>),
    /// The do-not-call list took the number.
    Dnc,
    QueueItem(Option<Box<QueueItem>>),
    History {
        calls: Vec<Call>,
        next_cursor: Option<String>,
    },
    Detail {
        call: Box<Call>,
        transcript: Vec<TranscriptEntry>,
    },
    Audit {
        call_id: String,
        entries: Vec<AuditEntry>,
    },
    /// An export was written.
    Written {
        path: String,
    },
    Destinations(crate::core::protocol::DestinationList),
    /// The org's audit log (the `:audit` screen), newest first.
    AuditLog(Vec<AuditEntry>),
    /// The webhook log (admins, the `:webhooks` screen), newest first.
    WebhookLog(Vec<crate::client::WebhookEntry>),
    /// Analytics for a range / grouping other than the stream's last 24 h.
    Analytics(Box<crate::core::model::Analytics>),
}

/// What the runtime must do (REST calls), identified so the answer comes back as `Done`.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A supervisor action on a call, as the rule book spells it.
    Act {
        call_id: String,
        action: CallAction,
    },
    Summarize {
        call_id: String,
    },
    /// The caller asked not to be called again: their number goes on the DNC list.
    AddToDnc {
        number: String,
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
    /// The audit trail of one call (for the detail panel).
    Audit {
        call_id: String,
    },
    /// The org's transfer destinations and our own phone.
    Destinations,
    /// A new queue item (`a` on Queue), through `POST /api/calls/initiate`.
    AddToQueue(Box<crate::core::protocol::InitiateRequest>),
    /// The org's audit log.
    AuditLog,
    /// The webhook log (admins only).
    WebhookLog,
    /// Analytics over `range` (`today`, `7d`, `30d`), grouped by `group_by`.
    Analytics {
        range: Option<String>,
        group_by: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Request {
        id: u64,
        request: Request,
    },
    /// Ring the terminal bell (a new alert of a kind configured to ring).
    Bell,
    /// Ask the gateway for a fresh snapshot: the delta numbered `seq` did not fit what this
    /// console holds.
    Resync {
        seq: u64,
    },
    /// Set the terminal's title (a new alert of a kind configured to flash it); `None`
    /// puts the plain title back.
    Title(Option<String>),
    /// Write `contents` to `path` (an export), reported back as `Msg::Done { id }`.
    Export {
        id: u64,
        path: std::path::PathBuf,
        contents: String,
    },
    /// The only way the console ends: the runtime leaves its loop and restores the terminal.
    Quit,
}

/// Statuses other than errors and pending ones fade after this long.
pub const STATUS_SECS: i64 = 8;
pub const RESYNCED_SECS: i64 = 10;

pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    // A message that changes nothing visible (e.g. another call's transcript line) clears
    // `dirty` below; it must not cancel a redraw an earlier message asked for.
    let was_dirty = app.dirty;
    app.dirty = true;
    let drawn = matches!(msg, Msg::Drawn);
    match msg {
        Msg::Key(ev) => keys::key(app, ev, &mut fx),
        Msg::Paste(text) => input::paste(app, &text),
        Msg::Mouse(ev) => transcript::mouse(app, ev),
        Msg::Stream(m) => {
            stream::stream(app, m);
            dialog::recheck(app);
        }
        Msg::Done { id, result } => {
            results::done(app, id, result);
            dialog::recheck(app);
        }
        Msg::Tick(now) => {
            app.now = now;
            calls::expire(app);
            dialog::recheck(app);
            if app.live.sort == SortKey::Duration {
                calls::reorder(app);
            }
        }
        Msg::Resize(w, h) => {
            app.size = (w, h);
            keep_visible(app);
        }
        Msg::Drawn => app.dirty = false,
        Msg::Quit => fx.push(Effect::Quit),
    }
    if !drawn {
        app.dirty |= was_dirty;
    }
    subscribe::refresh(app);
    if let Some(seq) = app.resync_due.take() {
        fx.push(Effect::Resync { seq });
    }
    if std::mem::take(&mut app.bell_due) {
        fx.push(Effect::Bell);
    }
    if let Some(title) = app.title_due.take() {
        fx.push(Effect::Title(Some(title)));
        app.title_shown_at = Some(app.now);
    } else if app
        .title_shown_at
        .is_some_and(|at| (app.now - at).num_seconds() >= TITLE_FLASH_SECS)
    {
        fx.push(Effect::Title(None));
        app.title_shown_at = None;
    }
    fx
}

/// How long an alert's title flash stays before the plain title is put back.
pub const TITLE_FLASH_SECS: i64 = 5;

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

/// Starts a request whose outcome is reported in the status line.
fn start(app: &mut App, doing: String, request: Request, fx: &mut Vec<Effect>) -> u64 {
    let id = app.requests.id();
    set_status(app, StatusKind::Pending, format!("{doing}…"));
    app.requests.pending.insert(id, doing);
    fx.push(Effect::Request { id, request });
    id
}

/// Starts an effect whose outcome is reported in the status line like a request's.
fn start_effect(
    app: &mut App,
    doing: String,
    effect: impl FnOnce(u64) -> Effect,
    fx: &mut Vec<Effect>,
) {
    let id = app.requests.id();
    set_status(app, StatusKind::Pending, format!("{doing}…"));
    app.requests.pending.insert(id, doing);
    fx.push(effect(id));
}

/// Scroll offsets of every list that keep its selected row on screen.
fn keep_visible(app: &mut App) {
    let rows = app.calls_table_rows().max(1);
    app.live.keep_visible(rows);
    let body_rows = (super::layout::body(app.area()).height as usize)
        .saturating_sub(4)
        .max(1);
    app.queue.keep_visible(body_rows);
    history::keep_visible(&mut app.history, body_rows);
}

/// The first row to show so that row `index` of `len` is visible in `rows` rows.
fn fit(top: usize, index: usize, rows: usize, len: usize) -> usize {
    let mut top = top.min(len.saturating_sub(rows));
    if index < top {
        top = index;
    } else if index >= top + rows {
        top = index + 1 - rows;
    }
    top
}

#[cfg(test)]
mod tests;
