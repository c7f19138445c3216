//! Alerts screen: recent alerts with their messages, kept after their call ends.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::super::app::App;
use super::super::layout;
use super::super::theme::state_cell;
use super::calls::trunc;

pub fn render(f: &mut Frame, app: &App, body: Rect) {
    let t = &app.theme;
    let log = app.alerts();
    let title = format!(" Alerts ({}) ", log.items().len());
    f.render_widget(super::block(app, title), body);
    let inner = layout::inner(body);
    if log.items().is_empty() {
        super::centered_message(
            f,
            inner,
            vec![Line::from(Span::styled(
                "No alerts so far this session",
                t.dimmed(),
            ))],
        );
        return;
    }
    let header = Row::new(["AT", "STATE", "WHO", "KIND", "MESSAGE"])
        .style(t.dimmed().add_modifier(Modifier::BOLD));
    let rows_h = inner.height.saturating_sub(1) as usize;
    let sel = log.selected;
    let top = if sel >= log.top + rows_h {
        sel + 1 - rows_h
    } else {
        log.top.min(sel)
    };
    let kind_w = 20usize;
    let who_w = 18usize;
    let msg_w = (inner.width as usize).saturating_sub(9 + 9 + who_w + kind_w + 4);
    let rows = log
        .items()
        .iter()
        .enumerate()
        .skip(top)
        .take(rows_h)
        .map(|(i, a)| {
            let call = log.call(&a.call_id);
            // The live state when the call is still on screen, else the last one seen.
            let state = app
                .call(&a.call_id)
                .map(|v| v.call.state)
                .or(call.map(|c| c.state));
            let who = call
                .map(|c| app.who(c))
                .unwrap_or_else(|| a.call_id.clone());
            let style = if i == sel {
                t.selected()
            } else {
                Style::default()
            };
            Row::new([
                Cell::from(Span::styled(
                    a.at.format("%H:%M:%S").to_string(),
                    t.dimmed(),
                )),
                Cell::from(state.map(|s| state_cell(t, s)).unwrap_or_default()),
                Cell::from(Span::styled(trunc(&who, who_w), t.base())),
                Cell::from(Span::styled(
                    trunc(&format!("⚠ {}", a.kind), kind_w),
                    t.fg(t.error).add_modifier(Modifier::BOLD),
                )),
                Cell::from(Span::styled(trunc(&a.message, msg_w.max(1)), t.base())),
            ])
            .style(style)
        });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(who_w as u16),
        Constraint::Length(kind_w as u16),
        Constraint::Fill(1),
    ];
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}
