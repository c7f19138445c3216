//! The log screens: the org's audit log (`:audit`) and the webhook log (`:webhooks`,
//! admins), newest first.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::super::app::{App, LogList};
use super::super::layout;
use super::calls::trunc;

/// Loading, an error, or nothing to show: the message drawn instead of the table.
fn placeholder<T>(app: &App, list: &LogList<T>, empty: &str) -> Option<Vec<Line<'static>>> {
    let t = &app.theme;
    if let Some(e) = &list.error {
        return Some(vec![
            Line::from(Span::styled(
                "Cannot load the log",
                t.fg(t.error).add_modifier(Modifier::BOLD),
            )),
            Line::from(Span::styled(e.clone(), t.base())),
        ]);
    }
    if list.entries.is_empty() {
        let text = if list.loading { "loading…" } else { empty };
        return Some(vec![Line::from(Span::styled(text.to_string(), t.dimmed()))]);
    }
    None
}

/// The rows `[top, top + rows)` that keep the selection visible.
fn window(selected: usize, rows: usize) -> usize {
    selected.saturating_sub(rows.saturating_sub(1))
}

pub fn audit(f: &mut Frame, app: &App, body: Rect) {
    let t = &app.theme;
    let list = &app.logs.audit;
    let title = format!(
        " Audit log · {} entries (newest first) ",
        list.entries.len()
    );
    f.render_widget(super::block(app, title), body);
    let inner = layout::inner(body);
    if let Some(lines) = placeholder(app, list, "The audit log is empty") {
        return super::centered_message(f, inner, lines);
    }
    let widths = [
        Constraint::Length(14),
        Constraint::Fill(1),
        Constraint::Fill(2),
        Constraint::Length(10),
        Constraint::Length(2),
        Constraint::Fill(5),
    ];
    let cols = Layout::horizontal(widths).spacing(1).split(inner);
    let w = |i: usize| cols[i].width as usize;
    let rows_h = inner.height.saturating_sub(1) as usize;
    let top = window(list.selected, rows_h);
    let rows = list
        .entries
        .iter()
        .enumerate()
        .skip(top)
        .take(rows_h)
        .map(|(i, e)| {
            let what = match (&e.reason, &e.error) {
                (_, Some(err)) if !e.ok => err.clone(),
                (Some(r), _) => r.clone(),
                _ => String::new(),
            };
            let style = if i == list.selected {
                t.selected()
            } else if !e.ok {
                t.fg(t.error)
            } else {
                Style::default()
            };
            let call = e
                .call_id
                .as_deref()
                .or(e.queue_item_id.as_deref())
                .unwrap_or("–");
            Row::new(vec![
                Cell::from(e.at.format("%m-%d %H:%M:%S").to_string()),
                Cell::from(trunc(&e.actor, w(1))),
                Cell::from(trunc(&e.action, w(2))),
                Cell::from(trunc(call, w(3))),
                Cell::from(if e.ok { "✓" } else { "✗" }),
                Cell::from(trunc(&what, w(5))),
            ])
            .style(style)
        });
    let header = Row::new(["AT", "WHO", "ACTION", "CALL/ITEM", "OK", "REASON"])
        .style(t.dimmed().add_modifier(Modifier::BOLD));
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}

pub fn webhooks(f: &mut Frame, app: &App, body: Rect) {
    let t = &app.theme;
    let list = &app.logs.webhooks;
    let failed = list.entries.iter().filter(|e| !e.ok).count();
    let title = format!(
        " Webhook log · {} deliveries · {failed} refused (newest first) ",
        list.entries.len()
    );
    f.render_widget(super::block(app, title), body);
    let inner = layout::inner(body);
    if let Some(lines) = placeholder(app, list, "No webhook deliveries yet") {
        return super::centered_message(f, inner, lines);
    }
    let widths = [
        Constraint::Length(14),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Fill(2),
        Constraint::Length(2),
        Constraint::Fill(5),
    ];
    let cols = Layout::horizontal(widths).spacing(1).split(inner);
    let w = |i: usize| cols[i].width as usize;
    let rows_h = inner.height.saturating_sub(1) as usize;
    let top = window(list.selected, rows_h);
    let rows = list
        .entries
        .iter()
        .enumerate()
        .skip(top)
        .take(rows_h)
        .map(|(i, e)| {
            // A refused delivery says why; an accepted one shows the start of its payload.
            let what = match &e.error {
                Some(err) if !e.ok => err.clone(),
                _ => e.payload.replace(['\n', '\r'], " "),
            };
            let style = if i == list.selected {
                t.selected()
            } else if !e.ok {
                t.fg(t.error)
            } else {
                Style::default()
            };
            Row::new(vec![
                Cell::from(e.at.format("%m-%d %H:%M:%S").to_string()),
                Cell::from(trunc(&e.integration, w(1))),
                Cell::from(trunc(&e.provider, w(2))),
                Cell::from(trunc(e.event.as_deref().unwrap_or("–"), w(3))),
                Cell::from(if e.ok { "✓" } else { "✗" }),
                Cell::from(trunc(&what, w(5))),
            ])
            .style(style)
        });
    let header = Row::new([
        "AT",
        "INTEGRATION",
        "PROVIDER",
        "EVENT",
        "OK",
        "ERROR / PAYLOAD",
    ])
    .style(t.dimmed().add_modifier(Modifier::BOLD));
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}
