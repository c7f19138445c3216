//! What sits on top of the screen and takes every key while open: the help, a one-line
//! text input, a dialog, or the add-to-queue form.

use ratatui_textarea::TextArea;

use crate::core::model::CallId;

pub enum Modal {
    Help,
    Input(LineInput),
    Dialog(Dialog),
    /// The add-to-queue form (`a` on Queue).
    Form(super::QueueForm),
}

/// A one-line text input at the bottom (filter, transcript search, history search).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Search,
    History,
    /// `:` k9s-style: screens, filters, sort, export (with Tab completion).
    Command,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineInput {
    pub kind: InputKind,
    pub text: String,
    /// Value to restore on Esc.
    pub before: String,
    /// What Tab would complete to, shown beside the input.
    pub hint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Say,
    Instruct,
}

/// What keeps a dialog honest while it is open: the call (or queue item) it was opened for may
/// end or be taken over by someone else. Then the dialog stays open and says so, and its submit
/// is refused; only Esc closes it, so keys typed meanwhile never reach the screen behind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Guard {
    /// Who had taken the call over when the dialog opened (a different name later is news).
    pub taken_by: Option<String>,
    /// Why the dialog can no longer be submitted.
    pub blocked: Option<String>,
}

/// A dialog is bound to the call (or queue item) it was opened for, never to the selection.
pub enum Dialog {
    TakeOver {
        call_id: CallId,
        who: String,
        reason: Box<TextArea<'static>>,
        notes: Box<TextArea<'static>>,
        notes_focused: bool,
        /// Speak by phone rather than type to talk, when the dialog offers both.
        by_phone: bool,
        /// Tab reached the voice choice: ←/→/space switch it.
        voice_focused: bool,
        error: Option<String>,
        guard: Guard,
    },
    /// Put the caller through to one of the org's destinations or a typed address.
    Transfer {
        call_id: CallId,
        who: String,
        /// Row of the org's destinations; one past the last is the typed address.
        selected: usize,
        typed: Box<TextArea<'static>>,
        warm: bool,
        error: Option<String>,
        guard: Guard,
    },
    Text {
        kind: TextKind,
        call_id: CallId,
        who: String,
        text: Box<TextArea<'static>>,
        error: Option<String>,
        guard: Guard,
    },
    ConfirmEnd {
        call_id: CallId,
        who: String,
        guard: Guard,
    },
    ConfirmCancel {
        item_id: String,
        who: String,
        guard: Guard,
    },
    /// Someone else acted on this call a moment ago: do `action` anyway?
    ConfirmRecent {
        call_id: CallId,
        who: String,
        action: crate::console::keys::Action,
        /// "dana paused the AI 3 s ago" (their name, what, when).
        news: String,
        guard: Guard,
    },
}

impl Dialog {
    pub fn guard(&self) -> &Guard {
        match self {
            Dialog::TakeOver { guard, .. }
            | Dialog::Transfer { guard, .. }
            | Dialog::Text { guard, .. }
            | Dialog::ConfirmEnd { guard, .. }
            | Dialog::ConfirmCancel { guard, .. }
            | Dialog::ConfirmRecent { guard, .. } => guard,
        }
    }

    pub(in crate::console) fn guard_mut(&mut self) -> &mut Guard {
        match self {
            Dialog::TakeOver { guard, .. }
            | Dialog::Transfer { guard, .. }
            | Dialog::Text { guard, .. }
            | Dialog::ConfirmEnd { guard, .. }
            | Dialog::ConfirmCancel { guard, .. }
            | Dialog::ConfirmRecent { guard, .. } => guard,
        }
    }

    /// Why the dialog can no longer be submitted, if so.
    pub fn blocked(&self) -> Option<&str> {
        self.guard().blocked.as_deref()
    }

    /// The call the dialog acts on (`None` for a queue item).
    pub fn call_id(&self) -> Option<&str> {
        match self {
            Dialog::TakeOver { call_id, .. }
            | Dialog::Transfer { call_id, .. }
            | Dialog::Text { call_id, .. }
            | Dialog::ConfirmEnd { call_id, .. }
            | Dialog::ConfirmRecent { call_id, .. } => Some(call_id),
            Dialog::ConfirmCancel { .. } => None,
        }
    }

    pub fn who(&self) -> &str {
        match self {
            Dialog::TakeOver { who, .. }
            | Dialog::Transfer { who, .. }
            | Dialog::Text { who, .. }
            | Dialog::ConfirmEnd { who, .. }
            | Dialog::ConfirmCancel { who, .. }
            | Dialog::ConfirmRecent { who, .. } => who,
        }
    }
}
