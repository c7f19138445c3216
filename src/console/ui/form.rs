//! The add-to-queue form (`a` on Queue): four one-line fields, the gateway's refusal in red
//! when it answers one (a number on the do-not-call list, outside calling hours, ...).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::super::app::{App, QueueForm, FORM_FIELDS};
use super::super::layout;

/// What each field takes, shown beside it.
const HELP: [&str; 4] = [
    "required, e.g. +14155550123",
    "optional",
    "optional, e.g. renewals",
    "empty: now · +10m · +2h · 14:30 (UTC) · RFC 3339",
];

pub fn render(f: &mut Frame, app: &App, form: &QueueForm, area: Rect) {
    let t = &app.theme;
    let r = layout::centered(area, 72, 12);
    f.render_widget(Clear, r);
    f.render_widget(super::block(app, " Add a call to the queue "), r);
    let inner = layout::inner(r);
    let [fields, err, hint] = Layout::vertical([
        Constraint::Length(FORM_FIELDS.len() as u16 + 1),
        Constraint::Min(2),
        Constraint::Length(1),
    ])
    .areas(inner);
    let mut lines = vec![Line::from(Span::styled(
        "Compliance (do-not-call, calling hours) is checked by the gateway.",
        t.dimmed(),
    ))];
    for (i, name) in FORM_FIELDS.iter().enumerate() {
        let focused = i == form.focus;
        let label_style = if focused {
            t.fg(t.accent).add_modifier(Modifier::BOLD)
        } else {
            t.dimmed()
        };
        let value = &form.values[i];
        let mut spans = vec![
            Span::styled(if focused { "› " } else { "  " }, label_style),
            Span::styled(format!("{name:<9}"), label_style),
            Span::styled(value.clone(), t.base()),
        ];
        if focused && form.request.is_none() {
            spans.push(Span::styled("▏", t.fg(t.accent)));
        }
        if value.is_empty() {
            spans.push(Span::styled(format!(" {}", HELP[i]), t.dimmed()));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines), fields);
    let status = match (&form.error, form.request) {
        (_, Some(_)) => Line::from(Span::styled("⋯ sending…", t.fg(t.warn))),
        (Some(e), None) => Line::from(Span::styled(
            format!("✗ refused: {e}"),
            t.fg(t.error).add_modifier(Modifier::BOLD),
        )),
        (None, None) => Line::raw(""),
    };
    f.render_widget(Paragraph::new(status).wrap(Wrap { trim: true }), err);
    let h = Line::from(vec![
        Span::styled("enter", t.key_style()),
        Span::styled(" add · ", t.dimmed()),
        Span::styled("tab", t.key_style()),
        Span::styled(" next field · ", t.dimmed()),
        Span::styled("esc", t.key_style()),
        Span::styled(" cancel", t.dimmed()),
    ]);
    f.render_widget(Paragraph::new(h), hint);
}
