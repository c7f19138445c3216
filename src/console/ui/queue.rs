//! Queue screen: pending and scheduled outbound calls.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::super::app::{format_duration, App};
use super::super::layout;
use super::calls::trunc;
use crate::core::model::QueueState;

pub fn render(f: &mut Frame, app: &App, body: Rect) {
    let t = &app.theme;
    let items = app.waiting_queue();
    let waiting = items.iter().filter(|q| q.state.is_waiting()).count();
    let longest = items
        .iter()
        .filter(|q| q.state.is_waiting() && q.scheduled_at.is_none_or(|s| s <= app.now))
        .map(|q| {
            let since = q.scheduled_at.unwrap_or(q.created_at).max(q.created_at);
            (app.now - since).num_seconds().max(0)
        })
        .max();
    // Nobody due yet: when the next scheduled call is, rather than a bare dash.
    let next = items
        .iter()
        .filter_map(|q| {
            q.scheduled_at
                .filter(|s| q.state.is_waiting() && *s > app.now)
        })
        .min();
    let wait = match (longest, next) {
        (Some(s), _) => format!("longest wait {}", format_duration(s as f64)),
        (None, Some(at)) => format!(
            "next call in {}",
            format_duration((at - app.now).num_seconds() as f64)
        ),
        (None, None) => "longest wait –".into(),
    };
    let title = format!(" Queue · {waiting} waiting · {wait} ");
    f.render_widget(super::block(app, title), body);
    let inner = layout::inner(body);
    if items.is_empty() {
        super::centered_message(
            f,
            inner,
            vec![Line::from(Span::styled(
                "Nobody is waiting to be called",
                t.dimmed(),
            ))],
        );
        return;
    }
    let header = Row::new([
        "LEAD",
        "NUMBER",
        "CAMPAIGN",
        "STATE",
        "WHEN",
        "TRIES",
        "LAST RESULT",
    ])
    .style(t.dimmed().add_modifier(Modifier::BOLD));
    // Spare width goes to the text columns; cut text ends in "…". A compliance reason
    // (blocked / rescheduled) is a sentence: its column then takes most of the spare width.
    let reasons = items.iter().any(|q| {
        q.last_result
            .as_deref()
            .is_some_and(|r| r.starts_with("blocked:") || r.starts_with("rescheduled:"))
    });
    let widths = [
        Constraint::Fill(3),
        Constraint::Length(13),
        Constraint::Fill(2),
        Constraint::Length(10),
        Constraint::Length(14),
        Constraint::Length(5),
        Constraint::Fill(if reasons { 8 } else { 2 }),
    ];
    let cols = Layout::horizontal(widths).spacing(1).split(inner);
    let col_width = |i: usize| cols[i].width as usize;
    let h = inner.height.saturating_sub(1) as usize;
    let top = app.queue.top.min(items.len().saturating_sub(h));
    let rows = items.iter().enumerate().skip(top).take(h).map(|(i, q)| {
        let (state, when) = match (q.state, q.scheduled_at) {
            (QueueState::Failed, _) => (Span::styled("blocked", t.fg(t.error)), "–".to_string()),
            (QueueState::Scheduled, Some(at)) if at > app.now => (
                Span::styled("scheduled", t.fg(t.accent)),
                format!(
                    "in {}",
                    format_duration((at - app.now).num_seconds() as f64)
                ),
            ),
            _ => (
                Span::styled("pending", t.fg(t.warn)),
                format!(
                    "waiting {}",
                    format_duration((app.now - q.created_at).num_seconds().max(0) as f64)
                ),
            ),
        };
        let style = if i == app.queue.selected {
            t.selected()
        } else {
            Style::default()
        };
        Row::new(vec![
            Cell::from(trunc(q.lead.name.as_deref().unwrap_or("–"), col_width(0))),
            Cell::from(app.number(&q.phone_number)),
            Cell::from(trunc(
                q.campaign.as_deref().unwrap_or_default(),
                col_width(2),
            )),
            Cell::from(state),
            Cell::from(when),
            Cell::from(q.attempts.to_string()),
            Cell::from(trunc(
                q.last_result.as_deref().unwrap_or_default(),
                col_width(6),
            )),
        ])
        .style(style)
    });
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}
