//! Dialogs: take over (reason + notes), say / instruct (text), confirmations; a dialog whose
//! call ended or was taken over by someone else shows why it can no longer be sent.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::super::app::{App, Dialog, TextKind};
use super::super::layout;

pub fn render(f: &mut Frame, app: &App, d: &Dialog, area: Rect) {
    let t = &app.theme;
    let hint = |submit: &str| {
        Line::from(vec![
            Span::styled("enter", t.key_style()),
            Span::styled(format!(" {submit} · "), t.dimmed()),
            Span::styled("esc", t.key_style()),
            Span::styled(" cancel", t.dimmed()),
        ])
    };
    // A dialog whose call ended or was taken over says so where errors go, and offers Esc only.
    let blocked = d.blocked();
    let hint = |submit: &str| match blocked {
        Some(_) => Line::from(vec![
            Span::styled("esc", t.key_style()),
            Span::styled(" close", t.dimmed()),
        ]),
        None => hint(submit),
    };
    let error_line = |e: &Option<String>| match (blocked, e) {
        (Some(b), _) => Line::from(Span::styled(
            format!("⚠ {b}: nothing will be sent"),
            t.fg(t.warn).add_modifier(Modifier::BOLD),
        )),
        (None, Some(e)) => Line::from(Span::styled(
            format!("✗ {e}"),
            t.fg(t.error).add_modifier(Modifier::BOLD),
        )),
        (None, None) => Line::raw(""),
    };
    let field_block = |title: &str, focused: bool| {
        let style = if focused {
            t.fg(t.accent).add_modifier(Modifier::BOLD)
        } else {
            t.border_style()
        };
        Block::default()
            .borders(Borders::ALL)
            .border_style(style)
            .title(title.to_string())
            .title_style(style)
    };
    match d {
        Dialog::TakeOver {
            who,
            reason,
            notes,
            notes_focused,
            error,
            ..
        } => {
            let r = layout::centered(area, 70, 16);
            f.render_widget(Clear, r);
            f.render_widget(
                super::block(app, format!(" Take over the call with {who} ")),
                r,
            );
            let inner = layout::inner(r);
            let [intro, rf, nf, err, h] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Length(3),
                Constraint::Min(3),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .areas(inner);
            f.render_widget(
                Paragraph::new(Span::styled(
                    "The AI stops talking and the call is yours.",
                    t.base(),
                )),
                intro,
            );
            let rb = field_block(" Reason (required) ", !notes_focused);
            f.render_widget(&rb, rf);
            f.render_widget(&**reason, rb.inner(rf));
            let nb = field_block(" Notes (optional) ", *notes_focused);
            f.render_widget(&nb, nf);
            f.render_widget(&**notes, nb.inner(nf));
            f.render_widget(Paragraph::new(error_line(error)), err);
            let mut hl = hint("take over");
            if blocked.is_none() {
                hl.spans.push(Span::styled(" · ", t.dimmed()));
                hl.spans.push(Span::styled("tab", t.key_style()));
                hl.spans.push(Span::styled(" next field", t.dimmed()));
            }
            f.render_widget(Paragraph::new(hl), h);
        }
        Dialog::Text {
            kind,
            who,
            text,
            error,
            ..
        } => {
            let (title, intro, submit) = match kind {
                TextKind::Say => (
                    format!(" Say to {who} "),
                    "The caller hears this, spoken by the voice stack.",
                    "say it",
                ),
                TextKind::Instruct => (
                    format!(" Instruct the AI on the call with {who} "),
                    "A private instruction to the AI; the caller does not hear it.",
                    "send",
                ),
            };
            let r = layout::centered(area, 70, 10);
            f.render_widget(Clear, r);
            f.render_widget(super::block(app, title), r);
            let inner = layout::inner(r);
            let [i, tf, err, h] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Min(3),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .areas(inner);
            f.render_widget(Paragraph::new(Span::styled(intro, t.base())), i);
            let b = field_block(" Text ", true);
            f.render_widget(&b, tf);
            f.render_widget(&**text, b.inner(tf));
            f.render_widget(Paragraph::new(error_line(error)), err);
            f.render_widget(Paragraph::new(hint(submit)), h);
        }
        Dialog::ConfirmEnd { who, .. } => confirm(
            f,
            app,
            area,
            " End call ",
            format!("Hang up the call with {who}?"),
            "y / enter: end it · n / esc: keep it",
            blocked,
        ),
        Dialog::ConfirmRecent {
            who, action, news, ..
        } => confirm(
            f,
            app,
            area,
            " Someone just acted on this call ",
            format!("{news}. {} on the call with {who} anyway?", action.label()),
            "y / enter: go ahead · n / esc: leave it",
            blocked,
        ),
        Dialog::ConfirmCancel { who, .. } => confirm(
            f,
            app,
            area,
            " Cancel queued call ",
            format!("Remove the call to {who} from the queue?"),
            "y / enter: cancel it · n / esc: keep it",
            blocked,
        ),
    }
}

fn confirm(
    f: &mut Frame,
    app: &App,
    area: Rect,
    title: &str,
    question: String,
    keys: &str,
    blocked: Option<&str>,
) {
    let t = &app.theme;
    let r = layout::centered(area, 60, 6);
    f.render_widget(Clear, r);
    let (warning, keys) = match blocked {
        Some(b) => (
            Line::from(Span::styled(
                format!("⚠ {b}"),
                t.fg(t.warn).add_modifier(Modifier::BOLD),
            )),
            "esc: close",
        ),
        None => (Line::raw(""), keys),
    };
    let lines = vec![
        Line::raw(""),
        Line::from(Span::styled(
            question,
            t.base().add_modifier(Modifier::BOLD),
        )),
        warning,
        Line::from(Span::styled(keys.to_string(), t.dimmed())),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .block(super::block(app, title.to_string())),
        r,
    );
}
