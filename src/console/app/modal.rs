//! What sits on top of the screen and takes every key while open: the help, a one-line
//! text input, or a dialog.

use ratatui_textarea::TextArea;

use crate::core::model::CallId;

pub enum Modal {
    Help,
    Input(LineInput),
    Dialog(Dialog),
}

/// A one-line text input at the bottom (filter, transcript search, history search).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Search,
    History,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineInput {
    pub kind: InputKind,
    pub text: String,
    /// Value to restore on Esc.
    pub before: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Say,
    Instruct,
}

/// A dialog is bound to the call (or queue item) it was opened for, never to the selection.
pub enum Dialog {
    TakeOver {
        call_id: CallId,
        who: String,
        reason: Box<TextArea<'static>>,
        notes: Box<TextArea<'static>>,
        notes_focused: bool,
        error: Option<String>,
    },
    Text {
        kind: TextKind,
        call_id: CallId,
        who: String,
        text: Box<TextArea<'static>>,
        error: Option<String>,
    },
    ConfirmEnd {
        call_id: CallId,
        who: String,
    },
    ConfirmCancel {
        item_id: String,
        who: String,
    },
}
